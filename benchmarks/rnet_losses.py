"""Why RNet drops a face that PNet's windows covered: scored out, suppressed, or moved off by its offsets.

``stage_recall.py`` shows that RNet opens most of the gap to the original weights, most of all at 20-30 px.
For each WIDER val face >= 20 px that PNet's windows cover (IoU >= 0.5), this script replays RNet's three
steps as :meth:`Cascade.run_rnet` takes them (checked against it on every image) and names the first step after
which no window covers the face; a face that RNet's output covers counts as kept, whichever window it is:

- *scored out*: every covering window scored at or below RNet's threshold;
- *suppressed*: some passed, but NMS (0.7, union) kept only windows that do not cover the face;
- *moved off*: a kept window covered it, but its box offsets (then squaring, rounding) moved it off.

It also scores each face's own box, squared as the cascade squares its windows: RNet's recall on ideal windows.
If RNet keeps most of the scored-out faces in their own boxes, the faces are not beyond it — the windows PNet
gives them are. The best score among a scored-out face's covering windows says how near it came: near the
threshold is a calibration that a lower threshold would recover, near 0 a face RNet does not see. A second
table splits the scored-out share by WIDER's face attributes (blur, occlusion, pose, illumination, expression):
which appearance RNet has not learnt. Usage::

    MTCNN_DATA_ROOT=../shared/data python benchmarks/rnet_losses.py reference pretrained [--images 150]
"""
from __future__ import annotations

import argparse
import os

import numpy as np
from tqdm.auto import tqdm

from mtcnn_gluon.config import INPUT_SIZE
from mtcnn_gluon.data.wider import WIDER_ATTRIBUTES, load_wider
from mtcnn_gluon.detector import MTCNNDetector
from mtcnn_gluon.mining import covered_faces
from mtcnn_gluon.utils import boxes as bx
from mtcnn_gluon.utils.images import crop_and_resize, normalize, to_bgr, try_read_image
from stage_recall import IOU, MIN_FACE, SIZE_BINS, scored_faces  # benchmarks/stage_recall.py

FATES = ("kept", "scored out", "suppressed", "moved off")
ATTRIBUTE_VALUES = {"blur": ("clear", "normal", "heavy"), "occlusion": ("none", "partial", "heavy"),
                    "pose": ("typical", "atypical"), "illumination": ("normal", "extreme"),
                    "expression": ("typical", "exaggerated")}


def rnet_scores(det, img, windows) -> tuple:
    """RNet's face probability and box offsets for ``windows`` (N, 4+), cropped as ``run_rnet`` crops them."""
    crops = crop_and_resize(to_bgr(img), np.asarray(windows, np.float64)[:, :4], INPUT_SIZE["rnet"], round_uint8=True)
    prob, reg, _ = det.forward("rnet", normalize(crops))
    return prob[:, 1], reg


def fates(det, img, gt) -> tuple:
    """For each face of ``gt`` covered by PNet's windows: its fate (an index of :data:`FATES`), the best
    covering window's IoU, RNet's probability of the face's own squared box and the best probability among
    its covering windows; plus the covered mask."""
    cfg = det.config
    windows = det.run_pnet(img)[: cfg.max_candidates]
    covered = covered_faces(windows, gt, IOU)
    if not covered.any():
        return np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros(0), covered
    gt = gt[covered, :4]
    prob, reg = rnet_scores(det, img, windows)
    iou = bx.iou_matrix(gt, windows[:, :4])
    passed = prob > cfg.thresholds[1]
    boxes = np.concatenate([windows[passed, :4].astype(np.float64), prob[passed, None]], axis=1)
    pick = det.nms(boxes, thresh=cfg.nms_thresholds[2], mode="union")
    moved = np.round(bx.square(bx.decode_offsets(boxes[pick], reg[passed][pick]))[:, :4])
    lost = ~covered_faces(moved, gt, IOU)  # the others are kept (0), whichever window ends up on them
    fate = np.where(lost, 3, 0)
    fate[lost & ~covered_faces(boxes[pick], gt, IOU)] = 2
    fate[lost & ~covered_faces(boxes, gt, IOU)] = 1
    if not np.array_equal(~lost, covered_faces(det.run_rnet(img, windows), gt, IOU)):
        raise AssertionError("the replay of RNet's steps disagrees with Cascade.run_rnet")  # it must not
    own, _ = rnet_scores(det, img, np.round(bx.square(gt.astype(np.float64))))
    best = np.where(iou >= IOU, prob[None, :], 0.0).max(axis=1)  # the best-scored covering window
    return fate, iou.max(axis=1), own, best, covered


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", nargs="+", help="'reference', 'pretrained' or a folder of pnet/rnet/onet params")
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    ap.add_argument("--images", type=int, default=150, help="first N present val images")
    args = ap.parse_args()
    if not args.data_root:
        raise SystemExit("error: set MTCNN_DATA_ROOT or --data-root")
    wider = load_wider(args.data_root, "val")
    items = wider.images[: args.images]
    print(f"{len(items)} WIDER val images; faces >= {MIN_FACE} px that PNet's windows cover (IoU >= {IOU}), "
          "thresholds 0.6 / 0.7 / 0.7")
    print("| weights | face size (px) | covered by PNet | " + " | ".join(FATES)
          + " | own box kept: all / scored out | best PNet IoU: scored out / kept"
          + " | scored out: best window's score, median / share > 0.5 |")
    print("|---|---|---|" + "---|" * len(FATES) + "---|---|---|")
    attributes = {}
    for weights in args.weights:
        det = MTCNNDetector.from_weights(weights, data_root=args.data_root, min_face=MIN_FACE,
                                         thresholds=(0.6, 0.7, 0.7), backend="onnx")
        rows, attrs = [], []
        for item in tqdm(items, desc=f"rnet losses {weights}", unit="img", leave=False, disable=None):
            img, _ = try_read_image(wider.path(item))
            if img is None:
                continue
            gt, side, attr = scored_faces(item, attributes=True)
            fate, iou, own, best, covered = fates(det, img, gt)
            rows.append(np.stack([side[covered], fate, iou, own, best], axis=1))
            attrs.append(attr[covered])
        side, fate, iou, own, best = np.concatenate(rows).T
        attributes[weights] = (np.concatenate(attrs), fate)
        for lo, hi in [(MIN_FACE, 10**6)] + list(zip(SIZE_BINS[:-1], SIZE_BINS[1:])):
            inside = (side >= lo) & (side < hi)
            out = inside & (fate == 1)
            shares = " | ".join(_share(fate[inside] == k) for k in range(len(FATES)))
            label = "all" if lo == MIN_FACE and hi == 10**6 else (f"{lo}-{hi}" if hi < 10**6 else f">= {lo}")
            kept_own = own > det.config.thresholds[1]
            print(f"| {weights} | {label} | {int(inside.sum())} | {shares} "
                  f"| {_share(kept_own[inside])} / {_share(kept_own[out])} "
                  f"| {_median(iou[out])} / {_median(iou[inside & (fate == 0)])} "
                  f"| {_median(best[out])} / {_share(best[out] > 0.5)} |", flush=True)
    print("\nScored out by WIDER attribute (faces covered by PNet: share scored out)")
    print("| attribute = value | " + " | ".join(args.weights) + " |")
    print("|---|" + "---|" * len(args.weights))
    for name, values in ATTRIBUTE_VALUES.items():
        for value, meaning in enumerate(values):
            cells = []
            for weights in args.weights:
                attrs, fate = attributes[weights]
                inside = attrs[:, WIDER_ATTRIBUTES.index(name)] == value
                cells.append(f"{int(inside.sum())}: {_share(fate[inside] == 1)}")
            print(f"| {name} = {value} ({meaning}) | " + " | ".join(cells) + " |", flush=True)


def _share(flags) -> str:
    return f"{np.mean(flags):.2f}" if len(flags) else "-"


def _median(values) -> str:
    return f"{np.median(values):.2f}" if len(values) else "-"


if __name__ == "__main__":
    main()
