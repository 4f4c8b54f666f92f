"""Every setting of the package, one dataclass per part, one comment per field; presets.

=====================  =============================================================================
config                 what it sets
=====================  =============================================================================
SamplingConfig         PNet crops from WIDER FACE (``gen_12net_data``)
LandmarkAugConfig      landmark crops from CNN_FacePoint (``gen_landmark_aug``)
RecordMixConfig        how the sample types are mixed into records and batches
DetectorConfig         the cascade at test time (thresholds, pyramid, NMS)
MiningConfig           hard example mining for RNet and ONet (``gen_hard_example``)
TrainConfig            :func:`mtcnn_gluon.train.fit`; :meth:`TrainConfig.preset` gives the classic values
PipelineConfig         the whole recipe; :meth:`PipelineConfig.preset` gives ``smoke`` and ``full``
=====================  =============================================================================

Defaults follow the classic MTCNN data and training scripts and the paper.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from .utils.checks import UserError, check_probabilities, check_range
from .utils.labels import TYPES

__all__ = ["SamplingConfig", "LandmarkAugConfig", "RecordMixConfig", "DetectorConfig", "MiningConfig",
           "TrainConfig", "PipelineConfig", "LOSS_WEIGHTS", "OHEM_RATIO", "BATCH_MIX", "NET_NAMES", "INPUT_SIZE",
           "config_to_dict"]

#: The three nets, in cascade order.
NET_NAMES = ("pnet", "rnet", "onet")
#: Side of each net's input, px.
INPUT_SIZE = {"pnet": 12, "rnet": 24, "onet": 48}
#: (det, box, landmark) loss weights per net, as in the paper.
LOSS_WEIGHTS = {"pnet": (1.0, 0.5, 0.5), "rnet": (1.0, 0.5, 0.5), "onet": (1.0, 0.5, 1.0)}
#: Fraction of the valid classification losses kept by online hard example mining.
OHEM_RATIO = 0.7
#: Samples of each type in one RNet/ONet batch (the classic implementations' 1:1:1:3 of 384; the paper gives only
#: the data ratio 3:1:1:2 of neg:pos:part:landmark).
BATCH_MIX = {"pos": 64, "part": 64, "landmark": 64, "neg": 192}

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
    small_face: int = 40  # faces whose larger side is below this get ``small_face_tries`` more tries, px
    small_face_tries: int = 0  # extra pos/part tries per usable small face (the crowds' faces); 0: none
    skip_invalid: bool = True  # faces flagged `invalid` in WIDER FACE are not used as positives
    neg_iou: float = 0.3  # crop is negative when its max IoU with every face is below this
    part_iou: float = 0.4  # crop is part when its best IoU is in [part_iou, pos_iou)
    pos_iou: float = 0.65  # crop is positive when its best IoU is at least this

    def __post_init__(self):
        for name in ("size", "min_crop", "min_face", "min_face_for_jitter", "small_face"):
            check_range(f"SamplingConfig.{name}", getattr(self, name), 1)
        for name in ("random_negatives", "random_negative_tries", "negatives_near_face", "jitter_tries",
                     "small_face_tries"):
            check_range(f"SamplingConfig.{name}", getattr(self, name), 0)
        _check_ious("SamplingConfig", self.neg_iou, self.part_iou, self.pos_iou)
        _check_scale("SamplingConfig.jitter_scale", self.jitter_scale)
        check_range("SamplingConfig.jitter_shift", self.jitter_shift, 0, 1)


def _check_ious(owner: str, neg, part, pos):
    for name, v in (("neg_iou", neg), ("part_iou", part), ("pos_iou", pos)):
        check_range(f"{owner}.{name}", v, 0, 1)
    if not neg <= part < pos:
        raise UserError(f"{owner}: expected neg_iou <= part_iou < pos_iou, got {neg}, {part}, {pos}")


def _check_scale(name: str, scale):
    lo, hi = (check_range(name, v, 0, low_open=True) for v in scale)
    if lo > hi:
        raise UserError(f"{name}: expected (low, high) with low <= high, got {tuple(scale)}")


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

    def __post_init__(self):
        self.sizes = tuple(int(check_range("LandmarkAugConfig.sizes", v, 1)) for v in self.sizes)
        if not self.sizes:
            raise UserError("LandmarkAugConfig.sizes: expected at least one sample size")
        check_range("LandmarkAugConfig.shift_tries", self.shift_tries, 0)
        _check_scale("LandmarkAugConfig.shift_scale", self.shift_scale)
        check_range("LandmarkAugConfig.shift", self.shift, 0, 1)
        for name in ("min_iou", "mirror_prob", "rotate_prob", "rotate_mirror_prob"):
            check_range(f"LandmarkAugConfig.{name}", getattr(self, name), 0, 1)
        check_range("LandmarkAugConfig.max_angle", self.max_angle, 0, 180)


@dataclass
class RecordMixConfig:
    """How sample types are mixed: the merged PNet record and the RNet/ONet batch sampler."""

    pnet_ratio: Dict[str, float] = field(
        default_factory=lambda: {"neg": 3.0, "pos": 1.0, "part": 1.0, "landmark": 2.0}
    )  # neg:pos:part:landmark in the merged PNet record (the scarcest type sets the scale)
    batch_sizes: Dict[str, int] = field(default_factory=lambda: dict(BATCH_MIX))  # samples per type, RNet/ONet batch
    encoding: str = "raw"  # image bytes in the records: 'raw' (fastest) or 'png'; both lossless

    def __post_init__(self):
        unknown = sorted(set(self.pnet_ratio) - set(TYPES))
        if unknown:
            raise UserError(f"RecordMixConfig.pnet_ratio: unknown sample types {unknown}; valid: {', '.join(TYPES)}")
        for t, v in self.pnet_ratio.items():
            check_range(f"RecordMixConfig.pnet_ratio[{t}]", v, 0)
        if not any(v > 0 for v in self.pnet_ratio.values()):
            raise UserError("RecordMixConfig.pnet_ratio: at least one type needs a share > 0")
        if self.encoding not in ("raw", "png"):
            raise UserError(f"RecordMixConfig.encoding: expected 'raw' or 'png', got {self.encoding!r}")


@dataclass
class DetectorConfig:
    """Settings of :class:`MTCNNDetector`; the defaults are the original MTCNN's."""

    min_face: float = 20  # smallest face to find, px; sets the first pyramid scale (12 / min_face)
    thresholds: tuple = (0.6, 0.7, 0.7)  # face-probability cut after PNet, RNet, ONet (strictly greater)
    factor: float = 0.709  # pyramid step: each scale is this times the previous
    nms_thresholds: tuple = (0.5, 0.7, 0.7, 0.7)  # per-scale PNet, all-scale PNet, RNet (union), ONet (min)
    max_candidates: int = 20000  # guard: at most this many windows per pyramid scale and per stage (top scores)
    rnet_batch: int = 2048  # windows per RNet forward (bounds memory on huge crowds)
    onet_batch: int = 1024  # windows per ONet forward

    def __post_init__(self):
        # thresholds outside [0, 1] or NaN would pass everything or nothing without a word: refuse them
        self.thresholds = check_probabilities("thresholds (PNet, RNet, ONet)", self.thresholds, 3)
        self.nms_thresholds = check_probabilities("nms_thresholds", self.nms_thresholds, 4)
        self.factor = check_range("factor", self.factor, 0, 1, low_open=True, high_open=True)
        self.min_face = check_range("min_face", self.min_face, 1)
        for name in ("max_candidates", "rnet_batch", "onet_batch"):
            check_range(name, getattr(self, name), 1)


@dataclass
class MiningConfig:
    """Settings of hard example mining (defaults: the classic MTCNN repos' gen_hard_example)."""

    thresholds: tuple = (0.3, 0.1, 0.7)  # detector thresholds while mining: low, to keep recall high
    min_face: float = 20  # pyramid's smallest face, px
    min_window: int = 20  # windows smaller than this are not used as samples, px
    neg_iou: float = 0.3  # negative below this IoU with every face
    part_iou: float = 0.4  # part from this IoU up to pos_iou
    pos_iou: float = 0.65  # positive from this IoU
    max_neg_per_image: int = 60  # negatives kept per image (random subset), bounds crowded images
    recall_iou: float = 0.5  # a face counts as found when a window covers it at this IoU
    recall_min_face: int = 20  # faces smaller than this are left out of the recall figure, px
    shard_size: int = 50  # images per resumable shard
    max_windows: int = 20000  # at most this many windows per image go on (top scores): bounds an untrained net

    def __post_init__(self):
        self.thresholds = check_probabilities("MiningConfig.thresholds", self.thresholds, 3)
        check_range("MiningConfig.min_face", self.min_face, 1)
        _check_ious("MiningConfig", self.neg_iou, self.part_iou, self.pos_iou)
        check_range("MiningConfig.recall_iou", self.recall_iou, 0, 1)
        for name in ("min_window", "max_neg_per_image", "shard_size", "max_windows"):
            check_range(f"MiningConfig.{name}", getattr(self, name), 1)


@dataclass
class TrainConfig:
    """Settings of :func:`mtcnn_gluon.train.fit`; :meth:`preset` gives the classic values per net."""

    net: str = "pnet"  # 'pnet', 'rnet' or 'onet'
    epochs: int = 30  # passes over the training split (classic: 30 PNet, 22 RNet/ONet)
    batch_size: int = 384  # samples per step, over all contexts (RNet/ONet: batch_mix scaled to this sum)
    batch_mix: Dict[str, int] = field(default_factory=lambda: dict(BATCH_MIX))  # RNet/ONet samples per type
    steps_per_epoch: Optional[int] = None  # cap on steps per epoch (smoke runs); None = one pass over the data
    optimizer: str = "sgd"  # 'sgd' (with momentum) or 'adam'
    lr: float = 0.001  # base learning rate
    momentum: float = 0.9  # SGD momentum (ignored by Adam)
    wd: float = 0.0005  # weight decay on conv/dense weights (biases and PReLU slopes are not decayed)
    lr_decay_epochs: Tuple[int, ...] = (6, 14, 20)  # epochs after which the lr is multiplied by lr_decay
    lr_decay: float = 0.1  # step factor
    warmup_epochs: float = 0.0  # linear warm-up length, epochs (0 = none)
    warmup_start_lr: float = 0.0  # lr at the first warm-up step
    det_weight: float = 1.0  # weight of the face/non-face loss
    box_weight: float = 0.5  # weight of the box regression loss
    landmark_weight: float = 0.5  # weight of the landmark loss (ONet: 1.0)
    ohem_ratio: float = OHEM_RATIO  # fraction of the valid classification losses kept by OHEM
    flip: bool = True  # random horizontal flip, probability 1/2 per sample
    flip_landmarks: bool = True  # flip landmark samples too (their points land 1 source px off: flip_samples)
    colour_jitter: float = 0.0  # s: brightness, contrast, saturation each ×U(1 - s, 1 + s) per sample (0 = off)
    blur: float = 0.0  # probability per sample of a Gaussian blur (0 = off): the blurred faces of crowds
    blur_sigma: Tuple[float, float] = (0.02, 0.08)  # its sigma: U(low, high) × the sample's side (24 px: 0.5–1.9)
    val_fraction: float = 0.05  # share of each sample type held out for validation (fixed by seed)
    max_val_samples: int = 20000  # cap on the validation split, spread over types in proportion
    val_batch_size: int = 2048  # samples per validation forward
    recall_threshold: float = 0.6  # face probability above which a positive counts as found (0.6 / 0.7 / 0.7)
    seed: int = 0  # seeds mx.random (initialisation) and NumPy (split, shuffles, flips, colour factors)
    hybridize: bool = True  # run the net + loss as one cached graph
    keep_checkpoints: int = 2  # complete checkpoints kept (older ones removed); 0 keeps all

    def __post_init__(self):
        self.net = str(self.net).lower()
        if self.net not in NET_NAMES:
            raise ValueError(f"unknown net {self.net!r}; choose one of {', '.join(NET_NAMES)}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        self.lr_decay_epochs = tuple(int(e) for e in self.lr_decay_epochs)
        self.batch_mix = {t: int(self.batch_mix[t]) for t in TYPES if int(self.batch_mix.get(t, 0)) > 0}
        if self.batch_size < 1 or self.epochs < 0:
            raise ValueError(f"batch_size must be >= 1 and epochs >= 0, got {self.batch_size}, {self.epochs}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        check_range("lr", self.lr, 0, low_open=True)
        for name in ("momentum", "lr_decay", "ohem_ratio", "recall_threshold", "colour_jitter", "blur"):
            check_range(name, getattr(self, name), 0, 1)
        self.blur_sigma = tuple(float(v) for v in self.blur_sigma)
        _check_scale("blur_sigma", self.blur_sigma)
        for name in ("wd", "warmup_epochs", "warmup_start_lr", "det_weight", "box_weight", "landmark_weight"):
            check_range(name, getattr(self, name), 0)
        if self.steps_per_epoch is not None:
            check_range("steps_per_epoch", self.steps_per_epoch, 1)

    @classmethod
    def preset(cls, net: str, smoke: bool = False, **overrides) -> "TrainConfig":
        """The classic MTCNN-Tensorflow settings for ``net``; ``smoke`` shrinks the run to seconds.

        Base lr 0.001 decayed ×0.1 after epochs 6, 14, 20; momentum 0.9; weight decay 0.0005;
        batch 384 (RNet/ONet 64 pos + 64 part + 64 landmark + 192 neg); 30 epochs for PNet and
        22 for RNet/ONet; loss weights 1/0.5/0.5 (PNet, RNet) and 1/0.5/1 (ONet).
        """
        key = str(net).lower()
        if key not in LOSS_WEIGHTS:
            raise ValueError(f"unknown net {net!r}; choose one of {', '.join(LOSS_WEIGHTS)}")
        det, box, lmk = LOSS_WEIGHTS[key]
        values = dict(net=key, epochs=30 if key == "pnet" else 22, det_weight=det, box_weight=box,
                      landmark_weight=lmk, recall_threshold=0.6 if key == "pnet" else 0.7)
        if smoke:
            values.update(epochs=2, steps_per_epoch=4, lr_decay_epochs=(1,), max_val_samples=512)
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["lr_decay_epochs"] = list(self.lr_decay_epochs)
        return d


@dataclass
class PipelineConfig:
    """What the full run does; :meth:`preset` gives the course's ``smoke`` and ``full`` settings."""

    seed: int = 0  # one seed for sampling, shuffling, initialisation and mining
    wider_limit: int | None = None  # use only the first N present WIDER train images (None: all)
    landmark_limit: int | None = None  # use only the first N landmark faces (None: all)
    val_limit: int | None = None  # evaluate on the first N present val images (None: all)
    epochs: dict = field(default_factory=lambda: {"pnet": 48, "rnet": 80, "onet": 60})  # epochs per net
    # per net: TrainConfig fields to change. Our data is ~10x smaller than the classic repo's, so its
    # SGD lr 0.001 barely moves in an epoch (measured: PNet val recall 0.00 after 1 epoch, vs 0.70
    # with Adam lr 0.001 or SGD lr 0.01); Adam 0.001 with two x0.1 steps late in the run instead.
    # RNet/ONet epochs are capped in steps: a balanced epoch covers the largest type (~100k landmark
    # crops), 1,500 steps, more than 2 CPU cores afford for ONet (~1,100 samples/s). The schedules below
    # (PNet 48 epochs, RNet 16,000 steps, ONet 6,000; about 2.6 h on 2 cores) gave the published cascade:
    # +2.2 / +3.1 / +1.7 val AP over the earlier 16 epochs, 8,000 and 3,000 steps, which in turn scored
    # 3 points more than 1,200 steps for RNet and ONet (benchmarks/README.md).
    train_overrides: dict = field(default_factory=lambda: {
        "pnet": {"optimizer": "adam", "lr": 0.001, "lr_decay_epochs": (30, 42)},
        "rnet": {"optimizer": "adam", "lr": 0.001, "lr_decay_epochs": (60, 72), "steps_per_epoch": 200,
                 "max_val_samples": 8000},
        "onet": {"optimizer": "adam", "lr": 0.001, "lr_decay_epochs": (44, 54), "steps_per_epoch": 100,
                 "max_val_samples": 3000},
    })
    workers: int | None = None  # processes for data generation (None: all cores)
    sampling: dict = field(default_factory=dict)  # SamplingConfig fields to change for PNet's crops (e.g. min_face)
    landmark_eval: bool = True  # compute landmark NME on the held-out faces in the evaluate step
    mining: dict = field(default_factory=dict)  # MiningConfig fields to change (e.g. max_windows)
    # per stage ('rnet', 'onet'): jittered crops tried per ground-truth face, labelled pos/part by IoU as PNet's
    # are, added to the mined ones (mining alone gives RNet few positives: 6.5k on the shared data); absent or 0:
    # mined samples only. The recipe's 20 per face raised val AP by 2.3-2.5 points (benchmarks/README.md)
    generated_faces: dict = field(default_factory=lambda: {"rnet": 20, "onet": 20})
    # SamplingConfig fields to change for those generated crops (e.g. {"small_face_tries": 40}: more of the
    # small faces, where RNet loses most; benchmarks/README.md)
    generated_sampling: dict = field(default_factory=dict)

    def __post_init__(self):
        for name, kind in (("sampling", SamplingConfig), ("generated_sampling", SamplingConfig),
                           ("mining", MiningConfig)):
            valid = {f.name for f in dataclasses.fields(kind)}
            unknown = sorted(set(getattr(self, name)) - valid)
            if unknown:
                raise UserError(f"PipelineConfig.{name}: unknown {kind.__name__} fields {unknown}; "
                                f"valid: {', '.join(sorted(valid))}")
            kind(**getattr(self, name))  # its own checks: a bad value stops here, not an hour into the run
        fixed = sorted(set(self.generated_sampling)
                       & {"size", "random_negatives", "negatives_near_face", "jitter_tries"})
        if fixed:
            raise UserError(f"PipelineConfig.generated_sampling: {fixed} are set by the stage (size, no negatives) "
                            "and by generated_faces (tries per face); change those instead")

    @classmethod
    def preset(cls, name: str, **changes) -> "PipelineConfig":
        """``'full'``: the recipe on all the data; ``'smoke'``: minutes on 2 CPU cores."""
        if name == "full":
            cfg = cls()
        elif name == "smoke":
            # Small but real: on the toy set (80 train, 30 val images) the nets learn what the lessons show
            # (measured: PNet val recall 0.86, toy val AP easy 0.79 / medium 0.75 / hard 0.70, about 140 s
            # of training and mining on 2 cores). An untrained PNet passes thousands of windows per image:
            # mining keeps the top 300. RNet and ONet take half batches (32/32/32/96) for twice the
            # updates at the same cost: early on, the number of steps matters more than the batch size.
            cfg = cls(wider_limit=80, landmark_limit=400, val_limit=30, epochs={"pnet": 16, "rnet": 6, "onet": 8},
                      landmark_eval=False, mining={"max_windows": 300}, generated_faces={},
                      train_overrides={
                          "pnet": {"optimizer": "adam", "lr": 0.001, "lr_decay_epochs": (12, 15),
                                   "max_val_samples": 1000},
                          "rnet": {"optimizer": "adam", "lr": 0.001, "lr_decay_epochs": (5,), "batch_size": 192,
                                   "steps_per_epoch": 60, "max_val_samples": 1000},
                          "onet": {"optimizer": "adam", "lr": 0.001, "lr_decay_epochs": (7,), "batch_size": 192,
                                   "steps_per_epoch": 40, "max_val_samples": 1000}})
        else:
            raise ValueError(f"unknown preset {name!r}; choose 'smoke' or 'full'")
        return dataclasses.replace(cfg, **changes)


def config_to_dict(cfg) -> dict:
    """A JSON-ready dict of a dataclass config (tuples become lists)."""
    return json_ready(dataclasses.asdict(cfg))


def json_ready(obj):
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    return obj
