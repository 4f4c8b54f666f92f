"""Training checkpoints: weights, optimizer state and run state, written atomically and read without pickle.

``<out>/checkpoints/epoch-NNNN/`` holds ``<net>.params``, ``optimizer.params`` (the optimizer state as named
arrays, ``mx.nd.save``) and ``state.json`` (epoch, NumPy RNG state, seed, config, metrics, the optimizer's
update counters). It is written under a temporary name and renamed when complete, so a crash mid-write
leaves nothing that a resume would read.

MXNet's ``Trainer.save_states`` writes a pickle, which would run whatever code a crafted checkpoint holds;
the optimizer state is saved here from the updaters' arrays instead. Gluon offers no public access to
them, so :func:`_trainer_updaters` reaches into ``Trainer``'s attributes — of MXNet 1.9.1, which is pinned
and is MXNet's last release.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from typing import Optional

import mxnet as mx

from .model.nets import WeightsError, load_weights, save_weights

__all__ = ["CHECKPOINT_DIR", "latest_checkpoint", "save_checkpoint", "load_checkpoint"]

CHECKPOINT_DIR = "checkpoints"
_CKPT_RE = re.compile(r"^epoch-(\d{4,})$")
_STATE = "state.json"
_TRAINER = "optimizer.params"  # optimizer state as named NDArrays (mx.nd.save, no pickle)
_LEGACY_TRAINER = "trainer.states"  # older checkpoints: Trainer.save_states, a pickle
_TRUST_LEGACY_ENV = "MTCNN_TRUST_PICKLED_CHECKPOINTS"


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


def save_checkpoint(out, net, trainer, state: dict, keep: int) -> str:
    """Write ``<out>/checkpoints/epoch-NNNN/``: weights, optimizer state, ``state.json`` (epoch, RNG state,
    seed, config, metrics); under a temporary name, renamed when whole. Keeps the newest ``keep``
    (0: all). Returns the folder."""
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


def load_checkpoint(ckpt, net, trainer, sched, net_name: str) -> dict:
    """Load a checkpoint folder into ``net`` and ``trainer``; returns its ``state.json``.

    Raises
    ------
    ValueError
        The checkpoint is of another net.
    """
    with open(os.path.join(ckpt, _STATE)) as f:
        state = json.load(f)
    if state["net"] != net_name:
        raise ValueError(f"{ckpt}: checkpoint of {state['net']}, asked to train {net_name}")
    load_weights(net, os.path.join(ckpt, f"{net_name}.params"))
    if os.path.isfile(os.path.join(ckpt, _TRAINER)):
        _load_optimizer_state(trainer, os.path.join(ckpt, _TRAINER), state.get("optimizer", {}))
    else:
        _load_legacy_trainer_states(trainer, os.path.join(ckpt, _LEGACY_TRAINER), sched)
    return state
