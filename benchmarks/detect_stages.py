"""Where a detection's time goes: ms per image in each stage, and in NMS, for four detectors that add
the speed-ups one at a time (same weights, same images, each image seen once, as when detecting a
folder). Usage::

    MTCNN_DATA_ROOT=../shared/data python benchmarks/detect_stages.py [--images 20]
"""
from __future__ import annotations

import argparse
import copy
import glob
import os
import time

import cv2

from mtcnn_gluon.utils import boxes as bx
from mtcnn_gluon.detector import MTCNNDetector
from mtcnn_gluon.model.nets import get_net, load_reference_weights


class TimedNMS:
    """Stands in for the detector's NMS while timing it."""

    def __init__(self, nms):
        self.nms, self.seconds = nms, 0.0

    def __call__(self, *args, **kwargs):
        t = time.perf_counter()
        try:
            return self.nms(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t


def profile(det, nms, images):
    """Total seconds in ``run_pnet``, ``run_rnet``, ``run_onet`` and NMS over ``images``."""
    timed = TimedNMS(nms)
    det = copy.copy(det)  # the same nets and settings, timing its NMS
    det.nms = timed
    for img in images[:2]:  # graph building and first allocations, not part of the figures
        det.detect(img)
    timed.seconds = 0.0
    stages = [0.0, 0.0, 0.0]
    for img in images[2:]:
        t0 = time.perf_counter()
        windows = det.run_pnet(img)
        t1 = time.perf_counter()
        windows = det.run_rnet(img, windows)
        t2 = time.perf_counter()
        det.run_onet(img, windows)
        t3 = time.perf_counter()
        for k, dt in enumerate((t1 - t0, t2 - t1, t3 - t2)):
            stages[k] += dt
    return stages, timed.seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    ap.add_argument("--images", type=int, default=20)
    args = ap.parse_args()
    if not args.data_root:
        raise SystemExit("set MTCNN_DATA_ROOT or --data-root")
    files = sorted(glob.glob(os.path.join(args.data_root, "WIDER_FACE/WIDER_val/images/*/*.jpg")))
    images = [img for img in map(cv2.imread, files) if img.shape[1] == 1024][: args.images + 2]
    weights = os.path.join(args.data_root, "reference_mtcnn")
    mxnet_prelu = []
    for name in ("pnet", "rnet", "onet"):
        net = get_net(name, prelu="mxnet")
        load_reference_weights(net, weights)
        mxnet_prelu.append(net)
    fused = MTCNNDetector.from_weights("reference", data_root=args.data_root)
    as_trained = MTCNNDetector(fused.pnet, fused.rnet, fused.onet, fuse=False)
    runs = [
        ("nets with MXNet's PReLU op, NMS loop", MTCNNDetector(*mxnet_prelu, fuse=False), bx.nms_loop),
        ("nets as trained (PReLU from oneDNN ops), NMS loop", as_trained, bx.nms_loop),
        ("nets as trained, pair-sweep NMS", as_trained, bx.nms),
        ("inference form, pair-sweep NMS (the default)", fused, bx.nms),
        ("onnxruntime (`--backend onnx`), pair-sweep NMS", MTCNNDetector(fused.pnet, fused.rnet, fused.onet,
                                                                          backend="onnx"), bx.nms),
    ]
    n = len(images) - 2
    print(f"ms per image, {n} WIDER val images 1024 px wide, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print("| detector | PNet stage | RNet stage | ONet stage | of which NMS | total |")
    print("|---|---|---|---|---|---|")
    for label, det, nms in runs:
        stages, nms_s = profile(det, nms, images)
        cells = " | ".join(f"{1000 * s / n:.0f}" for s in (*stages, nms_s, sum(stages)))
        print(f"| {label} | {cells} |")


if __name__ == "__main__":
    main()
