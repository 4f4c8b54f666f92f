"""Detector speed: median ms per image of ``detect()``, ours vs a reference-style baseline, same run.

Detectors with the reference weights, timed in turns on the same images:

* **reference-style**: the nets run the way the reference MXNet detector runs them — its symbols
  with MXNet's own ``LeakyReLU(act_type='prelu')``, an executor bound for every new input shape —
  and NMS as the textbook loop (:func:`mtcnn_gluon.utils.boxes.nms_loop`), inside our batched pre- and
  post-processing (so this baseline is already faster than the reference's own code, which also
  loops over boxes in Python: about 0.8 s per image on these cores);
* **ours, nets as trained**: our Gluon nets hybridised as they are (``fuse=False``), fast NMS;
* **ours**: the default — nets in their inference form (:mod:`mtcnn_gluon.model.fused`), fast NMS;
* **ours, onnxruntime, one call at a time**: the exported graphs (:mod:`mtcnn_gluon.model.export`), each
  call of a net split over the cores by onnxruntime (how the backend ran until 2026-12-02, except that
  PNet's levels are resized in one worker thread beside the main one);
* **ours, onnxruntime**: ``backend="onnx"``: several single-thread calls at once (:class:`OnnxNets`).

All must give the same boxes. With ``--reference-code DIR`` a first column times **the reference detector's
own code**: ``mtcnn_detector.py`` and ``helper.py`` of the original MXNet conversion
(github.com/pangyupo/mxnet_mtcnn_face_detection, MIT; not shipped here: put the two files in ``DIR``), run as
published — one PNet worker process, ``detect_face(img)`` — with the shared weights. Two shims let it run on
Python 3 without editing it: ``itertools.izip`` is ``zip``, and the accurate-landmark net ``det4``, which its
constructor loads but ``accurate_landmark=False`` never runs, is left out when the weights folder has none.
Its boxes are not ours to the pixel (it rounds boxes between stages): the run prints how many of its faces
ours find. Usage::

    MTCNN_DATA_ROOT=../shared/data python benchmarks/detect.py [--images 20] [--repeat 3] [--reference-code DIR]
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import itertools
import os
import sys
import time
import warnings

import mxnet as mx
import numpy as np

from mtcnn_gluon.utils import boxes as bx
from mtcnn_gluon.cascade import OnnxNets
from mtcnn_gluon.detector import MTCNNDetector
from mtcnn_gluon.model.export import to_onnx
from inputs import speed_inputs  # benchmarks/inputs.py: the images facenet.py times too


class ReferenceStyleNet:
    """A reference net run the way the reference detector runs it: its symbol (MXNet's own
    ``LeakyReLU(act_type='prelu')``) in ``mx.model.FeedForward``, whose ``predict`` the reference
    calls — batches of 128 (the last one padded), an executor rebound whenever the input shape
    changes (every pyramid scale) — behind the same outputs interface as our nets (logits, box,
    landmarks)."""

    def __init__(self, folder, prefix, outputs):
        sym, args, aux = mx.model.load_checkpoint(os.path.join(folder, prefix), 1)
        internals = sym.get_internals()
        group = mx.sym.Group([internals[o + "_output"] for o in outputs])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.model = mx.model.FeedForward(group, ctx=mx.cpu(), arg_params=args, aux_params=aux)
        self.n_out = len(outputs)

    def hybridize(self, *args, **kwargs):
        pass

    def __call__(self, x):
        outs = [mx.nd.array(o) for o in self.model.predict(x.asnumpy())]
        lmk = outs[0] if self.n_out == 3 else mx.nd.zeros((x.shape[0], 10))
        return outs[-1], outs[-2], lmk


def reference_style_detector(folder):
    # logits (conv*_1) rather than prob1: SoftmaxOutput would want a label input; softmax is applied after
    nets = [ReferenceStyleNet(folder, "det1", ["conv4_2", "conv4_1"]),
            ReferenceStyleNet(folder, "det2", ["conv5_2", "conv5_1"]),
            ReferenceStyleNet(folder, "det3", ["conv6_3", "conv6_2", "conv6_1"])]
    return MTCNNDetector(*nets, fuse=False)


class ReferenceCode:
    """The reference detector's own ``MtcnnDetector`` (imported from ``folder``) behind ``detect(img)``."""

    def __init__(self, folder, weights, min_face=20, thresholds=(0.6, 0.7, 0.7)):
        check_reference_code(folder)
        sys.path.insert(0, os.path.abspath(folder))
        itertools.izip = zip  # its Python 2 import
        with _without_missing_nets(weights):
            module = importlib.import_module("mtcnn_detector")
            self.det = module.MtcnnDetector(model_folder=weights, minsize=min_face, threshold=list(thresholds),
                                            factor=0.709, num_worker=1, accurate_landmark=False, ctx=mx.cpu())

    def detect(self, img):
        out = self.det.detect_face(img)
        return (np.zeros((0, 5)), np.zeros((0, 10))) if out is None else out


def check_reference_code(folder):
    for name in ("mtcnn_detector.py", "helper.py"):
        if not os.path.isfile(os.path.join(folder, name)):
            raise SystemExit(f"--reference-code {folder}: no {name} there (the reference detector's two files)")


@contextlib.contextmanager
def _without_missing_nets(folder):
    """``FeedForward.load`` gives ``None`` for a net whose files ``folder`` lacks (``det4``)."""
    load = mx.model.FeedForward.load

    def maybe(prefix, epoch, **kwargs):
        if not os.path.isfile(f"{prefix}-symbol.json"):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return load(prefix, epoch, **kwargs)

    mx.model.FeedForward.load = maybe
    try:
        yield
    finally:
        mx.model.FeedForward.load = load


def found_share(ours, theirs, iou=0.5):
    """Share of ``theirs`` boxes that some box of ``ours`` overlaps at ``iou`` or more."""
    if not len(theirs):
        return 1.0
    if not len(ours):
        return 0.0
    return float((bx.iou_matrix(theirs[:, :4], ours[:, :4]).max(axis=1) >= iou).mean())


def onnx_one_call_at_a_time(det):
    """``det``'s nets in onnxruntime as one session per net runs them: one call at a time, split over all
    the threads (the onnxruntime backend before it ran several single-thread calls at once)."""
    serial = MTCNNDetector(det.pnet, det.rnet, det.onet, backend="onnx", threads=1)
    models = {name: to_onnx(getattr(det, name), landmarks=name != "pnet") for name in ("pnet", "rnet", "onet")}
    serial._onnx = OnnxNets(models, threads=1, per_call_threads=None)  # onnxruntime's default: all physical cores
    serial._run = serial._onnx.nets
    return serial


def with_nms(det, nms):
    """The same detector (same nets, same settings) running ``nms``; ``det`` is unchanged."""
    other = copy.copy(det)
    other.nms = nms
    return other


def detect(det, img, textbook_nms=False):
    return (with_nms(det, bx.nms_loop) if textbook_nms else det).detect(img)


def median_ms(dets, images, repeat):
    """Median ms per image for each ``(detector, textbook_nms)``, timed in turns (a, b, c, a, b, c, ...)
    so load hits all alike: ``(first, again)`` — the first call on each image (new input shapes: binding,
    oneDNN kernels made for them) and the repeated calls."""
    first = [[] for _ in dets]
    again = [[] for _ in dets]
    for img in images:
        for rep in range(repeat + 1):
            for k, (det, loop) in enumerate(dets):
                t = time.perf_counter()
                detect(det, img, loop)
                (again if rep else first)[k].append(time.perf_counter() - t)
    return [(1000 * float(np.median(f)), 1000 * float(np.median(a))) for f, a in zip(first, again)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--reference-code", metavar="DIR",
                    help="folder with the reference detector's mtcnn_detector.py and helper.py: time it too")
    args = ap.parse_args()
    if not args.data_root:
        raise SystemExit("set MTCNN_DATA_ROOT or --data-root")
    if args.reference_code:
        check_reference_code(args.reference_code)  # before minutes of setting up the others
    sizes = speed_inputs(args.data_root, args.images)
    wider = next(iter(sizes.values()))
    ours = MTCNNDetector.from_weights("reference", data_root=args.data_root)
    unfused = MTCNNDetector(ours.pnet, ours.rnet, ours.onet, fuse=False)
    onnx = MTCNNDetector(ours.pnet, ours.rnet, ours.onet, backend="onnx")
    serial = onnx_one_call_at_a_time(ours)
    weights = os.path.join(args.data_root, "reference_mtcnn")
    base = reference_style_detector(weights)
    names = ["reference-style nets + NMS loop", "ours, nets as trained", "ours (MXNet)",
             "ours (onnxruntime, one call at a time)", "ours (onnxruntime)"]
    dets = [(base, True), (unfused, False), (ours, False), (serial, False), (onnx, False)]
    # same boxes
    for img in wider[:5]:
        found = [detect(det, img, loop)[0] for det, loop in dets]
        for other in found[1:]:
            assert other.shape == found[0].shape and np.allclose(other, found[0], atol=1e-2), "detectors disagree"
    if args.reference_code:
        code = ReferenceCode(args.reference_code, weights)
        names.insert(0, "reference detector's own code")
        dets.insert(0, (code, False))
        shares = [found_share(onnx.detect(img)[0], code.detect(img)[0]) for img in wider]
        print(f"faces of the reference code that ours find (IoU >= 0.5): {np.mean(shares):.3f} "
              f"(mean over {len(wider)} images)")
    rows = []
    for label, imgs in sizes.items():
        rep = args.repeat if len(imgs) > 1 else 4 * args.repeat
        rows.append((label, median_ms(dets, imgs, rep)))
    threads = os.environ.get("OMP_NUM_THREADS")
    print(f"(OMP_NUM_THREADS={threads}; each cell: first call on the image / repeated calls)")
    print("| input | " + " | ".join(f"{n}, ms" for n in names) + " | best vs " + " | best vs ".join(
        n for n in names if "reference" in n) + " |")
    print("|---" * (len(names) + 1 + sum("reference" in n for n in names)) + "|")
    for label, cols in rows:
        cells = " | ".join(f"{f:.0f} / {a:.0f}" for f, a in cols)
        best = min(cols[names.index("ours (MXNet)")][1], cols[names.index("ours (onnxruntime)")][1])
        ratios = " | ".join(f"{cols[k][1] / best:.2f}x" for k, n in enumerate(names) if "reference" in n)
        print(f"| {label} | {cells} | {ratios} |")


if __name__ == "__main__":
    main()
