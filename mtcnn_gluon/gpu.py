"""GPU check (``python -m mtcnn_gluon gpu check``, run by ``make gpu-check``).

Prints the number of GPUs MXNet sees, trains a few PNet steps on ``gpu(0)`` and on the CPU from the same
start and data, and compares the losses.
"""
from __future__ import annotations

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from .model.nets import get_net

__all__ = ["pnet_losses", "gpu_check"]


def pnet_losses(ctx, steps: int = 5, seed: int = 0) -> list:
    """Losses of ``steps`` SGD steps of PNet (classification + box) on fixed random data."""
    mx.random.seed(seed)
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, (64, 3, 12, 12)).astype(np.float32)
    y = rng.randint(0, 2, 64).astype(np.float32)
    t = rng.uniform(-0.2, 0.2, (64, 4)).astype(np.float32)
    net = get_net("pnet", ctx=mx.cpu())
    net.collect_params().reset_ctx(ctx)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01, "momentum": 0.9})
    ce = gluon.loss.SoftmaxCrossEntropyLoss()
    xs, ys, ts = (mx.nd.array(a, ctx=ctx) for a in (x, y, t))
    losses = []
    for _ in range(steps):
        with autograd.record():
            cls, box, _ = net(xs)
            loss = ce(cls.reshape((0, -1)), ys) + 0.5 * ((box.reshape((0, -1)) - ts) ** 2).mean(axis=1)
        loss.backward()
        trainer.step(len(x))
        losses.append(float(loss.mean().asscalar()))
    return losses


def gpu_check() -> int:
    """Compare PNet's training losses on ``gpu(0)`` and the CPU; 0 when they agree, 1 otherwise."""
    n = mx.context.num_gpus()
    print(f"mxnet {mx.__version__}: {n} GPU(s) visible")
    if n == 0:
        print("no GPU: nothing to compare")
        return 1
    cpu = pnet_losses(mx.cpu())
    gpu = pnet_losses(mx.gpu(0))
    print("step  cpu loss   gpu loss")
    for i, (a, b) in enumerate(zip(cpu, gpu)):
        print(f"{i:4d}  {a:.6f}  {b:.6f}")
    ok = np.allclose(cpu, gpu, rtol=1e-3, atol=1e-4)
    print("GPU matches CPU" if ok else "GPU and CPU losses differ")
    return 0 if ok else 1
