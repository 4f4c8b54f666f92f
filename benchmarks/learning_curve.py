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
        [--out runs/learning_curve] [--full-run runs/i14_gen]
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


def plot(points, path) -> None:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    xs = [p["images"] for p in points]
    for setting, style in (("easy", "o-"), ("medium", "s-"), ("hard", "^-")):
        ax.plot(xs, [p["ap"][setting] for p in points], style, label=setting)
    ax.set_xlabel("WIDER train images used")
    ax.set_ylabel("WIDER val AP (shared val images)")
    ax.set_xticks(xs)
    ax.grid(alpha=0.3)
    ax.legend(title="setting")
    ax.set_title("The recipe's learning curve")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    ap.add_argument("--shares", type=int, nargs="+", default=[25, 50])
    ap.add_argument("--out", default="runs/learning_curve")
    ap.add_argument("--full-run", default="runs/i14_gen", help="the recipe's run on all images (100 %%)")
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
    write_json(out / "learning_curve.json", points)
    plot(points, out / "learning_curve.png")
    for p in points:
        print(f"{p['images']:5d} images: AP easy {p['ap']['easy']:.3f} medium {p['ap']['medium']:.3f} "
              f"hard {p['ap']['hard']:.3f}")


if __name__ == "__main__":
    main()
