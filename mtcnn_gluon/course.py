"""The course: small helpers the notebooks call, and ``run`` that executes every notebook in order.

``python -m mtcnn_gluon course run --run-dir runs/NAME [--data-root ROOT] [--preset smoke|full] [--gpus 0,1]``
executes ``notebooks/00_*.ipynb`` ... ``10_*.ipynb`` through papermill into the run folder. Each notebook
reads what the earlier ones wrote there (layout: :mod:`mtcnn_gluon.pipeline`), so any one of them can be
rerun alone with the same ``run_dir``. Without ``--data-root`` the embedded toy dataset
(:mod:`mtcnn_gluon.data.toy`) is built under ``<run_dir>/toy_data``.

Added to the pipeline's layout::

    config/NN_name.json     each notebook's parameters
    figures/NN_*.png        every figure the notebooks show
    notebooks/NN_*.ipynb    the executed notebooks (with outputs)
    detect/                 notebook 09: detections of each cascade on packaged photos
    compare/                notebook 10: the cascades side by side on the same val images
    index.md                what is where
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import papermill as pm

from .config import PipelineConfig
from .data.toy import build_toy_dataset, packaged_photos
from .detector import MTCNNDetector, detections_to_json, pretrained_dir
from .eval.cascade import evaluate_cascade
from .utils import progress
from .utils.files import write_json

__all__ = ["NOTEBOOKS", "notebooks_dir", "resolve_data_root", "save_params", "figure_path", "pipeline_config",
           "packaged_photos", "available_weights", "detect_photos", "compare_cascades", "write_index",
           "run_course"]

#: The course in order (file stems under ``notebooks/``).
NOTEBOOKS = (
    "00_overview_and_setup",
    "01_explore_wider_and_landmarks",
    "02_generate_pnet_data",
    "03_inspect_samples",
    "04_train_pnet",
    "05_mine_hard_examples_for_rnet",
    "06_train_rnet",
    "07_mine_hard_examples_for_onet",
    "08_train_onet",
    "09_detect_and_visualize",
    "10_evaluate",
)

#: Toy dataset folder inside a run folder, when no data root is given.
TOY_DIR = "toy_data"


def notebooks_dir() -> Path:
    """``notebooks/`` of this repository."""
    return Path(__file__).resolve().parent.parent / "notebooks"


def resolve_data_root(data_root, run_dir, **toy) -> Path:
    """The data root to use: ``data_root`` when given, else the toy dataset built under ``run_dir``.

    Parameters
    ----------
    data_root : str or path
        A folder holding ``WIDER_FACE/`` and ``landmarks/``; empty or None for the toy set.
    run_dir : str or path
    **toy
        Passed to :func:`mtcnn_gluon.data.toy.build_toy_dataset` (``n_train``, ``seed``, ...).
    """
    if data_root:
        root = Path(data_root).expanduser().resolve()
        if not (root / "WIDER_FACE").is_dir():
            raise FileNotFoundError(f"{root}: no WIDER_FACE folder; give the shared data folder, or leave "
                                    "data_root empty for the toy dataset")
        return root
    return build_toy_dataset(Path(run_dir).resolve() / TOY_DIR, **toy)


def save_params(run_dir, name: str, params: dict) -> Path:
    """Write a notebook's parameters to ``<run_dir>/config/<name>.json``; returns the path."""
    return write_json(Path(run_dir) / "config" / f"{name}.json", params)


def figure_path(run_dir, name: str) -> Path:
    """``<run_dir>/figures/<name>.png`` (folder created)."""
    path = Path(run_dir) / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def pipeline_config(preset: str = "smoke", epochs: dict | None = None, steps_per_epoch: int | None = None,
                    **changes):
    """``PipelineConfig.preset(preset)`` with the notebook's changes; ``None`` values keep the preset's.

    ``epochs`` updates the per-net epochs (``{"pnet": 3}``); ``steps_per_epoch`` caps every net's
    epoch (``None``: a full pass).
    """
    cfg = PipelineConfig.preset(preset, **{k: v for k, v in changes.items() if v is not None})
    if epochs:
        cfg = dataclasses.replace(cfg, epochs={**cfg.epochs, **{k: int(v) for k, v in epochs.items() if v}})
    if steps_per_epoch:
        cfg = dataclasses.replace(cfg, train_overrides={net: {**o, "steps_per_epoch": int(steps_per_epoch)}
                                                        for net, o in cfg.train_overrides.items()})
    return cfg


def available_weights(run_dir=None, data_root=None) -> tuple[dict, dict]:
    """The cascades that can be loaded, and why the others cannot.

    Returns
    -------
    found : dict of label to weights
        ``"this run"`` (``<run_dir>/cascade``), ``"pretrained"`` (``pretrained/`` of the repo) and
        ``"reference"`` (the original MTCNN, ``<data_root>/reference_mtcnn``), each when present; the
        values go to :meth:`MTCNNDetector.from_weights`.
    missing : dict of label to reason
    """
    nets = ("pnet.params", "rnet.params", "onet.params")
    found, missing = {}, {}
    candidates = {"this run": Path(run_dir) / "cascade" if run_dir else None,
                  "pretrained": Path(pretrained_dir())}
    for label, folder in candidates.items():
        if folder is None:
            continue
        absent = [n for n in nets if not (folder / n).is_file()]
        if absent:
            missing[label] = f"{folder}: no {', '.join(absent)}"
        else:
            found[label] = str(folder) if label == "this run" else "pretrained"
    ref = Path(data_root) / "reference_mtcnn" if data_root else None
    if ref is not None and (ref / "det1-0001.params").is_file():
        found["reference"] = "reference"
    else:
        missing["reference"] = (f"{ref}: no original MTCNN weights" if ref is not None
                                else "no data root with reference_mtcnn/")
    return found, missing


def detect_photos(weights: dict, photos: dict, data_root=None, ctx=None, **detector) -> dict:
    """Run each cascade on each photo.

    Returns
    -------
    dict
        ``{label: {photo: {"boxes": [[x1, y1, x2, y2, score], ...], "landmarks": [[[x, y] x 5], ...]}}}``.
    """
    out = {}
    for label, w in weights.items():
        det = MTCNNDetector.from_weights(w, ctx=ctx, data_root=data_root, **detector)
        out[label] = {name: detections_to_json(*det.detect(img)) for name, img in photos.items()}
    return out


def compare_cascades(weights: dict, data_root, val_limit: int | None = None, landmark_faces: int | None = 200,
                     ctx=None, progress: bool = False) -> dict:
    """WIDER FACE AP (official protocol) and landmark NME of several cascades on the same images.

    Parameters
    ----------
    weights : dict of label to weights
        As :func:`available_weights` gives.
    val_limit : int, optional
        The first N present val images (None: all).
    landmark_faces : int, optional
        The first N held-out landmark faces (None: all; 0: no landmark evaluation).

    Returns
    -------
    dict of label to ``{"wider": WiderResult, "landmarks": LandmarkResult or None}``
    """
    results = {}
    for label, w in weights.items():
        det = MTCNNDetector.from_weights(w, ctx=ctx, data_root=data_root)
        r = evaluate_cascade(det, data_root, val_limit=val_limit, landmark_faces=landmark_faces, progress=progress)
        results[label] = {"wider": r["wider"], "landmarks": r["landmarks"]}
    return results


def write_index(run_dir, timings: dict | None = None) -> Path:
    """``<run_dir>/index.md``: the executed notebooks, figures, cascade, metrics and configs, linked."""
    run_dir = Path(run_dir)
    lines = [f"# Course run `{run_dir.name}`", ""]
    settings = run_dir / "course.json"
    if settings.is_file():
        s = json.loads(settings.read_text())
        lines += [f"Preset `{s.get('preset')}`, data `{s.get('data_root') or 'toy dataset (' + TOY_DIR + '/)'}`, "
                  f"GPUs `{s.get('gpus') or 'none (CPU)'}`.", ""]
    lines += ["## Notebooks", "", "| notebook | seconds |", "|---|---|"]
    for nb in sorted((run_dir / "notebooks").glob("*.ipynb")):
        sec = (timings or {}).get(nb.stem, "")
        lines.append(f"| [{nb.stem}](notebooks/{nb.name}) | {sec} |")
    sections = [("Figures", "figures/*.png", True), ("Cascade", "cascade/*.params", False),
                ("Training metrics", "*/metrics.csv", False), ("Evaluation", "eval/*", False),
                ("Comparison", "compare/*", False), ("Detections", "detect/*", False),
                ("Records", "data/*/*.rec", False), ("Configs", "config/*.json", False)]
    for title, pattern, image in sections:
        paths = sorted(run_dir.glob(pattern))
        if not paths:
            continue
        lines += ["", f"## {title}", ""]
        for p in paths:
            rel = p.relative_to(run_dir).as_posix()
            lines += [f"![{p.stem}]({rel})", ""] if image else [f"- [{rel}]({rel})"]
    path = run_dir / "index.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_course(run_dir, data_root=None, preset: str = "smoke", gpus: str = "", notebooks=None,
               kernel_name: str = "python3", parameters: dict | None = None, log_output: bool = False) -> dict:
    """Execute the notebooks in order with papermill into ``run_dir``; returns seconds per notebook.

    Parameters
    ----------
    run_dir : path
        Created; executed notebooks go to ``<run_dir>/notebooks/``.
    data_root : path, optional
        Shared data folder; empty for the toy dataset.
    preset : {'smoke', 'full'}
    gpus : str
        ``'0,1'`` trains and detects on those GPUs; empty: CPU.
    notebooks : sequence of str, optional
        Stems to run (default all of :data:`NOTEBOOKS`, in order).
    parameters : dict, optional
        More parameters for every notebook (each notebook receives only those it declares).
    """
    run_dir = Path(run_dir).resolve()
    (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    src = notebooks_dir()
    common = {"preset": preset, "data_root": str(Path(data_root).resolve()) if data_root else "",
              "run_dir": str(run_dir), "gpus": gpus or "", **(parameters or {})}
    write_json(run_dir / "course.json", {**common, "notebooks": list(notebooks or NOTEBOOKS)})
    timings = {}
    # the kernels inherit this process's environment: text progress bars, readable in the executed notebooks
    before = os.environ.get(progress.ENV)
    os.environ.setdefault(progress.ENV, "text")
    try:
        for stem in notebooks or NOTEBOOKS:
            path = src / f"{stem}.ipynb"
            declared = pm.inspect_notebook(str(path))
            params = {k: v for k, v in common.items() if k in declared}
            print(f"[course] {stem}: running", flush=True)
            t0 = time.time()
            pm.execute_notebook(str(path), str(run_dir / "notebooks" / path.name), parameters=params,
                                kernel_name=kernel_name, cwd=str(src), progress_bar=False, log_output=log_output)
            timings[stem] = round(time.time() - t0, 1)
            print(f"[course] {stem}: {timings[stem]:.0f} s", flush=True)
            write_json(run_dir / "course_timings.json", timings)
    finally:
        if before is None:
            os.environ.pop(progress.ENV, None)
    write_index(run_dir, timings)
    return timings
