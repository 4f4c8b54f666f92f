"""Where a cascade loses faces: recall after each stage at the detector's own thresholds.

For each weights folder, the share of WIDER val faces (>= 20 px, usable) that PNet's windows, RNet's
windows and the final boxes cover at IoU >= 0.5, and how many windows each stage passes per image. With
the original weights as a yardstick, it shows which stage of a trained cascade to work on. Usage::

    MTCNN_DATA_ROOT=../shared/data python benchmarks/stage_recall.py reference pretrained runs/full/cascade [--images 150]
"""
from __future__ import annotations

import argparse
import os

import numpy as np
from tqdm.auto import tqdm

from mtcnn_gluon.data.wider import load_wider
from mtcnn_gluon.detector import MTCNNDetector
from mtcnn_gluon.mining import covered_faces
from mtcnn_gluon.utils.images import try_read_image

MIN_FACE = 20
IOU = 0.5


def stage_recall(det, wider, items):
    """``(recall after PNet, RNet, ONet), (windows per image after each), final boxes``: the last a dict of
    image path to the cascade's ``(K, 5)`` boxes, for the images that could be read."""
    covered = [[], [], []]
    windows = np.zeros(3)
    final = {}
    n = 0
    for item in tqdm(items, desc="stage recall", unit="img", leave=False, disable=None):  # no bar off a terminal
        img, _ = try_read_image(wider.path(item))
        if img is None:
            continue
        gt = item.boxes[item.usable]
        gt = gt[(np.maximum(gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]) + 1) >= MIN_FACE]
        after_p = det.run_pnet(img)
        after_r = det.run_rnet(img, after_p)
        after_o, _ = det.run_onet(img, after_r)
        for k, found in enumerate((after_p, after_r, after_o)):
            covered[k].append(covered_faces(found, gt, IOU))
            windows[k] += len(found)
        final[wider.path(item)] = after_o
        n += 1
    return [float(np.concatenate(c).mean()) for c in covered], windows / max(n, 1), final


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights", nargs="+", help="'reference', 'pretrained' or a folder of pnet/rnet/onet params")
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    ap.add_argument("--images", type=int, default=150, help="first N present val images")
    ap.add_argument("--thresholds", default="0.6,0.7,0.7")
    args = ap.parse_args()
    if not args.data_root:
        raise SystemExit("set MTCNN_DATA_ROOT or --data-root")
    thresholds = tuple(float(t) for t in args.thresholds.split(","))
    wider = load_wider(args.data_root, "val")
    items = wider.images[: args.images]
    print(f"{len(items)} WIDER val images, faces >= {MIN_FACE} px covered at IoU >= {IOU}, "
          f"thresholds {args.thresholds}")
    print("| weights | after PNet | after RNet | after ONet | windows per image (P / R / O) |")
    print("|---|---|---|---|---|")
    for weights in args.weights:
        det = MTCNNDetector.from_weights(weights, data_root=args.data_root, min_face=MIN_FACE, thresholds=thresholds)
        recall, windows, _ = stage_recall(det, wider, items)
        print(f"| {weights} | " + " | ".join(f"{r:.3f}" for r in recall)
              + " | " + " / ".join(f"{w:.0f}" for w in windows) + " |", flush=True)


if __name__ == "__main__":
    main()
