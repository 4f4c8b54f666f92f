"""Forms of the exported graphs in onnxruntime, side by side: ms per 1024 px image for PNet's whole pyramid
(12 val images) and per 64 windows for RNet and ONet, each form timed in turns so machine load hits all alike;
median of ``--repeat`` rounds. Forms:

* ``export``: what ``to_onnx`` writes (PReLU after the pooling where its slopes are all >= 0);
* ``prelu-before-pool``: ``to_onnx(..., pool_first=False)``, the layers in the nets' order;
* ``sigmoid``: ``export`` with the two-class softmax written as a sigmoid of the logits' difference
  (measured, not kept: it rounds otherwise than MXNet and reorders near-ties in NMS).

The script also prints, per form, the largest difference of its outputs from ``export``'s (over every
PNet pyramid level; on the one batch of RNet and ONet). Usage::

    MTCNN_DATA_ROOT=../shared/data python benchmarks/onnx_graphs.py [--weights pretrained] [--repeat 3]
"""
from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import numpy_helper

from mtcnn_gluon.cascade import OnnxNet, onnx_threads, pyramid_scales
from mtcnn_gluon.detector import MTCNNDetector
from mtcnn_gluon.model.export import to_onnx
from mtcnn_gluon.utils.images import normalize


CALLS = 40  # calls of 64 windows per round for RNet and ONet


def sigmoid_form(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with ``prob = sigmoid([l0 - l1, l1 - l0])`` from a head of the class weights' differences."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    head = next(n for n in graph.node if n.output[0] == "logits")
    for key in head.input[1:3]:
        v = numpy_helper.to_array(inits[key])
        inits[key].CopyFrom(numpy_helper.from_array(np.stack([v[0] - v[1], v[1] - v[0]]).astype(np.float32), key))
    softmax = next(n for n in graph.node if n.op_type == "Softmax")
    softmax.op_type = "Sigmoid"
    del softmax.attribute[:]
    return model


def inputs(name, data_root: Path, images: int):
    if name != "pnet":
        size = {"rnet": 24, "onet": 48}[name]
        return [np.random.default_rng(0).uniform(-1, 1, (64, 3, size, size)).astype(np.float32)] * CALLS
    levels = []
    for path in sorted((data_root / "WIDER_FACE" / "WIDER_val" / "images").glob("0--Parade/*.jpg"))[:images]:
        img = cv2.imread(str(path))
        h, w = img.shape[:2]
        for s in pyramid_scales(h, w, 20):
            levels.append(normalize(cv2.resize(img, (int(math.ceil(w * s)), int(math.ceil(h * s))))[None]))
    return levels


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default="pretrained")
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    data_root = Path(os.environ.get("MTCNN_DATA_ROOT", "../shared/data"))
    det = MTCNNDetector.from_weights(args.weights, data_root=data_root)
    for name in ("pnet", "rnet", "onet"):
        net = getattr(det, name)
        export = to_onnx(net, landmarks=name != "pnet")
        forms = {"export": export, "prelu-before-pool": to_onnx(net, landmarks=name != "pnet", pool_first=False),
                 "sigmoid": sigmoid_form(export)}
        sessions = {k: OnnxNet(m, threads=onnx_threads()) for k, m in forms.items()}
        xs = inputs(name, data_root, args.images)
        per = args.images if name == "pnet" else CALLS
        refs = [sessions["export"](x) for x in xs[:len(xs) if name == "pnet" else 1]]
        times = {k: [] for k in sessions}
        for _ in range(args.repeat):
            for k, s in sessions.items():
                t = time.perf_counter()
                for x in xs:
                    s(x)
                times[k].append((time.perf_counter() - t) * 1000 / per)
        unit = "ms per image (pyramid)" if name == "pnet" else "ms per 64 windows"
        for k, s in sessions.items():
            diff = max(float(np.abs(a - b).max()) for x, ref in zip(xs, refs) for a, b in zip(s(x), ref))
            print(f"{name:5s} {k:18s} {np.median(times[k]):7.2f} {unit}  "
                  f"(rounds {' / '.join(f'{t:.2f}' for t in times[k])}; max diff from export {diff:.1e})")


if __name__ == "__main__":
    main()
