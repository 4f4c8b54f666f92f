"""Issue-14 ablation of the recipe at the RNet stage: one ingredient changed at a time, everything else fixed.

All rows share one finished full-recipe run (``--base``, default ``runs/i14_gen``: the ``full`` preset with
generated faces): its PNet, the hard examples that PNet mined, its landmark records, and its ONet. Each row
trains RNet afresh (seed 0) on a shorter schedule than the recipe's 40 × 200 steps — ``--epochs`` × 200
steps, Adam 0.001, × 0.1 after the second-to-last epoch; at ``--epochs 40`` the recipe's own schedule, decays
after 30 and 36, so a row compares with ``recipe_full`` — with one change, then scores the cascade
PNet → that RNet → the base ONet on the shared WIDER val images:

* recall after RNet (faces >= 20 px covered at IoU 0.5 by RNet's windows, detector thresholds
  0.6 / 0.7 / 0.7) and windows per image — what RNet hands ONet;
* the official AP (easy / medium / hard) of the final boxes.

The ONet is the one trained on the recipe RNet's hard examples, so every row is judged by the same last
stage; the rows say what each ingredient does to RNet. Resumable and cached: a finished row is read back
from ``<out>/<row>/result.json``; an interrupted training resumes from its checkpoint. Usage::

    MTCNN_DATA_ROOT=../shared/data python benchmarks/ablation_rnet.py [--base runs/i14_gen]
        [--out runs/ablation_rnet] [--epochs 6] [--rows recipe no_ohem ...]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from mtcnn_gluon.config import BATCH_MIX, PipelineConfig, TrainConfig
from mtcnn_gluon.data.records import write_typed_records
from mtcnn_gluon.data.wider import load_wider
from mtcnn_gluon.detector import MTCNNDetector
from mtcnn_gluon.eval.wider import evaluate_wider, present_val_images, wider_key
from mtcnn_gluon.mining import load_mined
from mtcnn_gluon.train import fit
from mtcnn_gluon.utils.files import write_json
from stage_recall import stage_recall  # benchmarks/stage_recall.py: the same faces, the same IoU

NO_PART = {**BATCH_MIX, "part": 0}
NO_LANDMARK = {**BATCH_MIX, "landmark": 0}

#: row → (what changes, TrainConfig overrides, records: 'all' = mined + generated, 'mined' = mined only)
ROWS = {
    "recipe_full": ("the recipe at its full schedule (40 x 200 steps): the base run's own RNet", {}, None),
    "recipe": ("the recipe (OHEM 70 %, part faces, landmark task, generated faces, flips)", {}, "all"),
    "no_ohem": ("OHEM off (every classification loss kept)", {"ohem_ratio": 1.0}, "all"),
    "no_part": ("part faces off (batch 64 pos + 64 landmark + 192 neg)",
                {"batch_mix": NO_PART, "batch_size": sum(NO_PART.values())}, "all"),
    "no_landmark": ("landmark task off (batch 64 pos + 64 part + 192 neg, weight 0)",
                    {"batch_mix": NO_LANDMARK, "batch_size": sum(NO_LANDMARK.values()), "landmark_weight": 0.0},
                    "all"),
    "no_generated": ("generated positives and parts off (mined crops only)", {}, "mined"),
    "no_flip": ("augmentation off (no flips)", {"flip": False}, "all"),
    "recipe_seed1": ("the recipe again with seed 1 (initialisation, batch order, held-out split): run-to-run spread", {"seed": 1}, "all"),
    "colour": ("colour jitter on (brightness, contrast, saturation x U(0.8, 1.2))", {"colour_jitter": 0.2}, "all"),
}


def records_for(base: Path, out: Path, source: str) -> Path:
    """A records folder holding ``rnet/`` for this row: the base run's, or the mined crops alone."""
    if source == "all":
        return base / "data"
    folder = out / "_records_mined_only"
    rnet = folder / "rnet"
    if not (rnet / "neg.rec").is_file():
        crops, labels = load_mined(base / "mine_rnet")
        tmp = folder / "rnet.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        write_typed_records(tmp, crops, labels, types=("pos", "part", "neg"),
                            summary={"mining": "mined only (no generated faces)"})
        for name in ("landmark.rec", "landmark.idx", "landmark.json", "landmark.meta.npz"):
            if (base / "data" / "rnet" / name).is_file():
                os.symlink((base / "data" / "rnet" / name).resolve(), tmp / name)
        shutil.rmtree(rnet, ignore_errors=True)
        os.replace(tmp, rnet)
    return folder


def train_row(base: Path, out: Path, row: str, epochs: int) -> Path:
    _, overrides, source = ROWS[row]
    if source is None:
        return base / "cascade"
    recipe = PipelineConfig.preset("full")
    full = recipe.train_overrides["rnet"]
    # at the recipe's own length its own decays, so that a row compares with ``recipe_full``; shorter: one, late
    decay = full["lr_decay_epochs"] if epochs == recipe.epochs["rnet"] else (epochs - 1,)
    cfg = TrainConfig.preset("rnet", **{**full, "epochs": epochs, "lr_decay_epochs": decay, "seed": 0,
                                         **overrides})
    result = fit(records_for(base, out, source), out / row / "rnet", cfg, resume=True, progress=False)
    cascade = out / row / "cascade"
    cascade.mkdir(parents=True, exist_ok=True)
    for net in ("pnet", "onet"):
        shutil.copyfile(base / "cascade" / f"{net}.params", cascade / f"{net}.params")
    shutil.copyfile(result.params_path, cascade / "rnet.params")
    return cascade


def score(cascade, data_root) -> dict:
    """Recall after each stage, windows per image, and val AP of the cascade, in one pass over val."""
    det = MTCNNDetector.from_weights(cascade, backend="onnx")
    val = load_wider(data_root, "val")
    present = set(present_val_images(data_root))
    items = [item for item in val.images if wider_key(val.path(item)) in present]
    recall, windows, final = stage_recall(det, val, items)
    preds = {wider_key(path): np.round(boxes.astype(np.float64), 2) for path, boxes in final.items()}
    ap = evaluate_wider(preds, Path(data_root), images=sorted(present)).to_dict()  # unreadable: faces missed
    return {"images": len(final),
            "recall": dict(zip(("pnet", "rnet", "onet"), recall)),
            "windows_per_image": {"pnet": float(windows[0]), "rnet": float(windows[1])},
            "ap": {s: ap["ap"][s] for s in ("easy", "medium", "hard")}}


def table(out: Path, rows) -> str:
    lines = ["| row | change | RNet steps | recall after RNet | windows / img after RNet | AP easy | AP medium | AP hard |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        path = out / row / "result.json"
        if not path.is_file():
            continue
        r = json.loads(path.read_text())
        lines.append(f"| {row} | {ROWS[row][0]} | {r['epochs'] * r['steps_per_epoch']:,} | {r['recall']['rnet']:.3f} | {r['windows_per_image']['rnet']:.0f} | "
                     f"{r['ap']['easy']:.3f} | {r['ap']['medium']:.3f} | {r['ap']['hard']:.3f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    ap.add_argument("--base", default="runs/i14_gen")
    ap.add_argument("--out", default="runs/ablation_rnet")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    args = ap.parse_args()
    if not args.data_root:
        raise SystemExit("error: set MTCNN_DATA_ROOT or --data-root")
    if args.epochs < 2:
        raise SystemExit("error: --epochs must be >= 2 (the lr drops x0.1 for the last epoch)")
    base, out = Path(args.base), Path(args.out)
    for name in ("cascade/pnet.params", "cascade/onet.params", "mine_rnet/mined.npz", "data/rnet/pos.rec"):
        if not (base / name).is_file():
            raise SystemExit(f"error: {base / name}: not found; --base must be a finished pipeline run")
    for row in args.rows:
        result_path = out / row / "result.json"
        if result_path.is_file():
            print(f"{row}: done before")
            continue
        t0 = time.time()
        cascade = train_row(base, out, row, args.epochs)
        t1 = time.time()
        base_epochs = json.loads((base / "rnet" / "config.json").read_text())["epochs"]
        result = {"row": row, "change": ROWS[row][0], "epochs": base_epochs if ROWS[row][2] is None else args.epochs,
                  "steps_per_epoch": 200,
                  "train_seconds": round(t1 - t0), **score(cascade, args.data_root)}
        result["score_seconds"] = round(time.time() - t1)
        write_json(result_path, result)
        print(f"{row}: recall after RNet {result['recall']['rnet']:.3f}, AP {result['ap']}", flush=True)
    print(table(out, list(ROWS)))
    (out / "table.md").write_text(table(out, list(ROWS)) + "\n")


if __name__ == "__main__":
    main()
