"""Training PNet, RNet and ONet: one :func:`fit` for all three.

``fit`` loads the records into memory (:func:`mtcnn_gluon.data.batching.load_training_data`), holds out a
fixed validation split, and runs SGD with momentum (or Adam) on the multi-task loss of
:mod:`mtcnn_gluon.model.losses`, with a step schedule and optional linear warm-up (gluoncv's
``LRScheduler``/``LRSequential``).

* Batches come from :class:`mtcnn_gluon.data.batching.TrainBatches`: PNet's merged record shuffled every
  epoch, RNet's and ONet's typed records in 64/64/64/192 batches, each sample mirrored with probability 1/2.
* Every epoch: metrics on the validation split into ``metrics.csv`` and ``curves.png``, and a checkpoint
  (:mod:`mtcnn_gluon.checkpoint`), so that ``resume=True`` continues from the last complete epoch.
* The final weights go to ``<out>/<net>.params``: a folder holding ``pnet.params``, ``rnet.params`` and
  ``onet.params`` is a detector weights folder.

Same seed, same data, CPU → bit-identical parameters, also across an interruption and resume.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

import mxnet as mx
import numpy as np
from gluoncv.utils import LRScheduler, LRSequential
from mxnet import autograd, gluon
from mxnet.gluon import HybridBlock

from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data.batching import TrainBatches, load_training_data, split_train_val
from .model.losses import MTCNNLoss
from .model.nets import get_net, save_weights
from .utils.device import as_context_list
from .utils.files import write_json, write_text
from .utils.images import normalize
from .utils.checks import UserError
from .utils.labels import BOX, CLS_LANDMARK, CLS_NEG, CLS_PART, CLS_POS, LANDMARKS, TYPE_CLS, type_counts
from .utils.progress import tqdm
from .viz import plot_training_curves

__all__ = ["TrainConfig", "FitResult", "fit", "make_lr_scheduler", "METRIC_COLUMNS"]

#: Column order of ``metrics.csv``.
METRIC_COLUMNS = (
    "epoch", "lr", "train_loss", "train_cls_loss", "train_box_loss", "train_landmark_loss",
    "val_cls_loss", "val_acc", "val_pos_acc", "val_neg_acc", "val_recall", "val_box_l2", "val_landmark_l2",
    "train_samples_per_s", "epoch_time_s",
)


@dataclass
class FitResult:
    """What :func:`fit` returns."""

    net: object  # the trained HybridBlock
    params_path: Optional[str]  # <out>/<net>.params, or None when the run stopped early
    metrics: List[dict]  # one row per epoch (the rows of metrics.csv)
    out: str  # the run folder


# ------------------------------------------------------------------------------------------- graphs

def _graphs(net, loss):
    class TrainGraph(HybridBlock):
        """uint8 NHWC images + labels → (total, cls, box, landmark) losses, one cached graph."""

        def __init__(self):
            super().__init__(prefix="train_")
            self.net = net
            self.loss = loss

        def hybrid_forward(self, F, images, label):  # noqa: N802
            cls, box, lmk = self.net(normalize(images, F))
            return self.loss(cls, box, lmk, label)

    class EvalGraph(HybridBlock):
        """uint8 NHWC images → face probability (N,), box (N, 4), landmarks (N, 10)."""

        def __init__(self):
            super().__init__(prefix="eval_")
            self.net = net

        def hybrid_forward(self, F, images):  # noqa: N802
            cls, box, lmk = self.net(normalize(images, F))
            prob = F.softmax(F.reshape(cls, shape=(0, -1)), axis=1)
            return (F.slice_axis(prob, axis=1, begin=1, end=2).reshape((-1,)),
                    F.reshape(box, shape=(0, -1)), F.reshape(lmk, shape=(0, -1)))

    return TrainGraph(), EvalGraph()


def make_lr_scheduler(cfg: TrainConfig, iters_per_epoch: int):
    """gluoncv schedule: optional linear warm-up, then steps of ``lr_decay`` after ``lr_decay_epochs``.

    MXNet counts updates from 1, so update ``e * iters_per_epoch + 1`` — the first of epoch ``e + 1`` —
    is the first at the decayed rate.
    """
    total = max(1, cfg.epochs * iters_per_epoch)
    warm = int(round(cfg.warmup_epochs * iters_per_epoch))
    parts = []
    if warm > 0:
        parts.append(LRScheduler("linear", base_lr=cfg.warmup_start_lr, target_lr=cfg.lr, niters=warm))
    steps = [e * iters_per_epoch + 1 - warm for e in cfg.lr_decay_epochs]
    parts.append(LRScheduler("step", base_lr=cfg.lr, niters=total - warm + 2,
                             step_iter=[s for s in steps if s > 0] or [total + 2], step_factor=cfg.lr_decay))
    # steps already passed during warm-up apply from its end
    passed = sum(1 for s in steps if s <= 0)
    if passed:
        parts[-1].base_lr = cfg.lr * cfg.lr_decay ** passed
    seq = LRSequential(parts)
    seq.base_lr = cfg.lr
    return seq


def _trainer(net, cfg, iters_per_epoch):
    params = net.collect_params()
    for name, p in params.items():
        if not name.endswith("_weight"):
            p.wd_mult = 0.0  # biases and PReLU slopes are not decayed (as slim's weights_regularizer)
    sched = make_lr_scheduler(cfg, iters_per_epoch)
    # no learning_rate here: MXNet would overwrite the scheduler's base rate with it
    opts = {"wd": cfg.wd, "lr_scheduler": sched}
    if cfg.optimizer == "sgd":
        opts["momentum"] = cfg.momentum
    return gluon.Trainer(params, cfg.optimizer, opts), sched



# ------------------------------------------------------------------------------------------ metrics

def _write_metrics(out, rows):
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(METRIC_COLUMNS), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    write_text(os.path.join(out, "metrics.csv"), buf.getvalue())


def _validate(eval_graph, pools, val_idx, cfg, ctx) -> dict:
    probs, boxes, lmks, labels = [], [], [], []
    for name, idx in val_idx.items():
        images, labs = pools[name]
        for s in range(0, len(idx), cfg.val_batch_size):
            rows = idx[s:s + cfg.val_batch_size]
            p, b, l = eval_graph(mx.nd.array(images[rows], ctx=ctx, dtype=np.uint8))
            probs.append(p.asnumpy())
            boxes.append(b.asnumpy())
            lmks.append(l.asnumpy())
            labels.append(labs[rows])
    nan = float("nan")
    if not labels:
        return {k: nan for k in ("val_cls_loss", "val_acc", "val_pos_acc", "val_neg_acc", "val_recall",
                                 "val_box_l2", "val_landmark_l2")}
    prob = np.concatenate(probs).astype(np.float64)
    box = np.concatenate(boxes)
    lmk = np.concatenate(lmks)
    lab = np.concatenate(labels)
    cls = lab[:, 0]
    pos, neg = cls == CLS_POS, cls == CLS_NEG
    has_box, has_lmk = pos | (cls == CLS_PART), cls == CLS_LANDMARK

    def mean(x):
        return float(np.mean(x)) if len(x) else nan

    eps = 1e-12
    ce = np.concatenate([-np.log(prob[pos] + eps), -np.log(1 - prob[neg] + eps)])
    return {
        "val_cls_loss": mean(ce),
        "val_acc": mean(np.concatenate([prob[pos] > 0.5, prob[neg] <= 0.5])),
        "val_pos_acc": mean(prob[pos] > 0.5),
        "val_neg_acc": mean(prob[neg] <= 0.5),
        "val_recall": mean(prob[pos] > cfg.recall_threshold),
        "val_box_l2": mean(np.sum((box[has_box] - lab[has_box, BOX]) ** 2, axis=1)),
        "val_landmark_l2": mean(np.sum((lmk[has_lmk] - lab[has_lmk, LANDMARKS]) ** 2, axis=1)),
    }


def _json_float(x):
    x = float(x)
    return x if math.isfinite(x) else None


def _load_rows(rows):
    # JSON keeps no int/float distinction once _json_float has run: the epoch column is an int again, so a
    # resumed run's metrics.csv reads "1", not "1.0", like an uninterrupted run's
    return [{k: (float("nan") if v is None else int(v) if k == "epoch" else v) for k, v in r.items()}
            for r in rows]


# ---------------------------------------------------------------------------------------------- fit

def fit(records, out, config: Optional[TrainConfig] = None, ctx=None, resume: bool = False,
        callback: Optional[Callable[[int, dict], None]] = None, progress: bool = True, data=None,
        net: Optional[str] = None, resume_changed: bool = False) -> FitResult:
    """Train one net of the cascade.

    Parameters
    ----------
    records : path
        Folder with the net's records (see :func:`find_records`).
    out : path
        Run folder: ``config.json``, ``metrics.csv``, ``curves.png``, ``checkpoints/`` and, at the end,
        ``<net>.params``.
    config : TrainConfig, optional
        Default ``TrainConfig.preset(net)``.
    ctx : mx.Context or list of them, optional
        Default CPU. With several, each batch is split across them (``split_and_load``) and the mean
        per-context losses are averaged; OHEM then works per context on its share of the batch.
    resume : bool
        Continue from the newest complete checkpoint in ``out`` (none: start afresh). Refused when the
        checkpoint was made with other settings (anything but ``epochs`` and ``keep_checkpoints``) or other
        data, unless ``resume_changed``. Without ``resume``, a folder that already holds checkpoints is refused.
    callback : callable(epoch, metrics_row), optional
        Called after each epoch's checkpoint is written; an exception it raises stops training
        (the checkpoint stays, so ``resume=True`` picks up from there).
    progress : bool
        Show a tqdm bar per epoch.
    data : dict, optional
        Pre-loaded pools as :func:`load_training_data` returns (skips reading ``records``).
    net : str, optional
        Net name when ``config`` is not given.
    resume_changed : bool
        Resume even across changed settings or data (the user says so).

    Raises
    ------
    UserError
        Data a head cannot learn from (a type missing), a loss that became NaN or infinite (nothing is
        written for that epoch, no weights are published), or a checkpoint that does not belong to this run.

    Returns
    -------
    FitResult
    """
    if config is None:
        config = TrainConfig.preset(net or "pnet")
    cfg = config
    if net is not None and str(net).lower() != cfg.net:
        raise ValueError(f"net {net!r} does not match config.net {cfg.net!r}")
    ctxs = as_context_list(ctx)
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)

    pools, batches, val_idx = _training_data(records, cfg, data)
    fingerprint = _data_fingerprint(pools)
    # model, loss, optimiser (seeded: identical initial weights for one seed)
    mx.random.seed(cfg.seed)
    model = get_net(cfg.net, ctx=ctxs)
    loss = MTCNNLoss(cfg.det_weight, cfg.box_weight, cfg.landmark_weight, ohem_ratio=cfg.ohem_ratio)
    train_graph, eval_graph = _graphs(model, loss)
    if cfg.hybridize:
        train_graph.hybridize(static_alloc=True, static_shape=True)
        eval_graph.hybridize(static_alloc=True)
    trainer, sched = _trainer(model, cfg, batches.steps)
    rng = np.random.default_rng(cfg.seed)
    if resume:
        rows, start = _resume(out, model, trainer, sched, cfg, rng, progress, fingerprint, resume_changed)
    elif latest_checkpoint(out) is not None:
        raise UserError(f"{out}: holds checkpoints of an earlier run ({latest_checkpoint(out)}); resume it "
                        "(--resume) or train into another folder")
    else:
        rows, start = [], 0
    write_json(os.path.join(out, "config.json"), cfg.to_dict())

    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        row, samples_per_s = _train_epoch(train_graph, trainer, batches, epoch, rng, cfg, ctxs, progress)
        row.update(_validate(eval_graph, pools, val_idx, cfg, ctxs[0]))
        row["train_samples_per_s"] = samples_per_s
        row["epoch_time_s"] = time.perf_counter() - t0
        _check_finite(row, model, cfg, epoch + 1, out)
        rows.append(row)
        _end_epoch(out, model, trainer, rows, rng, cfg, progress, fingerprint)
        if callback is not None:
            callback(epoch + 1, row)

    params_path = os.path.join(out, f"{cfg.net}.params")
    save_weights(model, params_path)
    return FitResult(net=model, params_path=params_path, metrics=rows, out=out)


def _training_data(records, cfg: TrainConfig, data=None):
    """The pools in memory, the training batches and the validation indices."""
    pools = data if data is not None else load_training_data(cfg.net, records)
    total = sum(len(lab) for _, lab in pools.values())
    if total == 0:
        raise UserError(f"{records}: the {cfg.net} records hold no samples")
    _check_learnable(records, cfg, pools)
    train_idx, val_idx = {}, {}
    for name, (_, labels) in pools.items():
        train_idx[name], val_idx[name] = split_train_val(labels, cfg.val_fraction, cfg.max_val_samples, cfg.seed,
                                                         len(labels) / total)
    return pools, TrainBatches(cfg.net, pools, train_idx, cfg), val_idx


#: Settings that may change when a run is resumed: the schedule's length and how many checkpoints are kept.
RESUMABLE_CHANGES = ("epochs", "keep_checkpoints")


def _data_fingerprint(pools) -> str:
    """SHA-1 of the training data: every label and a strided sample of the image bytes (fast for 10^5
    samples), so a checkpoint knows which data it was trained on."""
    h = hashlib.sha1()
    for name in sorted(pools):
        images, labels = pools[name]
        h.update(f"{name}:{images.shape}".encode())
        h.update(np.ascontiguousarray(labels).tobytes())
        h.update(np.ascontiguousarray(images[::97]).tobytes())
    return h.hexdigest()


def _check_learnable(records, cfg: TrainConfig, pools) -> None:
    """Every head the loss trains needs samples of the types that train it (see :mod:`mtcnn_gluon.model.losses`)."""
    counts = {t: 0 for t in TYPE_CLS}
    for _, labels in pools.values():
        for t, n in type_counts(labels).items():
            counts[t] += n
    needs = [("face/non-face", cfg.det_weight, ("pos", "neg"), all), ("box", cfg.box_weight, ("pos", "part"), any),
             ("landmark", cfg.landmark_weight, ("landmark",), all)]
    for head, weight, types, rule in needs:
        if weight > 0 and not rule(counts[t] > 0 for t in types):
            raise UserError(f"{records}: {cfg.net}'s {head} head trains on {' and '.join(types)} samples, and the "
                            f"records hold {', '.join(f'{counts[t]} {t}' for t in types)}; it cannot learn")


def _resume(out, model, trainer, sched, cfg: TrainConfig, rng, progress: bool, fingerprint: str,
            changed_ok: bool):
    """Load the newest complete checkpoint in ``out`` (if any): returns the metric rows so far and the
    epoch to start from; ``rng`` continues where the checkpoint left it."""
    ckpt = latest_checkpoint(out)
    if ckpt is None:
        return [], 0
    with open(os.path.join(ckpt, "state.json")) as f:
        saved = json.load(f)
    now = cfg.to_dict()
    # a setting added to TrainConfig after the checkpoint was written trained at its default there
    defaults = json.loads(json.dumps(TrainConfig(net=cfg.net).to_dict()))
    then = {**defaults, **saved.get("config", {})}
    diff = [f"{k} {then.get(k)!r} there, {now[k]!r} now" for k in now
            if k not in RESUMABLE_CHANGES and json.loads(json.dumps(now[k])) != then.get(k)]
    if saved.get("data") not in (None, fingerprint):
        diff.append("other training data")
    if diff and not changed_ok:
        raise UserError(f"{ckpt}: made with other settings ({'; '.join(diff)}); train into another folder, "
                        "or resume anyway with --resume-changed")
    if int(saved["epoch"]) > cfg.epochs:
        raise UserError(f"{ckpt}: the run is already at epoch {saved['epoch']}, past epochs={cfg.epochs}; "
                        "ask for more epochs or train into another folder")
    state = load_checkpoint(ckpt, model, trainer, sched, cfg.net)
    rng.bit_generator.state = state["numpy_rng"]
    mx.random.seed(state["mx_seed"])
    start = int(state["epoch"])
    if progress:
        print(f"resuming {cfg.net} from {ckpt} (epoch {start} of {cfg.epochs})")
    return _load_rows(state["metrics"]), start


def _train_epoch(train_graph, trainer, batches, epoch: int, rng, cfg: TrainConfig, ctxs, progress: bool):
    """One pass of training steps; returns the epoch's row of training metrics and samples per second."""
    mx.random.seed(cfg.seed + epoch)  # nothing random in MXNet is used after init; pinned anyway
    stats = [mx.nd.zeros((4,), ctx=c) for c in ctxs]
    bar = tqdm(total=batches.steps, desc=f"{cfg.net} epoch {epoch + 1}/{cfg.epochs}", unit="batch",
               dynamic_ncols=True, leave=False, disable=not progress)
    t0 = time.perf_counter()
    n_seen = 0
    for step, (images, labels) in enumerate(batches.epoch(epoch, rng)):
        xs = gluon.utils.split_and_load(mx.nd.array(images, dtype=np.uint8), ctxs, even_split=False)
        ys = gluon.utils.split_and_load(mx.nd.array(labels), ctxs, even_split=False)
        with autograd.record():
            outs = [train_graph(x, y) for x, y in zip(xs, ys)]
        autograd.backward([o[0] for o in outs])
        trainer.step(len(ctxs))  # each context's loss is a mean: average them
        for s, o in zip(stats, outs):
            s += mx.nd.concat(*o, dim=0)
        n_seen += len(images)
        bar.update(1)
        if progress and step % 50 == 49:
            bar.set_postfix(loss=f"{float(sum(s[0].asscalar() for s in stats)) / (step + 1) / len(ctxs):.4f}")
    mx.nd.waitall()  # the last update too, so that the epoch's time is all of its work
    train_time = time.perf_counter() - t0
    bar.close()
    sums = sum(s.asnumpy() for s in stats) / max(1, batches.steps) / len(ctxs)
    row = {"epoch": epoch + 1, "lr": float(trainer.learning_rate),
           "train_loss": float(sums[0]), "train_cls_loss": float(sums[1]),
           "train_box_loss": float(sums[2]), "train_landmark_loss": float(sums[3])}
    return row, (n_seen / train_time if train_time > 0 else float("nan"))


def _check_finite(row: dict, model, cfg: TrainConfig, epoch: int, out) -> None:
    """Stop a diverged run before it writes anything of the epoch: NaN weights are never a result."""
    finite_params = all(np.isfinite(p.data(p.list_ctx()[0]).asnumpy()).all()
                        for p in model.collect_params().values())
    if not (math.isfinite(row["train_loss"]) and finite_params):
        raise UserError(f"{out}: training {cfg.net} diverged in epoch {epoch} (loss {row['train_loss']}); "
                        f"nothing of this epoch was written; try a lower learning rate (now {cfg.lr})")


def _end_epoch(out, model, trainer, rows, rng, cfg: TrainConfig, progress: bool, fingerprint: str) -> None:
    """Checkpoint, metrics.csv and curves.png after an epoch; one line of progress."""
    row = rows[-1]
    epoch = row["epoch"]
    state = {"net": cfg.net, "epoch": epoch, "seed": cfg.seed, "mx_seed": cfg.seed + epoch, "data": fingerprint,
             "numpy_rng": rng.bit_generator.state, "config": cfg.to_dict(),
             "metrics": [{k: _json_float(v) for k, v in r.items()} for r in rows]}
    save_checkpoint(out, model, trainer, state, cfg.keep_checkpoints)
    _write_metrics(out, rows)
    plot_training_curves(rows, cfg.net, path=os.path.join(out, "curves.png"))
    if progress:
        print(f"{cfg.net} epoch {epoch}/{cfg.epochs}: loss {row['train_loss']:.4f} "
              f"val acc {row['val_acc']:.3f} recall {row['val_recall']:.3f} "
              f"box {row['val_box_l2']:.4f} lmk {row['val_landmark_l2']:.4f} "
              f"({row['train_samples_per_s']:.0f} samples/s)")
