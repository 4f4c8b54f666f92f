"""Dataclass configs, one comment per field.

Data part (issue 4): :class:`SamplingConfig` (PNet crops from WIDER FACE), :class:`LandmarkAugConfig`
(landmark crops from CNN_FacePoint) and :class:`RecordMixConfig` (how the sample types are mixed into
records and batches). Defaults follow the classic MTCNN data scripts (``gen_12net_data``,
``gen_landmark_aug``) and the paper's 3:1:1:2 mix.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Dict, Tuple

__all__ = ["SamplingConfig", "LandmarkAugConfig", "RecordMixConfig", "config_to_dict"]


@dataclass
class SamplingConfig:
    """Positive, part and negative crops around WIDER FACE faces (PNet, 12 px)."""

    size: int = 12  # side of the stored sample, px
    random_negatives: int = 50  # random negatives wanted per image
    random_negative_tries: int = 500  # give up on random negatives in crowded images after this many draws
    min_crop: int = 12  # smallest negative crop side, px (largest is min(w, h) / 2 of the image)
    negatives_near_face: int = 5  # tries per face at a negative crop overlapping that face's region
    jitter_tries: int = 20  # tries per face at a positive/part crop
    jitter_scale: Tuple[float, float] = (0.8, 1.25)  # crop side drawn from [0.8 min(w, h), 1.25 max(w, h)]
    jitter_shift: float = 0.2  # centre shift, a fraction of the face's width/height
    min_face: int = 20  # faces whose larger side is smaller than this are never positives, px
    min_face_for_jitter: int = 5  # no pos/part crops when the face is narrower than this (as the original), px
    skip_invalid: bool = True  # faces flagged `invalid` in WIDER FACE are not used as positives
    neg_iou: float = 0.3  # crop is negative when its max IoU with every face is below this
    part_iou: float = 0.4  # crop is part when its best IoU is in [part_iou, pos_iou)
    pos_iou: float = 0.65  # crop is positive when its best IoU is at least this


@dataclass
class LandmarkAugConfig:
    """Landmark crops from the CNN_FacePoint faces, with shift, mirror and rotation."""

    sizes: Tuple[int, ...] = (12, 24, 48)  # sides of the stored samples, px (12 PNet, 24 RNet, 48 ONet)
    include_original: bool = True  # also keep the annotated box itself as a sample
    shift_tries: int = 10  # shifted crops tried per face
    shift_scale: Tuple[float, float] = (0.8, 1.25)  # crop side drawn from [0.8 min(w, h), 1.25 max(w, h)]
    shift: float = 0.2  # centre shift, a fraction of the box's width/height
    min_iou: float = 0.65  # a shifted crop is kept when its IoU with the annotated box is at least this
    mirror_prob: float = 0.5  # chance that a kept crop also gives a mirrored copy (points swapped)
    rotate_prob: float = 0.5  # chance that a kept crop also gives a rotated copy
    max_angle: float = 15.0  # rotation angle drawn uniformly from [-max_angle, max_angle], degrees
    rotate_mirror_prob: float = 0.5  # chance that a rotated copy is also mirrored


@dataclass
class RecordMixConfig:
    """How sample types are mixed: the merged PNet record and the RNet/ONet batch sampler."""

    pnet_ratio: Dict[str, float] = field(
        default_factory=lambda: {"neg": 3.0, "pos": 1.0, "part": 1.0, "landmark": 2.0}
    )  # neg:pos:part:landmark in the merged PNet record (the scarcest type sets the scale)
    batch_sizes: Dict[str, int] = field(
        default_factory=lambda: {"pos": 64, "part": 64, "landmark": 64, "neg": 192}
    )  # samples of each type in one RNet/ONet batch
    encoding: str = "raw"  # image bytes in the records: 'raw' (fastest) or 'png'; both lossless


def config_to_dict(cfg) -> dict:
    """A JSON-ready dict of a dataclass config (tuples become lists)."""
    return json_ready(dataclasses.asdict(cfg))


def json_ready(obj):
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    return obj
