"""Issue-14 learning curve: the whole cascade trained on 25 %, 50 % (and 100 %) of the shared WIDER train images.

For each share, a data root is made under ``<out>/data_<pct>/`` of symbolic links only: everything as in
``--data-root`` except ``WIDER_FACE/WIDER_train/images``, where a random share of the present train images
(seed 0, the same draw nested: the 25 % are part of the 50 %) is linked. The WIDER parser sees the other
images as not downloaded, so every step — PNet's crops, both minings, the generated faces — uses that share
alone; the landmark faces, the val images and the evaluation are the same for every point. Then the recipe
(``--recipe``: the ``full`` preset plus generated faces, seed 0) runs in ``<out>/<pct>/`` (resumable: rerun
to continue). 100 % is the base run (``--full-run``), not retrained. Writes ``<out>/learning_curve.json``
and ``learning_curve.png`` (val AP easy / medium / hard against train images). Usage::

    MTCNN_DATA_ROOT=../shared/data python benchmarks/learning_curve.py [--shares 25 50]
        [--out runs/learning_curve] [--full-run runs/i14_gen] [--original runs/eval_reference]

With three points or more it also fits AP against log2(images) per setting and extends the line to the full
WIDER train split (12,880 images): a direction, not a prediction.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from mtcnn_gluon.config import PipelineConfig
from mtcnn_gluon.data.wider import load_wider
from mtcnn_gluon.pipeline import run_pipeline
from mtcnn_gluon.utils.files import write_json

RECIPE = {"generated_faces": {"rnet": 20, "onet": 20}}


def subset_root(data_root: Path, out: Path, share: int, seed: int = 0) -> Path:
    """A data root of links in which only ``share`` % of the present train images exist."""
    root = out / f"data_{share}"
    marker = root / "subset.json"
    if marker.is_file():
        return root
    wider = load_wider(data_root, "train")
    names = sorted(im.name for im in wider.images)
    order = np.random.default_rng(seed).permutation(len(names))  # one draw: smaller shares nest in larger
    keep = sorted(names[i] for i in order[: int(round(len(names) * share / 100))])
    for entry in sorted(data_root.iterdir()):
        if entry.name != "WIDER_FACE":
            _link(entry, root / entry.name)
    for entry in sorted((data_root / "WIDER_FACE").iterdir()):
        if entry.name != "WIDER_train":
            _link(entry, root / "WIDER_FACE" / entry.name)
    images = root / "WIDER_FACE" / "WIDER_train" / "images"
    for name in keep:
        _link(data_root / "WIDER_FACE" / "WIDER_train" / "images" / name, images / name)
    write_json(marker, {"share": share, "seed": seed, "images": len(keep), "of": len(names)})
    return root


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        os.symlink(src.resolve(), dst)


def point(run: Path, images: int) -> dict:
    summary = json.loads((run / "eval" / "summary.json").read_text())
    return {"images": images, "run": str(run), "ap": summary["wider"]["ap"],
            "nme": (summary.get("landmarks") or {}).get("nme")}


#: train images in the full WIDER FACE train split (the shared data holds 970 of them)
FULL_WIDER_TRAIN = 12880


def per_doubling(points) -> dict:
    """Per setting, a least-squares line ``AP = a + b * log2(images)`` through the points: ``b`` (AP gained
    per doubling of the train images) and the line's value at :data:`FULL_WIDER_TRAIN` images, capped at 1
    (``capped`` says when it was). The points span two doublings; the full split lies 3.7 more past the
    largest, so the value is a direction rather than a prediction. Needs three points or more."""
    if len(points) < 3:
        return {}
    x = np.log2([p["images"] for p in points])
    fits = {}
    for setting in ("easy", "medium", "hard"):
        b, a = np.polyfit(x, [p["ap"][setting] for p in points], 1)
        end = float(a + b * np.log2(FULL_WIDER_TRAIN))
        fits[setting] = {"per_doubling": float(b), "intercept": float(a), "at_full_wider": min(end, 1.0),
                         "capped": end > 1.0}
    return fits


def plot(points, path, fits=None, original=None) -> None:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [p["images"] for p in points]
    for setting, style in (("easy", "o-"), ("medium", "s-"), ("hard", "^-")):
        line, = ax.plot(xs, [p["ap"][setting] for p in points], style, label=setting)
        if original:
            ax.axhline(original[setting], color=line.get_color(), lw=0.8, ls="--", alpha=0.5)
        if fits:
            f = fits[setting]
            xs_fit = np.geomspace(xs[0], FULL_WIDER_TRAIN, 50)  # the line, up to AP 1 where it passes it
            ys_fit = np.minimum(f["intercept"] + f["per_doubling"] * np.log2(xs_fit), 1.0)
            ax.plot(xs_fit, ys_fit, ":", color=line.get_color(), alpha=0.6)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("WIDER train images used (log scale)")
    ax.set_ylabel("WIDER val AP (shared val images)")
    ax.set_xticks(xs + ([FULL_WIDER_TRAIN] if fits else []))
    ax.set_xticklabels([str(x) for x in xs] + (["12880\n(full WIDER)"] if fits else []))
    ax.grid(alpha=0.3)
    ax.legend(title="setting")
    ax.set_title("The recipe's learning curve" + (" (dotted: log-linear fit, extrapolated)" if fits else "")
                 + ("\ndashed: the original weights' AP" if original else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    ap.add_argument("--shares", type=int, nargs="+", default=[25, 50])
    ap.add_argument("--out", default="runs/learning_curve")
    ap.add_argument("--full-run", default="runs/i14_gen", help="the recipe's run on all images (100 %%)")
    ap.add_argument("--original", default="runs/eval_reference",
                    help="an eval folder of the original weights (its AP drawn as dashed lines, when present)")
    args = ap.parse_args()
    if not args.data_root:
        raise SystemExit("error: set MTCNN_DATA_ROOT or --data-root")
    data_root, out = Path(args.data_root).resolve(), Path(args.out)
    cfg = dataclasses.replace(PipelineConfig.preset("full"), **RECIPE)
    points = []
    for share in sorted(args.shares):
        root = subset_root(data_root, out, share)
        run_pipeline(root, out / str(share), cfg, progress=False)
        points.append(point(out / str(share), json.loads((root / "subset.json").read_text())["images"]))
    full = Path(args.full_run)
    if (full / "eval" / "summary.json").is_file():
        points.append(point(full, len(load_wider(data_root, "train").images)))
    fits = per_doubling(points)
    write_json(out / "learning_curve.json", {"points": points, "log2_fit": fits})
    original = Path(args.original) / "summary.json"
    original = json.loads(original.read_text())["wider"]["ap"] if original.is_file() else None
    plot(points, out / "learning_curve.png", fits, original)
    for p in points:
        print(f"{p['images']:5d} images: AP easy {p['ap']['easy']:.3f} medium {p['ap']['medium']:.3f} "
              f"hard {p['ap']['hard']:.3f}")
    for setting, f in fits.items():
        print(f"{setting}: {100 * f['per_doubling']:+.1f} AP points per doubling; the line at "
              f"{FULL_WIDER_TRAIN} images: {f['at_full_wider']:.3f}" + (" (capped at 1)" if f["capped"] else ""))


if __name__ == "__main__":
    main()
