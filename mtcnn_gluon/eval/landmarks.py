"""Landmark accuracy: point error normalised by the inter-ocular distance (NME), on held-out faces.

:func:`landmark_nme` gives the mean point error normalised by the inter-ocular distance (the
distance between the two eye points of the truth), per point and overall, and the failure rate
(faces whose mean normalised error exceeds 10 %). The held-out faces are fixed by
:func:`mtcnn_gluon.data.facepoint.landmark_split`; :func:`evaluate_landmarks` runs a predictor on them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..data.facepoint import landmark_list, landmark_split, parse_facepoint_list
from ..utils.images import read_image
from ..utils.labels import POINT_NAMES
from ..utils.progress import tqdm

__all__ = ["LandmarkResult", "landmark_errors", "landmark_nme", "evaluate_landmarks"]


def landmark_errors(pred, truth) -> np.ndarray:
    """Point errors normalised by the inter-ocular distance of the truth.

    Parameters
    ----------
    pred, truth : array_like, shape (N, 5, 2)
        Points in the same frame; truth points 0 and 1 are the eyes.

    Returns
    -------
    ndarray, shape (N, 5)
        ``|pred - truth| / |truth[:, 1] - truth[:, 0]|``.
    """
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if pred.shape != truth.shape or pred.ndim != 3 or pred.shape[1:] != (5, 2):
        raise ValueError(f"expected pred and truth of shape (N, 5, 2), got {pred.shape} and {truth.shape}")
    iod = np.linalg.norm(truth[:, 1] - truth[:, 0], axis=1)
    if np.any(iod <= 0):
        raise ValueError(f"inter-ocular distance is 0 for faces {np.flatnonzero(iod <= 0)[:10].tolist()}")
    return np.linalg.norm(pred - truth, axis=2) / iod[:, None]


@dataclass
class LandmarkResult:
    """Landmark accuracy.

    Attributes
    ----------
    nme : float
        Mean normalised error over all faces and points.
    nme_per_point : ndarray, shape (5,)
        Left eye, right eye, nose, left mouth, right mouth.
    failure_rate : float
        Share of faces whose mean normalised error exceeds ``fail_thresh``.
    fail_thresh : float
    errors : ndarray, shape (N, 5)
        Normalised errors per face and point.
    indices : ndarray of int, shape (N,), optional
        Which faces of the list were evaluated.
    """

    nme: float
    nme_per_point: np.ndarray
    failure_rate: float
    fail_thresh: float
    errors: np.ndarray
    indices: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.errors)

    def to_dict(self) -> dict:
        """JSON-ready summary (no per-face errors)."""
        return {"nme": self.nme, "nme_per_point": [float(v) for v in self.nme_per_point],
                "failure_rate": self.failure_rate, "n_faces": int(len(self.errors))}

    def summary(self) -> str:
        per = ", ".join(f"{a} {b:.2%}" for a, b in zip(POINT_NAMES, self.nme_per_point))
        return (f"NME {self.nme:.2%} over {self.n} faces ({per}); "
                f"failure rate at {self.fail_thresh:.0%}: {self.failure_rate:.2%}")


def landmark_nme(pred, truth, fail_thresh: float = 0.1) -> LandmarkResult:
    """NME per point and overall, and the failure rate, of predicted landmarks.

    Parameters
    ----------
    pred, truth : array_like, shape (N, 5, 2)
    fail_thresh : float
        A face fails when its mean normalised error is above this.
    """
    err = landmark_errors(pred, truth)
    if len(err) == 0:
        raise ValueError("no faces to evaluate")
    return LandmarkResult(nme=float(err.mean()), nme_per_point=err.mean(axis=0),
                          failure_rate=float(np.mean(err.mean(axis=1) > fail_thresh)),
                          fail_thresh=fail_thresh, errors=err)


def evaluate_landmarks(predict: Callable, data_root, indices=None, batch_size: int = 256,
                       fail_thresh: float = 0.1, progress: bool = True) -> LandmarkResult:
    """Run a landmark predictor on (by default) the held-out faces of the landmark set.

    Parameters
    ----------
    predict : callable
        ``predict(images, boxes) -> (N, 5, 2)``: ``images`` a list of ``uint8`` BGR ``(H, W, 3)``
        arrays, ``boxes`` an ``(N, 4)`` array ``(left, top, right, bottom)`` of the faces in them;
        points returned in image pixels.
    data_root : path
        Holds ``landmarks/trainImageList.txt`` and the images.
    indices : array_like of int, optional
        Faces to evaluate, as positions in the list (the order of
        :func:`mtcnn_gluon.data.facepoint.parse_facepoint_list`); default the held-out part of
        ``landmark_split(n)``.
    batch_size : int
    fail_thresh : float
    progress : bool

    Returns
    -------
    LandmarkResult
    """
    list_file = landmark_list(data_root)
    folder = list_file.parent
    faces = parse_facepoint_list(list_file)
    if indices is None:
        indices = landmark_split(len(faces))[1]
    indices = np.asarray(indices, dtype=np.int64).ravel()
    boxes = np.stack([f.box for f in faces]) if faces else np.zeros((0, 4))
    points = np.stack([f.points for f in faces]) if faces else np.zeros((0, 5, 2))
    preds = []
    for start in tqdm(range(0, len(indices), batch_size), desc="landmarks", disable=not progress):
        idx = indices[start:start + batch_size]
        images = [read_image(folder / faces[i].name) for i in idx]
        out = np.asarray(predict(images, boxes[idx].copy()), dtype=np.float64)
        if out.shape != (len(idx), 5, 2):
            raise ValueError(f"predict returned shape {out.shape}, expected {(len(idx), 5, 2)}")
        preds.append(out)
    pred = np.concatenate(preds) if preds else np.zeros((0, 5, 2))
    result = landmark_nme(pred, points[indices], fail_thresh)
    result.indices = indices
    return result
