"""Issue-14 lever: PNet's training length and data, measured where PNet's work ends — the val faces its
windows cover, and how many windows it passes, at several thresholds.

Every variant trains PNet alone (seed 0, Adam 0.001, x0.1 twice late in the run, as the recipe) and is scored
against the recipe's PNet (``--base``'s, trained the same way for 16 epochs on the base run's record) and the
original PNet, on the first ``--images`` present val images: for PNet thresholds 0.5 / 0.6 / 0.7 / 0.8 the
share of faces >= 20 px covered at IoU >= 0.5 by its windows (after both NMS, calibrated and squared, as RNet
gets them) and the windows per image; at 0.6 also by face size, and before PNet's box offsets
(``run_pnet(img, calibrate=False)``). Variants:

* ``long``: the base run's record, 48 epochs (decay at 30 and 42): three times the steps;
* ``more_data``: a record from 60 jittered crops tried per face (the recipe: 20) and 150 random negatives per
  image (50), trained for as many steps as ``long`` (the epochs scaled by the records' sizes, the decays at
  the same fractions of the run): the same updates on more distinct crops. (The record keeps 3:1:1:2
  neg:pos:part:landmark, so it grows until its scarcest type runs out: the recipe's is bound by its
  negatives, this one by the ~99k landmark crops.)

and, at the recipe's length (16 epochs of the base record's size: the same steps as the recipe's PNet):

* ``faces_40``: positives, part faces and the negatives near faces only from faces >= 40 px (the recipe:
  >= 20), as the classic ``gen_12net_data`` does: small blurred faces as positives may teach PNet to fire on
  clutter;
* ``no_landmark``: the base record with PNet's landmark loss weight 0 (the recipe: 0.5), so the landmark
  crops in each batch teach nothing: does the landmark task cost PNet detection, as it did RNet?
* ``near_negatives``: 15 tries per face at a negative next to it (the recipe: 5): more crowd negatives;
* ``combined``: the three above together;
* ``seed_1``: the recipe's PNet again with seed 1 (initialisation, shuffles, flips): the noise to beat;
* ``again``: the recipe's PNet trained again as it was (seed 0): is training repeatable to the bit?

Scores are cached in ``<out>/scores.json`` (by weights file, its time stamp and the number of images).

Resumable (each record and training continues where it stopped). Usage::

    MTCNN_DATA_ROOT=../shared/data python benchmarks/lever_pnet.py [--base runs/i14_gen] [--out runs/lever_pnet]
        [--variants long more_data] [--images 150] [--extra NAME=WEIGHTS ...]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mtcnn_gluon.config import SamplingConfig, TrainConfig
from mtcnn_gluon.data.build import build_pnet_records
from mtcnn_gluon.data.facepoint import holdout_indices
from mtcnn_gluon.data.wider import load_wider
from mtcnn_gluon.detector import MTCNNDetector
from mtcnn_gluon.mining import covered_faces
from mtcnn_gluon.train import fit
from mtcnn_gluon.utils.files import write_json
from mtcnn_gluon.utils.images import try_read_image
from stage_recall import IOU, SIZE_BINS, recall_by_size, scored_faces  # the same faces and IoU as stage recall

THRESHOLDS = (0.5, 0.6, 0.7, 0.8)
LONG = (48, (30, 42))  # epochs and lr decay epochs of ``long``, on the base record
RECIPE = (16, (10, 14))  # the base run's PNet (the full preset's until 2026-12-02; it is 48 epochs since)
VARIANTS = {  # name: (SamplingConfig changes or None for the base record, TrainConfig changes, length)
    "long": (None, {}, LONG),
    "more_data": ({"jitter_tries": 60, "random_negatives": 150}, {}, LONG),
    "faces_40": ({"min_face": 40}, {}, RECIPE),
    "no_landmark": (None, {"landmark_weight": 0.0}, RECIPE),
    "near_negatives": ({"negatives_near_face": 15}, {}, RECIPE),
    "combined": ({"min_face": 40, "negatives_near_face": 15}, {"landmark_weight": 0.0}, RECIPE),
    "seed_1": (None, {"seed": 1}, RECIPE),
    "again": (None, {}, RECIPE),
}
DEFAULT_VARIANTS = ("long", "more_data")


def train_variant(name, base: Path, out: Path, data_root) -> Path:
    """The variant's trained ``pnet.params`` (in ``<out>/<name>/cascade/``), trained or resumed here."""
    changes, train_changes, (epochs, decay) = VARIANTS[name]
    run = out / name
    records = base / "data"
    if changes is not None:
        records = run / "data"
        summary = build_pnet_records(data_root, records, sampling=SamplingConfig(**changes), seed=0,
                                     exclude=holdout_indices(data_root), progress=False)
        scale = _samples(base / "data") / summary["samples"]
        steps_as = epochs
        epochs = max(1, round(steps_as * scale))
        decay = tuple(max(1, round(d * epochs / steps_as)) for d in decay)
        print(f"{name}: {summary['samples']} samples ({summary['counts']}): {epochs} epochs, decay at {decay}",
              flush=True)
    cfg = TrainConfig.preset("pnet", **{**dict(epochs=epochs, seed=0, optimizer="adam", lr=0.001,
                                               lr_decay_epochs=decay), **train_changes})
    result = fit(records, run / "pnet", cfg, resume=True, progress=False)
    (run / "cascade").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result.params_path, run / "cascade" / "pnet.params")
    return run / "cascade"


def _samples(records: Path) -> int:
    return json.loads((records / "pnet" / "train.json").read_text())["samples"]


def score(weights, data_root, items, wider) -> dict:
    """Recall of faces >= 20 px and windows per image after PNet at each of :data:`THRESHOLDS`."""
    det = MTCNNDetector.from_weights(weights, data_root=data_root, stages=("pnet",), backend="onnx", min_face=20)
    dets = {t: det.with_config(thresholds=(t, 0.7, 0.7)) for t in THRESHOLDS}
    covered = {t: [] for t in THRESHOLDS}
    windows = {t: 0 for t in THRESHOLDS}
    raw = []  # at 0.6, the cells' windows before PNet's box offsets
    sizes, n = [], 0
    for item in tqdm(items, desc=f"score {weights}", unit="img", leave=False, disable=None):
        img, _ = try_read_image(wider.path(item))
        if img is None:
            continue
        gt, side = scored_faces(item)
        for t, d in dets.items():
            found = d.run_pnet(img)
            covered[t].append(covered_faces(found, gt, IOU))
            windows[t] += len(found)
        raw.append(covered_faces(dets[0.6].run_pnet(img, calibrate=False), gt, IOU))
        sizes.append(side)
        n += 1
    sizes = np.concatenate(sizes)
    at = {str(t): {"recall": float(np.concatenate(covered[t]).mean()), "windows": windows[t] / n} for t in THRESHOLDS}
    by_size = {f"{lo}-{hi}": {"faces": n_faces, "recall": recall}
               for lo, hi, (n_faces, recall) in zip(SIZE_BINS[:-1], SIZE_BINS[1:],
                                                    recall_by_size(np.concatenate(covered[0.6]), sizes))}
    return {"weights": str(weights), "images": n, "faces": int(len(sizes)), "at": at, "by_size_at_0.6": by_size,
            "uncalibrated_recall_at_0.6": float(np.concatenate(raw).mean())}


def _stamp(weights) -> float | None:
    """Modification time of ``weights``' PNet file (None for the original weights)."""
    path = Path(weights) / "pnet.params"
    return path.stat().st_mtime if path.exists() else None


def at_windows(result: dict, windows: float) -> float:
    """Recall at ``windows`` windows per image, linear in log(windows) between the measured thresholds
    (clamped at the ends): PNets compared at equal work for RNet."""
    pts = sorted((v["windows"], v["recall"]) for v in result["at"].values())
    return float(np.interp(np.log(windows), np.log([w for w, _ in pts]), [r for _, r in pts]))


def table(results: dict) -> str:
    lines = ["| PNet | " + " | ".join(f"at {t}: recall / windows" for t in THRESHOLDS)
             + " | at 600 / 900 windows (interpolated)"
             " | recall at 0.6 by face size (20-30 / 30-50 / 50-100 / >= 100 px) | at 0.6 without box offsets |",
             "|---|" + "---|" * (len(THRESHOLDS) + 3)]
    for name, r in results.items():
        cells = [f"{r['at'][str(t)]['recall']:.3f} / {r['at'][str(t)]['windows']:.0f}" for t in THRESHOLDS]
        sizes = " / ".join(f"{b['recall']:.2f}" for b in r["by_size_at_0.6"].values())
        equal = " / ".join(f"{at_windows(r, w):.3f}" for w in (600, 900))
        lines.append(f"| {name} | " + " | ".join(cells)
                     + f" | {equal} | {sizes} | {r['uncalibrated_recall_at_0.6']:.3f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    ap.add_argument("--base", default="runs/i14_gen", help="run whose record and PNet are the recipe's")
    ap.add_argument("--out", default="runs/lever_pnet")
    ap.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--images", type=int, default=150, help="first N present val images")
    ap.add_argument("--extra", nargs="*", default=[], metavar="NAME=WEIGHTS",
                    help="more PNets to score (a folder holding pnet.params), e.g. the learning curve's")
    args = ap.parse_args()
    if not args.data_root:
        raise SystemExit("set MTCNN_DATA_ROOT or --data-root")
    base, out = Path(args.base), Path(args.out)
    wider = load_wider(args.data_root, "val")
    items = wider.images[: args.images]
    weights = {"original": "reference", "recipe (16 epochs)": str(base / "cascade")}
    for name in args.variants:
        weights[name] = str(train_variant(name, base, out, args.data_root))
    for extra in args.extra:
        name, _, folder = extra.partition("=")
        weights[name] = folder
    cache_file = out / "scores.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    results = {}
    for name, w in weights.items():
        stamp = _stamp(w)
        old = cache.get(name, {})
        if old.get("weights") == str(w) and old.get("stamp") == stamp and old.get("images") == len(items):
            results[name] = old
        else:
            results[name] = dict(score(w, args.data_root, items, wider), stamp=stamp)
        write_json(cache_file, {**cache, **results})
        print(table({name: results[name]}).splitlines()[-1], flush=True)
    text = table(results)
    (out / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
