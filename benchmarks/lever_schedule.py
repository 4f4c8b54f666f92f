"""Issue-14 lever: the whole recipe with longer training schedules (and, optionally, RNet without landmarks).

The learning curve (``benchmarks/learning_curve.py``) found the recipe nearly flat in data — a quarter of
the train images scored within 2 AP points of all of them — and at 100 % RNet's training loss equals its
held-out loss (under-fitted, where the 25 % run over-fits). This run is the ``full`` preset (generated
faces included, seed 0) with each net's epochs multiplied, the learning-rate decays at the same fractions of
the run and everything else unchanged. It first ran with PNet 3x, RNet and ONet 2x the preset of the day
(16 / 40 / 30 epochs) in ``runs/lever_schedule``: +2.2 / +3.1 / +1.7 val AP, so since 2026-12-02 that
schedule *is* the ``full`` preset and the factors default to 1.

``--rnet-no-landmark``: RNet's batches without the 64 landmark crops and its landmark loss weight 0 (the
ablation's only change beyond the seed noise: +1.0 / +0.9 / +1.3 AP at 1,200 steps, +0.5 / +0.7 / +0.9 at
8,000; at 16,000 with its own ONet +0.1 / -0.4 / -0.2, not adopted). Resumable: rerun the same command to
continue from the last finished step or checkpoint; compare ``<out>/eval/summary.json`` with
``pretrained/cascade.json``.

``--onet-no-landmark-flip``: ONet's landmark samples are not mirrored while training. The flip ``x -> 1 - x``
puts a mirrored point one source pixel right of its exact mirror (``flip_samples``), and the published ONet's
points sit +0.22 px right on average (y: +0.03; ``benchmarks/landmark_bias.py``); the landmark records hold
exact mirrors already. Run it from the seed of a run whose RNet is trained, against that run's own ONet.

``--small-face-tries N``: N more generated crops tried per face whose larger side is under 40 px, at 24 px
for RNet and 48 px for ONet (``PipelineConfig.generated_sampling``). RNet loses most of the faces it loses
at 20-40 px (22 points at 20-30 px against the original's 10), and the 20 tries per face give each face the
same share whatever its size; 40 more give the small faces (38 % of the usable train faces) about two thirds
of the generated crops.

``--colour-jitter``: RNet and ONet train with the ablation's colour row (brightness, contrast, saturation each
x U(0.8, 1.2) per sample; PNet is the recipe's). At 1,200 RNet steps it was noise (+0.1 / +0.1 / +0.6 AP), but
there RNet was under-fitted; at the recipe's 16,000 steps RNet's training loss is below its held-out loss
(0.050 against 0.073) and it confidently rejects faces the original keeps (``benchmarks/rnet_losses.py``),
where more varied appearance is what should help.

``--blur P``: RNet and ONet train with each sample Gaussian-blurred with probability P (sigma U(0.02, 0.08) x its
side: 0.5-1.9 px at 24 px; ``TrainConfig.blur``). The faces our RNet scores out are the blurred and occluded
ones (``rnet_losses.py``: 40 % of the heavily blurred faces PNet covers against the original's 13 %, 7 % of
the clear ones against 3 %); blurring every kind of sample alike also takes sharpness away as a cue.

``--blur-nets rnet`` blurs RNet's samples only: at the recipe's schedule, ONet trained on blurred 48 px samples
lost easy and medium AP and landmark accuracy (``benchmarks/README.md``, "Blur").

``--pnet-from pretrained``: start from a published cascade's PNet instead of training it again (12 min),
for a run whose PNet would be the same: the same preset and seed at 2 threads give PNet weights equal to the
bit (``benchmarks/README.md``). The run's ``steps/train_pnet.json`` is the card's record of that step, marked
with where the weights came from; the run still builds its own data. ``--rnet-from pretrained`` takes PNet and
RNet (and the card's records of their steps) when every setting up to RNet is the card's, for a lever on ONet
alone: ``--rnet-from pretrained --onet-no-landmark-flip`` is the published recipe with ONet's flip off.

A run is longer than a working session here (whose processes and ``runs/`` end with it), so it can go on in
the next one from a *seed*: ``--save-seed DIR`` writes, for the run in ``--out``, the settings, the records of
its finished steps up to its last trained net, and the weights of those nets (no records: a few hundred KB);
``--seed DIR`` starts a new ``--out`` from it when its settings are this run's to the last field (the nets it
did not train may train differently). The next steps rebuild what they need (data in a minute, the mining
after the last net). Usage::

    MTCNN_DATA_ROOT=../shared/data python benchmarks/lever_schedule.py [--out runs/lever_schedule]
        [--pnet 1] [--rnet 1] [--onet 1] [--rnet-no-landmark] [--onet-no-landmark-flip] [--small-face-tries N]
        [--colour-jitter] [--blur P [--blur-nets rnet]]
        [--pnet-from pretrained | --rnet-from pretrained] [--seed DIR]
    python benchmarks/lever_schedule.py --out runs/lever_schedule [...] --save-seed DIR
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import shutil
from pathlib import Path

from ablation_rnet import ROWS  # benchmarks/ablation_rnet.py
from mtcnn_gluon.config import PipelineConfig, config_to_dict
from mtcnn_gluon.pipeline import DATA_SETTINGS, STEPS, run_pipeline
from mtcnn_gluon.utils.files import write_json


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


def with_training(cfg: PipelineConfig, net: str, changes: dict) -> PipelineConfig:
    """``cfg`` with ``changes`` added to ``net``'s training overrides (``cfg`` itself is left as it is)."""
    overrides = copy.deepcopy(cfg.train_overrides)
    overrides[net].update(changes)
    return dataclasses.replace(cfg, train_overrides=overrides)


def _restricted(settings, nets) -> dict:
    """``settings`` (a PipelineConfig, or a pipeline.json's dict, read as one so that an old file's spelling of a
    default, e.g. ``sampling: null``, equals today's) with the schedules and training settings of ``nets`` only."""
    if isinstance(settings, dict):
        settings = PipelineConfig(**settings)
    settings = json.loads(json.dumps(config_to_dict(settings)))
    for key in ("epochs", "train_overrides"):
        settings[key] = {n: v for n, v in settings.get(key, {}).items() if n in nets}
    return settings


def _differing(theirs: dict, mine: dict) -> str:
    """The top-level settings in which two restricted pipeline.json dicts differ, for a one-line refusal."""
    return ", ".join(sorted(k for k in set(theirs) | set(mine) if theirs.get(k) != mine.get(k)))


def take_nets(card_dir, out, cfg: PipelineConfig, last: str) -> None:
    """Make ``<out>``'s steps up to training ``last`` (``'pnet'`` or ``'rnet'``) the published cascade's in
    ``card_dir``, when those nets were trained by the same settings; a run that has already passed the step
    keeps its own. PNet alone needs the same data and PNet settings; RNet also the same mining and every other
    setting, except the schedules and training settings of the nets after it."""
    card_dir, out = Path(card_dir), Path(out)
    if (out / "steps" / "train_pnet.json").is_file():
        return
    if not (card_dir / "cascade.json").is_file():
        raise SystemExit(f"--{last}-from {card_dir}: no cascade.json there (a folder written by publish_cascade)")
    card = json.loads((card_dir / "cascade.json").read_text())
    nets = ("pnet",) if last == "pnet" else ("pnet", "rnet")
    theirs, mine = _restricted(card["pipeline"], nets), _restricted(cfg, nets)
    if last == "pnet":  # PNet depends on the data settings and its own only
        theirs, mine = ({**{k: s[k] for k in DATA_SETTINGS}, "epochs": s["epochs"], "train_overrides": s["train_overrides"]}
                        for s in (theirs, mine))
    if mine != theirs:
        raise SystemExit(f"--{last}-from {card_dir}: its nets were trained with other settings "
                         f"({_differing(theirs, mine)} differ)")
    steps = ("train_pnet",) if last == "pnet" else ("train_pnet", "mine_rnet", "train_rnet")
    (out / "cascade").mkdir(parents=True, exist_ok=True)
    (out / "steps").mkdir(parents=True, exist_ok=True)
    for net in nets:
        shutil.copyfile(card_dir / f"{net}.params", out / "cascade" / f"{net}.params")
    for step in steps:
        write_json(out / "steps" / f"{step}.json", dict(card["steps"][step], taken_from=str(card_dir / "cascade.json")))
    print(f"{', '.join(n.upper() for n in nets)}: {card_dir} (its card's step records: {', '.join(steps)})",
          flush=True)


def seed_steps(out) -> list:
    """The finished steps of run ``out`` that a seed carries: those up to its last trained net, without
    ``data`` (rebuilt) and without a mining whose net is not trained yet (its records would be missing)."""
    done = [s for s in STEPS if (Path(out) / "steps" / f"{s}.json").is_file()]
    trained = [i for i, s in enumerate(STEPS) if s.startswith("train_") and s in done]
    return [s for s in STEPS[:trained[-1] + 1] if s != "data" and s in done] if trained else []


def save_seed(out, dest) -> list:
    """Write run ``out``'s seed into ``dest`` (see the module doc); returns the steps it carries."""
    out, dest = Path(out), Path(dest)
    steps = seed_steps(out)
    if not steps:
        raise SystemExit(f"--save-seed: {out} has no trained net yet")
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "steps").mkdir(parents=True)
    (dest / "cascade").mkdir()
    shutil.copyfile(out / "pipeline.json", dest / "pipeline.json")
    for step in steps:
        shutil.copyfile(out / "steps" / f"{step}.json", dest / "steps" / f"{step}.json")
        if step.startswith("train_"):
            net = step[len("train_"):]
            shutil.copyfile(out / "cascade" / f"{net}.params", dest / "cascade" / f"{net}.params")
            for name in ("metrics.csv", "config.json"):  # the training's curves (none for a net taken whole)
                if (out / net / name).is_file():
                    (dest / net).mkdir(exist_ok=True)
                    shutil.copyfile(out / net / name, dest / net / name)
    print(f"{dest}: the seed of {out} ({', '.join(steps)})", flush=True)
    return steps


def take_seed(seed, out, cfg: PipelineConfig) -> None:
    """Start run ``out`` from ``seed`` (written by :func:`save_seed`) when it has not started yet: every
    setting must be the seed's, except the schedule and training settings of the nets the seed did not train."""
    seed, out = Path(seed), Path(out)
    if (out / "steps" / "train_pnet.json").is_file():
        return
    trained = {p.stem[len("train_"):] for p in (seed / "steps").glob("train_*.json")}
    # a net the seed did not train may train differently here
    theirs = _restricted(json.loads((seed / "pipeline.json").read_text()), trained)
    mine = _restricted(cfg, trained)
    if theirs != mine:
        raise SystemExit(f"--seed {seed}: made with other settings ({_differing(theirs, mine)} differ)")
    for path in sorted(seed.rglob("*")):
        if path.is_file() and path.name != "pipeline.json":
            target = out / path.relative_to(seed)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    print(f"{out}: started from the seed {seed} ({', '.join(p.stem for p in sorted((seed / 'steps').glob('*.json')))})",
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    ap.add_argument("--out", default="runs/lever_schedule")
    for net, default in (("pnet", 1.0), ("rnet", 1.0), ("onet", 1.0)):
        ap.add_argument(f"--{net}", type=float, default=default, help=f"{net.upper()} epochs x this (default {default})")
    ap.add_argument("--rnet-no-landmark", action="store_true",
                    help="RNet batches 64 pos + 64 part + 192 neg, landmark loss weight 0")
    ap.add_argument("--onet-no-landmark-flip", action="store_true",
                    help="ONet's landmark samples never mirrored while training (TrainConfig.flip_landmarks False)")
    ap.add_argument("--small-face-tries", type=int, default=0, metavar="N",
                    help="N more generated crops tried per face under 40 px, for RNet and ONet (default 0)")
    ap.add_argument("--colour-jitter", action="store_true",
                    help="RNet and ONet with the ablation's colour jitter (x U(0.8, 1.2) brightness, contrast, saturation)")
    ap.add_argument("--blur", type=float, default=0.0, metavar="P",
                    help="RNet and ONet samples Gaussian-blurred with probability P (TrainConfig.blur; default 0)")
    ap.add_argument("--blur-nets", default="rnet,onet", metavar="NETS",
                    help="the nets --blur applies to, comma-separated (default rnet,onet)")
    taken = ap.add_mutually_exclusive_group()
    taken.add_argument("--pnet-from", metavar="DIR",
                       help="a published cascade (pretrained/) whose PNet this run takes")
    taken.add_argument("--rnet-from", metavar="DIR",
                       help="a published cascade whose PNet and RNet this run takes (the same settings up to RNet)")
    ap.add_argument("--seed", metavar="DIR", help="start --out from this seed (--save-seed) of an unfinished run")
    ap.add_argument("--save-seed", metavar="DIR", help="write the seed of the run in --out to DIR and stop")
    args = ap.parse_args()
    if not args.data_root and not args.save_seed:
        raise SystemExit("set MTCNN_DATA_ROOT or --data-root")
    cfg = scaled(PipelineConfig.preset("full"), {"pnet": args.pnet, "rnet": args.rnet, "onet": args.onet})
    if args.rnet_no_landmark:
        cfg = with_training(cfg, "rnet", ROWS["no_landmark"][1])  # the ablation's row, as it measured it
    if args.onet_no_landmark_flip:
        cfg = with_training(cfg, "onet", {"flip_landmarks": False})
    if args.colour_jitter:
        for net in ("rnet", "onet"):
            cfg = with_training(cfg, net, ROWS["colour"][1])
    if args.blur:
        nets = [n.strip() for n in args.blur_nets.split(",") if n.strip()]
        if not nets or set(nets) - {"rnet", "onet"}:
            raise SystemExit(f"--blur-nets {args.blur_nets}: expected rnet, onet or rnet,onet")
        for net in nets:
            cfg = with_training(cfg, net, {"blur": args.blur})
    if args.small_face_tries:
        cfg = dataclasses.replace(cfg, generated_sampling={"small_face_tries": args.small_face_tries})
    print("epochs", cfg.epochs, "decays", {n: o.get("lr_decay_epochs") for n, o in cfg.train_overrides.items()},
          "rnet", cfg.train_overrides["rnet"], flush=True)
    if args.save_seed:
        save_seed(args.out, args.save_seed)
        return
    if args.seed:
        take_seed(args.seed, args.out, cfg)
    if args.pnet_from or args.rnet_from:
        take_nets(args.rnet_from or args.pnet_from, args.out, cfg, "rnet" if args.rnet_from else "pnet")
    run_pipeline(args.data_root, args.out, cfg, progress=False)


if __name__ == "__main__":
    main()
