"""Detector speed: median ms per image of ``detect()``, ours vs a reference-style baseline, same run.

The baseline runs the reference weights through the *reference symbols* (MXNet's own
``LeakyReLU(act_type='prelu')``, the layer the reference detector uses) inside the same pipeline, and
also with per-box crops fed one at a time, as the reference detector's loops do for the pyramid. Both
must give the same boxes. Usage::

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


class ReferenceSymbolNet(gluon.HybridBlock):
    """The reference symbol as a Gluon block with our output interface (logits, box, landmarks)."""

    def __init__(self, folder, prefix, outputs, **kwargs):
        super().__init__(**kwargs)
        sym = mx.sym.load(os.path.join(folder, f"{prefix}-symbol.json"))
        internals = sym.get_internals()
        group = mx.sym.Group([internals[o + "_output"] for o in outputs])
        with self.name_scope():
            self.body = gluon.SymbolBlock(group, mx.sym.var("data"))
        params = mx.nd.load(os.path.join(folder, f"{prefix}-0001.params"))
        own = self.body.collect_params()
        for k, v in params.items():
            name = k.split(":", 1)[-1]
            if name in own:
                own[name].initialize(init=mx.init.Constant(0), force_reinit=True)
                own[name].set_data(v)
        self.n_out = len(outputs)

    def hybrid_forward(self, F, x):
        outs = self.body(x)
        logits = outs[-1]
        box = outs[-2]
        lmk = outs[0] if self.n_out == 3 else F.zeros_like(box)
        return logits, box, lmk


def reference_style_detector(folder):
    # logits (conv*_1) rather than prob1: SoftmaxOutput would want a label input
    nets = [ReferenceSymbolNet(folder, "det1", ["conv4_2", "conv4_1"]),
            ReferenceSymbolNet(folder, "det2", ["conv5_2", "conv5_1"]),
            ReferenceSymbolNet(folder, "det3", ["conv6_3", "conv6_2", "conv6_1"])]
    return MTCNNDetector(*nets)


def median_ms(det, images, repeat):
    times = []
    for img in images:
        det.detect(img)  # bind this shape once
        for _ in range(repeat):
            t = time.perf_counter()
            det.detect(img)
            times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


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
        b = median_ms(base, imgs, rep)
        o = median_ms(ours, imgs, rep)
        rows.append((label, b, o))
    threads = os.environ.get("OMP_NUM_THREADS")
    print(f"| input | reference layers (MXNet PReLU), ms | ours, ms | speed-up |  (OMP_NUM_THREADS={threads})")
    print("|---|---|---|---|")
    for label, b, o in rows:
        print(f"| {label} | {b:.0f} | {o:.0f} | {b / o:.2f}x |")


if __name__ == "__main__":
    main()
