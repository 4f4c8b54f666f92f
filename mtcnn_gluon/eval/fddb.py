"""FDDB-style evaluation: :func:`fddb_roc` gives the discrete ROC (true positive rate against the number of false
positives) of FDDB's protocol with the ellipses replaced by their bounding boxes (see
:mod:`mtcnn_gluon.data.fddb`): per image a one-to-one matching that maximises the total
overlap, a matched pair with IoU ``> 0.5`` is a true positive.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..utils.boxes import iou_matrix
from ..utils.progress import tqdm
from .wider import as_detections

__all__ = ["FddbRoc", "fddb_roc", "tpr_at_fp"]


@dataclass
class FddbRoc:
    """Discrete ROC: one point per distinct score threshold, highest first.

    Attributes
    ----------
    thresholds : ndarray, shape (K,)
    tp, fp : ndarray of int, shape (K,)
        True and false positives among detections with score ``>= threshold``.
    tpr : ndarray, shape (K,)
        ``tp / n_faces``.
    n_faces : int
    """

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    tpr: np.ndarray
    n_faces: int


def _fddb_true_positives(det, gt, iou_thresh) -> int:
    if len(det) == 0 or len(gt) == 0:
        return 0
    ov = iou_matrix(det[:, :4], gt)
    ov = np.where(ov > iou_thresh, ov, 0.0)  # only pairs above threshold can score
    rows, cols = linear_sum_assignment(ov, maximize=True)
    return int(np.sum(ov[rows, cols] > iou_thresh))


def fddb_roc(detections: Mapping[str, np.ndarray], ground_truth: Mapping[str, np.ndarray],
             iou_thresh: float = 0.5, progress: bool = False) -> FddbRoc:
    """FDDB discrete ROC with boxes: true positive rate against the number of false positives.

    For each threshold, in each image, the detections with score ``>= threshold`` are matched one
    to one to the faces so that the total IoU is largest (Hungarian algorithm); a matched pair
    with IoU ``> iou_thresh`` is a true positive, every other detection a false positive.

    Parameters
    ----------
    detections : mapping of image name to array_like, shape (N, 5)
        ``x1, y1, x2, y2, score``, MTCNN convention. Images absent here have no detections.
    ground_truth : mapping of image name to array_like, shape (M, 4)
        Face boxes in the same convention (e.g. from
        :func:`mtcnn_gluon.data.fddb.load_fddb_ground_truth`). Detections of images not
        listed here are an error.
    iou_thresh : float
    progress : bool

    Returns
    -------
    FddbRoc
    """
    unknown = set(detections) - set(ground_truth)
    if unknown:
        raise KeyError(f"{len(unknown)} detected images have no annotation, e.g. {sorted(unknown)[0]}")
    n_faces = int(sum(len(np.asarray(g).reshape(-1, 4)) for g in ground_truth.values()))
    ev_scores, ev_tp, ev_fp = [], [], []
    for name in tqdm(sorted(detections), desc="FDDB ROC", disable=not progress):
        det = as_detections(detections[name], name)
        gt = np.asarray(ground_truth[name], dtype=np.float64).reshape(-1, 4)
        det = det[np.argsort(-det[:, 4], kind="stable")]
        prev_tp = prev_n = 0
        # an image's result only changes at its own scores: one matching per distinct score
        for s in np.unique(det[:, 4])[::-1]:
            n = int(np.sum(det[:, 4] >= s))
            tp = _fddb_true_positives(det[:n], gt, iou_thresh)
            ev_scores.append(s)
            ev_tp.append(tp - prev_tp)
            ev_fp.append((n - tp) - (prev_n - prev_tp))
            prev_tp, prev_n = tp, n
    if not ev_scores:
        z = np.zeros(0)
        return FddbRoc(thresholds=z, tp=z.astype(int), fp=z.astype(int), tpr=z, n_faces=n_faces)
    ev_scores = np.asarray(ev_scores)
    thresholds, inverse = np.unique(-ev_scores, return_inverse=True)
    tp = np.cumsum(np.bincount(inverse, weights=ev_tp)).astype(np.int64)
    fp = np.cumsum(np.bincount(inverse, weights=ev_fp)).astype(np.int64)
    tpr = tp / n_faces if n_faces else np.full(len(tp), np.nan)
    return FddbRoc(thresholds=-thresholds, tp=tp, fp=fp, tpr=tpr, n_faces=n_faces)


def tpr_at_fp(roc: FddbRoc, n_fp: int) -> float:
    """Highest true positive rate with at most ``n_fp`` false positives (0 if none qualifies)."""
    ok = roc.fp <= n_fp
    return float(roc.tpr[ok].max()) if np.any(ok) else 0.0
