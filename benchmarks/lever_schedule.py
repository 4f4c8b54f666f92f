"""Issue-14 lever: the whole recipe with longer training schedules.

The learning curve (``benchmarks/learning_curve.py``) found the recipe nearly flat in data — a quarter of
the train images scored within 2 AP points of all of them — and at 100 % RNet's training loss equals its
held-out loss (under-fitted, where the 25 % run over-fits). This run is the ``full`` preset (generated
faces included, seed 0) with each net's epochs multiplied, the learning-rate decays at the same fractions of
the run and everything else unchanged. Resumable: rerun the same command to continue from the last finished
step or checkpoint; compare ``<out>/eval/summary.json`` with ``pretrained/cascade.json``. Usage::

    MTCNN_DATA_ROOT=../shared/data python benchmarks/lever_schedule.py [--out runs/lever_schedule]
        [--pnet 3] [--rnet 2] [--onet 2]
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import os

from mtcnn_gluon.config import PipelineConfig
from mtcnn_gluon.pipeline import run_pipeline


def scaled(cfg: PipelineConfig, factors: dict) -> PipelineConfig:
    """``cfg`` with ``epochs[net]`` times ``factors[net]`` and its ``lr_decay_epochs`` at the same fractions."""
    epochs, overrides = dict(cfg.epochs), copy.deepcopy(cfg.train_overrides)
    for net, k in factors.items():
        old = epochs[net]
        epochs[net] = int(round(old * k))
        decay = overrides.get(net, {}).get("lr_decay_epochs")
        if decay:
            overrides[net]["lr_decay_epochs"] = tuple(int(round(d * epochs[net] / old)) for d in decay)
    return dataclasses.replace(cfg, epochs=epochs, train_overrides=overrides)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    ap.add_argument("--out", default="runs/lever_schedule")
    for net, default in (("pnet", 3.0), ("rnet", 2.0), ("onet", 2.0)):
        ap.add_argument(f"--{net}", type=float, default=default, help=f"{net.upper()} epochs x this (default {default})")
    args = ap.parse_args()
    if not args.data_root:
        raise SystemExit("set MTCNN_DATA_ROOT or --data-root")
    cfg = scaled(PipelineConfig.preset("full"), {"pnet": args.pnet, "rnet": args.rnet, "onet": args.onet})
    print("epochs", cfg.epochs, "decays", {n: o.get("lr_decay_epochs") for n, o in cfg.train_overrides.items()},
          flush=True)
    run_pipeline(args.data_root, args.out, cfg, progress=False)


if __name__ == "__main__":
    main()
