"""The one evaluation flow: detect on the WIDER val images → predictions → WIDER FACE AP → landmark NME.

:func:`evaluate_cascade` is what ``python -m mtcnn_gluon eval``, the pipeline's ``evaluate`` step and the
course's comparison of cascades run, so the three report the same numbers for the same cascade.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.facepoint import holdout_indices
from ..detector import MTCNNDetector, detect_files, predict_landmarks
from ..utils.files import write_json
from ..viz import plot_pr_curves
from .landmarks import evaluate_landmarks
from .predictions import write_wider_predictions
from .wider import WiderGroundTruth, evaluate_wider, load_wider_gt, present_val_images, val_image_file, wider_key

__all__ = ["evaluate_cascade", "per_event_ap"]


def evaluate_cascade(detector: MTCNNDetector, data_root, out=None, val_limit: int | None = None,
                     landmark_faces: int | None = None, label: str = "MTCNN", settings: dict | None = None,
                     progress: bool = True) -> dict:
    """Score a cascade with the official WIDER FACE protocol and the landmark NME.

    Parameters
    ----------
    detector : MTCNNDetector
    data_root : path
        Holds ``WIDER_FACE/`` (val images and ``eval_tools/ground_truth``) and ``landmarks/``.
    out : path, optional
        When given, receives ``predictions.json`` (detections JSON, with ``settings``),
        ``wider_predictions/`` (the official text layout), ``wider_ap.json``, ``pr_curves.png``,
        ``landmarks.json``, ``summary.json`` (``{"wider": ..., "landmarks": ...}``) and ``per_event_ap.json``
        (:func:`per_event_ap`).
    val_limit : int, optional
        Only the first N present val images (None: all).
    landmark_faces : int, optional
        The first N held-out landmark faces (None: all 1,000; 0: no landmark evaluation).
    label : str
        Legend of the PR curves.
    settings : dict, optional
        Added to the detector's settings in ``predictions.json`` (e.g. the weights' name).

    Returns
    -------
    dict
        ``{"wider": WiderResult, "landmarks": LandmarkResult or None, "summary": their JSON (as summary.json),
        "predictions": detections, "skipped": {path: reason}}``.
    """
    keys = present_val_images(data_root)
    keys = keys[:val_limit] if val_limit else keys
    found = detect_files(detector, [val_image_file(k) for k in keys], root=data_root, progress=progress)
    preds = {k: np.asarray(v["boxes"], float).reshape(-1, 5) for k, v in found["images"].items()}
    gt = load_wider_gt(Path(data_root) / "WIDER_FACE" / "eval_tools" / "ground_truth")  # read once, used twice
    wider = evaluate_wider(preds, gt, images=keys)
    landmarks = None
    if landmark_faces != 0:
        held = holdout_indices(data_root)
        landmarks = evaluate_landmarks(lambda imgs, boxes: predict_landmarks(detector, imgs, boxes), data_root,
                                       indices=held[:landmark_faces] if landmark_faces else held,
                                       progress=progress)
    summary = {"wider": wider.to_dict()}
    if landmarks is not None:
        summary["landmarks"] = landmarks.to_dict()
    if out is not None:
        out = Path(out)
        write_json(out / "predictions.json", {"settings": {**detector.settings(), **(settings or {})},
                                              "images": found["images"], "skipped": found["skipped"]})
        write_wider_predictions(preds, out / "wider_predictions")
        write_json(out / "wider_ap.json", wider.to_dict())
        plot_pr_curves(wider, label=label, path=out / "pr_curves.png")
        if landmarks is not None:
            write_json(out / "landmarks.json", summary["landmarks"])
        write_json(out / "summary.json", summary)
        write_json(out / "per_event_ap.json", per_event_ap(preds, gt, keys))
    return {"wider": wider, "landmarks": landmarks, "summary": summary, "predictions": found["images"],
            "skipped": found["skipped"]}


def per_event_ap(predictions, gt, images) -> dict:
    """The AP of each WIDER event (``"0--Parade"``, ...) over its images among ``images``, by the official
    protocol applied to that event's images alone (scores min-max normalised within the event, as the official
    tool does for whatever set it is given): ``{event: {"images": n, "faces": {setting: n}, "ap": {setting:
    AP or None}}}``, events in the ground truth's order. ``predictions`` may be keyed by any path ending in
    ``<event>/<name>`` (:func:`mtcnn_gluon.eval.wider.wider_key`). Events with few images give noisy APs;
    ``faces`` says how many each rests on, and a setting without faces has AP None. ``gt``: a
    :class:`~mtcnn_gluon.eval.wider.WiderGroundTruth`, or a data root holding ``WIDER_FACE/eval_tools/ground_truth``."""
    if not isinstance(gt, WiderGroundTruth):
        gt = load_wider_gt(Path(gt) / "WIDER_FACE" / "eval_tools" / "ground_truth")
    by_key = {wider_key(k): v for k, v in predictions.items()}
    wanted = {wider_key(k) for k in images}
    events = {}
    for key in gt.keys:  # the official order
        if key in wanted:
            events.setdefault(key.split("/")[0], []).append(key)
    out = {}
    for event, keys in events.items():
        r = evaluate_wider({k: by_key.get(k, np.zeros((0, 5))) for k in keys}, gt, images=keys)
        out[event] = {"images": len(keys), "faces": dict(r.n_faces),
                      "ap": {s: None if np.isnan(v) else float(v) for s, v in r.ap.items()}}
    return out
