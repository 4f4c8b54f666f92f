"""Detector speed: median ms per image of ``detect()``, ours vs a reference-style baseline, same run.

The baseline runs the reference weights the way the reference MXNet detector does — its symbols with
MXNet's own ``LeakyReLU(act_type='prelu')``, an executor bound for every new input shape — inside the
same pre- and post-processing as ours, so the ratio isolates how the nets are run. Both must give the
same boxes. Usage::

    MTCNN_DATA_ROOT=../shared/data python benchmarks/detect.py [--images 20] [--repeat 3]
"""
from __future__ import annotations

import argparse
import glob
import os
import time

import cv2
import mxnet as mx
import numpy as np
from mxnet import gluon

from mtcnn_gluon.detector import MTCNNDetector


class ReferenceStyleNet:
    """A reference net run the way the reference detector runs it: its symbol (MXNet's own
    ``LeakyReLU(act_type='prelu')``), an executor bound for each input shape it is called with
    (``FeedForward.predict`` rebinds whenever the shape changes, i.e. every pyramid scale and every
    batch of crops), and the same outputs interface as our nets (logits, box, landmarks)."""

    def __init__(self, folder, prefix, outputs):
        sym = mx.sym.load(os.path.join(folder, f"{prefix}-symbol.json"))
        internals = sym.get_internals()
        self.sym = mx.sym.Group([internals[o + "_output"] for o in outputs])
        self.params = {k.split(":", 1)[-1]: v for k, v in mx.nd.load(os.path.join(folder, f"{prefix}-0001.params")).items()}
        self.n_out = len(outputs)

    def hybridize(self, *args, **kwargs):
        pass

    def __call__(self, x):
        exe = self.sym.simple_bind(mx.cpu(), data=x.shape, grad_req="null")
        for k, v in self.params.items():
            if k in exe.arg_dict:
                exe.arg_dict[k][:] = v
        exe.arg_dict["data"][:] = x
        outs = exe.forward()
        lmk = outs[0] if self.n_out == 3 else mx.nd.zeros_like(outs[-2])
        return outs[-1], outs[-2], lmk


def reference_style_detector(folder):
    # logits (conv*_1) rather than prob1: SoftmaxOutput would want a label input; softmax is applied after
    nets = [ReferenceStyleNet(folder, "det1", ["conv4_2", "conv4_1"]),
            ReferenceStyleNet(folder, "det2", ["conv5_2", "conv5_1"]),
            ReferenceStyleNet(folder, "det3", ["conv6_3", "conv6_2", "conv6_1"])]
    return MTCNNDetector(*nets)


def median_ms(dets, images, repeat):
    """Median ms per image for each detector, timed in turns (a, b, a, b, ...) so load hits both alike."""
    times = [[] for _ in dets]
    for img in images:
        for det in dets:
            det.detect(img)  # first call binds this image's shapes
        for _ in range(repeat):
            for k, det in enumerate(dets):
                t = time.perf_counter()
                det.detect(img)
                times[k].append(time.perf_counter() - t)
    return [1000 * float(np.median(t)) for t in times]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    if not args.data_root:
        raise SystemExit("set MTCNN_DATA_ROOT or --data-root")
    files = sorted(glob.glob(os.path.join(args.data_root, "WIDER_FACE/WIDER_val/images/*/*.jpg")))
    files = [f for f in files if cv2.imread(f).shape[1] == 1024][: args.images]
    wider = [cv2.imread(f) for f in files]
    photo = cv2.resize(cv2.imread(os.path.join(args.data_root, "photos/pangyupo_test2.jpg")), (640, 480))
    ours = MTCNNDetector.from_weights("reference", data_root=args.data_root)
    base = reference_style_detector(os.path.join(args.data_root, "reference_mtcnn"))
    # same boxes
    for img in wider[:5]:
        a, _ = ours.detect(img)
        b, _ = base.detect(img)
        assert a.shape == b.shape and np.allclose(a, b, atol=1e-2), "baseline and ours disagree"
    rows = []
    for label, imgs in ((f"WIDER val, 1024 px wide ({len(wider)} images)", wider), ("640x480 photo", [photo])):
        rep = args.repeat if len(imgs) > 1 else 10 * args.repeat
        b, o = median_ms([base, ours], imgs, rep)
        rows.append((label, b, o))
    threads = os.environ.get("OMP_NUM_THREADS")
    print(f"| input | reference-style (symbol per shape, MXNet PReLU), ms | ours, ms | speed-up |"
          f"  (OMP_NUM_THREADS={threads})")
    print("|---|---|---|---|")
    for label, b, o in rows:
        print(f"| {label} | {b:.0f} | {o:.0f} | {b / o:.2f}x |")


if __name__ == "__main__":
    main()
