"""The whole recipe as resumable steps: data → PNet → mine → RNet → mine → ONet → evaluate.

``run_pipeline(data_root, out)`` (CLI: ``python -m mtcnn_gluon pipeline --data-root ROOT --out runs/NAME``)
runs each step unless ``<out>/steps/<step>.json`` says it finished; every step is itself resumable
(records are rebuilt only when absent or made with other settings, training resumes from its last
checkpoint, mining from its last finished shard), so the run can be killed and started again at any point.
The landmark faces held out for evaluation (:func:`mtcnn_gluon.data.facepoint.holdout_indices`) are never
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

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from .config import INPUT_SIZE, MiningConfig, PipelineConfig, SamplingConfig, TrainConfig, config_to_dict
from .data.build import build_landmark_records, build_pnet_records
from .data.facepoint import holdout_indices
from .data.records import write_typed_records
from .data.sampling import generate_pnet_samples
from .data.wider import load_wider
from .detector import MTCNNDetector
from .eval.cascade import evaluate_cascade
from .mining import load_mined, mine_hard_examples, stage_recall
from .train import fit
from .utils.device import as_context_list
from .utils.files import write_json

__all__ = ["PipelineConfig", "STEPS", "DATA_SETTINGS", "run_pipeline", "step_data", "step_train", "step_mine",
           "step_evaluate", "publish_cascade", "records_fingerprint"]

STEPS = ("data", "train_pnet", "mine_rnet", "train_rnet", "mine_onet", "train_onet", "evaluate")
#: The settings that make a run's data, with their values in a ``pipeline.json`` that predates them: a run
#: folder keeps them for good (epochs, workers and evaluation may change between resumes).
DATA_SETTINGS = {"seed": None, "wider_limit": None, "landmark_limit": None, "sampling": {}}


def _step_file(out: Path, step: str) -> Path:
    return out / "steps" / f"{step}.json"


def step_data(data_root, out: Path, cfg: PipelineConfig, progress=True) -> dict:
    """PNet's merged record (WIDER crops + 12 px landmarks) and the 24/48 px landmark records."""
    exclude = holdout_indices(data_root)
    pnet = build_pnet_records(data_root, out / "data", sampling=SamplingConfig(**cfg.sampling), seed=cfg.seed,
                              workers=cfg.workers, limit=cfg.wider_limit,
                              landmark_limit=cfg.landmark_limit, exclude=exclude, progress=progress)
    lm = build_landmark_records(data_root, out / "data", sizes=(24, 48), seed=cfg.seed, workers=cfg.workers,
                                limit=cfg.landmark_limit, exclude=exclude, progress=progress)
    return {"pnet_counts": pnet.get("counts"), "landmark_counts": {s: v.get("counts") for s, v in lm.items()}}


def records_fingerprint(records_dir) -> str:
    """SHA-1 of the JSON summaries of the records in ``records_dir`` (settings, counts, and for mined
    records the weights that mined them): it changes whenever the records were rebuilt differently."""
    h = hashlib.sha1()
    for path in sorted(Path(records_dir).glob("*.json")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def step_train(net: str, out: Path, cfg: PipelineConfig, ctx, progress=True) -> dict:
    """Train ``net`` on ``<out>/data/<net>``; copy its weights into ``<out>/cascade``.

    Training resumes from its checkpoints while its records are those it started on; when they were
    rebuilt since (e.g. mined again after the earlier net was retrained), the old run is removed and the
    net trains afresh, so the cascade never mixes a net with data it was not trained on.
    """
    inputs = {"records": records_fingerprint(out / "data" / net)}
    stamp = out / net / "inputs.json"
    if stamp.is_file() and json.loads(stamp.read_text()) != inputs:
        print(f"{out / net}: its records changed since it was trained: training {net} afresh")
        shutil.rmtree(out / net)
    write_json(stamp, inputs)
    tcfg = TrainConfig.preset(net, epochs=cfg.epochs[net], seed=cfg.seed, **cfg.train_overrides.get(net, {}))
    result = fit(out / "data", out / net, tcfg, ctx=ctx, resume=True, progress=progress)
    cascade = out / "cascade"
    cascade.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result.params_path, cascade / f"{net}.params")
    return {"epochs": len(result.metrics), "last": result.metrics[-1] if result.metrics else {},
            "config": tcfg.to_dict()}


def step_mine(stage: str, data_root, out: Path, cfg: PipelineConfig, ctx, progress=True) -> dict:
    """Hard examples for ``stage`` ('rnet' or 'onet') from the earlier nets in ``<out>/cascade``: the typed
    records ``<out>/data/<stage>/{pos,part,neg}.rec`` and the earlier stages' recall on val."""
    stages = ("pnet",) if stage == "rnet" else ("pnet", "rnet")
    det = MTCNNDetector.from_weights(out / "cascade", ctx=ctx, stages=stages)
    wider = load_wider(data_root, "train")
    mcfg = MiningConfig(**cfg.mining)
    summary = mine_hard_examples(det, wider, stage, out / f"mine_{stage}", mcfg, seed=cfg.seed,
                                 limit=cfg.wider_limit, progress=progress)
    crops, labels = load_mined(out / f"mine_{stage}")
    record_summary = {"mining": {k: v for k, v in summary.items() if k != "skipped"}}
    tries = int(cfg.generated_faces.get(stage, 0))
    if tries:
        gen = generate_pnet_samples(wider.images[:cfg.wider_limit] if cfg.wider_limit else wider.images,
                                    wider.image_dir, _generated_sampling(stage, tries, cfg.generated_sampling),
                                    seed=cfg.seed, workers=cfg.workers, progress=progress)
        crops, labels = np.concatenate([crops, gen.images]), np.concatenate([labels, gen.labels])
        summary["generated"] = record_summary["generated"] = {t: n for t, n in gen.counts().items() if n}
    write_typed_records(out / "data" / stage, crops, labels, types=("pos", "part", "neg"), summary=record_summary)
    val = load_wider(data_root, "val")
    summary["val_recall"] = stage_recall(det, val, stage, mcfg, limit=cfg.val_limit, progress=progress)
    write_json(out / f"mine_{stage}" / "mining_summary.json", summary)
    return summary


def _generated_sampling(stage: str, tries: int, changes: dict) -> SamplingConfig:
    """Positive and part crops around every usable face at ``stage``'s input size, with ``changes``
    (``PipelineConfig.generated_sampling``): no negatives (mining gives those, and they are the hard ones)."""
    return SamplingConfig(**{**changes, "size": INPUT_SIZE[stage], "random_negatives": 0, "negatives_near_face": 0,
                             "jitter_tries": tries})


def step_evaluate(data_root, out: Path, cfg: PipelineConfig, ctx, progress=True) -> dict:
    """WIDER FACE AP and landmark NME of ``<out>/cascade`` into ``<out>/eval/``."""
    det = MTCNNDetector.from_weights(out / "cascade", ctx=ctx)
    return evaluate_cascade(det, data_root, out=out / "eval", val_limit=cfg.val_limit,
                            landmark_faces=None if cfg.landmark_eval else 0, label="ours", progress=progress)["summary"]


def run_pipeline(data_root, out, cfg: PipelineConfig = None, ctx=None, until: str | None = None,
                 progress: bool = True) -> dict:
    """Run (or resume) every step up to and including ``until``; returns each step's record."""
    cfg = cfg or PipelineConfig()
    ctx = as_context_list(ctx)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings_path = out / "pipeline.json"
    settings = json.loads(json.dumps(config_to_dict(cfg)))
    if settings_path.is_file():
        old = json.loads(settings_path.read_text())
        if any(old.get(k, d) != settings.get(k) for k, d in DATA_SETTINGS.items()):
            raise ValueError(f"{settings_path}: this run folder was made with other data settings "
                             f"({', '.join(f'{k}={old.get(k, d)}' for k, d in DATA_SETTINGS.items())}); "
                             "use a new --out or delete it")
    write_json(settings_path, settings)
    if until is not None and until not in STEPS:
        raise ValueError(f"unknown step {until!r}; steps: {', '.join(STEPS)}")
    work = {
        "data": lambda: step_data(data_root, out, cfg, progress),
        "train_pnet": lambda: step_train("pnet", out, cfg, ctx, progress),
        "mine_rnet": lambda: step_mine("rnet", data_root, out, cfg, ctx, progress),
        "train_rnet": lambda: step_train("rnet", out, cfg, ctx, progress),
        "mine_onet": lambda: step_mine("onet", data_root, out, cfg, ctx, progress),
        "train_onet": lambda: step_train("onet", out, cfg, ctx, progress),
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
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def publish_cascade(out, dest) -> dict:
    """Copy a finished run's ``cascade/`` to ``dest`` (e.g. the repo's ``pretrained/``) with a JSON card.

    The card (``dest/cascade.json``) says how the cascade was made: pipeline settings, per-net training
    config and final metrics, data counts, mining recall, evaluation results (and the AP per val event),
    seed, code version, and the datasets' research-only terms.
    """
    out, dest = Path(out), Path(dest)
    steps = {s: json.loads(_step_file(out, s).read_text()) for s in STEPS if _step_file(out, s).is_file()}
    missing = [s for s in STEPS if s not in steps]
    if missing:
        raise FileNotFoundError(f"{out}: the run has not finished steps {', '.join(missing)}")
    version = _git_version()  # before the copies below make a tracked dest (the repo's pretrained/) look dirty
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
        "code_version": version,
        "pipeline": json.loads((out / "pipeline.json").read_text()),
        "seed": json.loads((out / "pipeline.json").read_text()).get("seed"),
        "steps": {s: {"seconds": r["seconds"], "summary": r["summary"]} for s, r in steps.items()},
        "terms": DATA_TERMS,
        "licence_of_code": "MIT",
    }
    per_event = out / "eval" / "per_event_ap.json"
    if per_event.is_file():
        card["per_event_ap"] = json.loads(per_event.read_text())
    write_json(dest / "cascade.json", card)
    return card
