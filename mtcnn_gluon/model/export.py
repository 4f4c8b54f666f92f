"""The nets as ONNX graphs, written from their parameters, and run with onnxruntime.

MXNet 1.9.1's own exporter passes PReLU's per-channel slope as shape ``(C,)``; ONNX broadcasts trailing
axes, so on an NCHW map that slope multiplies along the *width* — and on PNet's first 10-channel map of a
10-pixel-wide input (C = W = 10) it even runs without an error, wrongly. Here each graph is written layer by
layer from the Gluon parameters, so the slope gets the shape its input needs: ``(C, 1, 1)`` after a
convolution, ``(C,)`` after a dense layer.

* ``pnet.onnx``: input ``(N, 3, H, W)`` with N, H and W dynamic (one pyramid level at a time);
* ``rnet.onnx``, ``onet.onnx``: input ``(N, 3, 24, 24)`` / ``(N, 3, 48, 48)``, N dynamic.

Inputs are normalised BGR (:func:`mtcnn_gluon.utils.images.normalize`); outputs are ``prob`` (the softmax
of the two class logits, face = column 1), ``box`` (offsets) and ``landmarks``, with PNet's as maps
(``export_cascade`` writes ``pnet.onnx`` without its landmark head: ``to_onnx(net, landmarks=False)``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..cascade import OnnxNet
from ..config import INPUT_SIZE
from ..utils.files import write_json
from .nets import _param_table

__all__ = ["OPSET", "to_onnx", "export_cascade", "OnnxNet"]

OPSET = 13
_LAYERS = {  # (kind, name, pool kernel) in forward order; heads after
    "pnet": [("conv", "conv1"), ("prelu", "prelu1"), ("pool", 2), ("conv", "conv2"), ("prelu", "prelu2"),
             ("conv", "conv3"), ("prelu", "prelu3")],
    "rnet": [("conv", "conv1"), ("prelu", "prelu1"), ("pool", 3), ("conv", "conv2"), ("prelu", "prelu2"),
             ("pool", 3), ("conv", "conv3"), ("prelu", "prelu3"), ("flatten", None), ("dense", "conv4"),
             ("prelu", "prelu4")],
    "onet": [("conv", "conv1"), ("prelu", "prelu1"), ("pool", 3), ("conv", "conv2"), ("prelu", "prelu2"),
             ("pool", 3), ("conv", "conv3"), ("prelu", "prelu3"), ("pool", 2), ("conv", "conv4"),
             ("prelu", "prelu4"), ("flatten", None), ("dense", "conv5"), ("prelu", "prelu5")],
}


def _array(param) -> np.ndarray:
    return param.data(param.list_ctx()[0]).asnumpy().astype(np.float32)


def _pool_first(layers, params) -> list:
    """``layers`` with every PReLU whose slopes are all >= 0 moved after the max pooling that follows it.

    Such a PReLU is non-decreasing (and so is its float rounding), so the largest of its outputs over a
    pooling window is its output for the window's largest input: ``pool(prelu(x)) == prelu(pool(x))``,
    the same floats (a zero can change sign where a slope is exactly 0, which the next layer's sum erases),
    and the PReLU then runs on a quarter of the values. A negative slope makes PReLU decreasing below 0 and
    the order must stay: the original weights have some in every layer, and so do all three of
    ``pretrained/``'s PNet layers; its RNet's second and ONet's first three PReLUs move. The pools here
    are all unpadded max pools (``_LAYERS``); an average or padded pool would not commute.
    """
    layers = list(layers)
    for i in range(len(layers) - 1):
        (kind, layer), (after, _) = layers[i], layers[i + 1]
        if kind == "prelu" and after == "pool" and _array(params[f"{layer}_gamma"]).min() >= 0:
            layers[i], layers[i + 1] = layers[i + 1], layers[i]
    return layers


def to_onnx(net, landmarks: bool = True, pool_first: bool = True) -> onnx.ModelProto:
    """The ONNX graph of one of our nets (``PNet``, ``RNet``, ``ONet`` with loaded weights).

    With ``landmarks=False`` the landmark head is left out and the graph outputs ``prob`` and ``box`` only:
    PNet's landmark head is trained (an auxiliary task) but detection never reads it, and onnxruntime runs
    every node of a graph whichever outputs are asked for (measured on 2 cores: PNet on a 614 x 480 pyramid
    level 16 ms without the head, 20 ms with it).

    PReLUs move after the pooling where that changes no bit of the output (:func:`_pool_first`). (The
    two-class softmax, which onnxruntime computes by transposing PNet's maps, could be a sigmoid of the
    logits' difference fused into the head's convolution: 4 ms less per 1024 px image, measured; but its
    other rounding, 7 ulps near p = 1, reorders near-ties in NMS, and one of six val images then kept
    another window than MXNet. Kept the softmax.)
    """
    name = net.name_short
    params = _param_table(net)
    inits, nodes, x = [], [], "input"
    dense = False

    def const(key, value):
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), key))
        return key

    for k, (kind, layer) in enumerate(_pool_first(_LAYERS[name], params) if pool_first else _LAYERS[name]):
        y = f"t{k}"
        if kind == "conv":
            w = const(f"{layer}_weight", _array(params[f"{layer}_weight"]))
            b = const(f"{layer}_bias", _array(params[f"{layer}_bias"]))
            kernel = list(params[f"{layer}_weight"].shape[2:])
            nodes.append(helper.make_node("Conv", [x, w, b], [y], kernel_shape=kernel))
        elif kind == "prelu":
            slope = _array(params[f"{layer}_gamma"])
            # the cause of the exporter's bug, handled: a conv map's slope must broadcast over H and W
            s = const(f"{layer}_slope", slope if dense else slope.reshape(-1, 1, 1))
            nodes.append(helper.make_node("PRelu", [x, s], [y]))
        elif kind == "pool":
            nodes.append(helper.make_node("MaxPool", [x], [y], kernel_shape=[layer, layer], strides=[2, 2],
                                          ceil_mode=1))  # Caffe's (and MXNet's 'full') rounding up
        elif kind == "flatten":
            nodes.append(helper.make_node("Flatten", [x], [y], axis=1))
            dense = True
        elif kind == "dense":
            w = const(f"{layer}_weight", _array(params[f"{layer}_weight"]))
            b = const(f"{layer}_bias", _array(params[f"{layer}_bias"]))
            nodes.append(helper.make_node("Gemm", [x, w, b], [y], transB=1))
        x = y
    outs = []
    for head, out_name in zip(net.heads, ("logits", "box", "landmarks")[:3 if landmarks else 2]):
        w = const(f"{head}_weight", _array(params[f"{head}_weight"]))
        b = const(f"{head}_bias", _array(params[f"{head}_bias"]))
        op = helper.make_node("Gemm", [x, w, b], [out_name], transB=1) if dense else \
            helper.make_node("Conv", [x, w, b], [out_name], kernel_shape=[1, 1])
        nodes.append(op)
        outs.append(out_name)
    nodes.append(helper.make_node("Softmax", ["logits"], ["prob"], axis=1))
    if name == "pnet":
        shape_in = ["N", 3, "H", "W"]
        shapes = {"prob": ["N", 2, "h", "w"], "box": ["N", 4, "h", "w"], "landmarks": ["N", 10, "h", "w"]}
    else:
        s = INPUT_SIZE[name]
        shape_in = ["N", 3, s, s]
        shapes = {"prob": ["N", 2], "box": ["N", 4], "landmarks": ["N", 10]}
    graph = helper.make_graph(
        nodes, f"mtcnn_{name}", [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape_in)],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, shapes[o]) for o in ("prob", "box", "landmarks")
         if o != "landmarks" or landmarks],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mtcnn-gluon")
    model.ir_version = 8  # onnxruntime 1.16 reads up to 9; 8 is what opset 13 models carry
    onnx.checker.check_model(model)
    return model


def export_cascade(detector, out_dir, weights_label: str = "") -> dict:
    """Write ``pnet.onnx``, ``rnet.onnx``, ``onet.onnx`` and ``mtcnn.json`` (how to feed them) to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, net in (("pnet", detector.pnet), ("rnet", detector.rnet), ("onet", detector.onet)):
        tmp = out_dir / f".{name}.onnx.tmp"
        onnx.save(to_onnx(net, landmarks=name != "pnet"), str(tmp))
        os.replace(tmp, out_dir / f"{name}.onnx")
        files[name] = f"{name}.onnx"
    card = {
        "weights": weights_label, "files": files, "opset": OPSET,
        "input": "BGR image, NCHW float32, (x - 127.5) * 0.0078125; PNet any H, W (one pyramid level); "
                 "RNet 24 x 24, ONet 48 x 48 crops; batch dynamic",
        "outputs": "prob (softmax, face = column 1), box (offsets); RNet and ONet also landmarks (x, y "
                   "interleaved, relative to the window); PNet's landmark head is left out (detection never "
                   "reads it)",
        "box_convention": "x1, y1, x2, y2 pixel indices, x2 inclusive (width x2 - x1 + 1), as the original MTCNN",
        "settings": detector.settings(),
    }
    write_json(out_dir / "mtcnn.json", card)
    return card
