"""Training PNet, RNet and ONet: one :func:`fit` for all three.

``fit`` loads the records into memory (NumPy, ``read_records``), holds out a fixed validation split,
and runs SGD with momentum (or Adam) on the multi-task loss of :mod:`mtcnn_gluon.losses`, with a
step schedule and optional linear warm-up (gluoncv's ``LRScheduler``/``LRSequential``).

* PNet reads one merged record (``pnet/train.rec``) shuffled every epoch; RNet and ONet read one record
  per type (``pos``, ``part``, ``landmark``, ``neg``) in 64/64/64/192 batches
  (:class:`mtcnn_gluon.records.BalancedBatchSampler`).
* Optional horizontal flip of each sample with probability 1/2: box offsets mirrored exactly
  (``dx1, dx2 -> -dx2, -dx1``) and landmarks mirrored with the left/right points swapped.
* Every epoch: metrics on the validation split into ``metrics.csv`` and ``curves.png``, and a checkpoint
  ``checkpoints/epoch-NNNN/`` (weights, optimizer state as named arrays, JSON with the epoch, NumPy RNG state, seed and
  metrics; no pickle) written under a temporary name and renamed when complete, so a crash mid-write
  leaves nothing that ``resume=True`` would read.
* The final weights go to ``<out>/<net>.params``: a folder holding ``pnet.params``, ``rnet.params`` and
  ``onet.params`` is a detector weights folder.

Same seed, same data, CPU → bit-identical parameters, also across an interruption and resume.

Command line (wired into ``python -m mtcnn_gluon``)::

    python -m mtcnn_gluon train pnet --records data/records --out runs/pnet [--epochs N] [--resume]
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

__all__ = ["TrainConfig", "FitResult", "fit", "find_records", "load_training_data", "flip_samples",
           "latest_checkpoint", "make_lr_scheduler", "add_train_parser", "METRIC_COLUMNS"]

CHECKPOINT_DIR = "checkpoints"
_CKPT_RE = re.compile(r"^epoch-(\d{4,})$")
_STATE = "state.json"
_TRAINER = "optimizer.params"  # optimizer state as named NDArrays (mx.nd.save, no pickle)
_LEGACY_TRAINER = "trainer.states"  # older checkpoints: Trainer.save_states, a pickle
_TRUST_LEGACY_ENV = "MTCNN_TRUST_PICKLED_CHECKPOINTS"

#: Column order of ``metrics.csv``.
METRIC_COLUMNS = (
    "epoch", "lr", "train_loss", "train_cls_loss", "train_box_loss", "train_landmark_loss",
    "val_cls_loss", "val_acc", "val_pos_acc", "val_neg_acc", "val_recall", "val_box_l2", "val_landmark_l2",
    "train_samples_per_s", "epoch_time_s",
)

_DEFAULT_MIX = {"pos": 64, "part": 64, "landmark": 64, "neg": 192}
_TYPES = ("pos", "part", "landmark", "neg")
_TYPE_CLS = {"pos": 1, "part": -1, "landmark": -2, "neg": 0}
_MIRROR = np.array([1, 0, 2, 4, 3])  # left eye <-> right eye, nose, left mouth <-> right mouth


@dataclass
class TrainConfig:
    """Settings of :func:`fit`; :meth:`preset` gives the classic values per net."""

    net: str = "pnet"  # 'pnet', 'rnet' or 'onet'
    epochs: int = 30  # passes over the training split (classic: 30 PNet, 22 RNet/ONet)
    batch_size: int = 384  # samples per step, over all contexts (RNet/ONet: batch_mix scaled to this sum)
    batch_mix: Dict[str, int] = field(default_factory=lambda: dict(_DEFAULT_MIX))  # RNet/ONet samples per type
    steps_per_epoch: Optional[int] = None  # cap on steps per epoch (smoke runs); None = one pass over the data
    optimizer: str = "sgd"  # 'sgd' (with momentum) or 'adam'
    lr: float = 0.001  # base learning rate
    momentum: float = 0.9  # SGD momentum (ignored by Adam)
    wd: float = 0.0005  # weight decay on conv/dense weights (biases and PReLU slopes are not decayed)
    lr_decay_epochs: Tuple[int, ...] = (6, 14, 20)  # epochs after which the lr is multiplied by lr_decay
    lr_decay: float = 0.1  # step factor
    warmup_epochs: float = 0.0  # linear warm-up length, epochs (0 = none)
    warmup_start_lr: float = 0.0  # lr at the first warm-up step
    det_weight: float = 1.0  # weight of the face/non-face loss
    box_weight: float = 0.5  # weight of the box regression loss
    landmark_weight: float = 0.5  # weight of the landmark loss (ONet: 1.0)
    ohem_ratio: float = 0.7  # fraction of the valid classification losses kept by OHEM
    flip: bool = True  # random horizontal flip, probability 1/2 per sample
    val_fraction: float = 0.05  # share of each sample type held out for validation (fixed by seed)
    max_val_samples: int = 20000  # cap on the validation split, spread over types in proportion
    val_batch_size: int = 2048  # samples per validation forward
    recall_threshold: float = 0.6  # face probability above which a positive counts as found (0.6 / 0.7 / 0.7)
    seed: int = 0  # seeds mx.random (initialisation) and NumPy (split, shuffles, flips)
    hybridize: bool = True  # run the net + loss as one cached graph
    keep_checkpoints: int = 2  # complete checkpoints kept (older ones removed); 0 keeps all

    def __post_init__(self):
        self.net = str(self.net).lower()
        if self.net not in ("pnet", "rnet", "onet"):
            raise ValueError(f"unknown net {self.net!r}; choose one of pnet, rnet, onet")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        self.lr_decay_epochs = tuple(int(e) for e in self.lr_decay_epochs)
        self.batch_mix = {t: int(self.batch_mix[t]) for t in _TYPES if int(self.batch_mix.get(t, 0)) > 0}
        if self.batch_size < 1 or self.epochs < 0:
            raise ValueError(f"batch_size must be >= 1 and epochs >= 0, got {self.batch_size}, {self.epochs}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")

    @classmethod
    def preset(cls, net: str, smoke: bool = False, **overrides) -> "TrainConfig":
        """The classic MTCNN-Tensorflow settings for ``net``; ``smoke`` shrinks the run to seconds.

        Base lr 0.001 decayed ×0.1 after epochs 6, 14, 20; momentum 0.9; weight decay 0.0005;
        batch 384 (RNet/ONet 64 pos + 64 part + 64 landmark + 192 neg); 30 epochs for PNet and
        22 for RNet/ONet; loss weights 1/0.5/0.5 (PNet, RNet) and 1/0.5/1 (ONet).
        """
        from .losses import LOSS_WEIGHTS

        key = str(net).lower()
        if key not in LOSS_WEIGHTS:
            raise ValueError(f"unknown net {net!r}; choose one of {', '.join(LOSS_WEIGHTS)}")
        det, box, lmk = LOSS_WEIGHTS[key]
        values = dict(net=key, epochs=30 if key == "pnet" else 22, det_weight=det, box_weight=box,
                      landmark_weight=lmk, recall_threshold=0.6 if key == "pnet" else 0.7)
        if smoke:
            values.update(epochs=2, steps_per_epoch=4, lr_decay_epochs=(1,), max_val_samples=512)
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["lr_decay_epochs"] = list(self.lr_decay_epochs)
        return d


@dataclass
class FitResult:
    """What :func:`fit` returns."""

    net: object  # the trained HybridBlock
    params_path: Optional[str]  # <out>/<net>.params, or None when the run stopped early
    metrics: List[dict]  # one row per epoch (the rows of metrics.csv)
    out: str  # the run folder


# --------------------------------------------------------------------------------------------- data

def find_records(net: str, records) -> Dict[str, str]:
    """Record prefixes for ``net`` under ``records``: ``{'all': prefix}`` (PNet) or ``{type: prefix}``.

    ``records`` may be the net's folder itself or a folder holding ``pnet/``, ``rnet/``, ``onet/``
    (as ``python -m mtcnn_gluon data`` writes). PNet reads ``train.rec`` (or ``pnet.rec``); RNet and
    ONet read ``pos``, ``part``, ``landmark`` and ``neg``.
    """
    root = os.fspath(records)
    for d in (os.path.join(root, net), root):
        if net == "pnet":
            for name in ("train", "pnet"):
                if os.path.isfile(os.path.join(d, name + ".rec")):
                    return {"all": os.path.join(d, name)}
        else:
            found = {t: os.path.join(d, t) for t in _TYPES if os.path.isfile(os.path.join(d, t + ".rec"))}
            if found:
                return found
    want = "train.rec" if net == "pnet" else "pos.rec, part.rec, landmark.rec, neg.rec"
    raise FileNotFoundError(f"{root}: no {net} records found (looked for {want} in {root}/{net}/ and {root}/)")


def load_training_data(net: str, records) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Read the records of ``net`` into memory: dict name → (images uint8 (N, S, S, 3), labels (N, 15))."""
    from .models import INPUT_SIZE
    from .records import read_records

    pools = {}
    for name, prefix in find_records(net, records).items():
        images, labels = read_records(prefix)
        if len(images) and images.shape[1] != INPUT_SIZE[net]:
            raise ValueError(f"{prefix}.rec: {images.shape[1]} px samples, {net} trains on {INPUT_SIZE[net]} px")
        pools[name] = (images, labels)
    return pools


def _split(labels: np.ndarray, fraction: float, cap: int, seed: int, share: float) -> Tuple[np.ndarray, np.ndarray]:
    """Train / validation indices, stratified by class; ``share`` of ``cap`` is this pool's cap."""
    rng = np.random.default_rng([seed, 1])
    train, val = [], []
    for c in (1, -1, -2, 0):
        idx = np.flatnonzero(labels[:, 0] == c)
        perm = idx[rng.permutation(len(idx))]
        n_val = int(round(len(idx) * fraction))
        n_val = min(n_val, int(cap * share * len(idx) / max(len(labels), 1)), max(len(idx) - 1, 0))
        val.append(perm[:n_val])
        train.append(perm[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def flip_samples(images: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> None:
    """Mirror the samples where ``mask`` is true, in place.

    Images ``(N, S, S, 3)`` are flipped left-right. Box offsets of positives and parts become
    ``(-dx2, dy1, -dx1, dy2)``, which is exact in the inclusive pixel convention. Landmarks become
    ``1 - x`` with the eyes and mouth corners swapped; the exact mirror of a label relative to a crop of
    ``w`` source pixels is ``(w - 1) / w - x`` (see :func:`mtcnn_gluon.sampling.invert_landmark_labels`),
    and ``w`` is not stored, so flipped landmarks are off by one source pixel (``1 / w``).
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        return
    images[mask] = images[mask][:, :, ::-1]
    cls = labels[:, 0]
    box = mask & (np.abs(cls) == 1)
    if box.any():
        b = labels[box, 1:5]
        labels[box, 1:5] = np.stack([-b[:, 2], b[:, 1], -b[:, 0], b[:, 3]], axis=1)
    lmk = mask & (cls == -2)
    if lmk.any():
        p = labels[lmk, 5:15].reshape(-1, 5, 2)[:, _MIRROR]
        p[:, :, 0] = 1.0 - p[:, :, 0]
        labels[lmk, 5:15] = p.reshape(-1, 10)


def _scaled_mix(mix: Dict[str, int], batch_size: int) -> Dict[str, int]:
    """``mix`` scaled to sum to ``batch_size`` (floors; the remainder goes to the largest type)."""
    total = sum(mix.values())
    if total == batch_size:
        return dict(mix)
    out = {t: max(1, int(n * batch_size / total)) for t, n in mix.items()}
    biggest = max(out, key=lambda t: mix[t])
    out[biggest] += batch_size - sum(out.values())
    if out[biggest] < 1:
        raise ValueError(f"batch size {batch_size} is too small for the mix {mix}")
    return out


class _Batches:
    """Training batches as index arrays, one source (PNet merged) or one per type (RNet/ONet)."""

    def __init__(self, net, pools, train_idx, cfg):
        self.pools = pools
        self.train_idx = train_idx
        self.cfg = cfg
        if net == "pnet":
            self.kind = "merged"
            n = len(train_idx["all"])
            self.batch_size = min(cfg.batch_size, n)
            self.steps = max(1, n // self.batch_size)  # drop the last partial batch: one static shape
        else:
            from .records import BalancedBatchSampler

            self.kind = "typed"
            mix = _scaled_mix(cfg.batch_mix, cfg.batch_size)
            missing = [t for t in mix if t not in train_idx or len(train_idx[t]) == 0]
            if missing:
                raise ValueError(f"{net}: no training samples of type {missing} (mix {mix})")
            self.sampler = BalancedBatchSampler({t: len(train_idx[t]) for t in mix}, sizes=mix, seed=cfg.seed)
            self.batch_size = self.sampler.batch_size
            self.steps = len(self.sampler)
        if cfg.steps_per_epoch:
            self.steps = min(self.steps, int(cfg.steps_per_epoch))
            if self.kind == "typed":
                self.sampler.num_batches = self.steps

    def epoch(self, epoch: int, rng: np.random.Generator):
        """Yield ``(images uint8 (B, S, S, 3), labels (B, 15))``; flips drawn from ``rng``."""
        if self.kind == "merged":
            images, labels = self.pools["all"]
            idx = self.train_idx["all"]
            order = idx[rng.permutation(len(idx))]
            batches = (order[b * self.batch_size:(b + 1) * self.batch_size] for b in range(self.steps))
            for sel in batches:
                yield self._finish(images[sel], labels[sel], rng)
        else:
            self.sampler.set_epoch(epoch)
            for batch in self.sampler:
                imgs, labs = [], []
                for t, sel in batch.items():
                    images, labels = self.pools[t]
                    rows = self.train_idx[t][sel]
                    imgs.append(images[rows])
                    labs.append(labels[rows])
                yield self._finish(np.concatenate(imgs), np.concatenate(labs), rng)

    def _finish(self, images, labels, rng):
        if self.cfg.flip:
            flip_samples(images, labels, rng.random(len(images)) < 0.5)
        return images, labels


# ------------------------------------------------------------------------------------------- graphs

def _graphs(net, loss):
    from mxnet.gluon import HybridBlock

    class TrainGraph(HybridBlock):
        """uint8 NHWC images + labels → (total, cls, box, landmark) losses, one cached graph."""

        def __init__(self):
            super().__init__(prefix="train_")
            self.net = net
            self.loss = loss

        def hybrid_forward(self, F, images, label):  # noqa: N802
            x = (F.transpose(F.cast(images, "float32"), axes=(0, 3, 1, 2)) - 127.5) * 0.0078125
            cls, box, lmk = self.net(x)
            return self.loss(cls, box, lmk, label)

    class EvalGraph(HybridBlock):
        """uint8 NHWC images → face probability (N,), box (N, 4), landmarks (N, 10)."""

        def __init__(self):
            super().__init__(prefix="eval_")
            self.net = net

        def hybrid_forward(self, F, images):  # noqa: N802
            x = (F.transpose(F.cast(images, "float32"), axes=(0, 3, 1, 2)) - 127.5) * 0.0078125
            cls, box, lmk = self.net(x)
            prob = F.softmax(F.reshape(cls, shape=(0, -1)), axis=1)
            return (F.slice_axis(prob, axis=1, begin=1, end=2).reshape((-1,)),
                    F.reshape(box, shape=(0, -1)), F.reshape(lmk, shape=(0, -1)))

    return TrainGraph(), EvalGraph()


def make_lr_scheduler(cfg: TrainConfig, iters_per_epoch: int):
    """gluoncv schedule: optional linear warm-up, then steps of ``lr_decay`` after ``lr_decay_epochs``.

    MXNet counts updates from 1, so update ``e * iters_per_epoch + 1`` — the first of epoch ``e + 1`` —
    is the first at the decayed rate.
    """
    from gluoncv.utils import LRScheduler, LRSequential

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
    from mxnet import gluon

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


# -------------------------------------------------------------------------------------- checkpoints

def _atomic_write_text(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def latest_checkpoint(out) -> Optional[str]:
    """The newest complete checkpoint folder under ``<out>/checkpoints``, or None.

    Only folders named ``epoch-NNNN`` whose ``state.json`` says ``complete`` count; temporary folders
    (``.tmp-epoch-NNNN-*``, left by a crash mid-write) and anything else are ignored.
    """
    root = os.path.join(os.fspath(out), CHECKPOINT_DIR)
    if not os.path.isdir(root):
        return None
    found = []
    for name in os.listdir(root):
        m = _CKPT_RE.match(name)
        if not m:
            continue
        path = os.path.join(root, name)
        try:
            with open(os.path.join(path, _STATE)) as f:
                state = json.load(f)
        except (OSError, ValueError):
            continue
        if state.get("complete") is True and any(os.path.isfile(os.path.join(path, n))
                                                 for n in (_TRAINER, _LEGACY_TRAINER)):
            found.append((int(m.group(1)), path))
    return max(found)[1] if found else None


def _trainer_updaters(trainer):
    """The updaters that hold the optimizer state (one per context; the kvstore's when it updates)."""
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._params_to_init:
        trainer._init_params()
    if trainer._update_on_kvstore:
        return [trainer._kvstore._updater]
    return list(trainer._updaters)


def _save_optimizer_state(trainer, path) -> dict:
    """Write the optimizer state (momentum / Adam moments) with ``mx.nd.save``; return its counters.

    Replaces ``Trainer.save_states``, whose file is a pickle: loading it back would run whatever code a
    crafted checkpoint holds. Arrays are keyed ``"<param index>:<part>"``; the update counters, which the
    lr schedule and Adam's bias correction depend on, go into the checkpoint's JSON.
    """
    import mxnet as mx

    updater = _trainer_updaters(trainer)[0]
    arrays, layout = {}, {}
    for index, st in updater.states.items():
        parts = st if isinstance(st, (tuple, list)) else (st,)
        layout[str(index)] = [p is not None for p in parts] if isinstance(st, (tuple, list)) else \
            (None if st is None else True)
        for k, p in enumerate(parts):
            if p is not None:
                arrays[f"{index}:{k}"] = p.copyto(mx.cpu())
    tmp = f"{path}.tmp"
    mx.nd.save(tmp, arrays)
    os.replace(tmp, path)
    opt = updater.optimizer
    return {"num_update": int(opt.num_update), "layout": layout,
            "index_update_counts": {str(d): {str(i): int(c) for i, c in counts.items()}
                                    for d, counts in opt._all_index_update_counts.items()}}


def _load_optimizer_state(trainer, path, counts: dict) -> None:
    """Inverse of :func:`_save_optimizer_state` (``mx.nd.load``: named arrays only, no pickle)."""
    import mxnet as mx

    from .models import WeightsError

    try:
        arrays = mx.nd.load(path)
    except mx.base.MXNetError as err:
        raise WeightsError(f"{path}: not an MXNet optimizer-state file ({str(err).splitlines()[0]})") from None
    if isinstance(arrays, list) and not arrays:
        arrays = {}  # no state (e.g. SGD without momentum)
    if not isinstance(arrays, dict):
        raise WeightsError(f"{path}: expected named optimizer-state arrays")
    for updater in _trainer_updaters(trainer):
        states = {}
        for key, flags in counts.get("layout", {}).items():
            index = int(key)
            try:
                if isinstance(flags, list):
                    states[index] = tuple(arrays[f"{index}:{k}"] if f else None for k, f in enumerate(flags))
                else:
                    states[index] = None if flags is None else arrays[f"{index}:0"]
            except KeyError as err:
                raise WeightsError(f"{path}: optimizer state {err.args[0]!r} is missing") from None
        updater.states = states
        updater.states_synced = dict.fromkeys(states, False)  # copied to each context on first use
        opt = updater.optimizer
        opt.num_update = int(counts.get("num_update", 0))
        opt._all_index_update_counts = {int(d): {int(i): int(c) for i, c in v.items()}
                                        for d, v in counts.get("index_update_counts", {"0": {}}).items()}
        opt._all_index_update_counts.setdefault(0, {})
        opt._index_update_count = opt._all_index_update_counts[0]


def _load_legacy_trainer_states(trainer, path, sched) -> None:
    """Older checkpoints hold ``Trainer.save_states`` output, a pickle. Loading a pickle runs code chosen
    by whoever wrote the file, so it is refused unless the user says they trust it."""
    if os.environ.get(_TRUST_LEGACY_ENV) != "1":
        raise ValueError(f"{path}: checkpoint from an older version stores the optimizer state as a pickle, "
                         f"which is not loaded (it could run arbitrary code). If you wrote this run yourself, "
                         f"set {_TRUST_LEGACY_ENV}=1 to resume from it once; otherwise train without --resume.")
    trainer.load_states(path)  # trusted by the user: the only pickle load in the package
    # the pickled optimiser carries its own scheduler; use this run's (same config → same lrs)
    for opt in {id(trainer._optimizer): trainer._optimizer,
                **{id(u.optimizer): u.optimizer for u in trainer._updaters}}.values():
        opt.lr_scheduler = sched


def _save_checkpoint(out, net, trainer, state: dict, keep: int) -> str:
    from .models import save_weights

    root = os.path.join(out, CHECKPOINT_DIR)
    os.makedirs(root, exist_ok=True)
    name = f"epoch-{state['epoch']:04d}"
    tmp = os.path.join(root, f".tmp-{name}-{os.getpid()}")
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    save_weights(net, os.path.join(tmp, f"{state['net']}.params"))
    optimizer_counts = _save_optimizer_state(trainer, os.path.join(tmp, _TRAINER))
    with open(os.path.join(tmp, _STATE), "w") as f:
        json.dump(dict(state, optimizer=optimizer_counts, complete=True), f, indent=1)
    final = os.path.join(root, name)
    if os.path.exists(final):  # a rerun of the same epoch replaces it
        shutil.rmtree(final)
    os.rename(tmp, final)
    if keep > 0:
        done = sorted(int(m.group(1)) for m in map(_CKPT_RE.match, os.listdir(root)) if m)
        for e in done[:-keep]:
            shutil.rmtree(os.path.join(root, f"epoch-{e:04d}"), ignore_errors=True)
    return final


def _write_metrics(out, rows):
    path = os.path.join(out, "metrics.csv")
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(METRIC_COLUMNS), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    os.replace(tmp, path)


def _plot_curves(out, rows, net_name):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    panels = [
        ("classification", [("train_cls_loss", "train CE (OHEM)"), ("val_cls_loss", "val CE")]),
        ("accuracy", [("val_acc", "val acc"), ("val_pos_acc", "val pos acc"), ("val_neg_acc", "val neg acc"),
                      ("val_recall", "val recall")]),
        ("box L2", [("train_box_loss", "train"), ("val_box_l2", "val")]),
        ("landmark L2", [("train_landmark_loss", "train"), ("val_landmark_l2", "val")]),
    ]
    for ax, (title, series) in zip(axes, panels):
        for key, label in series:
            ys = [r.get(key, float("nan")) for r in rows]
            ax.plot(ep, ys, marker="o", ms=3, label=label)
        ax.set_title(f"{net_name}: {title}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out, "curves.png")
    tmp = os.path.join(out, ".curves.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------ metrics

def _validate(eval_graph, pools, val_idx, cfg, ctx) -> dict:
    import mxnet as mx

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
    pos, neg = cls == 1, cls == 0
    has_box, has_lmk = np.abs(cls) == 1, cls == -2

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
        "val_box_l2": mean(np.sum((box[has_box] - lab[has_box, 1:5]) ** 2, axis=1)),
        "val_landmark_l2": mean(np.sum((lmk[has_lmk] - lab[has_lmk, 5:15]) ** 2, axis=1)),
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
        net: Optional[str] = None) -> FitResult:
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
        Continue from the newest complete checkpoint in ``out`` (none: start afresh).
    callback : callable(epoch, metrics_row), optional
        Called after each epoch's checkpoint is written; an exception it raises stops training
        (the checkpoint stays, so ``resume=True`` picks up from there).
    progress : bool
        Show a tqdm bar per epoch.
    data : dict, optional
        Pre-loaded pools as :func:`load_training_data` returns (skips reading ``records``).
    net : str, optional
        Net name when ``config`` is not given.

    Returns
    -------
    FitResult
    """
    import mxnet as mx
    from mxnet import autograd, gluon

    from .losses import MTCNNLoss
    from .models import get_net, load_weights, save_weights

    if config is None:
        config = TrainConfig.preset(net or "pnet")
    cfg = config
    if net is not None and str(net).lower() != cfg.net:
        raise ValueError(f"net {net!r} does not match config.net {cfg.net!r}")
    ctxs = [mx.cpu()] if ctx is None else (list(ctx) if isinstance(ctx, (list, tuple)) else [ctx])
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)

    # data: in memory, fixed validation split
    pools = data if data is not None else load_training_data(cfg.net, records)
    total = sum(len(lab) for _, lab in pools.values())
    if total == 0:
        raise ValueError(f"{records}: the {cfg.net} records hold no samples")
    train_idx, val_idx = {}, {}
    for name, (_, labels) in pools.items():
        train_idx[name], val_idx[name] = _split(labels, cfg.val_fraction, cfg.max_val_samples, cfg.seed,
                                                len(labels) / total)
    batches = _Batches(cfg.net, pools, train_idx, cfg)

    # model, loss, optimiser (seeded: identical initial weights for one seed)
    mx.random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    model = get_net(cfg.net, ctx=ctxs)
    loss = MTCNNLoss(cfg.det_weight, cfg.box_weight, cfg.landmark_weight, ohem_ratio=cfg.ohem_ratio)
    train_graph, eval_graph = _graphs(model, loss)
    if cfg.hybridize:
        train_graph.hybridize(static_alloc=True, static_shape=True)
        eval_graph.hybridize(static_alloc=True)
    trainer, sched = _trainer(model, cfg, batches.steps)
    rng = np.random.default_rng(cfg.seed)
    rows: List[dict] = []
    start = 0

    if resume:
        ckpt = latest_checkpoint(out)
        if ckpt is not None:
            with open(os.path.join(ckpt, _STATE)) as f:
                state = json.load(f)
            if state["net"] != cfg.net:
                raise ValueError(f"{ckpt}: checkpoint of {state['net']}, asked to train {cfg.net}")
            load_weights(model, os.path.join(ckpt, f"{cfg.net}.params"))
            if os.path.isfile(os.path.join(ckpt, _TRAINER)):
                _load_optimizer_state(trainer, os.path.join(ckpt, _TRAINER), state.get("optimizer", {}))
            else:
                _load_legacy_trainer_states(trainer, os.path.join(ckpt, _LEGACY_TRAINER), sched)
            rng.bit_generator.state = state["numpy_rng"]
            mx.random.seed(state["mx_seed"])
            rows = _load_rows(state["metrics"])
            start = int(state["epoch"])
            if progress:
                print(f"resuming {cfg.net} from {ckpt} (epoch {start} of {cfg.epochs})")

    with open(os.path.join(out, "config.json.tmp"), "w") as f:
        json.dump(cfg.to_dict(), f, indent=1)
    os.replace(os.path.join(out, "config.json.tmp"), os.path.join(out, "config.json"))

    bar_cls = None
    if progress:
        from tqdm import tqdm as bar_cls

    for epoch in range(start, cfg.epochs):
        mx.random.seed(cfg.seed + epoch)  # nothing random in MXNet is used after init; pinned anyway
        stats = [mx.nd.zeros((4,), ctx=c) for c in ctxs]
        bar = bar_cls(total=batches.steps, desc=f"{cfg.net} epoch {epoch + 1}/{cfg.epochs}", unit="batch",
                      dynamic_ncols=True, leave=False) if bar_cls else None
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
            if bar is not None:
                bar.update(1)
                if step % 50 == 49:
                    bar.set_postfix(loss=f"{float(sum(s[0].asscalar() for s in stats)) / (step + 1) / len(ctxs):.4f}")
        mx.nd.waitall()  # the last update too, so that the epoch's time is all of its work
        train_time = time.perf_counter() - t0
        sums = sum(s.asnumpy() for s in stats) / max(1, batches.steps) / len(ctxs)
        if bar is not None:
            bar.close()
        row = {"epoch": epoch + 1, "lr": float(trainer.learning_rate),
               "train_loss": float(sums[0]), "train_cls_loss": float(sums[1]),
               "train_box_loss": float(sums[2]), "train_landmark_loss": float(sums[3])}
        row.update(_validate(eval_graph, pools, val_idx, cfg, ctxs[0]))
        row["train_samples_per_s"] = n_seen / train_time if train_time > 0 else float("nan")
        row["epoch_time_s"] = time.perf_counter() - t0
        rows.append(row)
        state = {"net": cfg.net, "epoch": epoch + 1, "seed": cfg.seed, "mx_seed": cfg.seed + epoch + 1,
                 "numpy_rng": rng.bit_generator.state, "config": cfg.to_dict(),
                 "metrics": [{k: _json_float(v) for k, v in r.items()} for r in rows]}
        _save_checkpoint(out, model, trainer, state, cfg.keep_checkpoints)
        _write_metrics(out, rows)
        _plot_curves(out, rows, cfg.net)
        if progress:
            print(f"{cfg.net} epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.4f} "
                  f"val acc {row['val_acc']:.3f} recall {row['val_recall']:.3f} "
                  f"box {row['val_box_l2']:.4f} lmk {row['val_landmark_l2']:.4f} "
                  f"({row['train_samples_per_s']:.0f} samples/s)")
        if callback is not None:
            callback(epoch + 1, row)

    params_path = os.path.join(out, f"{cfg.net}.params")
    save_weights(model, params_path)
    return FitResult(net=model, params_path=params_path, metrics=rows, out=out)


# ---------------------------------------------------------------------------------------------- CLI

def add_train_parser(subparsers):
    """Add ``train pnet|rnet|onet --records DIR --out DIR ...`` to an argparse sub-parser set."""
    p = subparsers.add_parser("train", help="train PNet, RNet or ONet from records")
    p.add_argument("net", choices=("pnet", "rnet", "onet"))
    p.add_argument("--records", required=True, help="records folder (the net's own, or one holding pnet/ rnet/ onet/)")
    p.add_argument("--out", required=True, help="run folder; <out>/<net>.params at the end")
    p.add_argument("--epochs", type=int, help="epochs (default: 30 PNet, 22 RNet/ONet)")
    p.add_argument("--batch-size", type=int, help="samples per step (default 384)")
    p.add_argument("--lr", type=float, help="base learning rate (default 0.001)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), help="default sgd (momentum 0.9)")
    p.add_argument("--warmup-epochs", type=float, help="linear warm-up, epochs (default 0)")
    p.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    p.add_argument("--seed", type=int, help="default 0")
    p.add_argument("--smoke", action="store_true", help="a tiny run (2 epochs of 4 steps)")
    p.add_argument("--gpus", default="", help="GPU ids, e.g. 0,1 (default: CPU)")
    p.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)
    return p


def _cmd_train(args) -> int:
    import mxnet as mx

    overrides = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                   "optimizer": args.optimizer, "warmup_epochs": args.warmup_epochs,
                                   "seed": args.seed}.items() if v is not None}
    if args.no_flip:
        overrides["flip"] = False
    cfg = TrainConfig.preset(args.net, smoke=args.smoke, **overrides)
    ids = [int(g) for g in args.gpus.split(",") if g.strip()] if args.gpus else []
    ctx = [mx.gpu(i) for i in ids] or [mx.cpu()]
    result = fit(args.records, args.out, cfg, ctx=ctx, resume=args.resume, progress=not args.no_progress)
    print(f"wrote {result.params_path}")
    return 0
