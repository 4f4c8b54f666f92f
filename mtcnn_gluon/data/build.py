"""Building the training records from the datasets (``python -m mtcnn_gluon data pnet|landmarks``).

Layout under ``--out DIR``::

    DIR/pnet/train.{rec,idx,json,meta.npz}      PNet: all types merged and shuffled (neg:pos:part:landmark 3:1:1:2)
    DIR/rnet/landmark.{rec,idx,json,meta.npz}   24 px landmark crops (the hard-example miner adds pos/part/neg)
    DIR/onet/landmark.{rec,idx,json,meta.npz}   48 px landmark crops

RNet's and ONet's pos/part/neg records come from hard example mining (:mod:`mtcnn_gluon.mining`).
"""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..config import INPUT_SIZE, LandmarkAugConfig, RecordMixConfig, SamplingConfig, config_to_dict
from ..utils.checks import UserError
from ..utils.labels import TYPES
from .batching import mix_by_ratio
from .facepoint import holdout_indices, load_facepoint, parse_facepoint_list
from .records import read_summary, record_complete, write_records
from .sampling import SampleSet, generate_landmark_samples, generate_pnet_samples
from .wider import load_wider

__all__ = ["build_pnet_records", "build_landmark_records", "load_exclude", "resolve_exclude", "LANDMARK_NET_DIRS"]

#: Where landmark records of each size go (the net that trains on them).
LANDMARK_NET_DIRS = {size: net for net, size in INPUT_SIZE.items()}


def _skipped_json(skipped, limit=200):
    reasons = {}
    for s in skipped:
        reasons[s.reason] = reasons.get(s.reason, 0) + 1
    return {"count": len(skipped), "by_reason": reasons,
            "items": [{"path": s.path, "reason": s.reason, "detail": s.detail} for s in skipped[:limit]]}


def _wider_face_counts(images, sampling: SamplingConfig) -> dict:
    """What happens to the annotated faces of the used WIDER images: every face guards its region against
    negatives, but only some may give positives; the others are counted here, never dropped unsaid."""
    boxes = np.concatenate([im.boxes for im in images]) if images else np.zeros((0, 4))
    invalid = np.concatenate([im.invalid for im in images]) if images else np.zeros(0, bool)
    w, h = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    degenerate = (w <= 0) | (h <= 0)
    return {"faces": int(len(boxes)), "degenerate_w_or_h_0": int(degenerate.sum()),
            "invalid_flag": int(invalid.sum()),
            "negative_coordinates": int(((boxes[:, 0] < 0) | (boxes[:, 1] < 0)).sum()),
            "smaller_than_min_face": int((~degenerate & (np.maximum(w, h) < sampling.min_face)).sum())}


def _without_samples(samples: SampleSet, used=None) -> int:
    """Sources that were read but gave no sample (too small for any crop, points outside every crop)."""
    n = len(samples.sources) if used is None else used
    read_ok = n - len(samples.skipped)
    return int(read_ok - len(np.unique(samples.meta["source"])))


def _rel(paths, root):
    root = os.fspath(root)
    return [os.path.relpath(p, root) for p in paths]


def _all_faces(data_root):
    """Every face of the CNN_FacePoint list in file order (absent images are skipped later, and counted),
    so that indices (``exclude``, ``landmark_split``) mean the same whatever is on disk."""
    fp = load_facepoint(data_root)
    return fp.root, parse_facepoint_list(fp.root / "trainImageList.txt"), fp.missing


def load_exclude(path) -> np.ndarray:
    """Indices to leave out, from a ``.npy`` file or a text file of integers (whitespace/comma separated)."""
    path = os.fspath(path)
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False).astype(np.int64).reshape(-1)
    with open(path) as f:
        text = f.read().replace(",", " ")
    return np.array([int(t) for t in text.split()], np.int64)


def build_pnet_records(data_root, out_dir, sampling: SamplingConfig = None, landmark: LandmarkAugConfig = None,
                       mix: RecordMixConfig = None, seed: int = 0, workers: Optional[int] = None,
                       limit: Optional[int] = None, landmark_limit: Optional[int] = None, exclude=None,
                       resume: bool = True, progress: bool = True, verbose: bool = True) -> dict:
    """WIDER FACE train + CNN_FacePoint → ``out_dir/pnet/train.rec`` (merged, shuffled, 3:1:1:2).

    Parameters
    ----------
    data_root : path
        Holds ``WIDER_FACE/`` and ``landmarks/``.
    out_dir : path
    sampling, landmark, mix : configs (defaults when None)
    seed : int
    workers : int, optional
        Processes; the output is identical for any number.
    limit, landmark_limit : int, optional
        Use only the first N present WIDER images / landmark faces (smoke runs, tests).
    exclude : array_like of int, optional
        Landmark-list indices held out (e.g. ``mtcnn_gluon.data.facepoint.holdout_indices``).
    resume : bool
        Skip the work when a complete record with the same settings exists.

    Returns
    -------
    dict, the record's JSON summary.
    """
    sampling = sampling or SamplingConfig()
    landmark = landmark or LandmarkAugConfig()
    mix = mix or RecordMixConfig()
    prefix = os.path.join(os.fspath(out_dir), "pnet", "train")
    exclude_list = sorted(int(i) for i in exclude) if exclude is not None else []
    settings = {"seed": seed, "limit": limit, "landmark_limit": landmark_limit,
                "sampling": config_to_dict(sampling), "landmark": config_to_dict(landmark),
                "pnet_ratio": mix.pnet_ratio, "encoding": mix.encoding, "exclude": exclude_list}
    if resume and record_complete(prefix, settings):
        if verbose:
            print(f"{prefix}.rec is complete with these settings; nothing to do")
        return read_summary(prefix)
    t0 = time.time()
    wider = load_wider(data_root, "train")
    images = wider.images[:limit] if limit else wider.images
    pnet = generate_pnet_samples(images, wider.image_dir, sampling, seed=seed, workers=workers, progress=progress)
    fp_root, fp_faces, _ = _all_faces(data_root)
    faces = fp_faces[:landmark_limit] if landmark_limit else fp_faces
    lm = generate_landmark_samples(faces, fp_root, dataclasses.replace(landmark, sizes=(sampling.size,)),
                                   seed=seed, exclude=[i for i in exclude_list if i < len(faces)],
                                   workers=workers, progress=progress)[sampling.size]
    # One source list: WIDER images first, then landmark faces.
    n_wider = len(pnet.sources)
    lm_meta = dict(lm.meta, source=lm.meta["source"] + n_wider)
    allset = SampleSet(np.concatenate([pnet.images, lm.images]), np.concatenate([pnet.labels, lm.labels]),
                       {k: np.concatenate([pnet.meta[k], lm_meta[k]]) for k in pnet.meta})
    generated = allset.counts()
    empty = [t for t in TYPES if mix.pnet_ratio.get(t, 0) > 0 and not generated.get(t)]
    if empty:
        raise UserError(f"PNet record: no {' or '.join(empty)} crops from {len(images)} WIDER images and "
                        f"{len(faces)} landmark faces (SamplingConfig: min_face={sampling.min_face}, "
                        f"jitter_tries={sampling.jitter_tries}, random_negatives={sampling.random_negatives}); "
                        "RecordMixConfig.pnet_ratio needs every type it names")
    keep = mix_by_ratio(allset.labels, mix.pnet_ratio, seed=seed)
    out = allset.select(keep)
    root = Path(data_root)
    summary = dict(settings, generated=generated, wider_images_used=len(images),
                   wider_images_missing_from_list=len(wider.missing),
                   landmark_faces_used=len(faces) - len([i for i in exclude_list if i < len(faces)]),
                   wider_faces=_wider_face_counts(images, sampling),
                   wider_images_without_samples=_without_samples(pnet),
                   landmark_faces_without_samples=_without_samples(
                       lm, used=len(faces) - len([i for i in exclude_list if i < len(faces)])),
                   skipped=_skipped_json(pnet.skipped + lm.skipped),
                   sources=_rel(pnet.sources + lm.sources, root), source_root=str(root.resolve()),
                   seconds=round(time.time() - t0, 1))
    write_records(prefix, out.images, out.labels, meta=out.meta, summary=summary, encoding=mix.encoding,
                  progress=progress)
    summary = read_summary(prefix)
    if verbose:
        _report(prefix, summary, wider_missing=len(wider.missing))
    return summary


def build_landmark_records(data_root, out_dir, sizes: Sequence[int] = (24, 48), landmark: LandmarkAugConfig = None,
                           mix: RecordMixConfig = None, seed: int = 0, workers: Optional[int] = None,
                           limit: Optional[int] = None, exclude=None, resume: bool = True,
                           progress: bool = True, verbose: bool = True) -> dict:
    """CNN_FacePoint → ``out_dir/{rnet,onet}/landmark.rec`` (24 / 48 px; 12 px goes to ``pnet/landmark``).

    Returns
    -------
    dict size -> the record's JSON summary.
    """
    landmark = landmark or LandmarkAugConfig()
    mix = mix or RecordMixConfig()
    sizes = tuple(int(s) for s in sizes)
    exclude_list = sorted(int(i) for i in exclude) if exclude is not None else []
    prefixes = {s: os.path.join(os.fspath(out_dir), LANDMARK_NET_DIRS.get(s, f"size{s}"), "landmark")
                for s in sizes}
    settings = {"seed": seed, "limit": limit, "landmark": config_to_dict(dataclasses.replace(landmark, sizes=sizes)),
                "encoding": mix.encoding, "exclude": exclude_list}
    todo = [s for s in sizes if not (resume and record_complete(prefixes[s], settings))]
    if not todo:
        if verbose:
            print("landmark records are complete with these settings; nothing to do")
        return {s: read_summary(prefixes[s]) for s in sizes}
    t0 = time.time()
    fp_root, fp_faces, fp_missing = _all_faces(data_root)
    faces = fp_faces[:limit] if limit else fp_faces
    # Draw for all sizes at once, so that a resumed run renders the very same crops.
    samples = generate_landmark_samples(faces, fp_root, dataclasses.replace(landmark, sizes=sizes), seed=seed,
                                        exclude=[i for i in exclude_list if i < len(faces)], workers=workers,
                                        progress=progress)
    root = Path(data_root)
    for s in todo:
        ss = samples[s]
        used = len(faces) - len([i for i in exclude_list if i < len(faces)])
        summary = dict(settings, size=s, faces_used=used, faces_without_samples=_without_samples(ss, used=used),
                       faces_missing_from_list=len(fp_missing), skipped=_skipped_json(ss.skipped),
                       sources=_rel(ss.sources, root), source_root=str(root.resolve()),
                       seconds=round(time.time() - t0, 1))
        write_records(prefixes[s], ss.images, ss.labels, meta=ss.meta, summary=summary, encoding=mix.encoding,
                      progress=progress)
        if verbose:
            _report(prefixes[s], read_summary(prefixes[s]))
    return {s: read_summary(prefixes[s]) for s in sizes}


def _report(prefix, summary, wider_missing=0):
    print(f"{prefix}.rec: {summary['samples']} samples {summary['counts']}")
    if "generated" in summary:
        print(f"  generated before mixing: {summary['generated']}")
    if wider_missing:
        print(f"  {wider_missing} images named in the WIDER FACE list are not on disk (partial download)")
    sk = summary.get("skipped", {})
    if sk.get("count"):
        print(f"  skipped {sk['count']} files {sk['by_reason']}; first: {sk['items'][0]['path']} "
              f"({sk['items'][0]['detail']})")


def resolve_exclude(data_root, exclude_file=None, holdout: bool = True, verbose: bool = True):
    """Landmark indices to leave out: those in ``exclude_file`` plus, with ``holdout``, the faces the
    landmark NME is measured on (:func:`mtcnn_gluon.data.facepoint.holdout_indices`). None when empty."""
    parts = [load_exclude(exclude_file)] if exclude_file else []
    if holdout:
        held = holdout_indices(data_root)
        if verbose:
            print(f"holding out {len(held)} landmark faces for evaluation (--landmark-holdout none to use all)")
        parts.append(np.asarray(held, np.int64))
    return np.unique(np.concatenate(parts)) if parts else None
