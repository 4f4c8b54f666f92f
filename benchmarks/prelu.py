"""PReLU four ways, side by side: MXNet's op, ReLU ops with a broadcast multiply, ReLU ops with a
depthwise 1x1 convolution (``conv``), and oneDNN ops only (``dw``, the default). One inference forward
and one training step (forward, backward, update) per net, timed in turns so machine load hits all
alike; median ms. Inference also times the detector's inference form of the net
(:func:`mtcnn_gluon.model.fused.fuse`: ``dw`` PReLU, channels padded to a multiple of 8, oneDNN fusion).

    python benchmarks/prelu.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import time

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from mtcnn_gluon.model.nets import get_net
from mtcnn_gluon.model.fused import fuse

INFER = {"pnet": (1, 3, 430, 614), "rnet": (1024, 3, 24, 24), "onet": (256, 3, 48, 48)}
TRAIN = {"pnet": (384, 3, 12, 12), "rnet": (384, 3, 24, 24), "onet": (384, 3, 48, 48)}
IMPLS = ("mxnet", "relu", "conv", "dw")


def build(name, impl):
    mx.random.seed(0)
    net = get_net(name, prelu=impl)
    net.hybridize(static_alloc=True, static_shape=True)
    return net, gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.0})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print("| net | pass | " + " | ".join(f"{i}, ms" for i in IMPLS) + " | inference form, ms | dw vs mxnet |")
    print("|---|---|" + "---|" * (len(IMPLS) + 2))
    for name in ("pnet", "rnet", "onet"):
        nets = {impl: build(name, impl) for impl in IMPLS}
        fused = fuse(nets["mxnet"][0])
        x = mx.nd.random.uniform(-1, 1, shape=INFER[name])
        xt = mx.nd.random.uniform(-1, 1, shape=TRAIN[name])
        ref = nets["mxnet"][0](x)[1].asnumpy()
        for impl, (net, _) in nets.items():
            assert np.allclose(net(x)[1].asnumpy(), ref, atol=1e-5), f"{impl} differs from MXNet's PReLU"
        assert np.allclose(fused(x)[1].asnumpy(), ref, atol=1e-5), "the inference form differs"
        for what in ("inference", "training step"):
            runs = dict(nets)
            if what == "inference":
                runs["fused"] = (fused, None)
            times = {impl: [] for impl in runs}
            for rep in range(args.repeat + 1):
                for impl, (net, trainer) in runs.items():
                    t = time.perf_counter()
                    if what == "inference":
                        for out in net(x):
                            out.wait_to_read()
                    else:
                        with autograd.record():
                            cls, box, lmk = net(xt)
                            loss = cls.sum() + box.sum() + lmk.sum()
                        loss.backward()
                        trainer.step(1)
                        mx.nd.waitall()
                    if rep:  # the first round binds the shapes
                        times[impl].append(1000 * (time.perf_counter() - t))
            med = {impl: float(np.median(v)) for impl, v in times.items()}
            batch = (INFER if what == "inference" else TRAIN)[name]
            label = f"{what} {batch[0]}x{batch[2]}x{batch[3]}"
            form = f"{med['fused']:.0f}" if "fused" in med else ""
            print(f"| {name} | {label} | " + " | ".join(f"{med[i]:,.0f}" for i in IMPLS)
                  + f" | {form} | {med['mxnet'] / med['dw']:.2f}x |")


if __name__ == "__main__":
    main()
