"""Where a cascade loses faces: recall after each stage at the detector's own thresholds.

For each weights folder, the share of WIDER val faces (>= 20 px, usable) that PNet's windows, RNet's
windows and the final boxes cover at IoU >= 0.5, and how many windows each stage passes per image. With
the original weights as a yardstick, it shows which stage of a trained cascade to work on. Usage::

    MTCNN_DATA_ROOT=../shared/data python benchmarks/stage_recall.py reference pretrained runs/full/cascade [--images 150]
        [--backend onnx] [--by-size]
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


#: face sizes (the longer side, px) the recall is also broken down by: the crowds are in the first bins
SIZE_BINS = (20, 30, 50, 100, 10**6)


def scored_faces(item, attributes: bool = False):
    """An image's usable faces of at least ``MIN_FACE`` px: ``(boxes (M, 4+), longer sides (M,))``, and their
    WIDER attribute rows (M, 6) when ``attributes``."""
    gt = item.boxes[item.usable]
    side = np.maximum(gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]) + 1
    big = side >= MIN_FACE
    return (gt[big], side[big]) + ((item.attributes[item.usable][big],) if attributes else ())


def recall_by_size(covered, sizes):
    """For each bin of :data:`SIZE_BINS`, ``(faces, recall)`` of the faces' ``covered`` flags (NaN for none)."""
    bins = []
    for lo, hi in zip(SIZE_BINS[:-1], SIZE_BINS[1:]):
        inside = (sizes >= lo) & (sizes < hi)
        bins.append((int(inside.sum()), float(covered[inside].mean()) if inside.any() else float("nan")))
    return bins


def stage_recall(det, wider, items, by_size: bool = False):
    """``(recall after PNet, RNet, ONet), (windows per image after each), final boxes``: the last a dict of
    image path to the cascade's ``(K, 5)`` boxes, for the images that could be read. With ``by_size`` a
    fourth item: for each bin of :data:`SIZE_BINS`, ``(faces, (recall after PNet, RNet, ONet))``."""
    covered = [[], [], []]
    sizes = []
    windows = np.zeros(3)
    final = {}
    n = 0
    for item in tqdm(items, desc="stage recall", unit="img", leave=False, disable=None):  # no bar off a terminal
        img, _ = try_read_image(wider.path(item))
        if img is None:
            continue
        gt, side = scored_faces(item)
        after_p = det.run_pnet(img)
        after_r = det.run_rnet(img, after_p)
        after_o, _ = det.run_onet(img, after_r)
        for k, found in enumerate((after_p, after_r, after_o)):
            covered[k].append(covered_faces(found, gt, IOU))
            windows[k] += len(found)
        sizes.append(side)
        final[wider.path(item)] = after_o
        n += 1
    covered = [np.concatenate(c) for c in covered]
    result = ([float(c.mean()) for c in covered], windows / max(n, 1), final)
    if not by_size:
        return result
    per_stage = [recall_by_size(c, np.concatenate(sizes)) for c in covered]
    bins = [(per_stage[0][b][0], tuple(stage[b][1] for stage in per_stage)) for b in range(len(SIZE_BINS) - 1)]
    return result + (bins,)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights", nargs="+", help="'reference', 'pretrained' or a folder of pnet/rnet/onet params")
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    ap.add_argument("--images", type=int, default=150, help="first N present val images")
    ap.add_argument("--thresholds", default="0.6,0.7,0.7")
    ap.add_argument("--backend", default="mxnet", choices=("mxnet", "onnx"), help="the same windows to float rounding; onnx is faster")
    ap.add_argument("--by-size", action="store_true", help="also the recall by face size (SIZE_BINS)")
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
    by_size = {}
    for weights in args.weights:
        det = MTCNNDetector.from_weights(weights, data_root=args.data_root, min_face=MIN_FACE, thresholds=thresholds,
                                         backend=args.backend)
        recall, windows, _, *bins = stage_recall(det, wider, items, by_size=args.by_size)
        print(f"| {weights} | " + " | ".join(f"{r:.3f}" for r in recall)
              + " | " + " / ".join(f"{w:.0f}" for w in windows) + " |", flush=True)
        if bins:
            by_size[weights] = bins[0]
    if by_size:
        print("\nBy face size (longer side, px): faces; recall after PNet / RNet / ONet")
        edges = [f"{lo}-{hi}" if hi < 10**6 else f">= {lo}" for lo, hi in zip(SIZE_BINS[:-1], SIZE_BINS[1:])]
        print("| weights | " + " | ".join(edges) + " |")
        print("|---|" + "---|" * len(edges))
        for weights, bins in by_size.items():
            print(f"| {weights} | " + " | ".join(f"{n}: " + " / ".join(f"{r:.2f}" for r in rec) for n, rec in bins)
                  + " |")


if __name__ == "__main__":
    main()
