"""The whole recipe as resumable steps: data → PNet → mine → RNet → mine → ONet → evaluate.

``run_pipeline(data_root, out)`` (CLI: ``python -m mtcnn_gluon pipeline --data-root ROOT --out runs/NAME``)
runs each step unless ``<out>/steps/<step>.json`` says it finished; every step is itself resumable
(records are rebuilt only when absent or made with other settings, training resumes from its last
checkpoint, mining from its last finished shard), so the run can be killed and started again at any point.
The landmark faces held out for evaluation (:func:`mtcnn_gluon.evaluation.landmark_split`) are never
used for training.

Layout of ``<out>``::

    pipeline.json            settings of the run
    data/pnet/train.rec      merged PNet record (+ .idx, .json)
    data/{rnet,onet}/{pos,part,neg,landmark}.rec
    mine_rnet/, mine_onet/   hard example shards and summaries
    pnet/, rnet/, onet/      training runs (checkpoints, metrics.csv, curves)
    cascade/                 pnet.params, rnet.params, onet.params (a --weights folder)
    eval/                    WIDER FACE AP, PR curves, landmark NME
    steps/<step>.json        wall time and summary of each finished step
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import write_json
from .config import config_to_dict

__all__ = ["PipelineConfig", "STEPS", "run_pipeline", "step_data", "train_step", "mine_step", "step_evaluate",
           "publish_cascade", "add_pipeline_parser"]

STEPS = ("data", "train_pnet", "mine_rnet", "train_rnet", "mine_onet", "train_onet", "evaluate")


@dataclass
class PipelineConfig:
    """What the full run does; :meth:`preset` gives the course's ``smoke`` and ``full`` settings."""

    seed: int = 0  # one seed for sampling, shuffling, initialisation and mining
    wider_limit: int | None = None  # use only the first N present WIDER train images (None: all)
    landmark_limit: int | None = None  # use only the first N landmark faces (None: all)
    val_limit: int | None = None  # evaluate on the first N present val images (None: all)
    epochs: dict = field(default_factory=lambda: {"pnet": 16, "rnet": 40, "onet": 30})  # epochs per net
    # per net: TrainConfig fields to change. Our data is ~10x smaller than the classic repo's, so its
    # SGD lr 0.001 barely moves in an epoch (measured: PNet val recall 0.00 after 1 epoch, vs 0.70
    # with Adam lr 0.001 or SGD lr 0.01); Adam 0.001 with two x0.1 steps late in the run instead.
    # RNet/ONet epochs are capped in steps: a balanced epoch covers the largest type (~100k landmark
    # crops), 1,500 steps, more than 2 CPU cores afford for ONet (~1,100 samples/s). The schedules below
    # (RNet 8,000 steps, ONet 3,000) took 13 and 18 minutes and gave the published cascade
    # (benchmarks/README.md); the first session's shorter ones (1,200 each) scored 3 AP points less.
    train_overrides: dict = field(default_factory=lambda: {
        "pnet": {"optimizer": "adam", "lr": 0.001, "lr_decay_epochs": (10, 14)},
        "rnet": {"optimizer": "adam", "lr": 0.001, "lr_decay_epochs": (30, 36), "steps_per_epoch": 200,
                 "max_val_samples": 8000},
        "onet": {"optimizer": "adam", "lr": 0.001, "lr_decay_epochs": (22, 27), "steps_per_epoch": 100,
                 "max_val_samples": 3000},
    })
    workers: int | None = None  # processes for data generation (None: all cores)
    landmark_eval: bool = True  # compute landmark NME on the held-out faces in the evaluate step
    mining: dict = field(default_factory=dict)  # MiningConfig fields to change (e.g. max_windows)

    @classmethod
    def preset(cls, name: str, **changes) -> "PipelineConfig":
        """``'full'``: the recipe on all the data; ``'smoke'``: minutes on 2 CPU cores."""
        if name == "full":
            cfg = cls()
        elif name == "smoke":
            # an untrained PNet passes thousands of windows per image: mining keeps the top 300
            cfg = cls(wider_limit=40, landmark_limit=400, val_limit=20,
                      epochs={"pnet": 3, "rnet": 2, "onet": 2}, landmark_eval=False,
                      mining={"max_windows": 300},
                      train_overrides={net: {"optimizer": "adam", "lr": 0.001, "lr_decay_epochs": (2,),
                                             "steps_per_epoch": steps, "max_val_samples": 1000}
                                       for net, steps in (("pnet", None), ("rnet", 30), ("onet", 15))})
        else:
            raise ValueError(f"unknown preset {name!r}; choose 'smoke' or 'full'")
        return dataclasses.replace(cfg, **changes)


def _step_file(out: Path, step: str) -> Path:
    return out / "steps" / f"{step}.json"


def _holdout(data_root) -> np.ndarray:
    from .datasets.facepoint import load_facepoint
    from .evaluation import landmark_split

    return landmark_split(len(load_facepoint(data_root).faces))[1]


def step_data(data_root, out: Path, cfg: PipelineConfig, progress=True) -> dict:
    """PNet's merged record (WIDER crops + 12 px landmarks) and the 24/48 px landmark records."""
    from .data_cli import build_landmark_records, build_pnet_records

    exclude = _holdout(data_root)
    pnet = build_pnet_records(data_root, out / "data", seed=cfg.seed, workers=cfg.workers, limit=cfg.wider_limit,
                              landmark_limit=cfg.landmark_limit, exclude=exclude, progress=progress)
    lm = build_landmark_records(data_root, out / "data", sizes=(24, 48), seed=cfg.seed, workers=cfg.workers,
                                limit=cfg.landmark_limit, exclude=exclude, progress=progress)
    return {"pnet_counts": pnet.get("counts"), "landmark_counts": {s: v.get("counts") for s, v in lm.items()}}


def train_step(net: str, out: Path, cfg: PipelineConfig, ctx, progress=True) -> dict:
    from .train import TrainConfig, fit

    tcfg = TrainConfig.preset(net, epochs=cfg.epochs[net], seed=cfg.seed, **cfg.train_overrides.get(net, {}))
    result = fit(out / "data", out / net, tcfg, ctx=ctx, resume=True, progress=progress)
    cascade = out / "cascade"
    cascade.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result.params_path, cascade / f"{net}.params")
    return {"epochs": len(result.metrics), "last": result.metrics[-1] if result.metrics else {},
            "config": tcfg.to_dict()}


def mine_step(stage: str, data_root, out: Path, cfg: PipelineConfig, ctx, progress=True) -> dict:
    from .datasets.wider import load_wider
    from .detector import MTCNNDetector
    from .mining import MiningConfig, load_mined, mine_hard_examples, stage_recall
    from .records import write_typed_records

    stages = ("pnet",) if stage == "rnet" else ("pnet", "rnet")
    det = MTCNNDetector.from_weights(out / "cascade", ctx=ctx, stages=stages)
    wider = load_wider(data_root, "train")
    mcfg = MiningConfig(**cfg.mining)
    summary = mine_hard_examples(det, wider, stage, out / f"mine_{stage}", mcfg, seed=cfg.seed,
                                 limit=cfg.wider_limit, progress=progress)
    crops, labels = load_mined(out / f"mine_{stage}")
    write_typed_records(out / "data" / stage, crops, labels, types=("pos", "part", "neg"),
                        summary={"mining": {k: v for k, v in summary.items() if k != "skipped"}})
    val = load_wider(data_root, "val")
    summary["val_recall"] = stage_recall(det, val, stage, mcfg, limit=cfg.val_limit, progress=progress)
    write_json(out / f"mine_{stage}" / "mining_summary.json", summary)
    return summary


def step_evaluate(data_root, out: Path, cfg: PipelineConfig, ctx, progress=True) -> dict:
    from . import evaluation as ev
    from .detector import MTCNNDetector, detect_files, predict_landmarks

    det = MTCNNDetector.from_weights(out / "cascade", ctx=ctx)
    keys = ev.present_val_images(data_root)[: cfg.val_limit] if cfg.val_limit else ev.present_val_images(data_root)
    files = [f"WIDER_FACE/WIDER_val/images/{k}.jpg" for k in keys]
    found = detect_files(det, files, root=data_root, progress=progress)
    write_json(out / "eval" / "predictions.json", {"settings": det.settings(), "images": found["images"],
                                                    "skipped": found["skipped"]})
    preds = {k: np.asarray(v["boxes"], float).reshape(-1, 5) for k, v in found["images"].items()}
    result = ev.evaluate_wider(preds, Path(data_root), images=keys)
    ev.plot_pr_curves(result, label="ours", path=out / "eval" / "pr_curves.png")
    summary = {"wider": result.to_dict()}
    if cfg.landmark_eval:
        lm = ev.evaluate_landmarks(lambda imgs, boxes: predict_landmarks(det, imgs, boxes), data_root,
                                   progress=progress)
        summary["landmarks"] = {"nme": lm.nme, "nme_per_point": lm.nme_per_point.tolist(),
                                "failure_rate": lm.failure_rate, "n_faces": int(len(lm.errors))}
    write_json(out / "eval" / "summary.json", summary)
    return summary


def run_pipeline(data_root, out, cfg: PipelineConfig = None, ctx=None, until: str | None = None,
                 progress: bool = True) -> dict:
    """Run (or resume) every step up to and including ``until``; returns each step's record."""
    import mxnet as mx

    cfg = cfg or PipelineConfig()
    ctx = ctx or [mx.cpu()]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings_path = out / "pipeline.json"
    settings = json.loads(json.dumps(config_to_dict(cfg)))
    if settings_path.is_file():
        # the data must stay the same; epochs, workers and evaluation may change between resumes
        old = json.loads(settings_path.read_text())
        fixed = ("seed", "wider_limit", "landmark_limit")
        if any(old.get(k) != settings.get(k) for k in fixed):
            raise ValueError(f"{settings_path}: this run folder was made with other data settings "
                             f"({', '.join(f'{k}={old.get(k)}' for k in fixed)}); use a new --out or delete it")
    write_json(settings_path, settings)
    if until is not None and until not in STEPS:
        raise ValueError(f"unknown step {until!r}; steps: {', '.join(STEPS)}")
    work = {
        "data": lambda: step_data(data_root, out, cfg, progress),
        "train_pnet": lambda: train_step("pnet", out, cfg, ctx, progress),
        "mine_rnet": lambda: mine_step("rnet", data_root, out, cfg, ctx, progress),
        "train_rnet": lambda: train_step("rnet", out, cfg, ctx, progress),
        "mine_onet": lambda: mine_step("onet", data_root, out, cfg, ctx, progress),
        "train_onet": lambda: train_step("onet", out, cfg, ctx, progress),
        "evaluate": lambda: step_evaluate(data_root, out, cfg, ctx, progress),
    }
    records = {}
    for step in STEPS:
        path = _step_file(out, step)
        if path.is_file():
            records[step] = json.loads(path.read_text())
            print(f"[pipeline] {step}: done before ({records[step]['seconds']:.0f} s), skipping")
        else:
            print(f"[pipeline] {step}: running")
            t0 = time.time()
            summary = work[step]()
            records[step] = {"step": step, "seconds": round(time.time() - t0, 1), "summary": summary}
            write_json(path, records[step])
            print(f"[pipeline] {step}: finished in {records[step]['seconds']:.0f} s")
        if step == until:
            break
    return records


DATA_TERMS = (
    "Trained on WIDER FACE (Yang et al., CVPR 2016; non-commercial research use only) and the CNN_FacePoint "
    "training set (Sun, Wang and Tang, CVPR 2013; research use only). These weights are derived from those "
    "datasets: use them under the same terms.")


def _git_version() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def publish_cascade(out, dest) -> dict:
    """Copy a finished run's ``cascade/`` to ``dest`` (e.g. the repo's ``pretrained/``) with a JSON card.

    The card (``dest/cascade.json``) says how the cascade was made: pipeline settings, per-net training
    config and final metrics, data counts, mining recall, evaluation results, seed, code version, and
    the datasets' research-only terms.
    """
    out, dest = Path(out), Path(dest)
    steps = {s: json.loads(_step_file(out, s).read_text()) for s in STEPS if _step_file(out, s).is_file()}
    missing = [s for s in STEPS if s not in steps]
    if missing:
        raise FileNotFoundError(f"{out}: the run has not finished steps {', '.join(missing)}")
    dest.mkdir(parents=True, exist_ok=True)
    for net in ("pnet", "rnet", "onet"):
        shutil.copyfile(out / "cascade" / f"{net}.params", dest / f"{net}.params.tmp")
        os.replace(dest / f"{net}.params.tmp", dest / f"{net}.params")
    if "wider" in steps["evaluate"]["summary"]:  # keep the figures, not the 1000-point PR curves
        wider = steps["evaluate"]["summary"]["wider"]
        steps["evaluate"]["summary"]["wider"] = {k: wider[k] for k in ("ap", "n_images", "n_faces", "n_detections")
                                                 if k in wider}
    card = {
        "what": "MTCNN cascade (PNet, RNet, ONet) trained from scratch with mtcnn-gluon on the shared data",
        "code_version": _git_version(),
        "pipeline": json.loads((out / "pipeline.json").read_text()),
        "seed": json.loads((out / "pipeline.json").read_text()).get("seed"),
        "steps": {s: {"seconds": r["seconds"], "summary": r["summary"]} for s, r in steps.items()},
        "terms": DATA_TERMS,
        "licence_of_code": "MIT",
    }
    write_json(dest / "cascade.json", card)
    return card


def add_pipeline_parser(subparsers):
    p = subparsers.add_parser("pipeline", help="the whole recipe: data, PNet, mining, RNet, mining, ONet, eval")
    p.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"), help="shared data folder")
    p.add_argument("--out", required=True, help="run folder (resumed if it exists)")
    p.add_argument("--preset", default="full", choices=("smoke", "full"))
    p.add_argument("--until", choices=STEPS, help="stop after this step")
    p.add_argument("--epochs", help="override epochs, e.g. pnet=10,rnet=8,onet=8")
    p.add_argument("--gpus", default="", help="GPU ids, e.g. 0,1 (default: CPU)")
    p.add_argument("--workers", type=int, default=None, help="processes for data generation")
    p.add_argument("--publish", metavar="DIR", help="after the run, copy the cascade and its JSON card to DIR")
    p.set_defaults(func=_cmd_pipeline)
    return p


def _cmd_pipeline(args):
    from .cli import contexts

    if not args.data_root:
        raise SystemExit("pipeline: --data-root (or $MTCNN_DATA_ROOT) is required")
    changes = {"workers": args.workers}
    if args.epochs:
        epochs = dict(PipelineConfig.preset(args.preset).epochs)
        for item in args.epochs.split(","):
            k, _, v = item.partition("=")
            if k not in epochs or not v.isdigit():
                raise SystemExit(f"--epochs: expected net=N items (nets: pnet, rnet, onet), got {item!r}")
            epochs[k] = int(v)
        changes["epochs"] = epochs
    cfg = PipelineConfig.preset(args.preset, **changes)
    run_pipeline(args.data_root, args.out, cfg, ctx=contexts(args.gpus), until=args.until)
    if args.publish:
        publish_cascade(args.out, args.publish)
        print(f"published the cascade to {args.publish}")
    return 0
