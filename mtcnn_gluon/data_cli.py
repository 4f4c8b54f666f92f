"""``python -m mtcnn_gluon data pnet|landmarks|download``: build the training records.

Layout under ``--out DIR``::

    DIR/pnet/train.{rec,idx,json,meta.npz}      PNet: all types merged and shuffled (neg:pos:part:landmark 3:1:1:2)
    DIR/rnet/landmark.{rec,idx,json,meta.npz}   24 px landmark crops (the hard-example miner adds pos/part/neg)
    DIR/onet/landmark.{rec,idx,json,meta.npz}   48 px landmark crops

The lead wires :func:`add_data_parser` into the main CLI; ``python -m mtcnn_gluon.data_cli`` works too.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .config import LandmarkAugConfig, RecordMixConfig, SamplingConfig, config_to_dict
from .datasets.facepoint import load_facepoint, parse_facepoint_list
from .datasets.wider import load_wider
from .records import mix_by_ratio, read_summary, record_complete, write_records
from .sampling import SampleSet, generate_landmark_samples, generate_pnet_samples

__all__ = ["build_pnet_records", "build_landmark_records", "load_exclude", "add_data_parser", "main",
           "LANDMARK_NET_DIRS"]

#: Where landmark records of each size go (the net that trains on them).
LANDMARK_NET_DIRS = {12: "pnet", 24: "rnet", 48: "onet"}


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
        Landmark-list indices held out (e.g. ``mtcnn_gluon.evaluation.landmark_split``).
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


# ----------------------------------------------------------------------------------------------------
# command line

def _add_common(p):
    p.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT", "data"),
                   help="folder with WIDER_FACE/ and landmarks/ (default: $MTCNN_DATA_ROOT or ./data)")
    p.add_argument("--out", default="data/records", help="output folder (default: data/records)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the output depends on it only")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--exclude", default=None, help="more landmark indices to hold out (.npy or text of integers)")
    p.add_argument("--landmark-holdout", choices=("eval", "none"), default="eval",
                   help="'eval' (default): leave out the faces mtcnn_gluon.evaluation.landmark_split holds out "
                        "for the landmark NME, so that evaluation is on unseen faces; 'none': use every face")
    p.add_argument("--encoding", choices=("raw", "png"), default="raw", help="image bytes in the records")
    p.add_argument("--no-resume", action="store_true", help="rebuild even when a complete record exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_data_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``data`` with sub-commands ``pnet``, ``landmarks``, ``download`` to an argparse subparsers object."""
    data = subparsers.add_parser("data", help="download datasets and build training records")
    sub = data.add_subparsers(dest="data_command", required=True)

    p = sub.add_parser("pnet", help="PNet record from WIDER FACE train + CNN_FacePoint (12 px)")
    _add_common(p)
    p.add_argument("--limit", type=int, default=None, help="use the first N WIDER images only")
    p.add_argument("--landmark-limit", type=int, default=None, help="use the first N landmark faces only")
    p.add_argument("--neg-per-image", type=int, default=SamplingConfig.random_negatives,
                   help="random negatives per image")
    p.add_argument("--min-face", type=int, default=SamplingConfig.min_face, help="smallest positive face, px")
    p.add_argument("--ratio", default="3:1:1:2", help="neg:pos:part:landmark in the record")
    p.set_defaults(func=_run_pnet)

    p = sub.add_parser("landmarks", help="landmark records for RNet/ONet (24/48 px)")
    _add_common(p)
    p.add_argument("--sizes", type=int, nargs="+", default=[24, 48], help="sample sizes, px")
    p.add_argument("--limit", type=int, default=None, help="use the first N landmark faces only")
    p.add_argument("--max-angle", type=float, default=LandmarkAugConfig.max_angle, help="rotation range, degrees")
    p.set_defaults(func=_run_landmarks)

    p = sub.add_parser("download", help="fetch WIDER FACE and CNN_FacePoint into the layout the parsers read")
    p.add_argument("--to", required=True, help="destination folder (becomes the data root)")
    p.add_argument("--only", nargs="+", default=None, help="registry names to fetch (default: all)")
    p.add_argument("--keep-archives", action="store_true", help="keep the zip files after unpacking")
    p.set_defaults(func=_run_download)
    return data


def _mix_from(args):
    mix = RecordMixConfig(encoding=args.encoding)
    if getattr(args, "ratio", None):
        parts = [float(v) for v in args.ratio.split(":")]
        if len(parts) != 4:
            raise SystemExit(f"--ratio: expected neg:pos:part:landmark, got {args.ratio!r}")
        mix.pnet_ratio = dict(zip(("neg", "pos", "part", "landmark"), parts))
    return mix


def _resolve_exclude(args):
    """Indices from --exclude plus, with --landmark-holdout eval, the evaluation's held-out faces."""
    parts = [load_exclude(args.exclude)] if args.exclude else []
    if args.landmark_holdout == "eval":
        from .evaluation import landmark_split
        n = len(_all_faces(args.data_root)[1])
        held = landmark_split(n)[1]
        print(f"holding out {len(held)} of {n} landmark faces for evaluation (--landmark-holdout none to use all)")
        parts.append(np.asarray(held, np.int64))
    return np.unique(np.concatenate(parts)) if parts else None


def _run_pnet(args):
    sampling = SamplingConfig(random_negatives=args.neg_per_image, min_face=args.min_face)
    exclude = _resolve_exclude(args)
    build_pnet_records(args.data_root, args.out, sampling=sampling, mix=_mix_from(args), seed=args.seed,
                       workers=args.workers, limit=args.limit, landmark_limit=args.landmark_limit,
                       exclude=exclude, resume=not args.no_resume, progress=not args.no_progress)
    return 0


def _run_landmarks(args):
    exclude = _resolve_exclude(args)
    build_landmark_records(args.data_root, args.out, sizes=args.sizes,
                           landmark=LandmarkAugConfig(max_angle=args.max_angle), mix=_mix_from(args),
                           seed=args.seed, workers=args.workers, limit=args.limit, exclude=exclude,
                           resume=not args.no_resume, progress=not args.no_progress)
    return 0


def _run_download(args):
    from .datasets.download import download_all
    report = download_all(args.to, names=args.only, keep_archives=args.keep_archives)
    return 0 if not report["failed"] else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtcnn_gluon.data_cli")
    sub = parser.add_subparsers(dest="command", required=True)
    add_data_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
