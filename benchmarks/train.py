"""Training speed: samples/s of ``fit()`` against the bare training step of the same net, same run.

The bare step is what ``fit`` cannot do without: the net and the loss as one hybridised graph,
forward + backward + ``trainer.step`` on one random batch already on the device, nothing else. ``fit``
adds the data pipeline (index the in-memory records, random flips, upload), loss bookkeeping and the
progress bar. Its figure is the training phase of epochs 2-5 (epoch 1 includes graph building;
validation and checkpoints are excluded). A bare chunk of as many steps runs after every ``fit`` epoch
(from ``fit``'s callback), so load from other processes hits both sides alike; the best of each is kept::

    python benchmarks/train.py [--nets pnet,rnet,onet] [--seconds 3] [--gpus 0] [--readme]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon  # noqa: E402

from mtcnn_gluon.model.losses import MTCNNLoss  # noqa: E402
from mtcnn_gluon.config import INPUT_SIZE  # noqa: E402
from mtcnn_gluon.model.nets import get_net  # noqa: E402
from mtcnn_gluon.data.records import write_records, write_typed_records  # noqa: E402
from mtcnn_gluon.utils.labels import make_labels  # noqa: E402
from mtcnn_gluon.config import TrainConfig  # noqa: E402
from mtcnn_gluon.train import fit  # noqa: E402

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md")
SECTION = "## Training speed"
DEFAULT_BATCH = {"pnet": 384, "rnet": 384, "onet": 192}


def synthetic(n, size, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    cls = np.resize([1, -1, -2, 0, 0, 0], n)
    off = rng.uniform(-0.2, 0.2, (n, 4)) * (np.abs(cls) == 1)[:, None]
    lmk = rng.uniform(0.1, 0.9, (n, 10)) * (cls == -2)[:, None]
    return images, make_labels(cls, off, lmk)


class _Graph(gluon.HybridBlock):
    def __init__(self, net, loss):
        super().__init__(prefix="bare_")
        self.net, self.loss = net, loss

    def hybrid_forward(self, F, x, label):  # noqa: N802
        return self.loss(*self.net(x), label)


class Bare:
    """Forward + backward + trainer.step of net + loss (hybridised) on one random device batch."""

    def __init__(self, name, batch, ctx):
        net = get_net(name, ctx=ctx)
        self.graph = _Graph(net, MTCNNLoss.for_net(name))
        self.graph.hybridize(static_alloc=True, static_shape=True)
        self.trainer = gluon.Trainer(net.collect_params(), "sgd",
                                     {"learning_rate": 1e-3, "momentum": 0.9, "wd": 5e-4})
        images, labels = synthetic(batch, INPUT_SIZE[name], seed=1)
        self.x = mx.nd.array((images.transpose(0, 3, 1, 2) - 127.5) / 128.0, ctx=ctx)
        self.y = mx.nd.array(labels, ctx=ctx)
        self.batch = batch
        self.rates = []
        self.run(1)  # build the graph

    def step(self):
        with autograd.record():
            total = self.graph(self.x, self.y)[0]
        total.backward()
        self.trainer.step(1)

    def run(self, steps):
        mx.nd.waitall()
        t0 = time.perf_counter()
        for _ in range(steps):
            self.step()
        mx.nd.waitall()
        self.rates.append(steps * self.batch / (time.perf_counter() - t0))


def measure(name, batch, seconds, ctx, workdir, epochs=5):
    """Best-of samples/s of ``fit`` epochs 2.. and of bare chunks run between them (same load)."""
    bare = Bare(name, batch, ctx)
    bare.run(2)
    steps = max(2, int(seconds / (epochs - 1) * bare.rates[-1] / batch))
    images, labels = synthetic(batch * steps + 200, INPUT_SIZE[name])
    rec = os.path.join(workdir, name, "records")
    if name == "pnet":
        write_records(os.path.join(rec, "pnet", "train"), images, labels)
    else:
        write_typed_records(os.path.join(rec, name), images, labels)
    cfg = TrainConfig.preset(name, epochs=epochs, batch_size=batch, steps_per_epoch=steps, max_val_samples=200,
                             val_fraction=0.05)
    bare.rates.clear()
    result = fit(rec, os.path.join(workdir, name, "run"), cfg, ctx=ctx, progress=True,
                 callback=lambda epoch, row: bare.run(steps))
    fit_rates = [r["train_samples_per_s"] for r in result.metrics[1:]]
    return max(bare.rates), max(fit_rates), steps


def write_readme(table: str, note: str):
    text = open(README).read() if os.path.isfile(README) else "# Benchmarks\n"
    body = f"{SECTION}\n\n{note}\n\n{table}\n"
    if SECTION in text:
        head, _, rest = text.partition(SECTION)
        nxt = rest.find("\n## ")
        text = head + body + (rest[nxt + 1:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    tmp = README + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, README)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="pnet,rnet,onet")
    ap.add_argument("--batch-size", type=int, help="default 384 (ONet 192 on CPU, to keep the run short)")
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds of fit epochs per net (bare: as many)")
    ap.add_argument("--gpus", default="", help="GPU id (one); default CPU")
    ap.add_argument("--readme", action="store_true", help=f"write the table into {README}")
    args = ap.parse_args(argv)
    ctx = mx.gpu(int(args.gpus)) if args.gpus else mx.cpu()
    if args.gpus:
        DEFAULT_BATCH["onet"] = 384
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.nets.split(","):
            batch = args.batch_size or DEFAULT_BATCH[name]
            bare, fit_rate, steps = measure(name, batch, args.seconds, ctx, work)
            rows.append((name, batch, bare, fit_rate, fit_rate / bare, steps))
            print(f"{name}: bare {bare:.0f}, fit {fit_rate:.0f} samples/s ({steps} steps per epoch)", flush=True)
    device = f"GPU {args.gpus}" if args.gpus else f"CPU ({os.cpu_count()} cores, OMP_NUM_THREADS="\
                                                   f"{os.environ.get('OMP_NUM_THREADS')})"
    lines = ["| net | batch | bare step, samples/s | fit(), samples/s | fit / bare |",
             "|---|---|---|---|---|"]
    for name, batch, bare, fit_rate, ratio, _ in rows:
        lines.append(f"| {name} | {batch} | {bare:,.0f} | {fit_rate:,.0f} | {ratio:.0%} |")
    table = "\n".join(lines)
    print(table)
    if args.readme:
        load = os.getloadavg()[0]
        note = (f"`python benchmarks/train.py --readme` on {device}, mxnet {mx.__version__}, load average "
                f"{load:.1f} from other jobs. "
                "*Bare step*: net + loss as one hybridised graph, forward + backward + `trainer.step` on one "
                "random batch already on the device. *fit()*: the training phase of epochs 2-5 of `fit` on "
                "synthetic records (in-memory indexing, random flips, upload, loss bookkeeping; validation "
                "and checkpoints excluded; tqdm bar on). A bare chunk of as many steps runs after each `fit` epoch (from "
                "its callback), so both sides see the same load; the table gives the best of each. "
                "Target: fit >= 85 % of bare.")
        write_readme(table, note)
        print(f"wrote {README}")


if __name__ == "__main__":
    main()
