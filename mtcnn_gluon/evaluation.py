"""Evaluation: the official WIDER FACE protocol, landmark NME, FDDB-style discrete ROC.

WIDER FACE
----------
:func:`evaluate_wider` re-implements the official MATLAB ``eval_tools`` (``wider_eval.m``,
``norm_score.m``, ``evaluation.m``, ``boxoverlap.m``, ``plot/VOCap.m``) rule for rule:

1. Scores are min-max normalised over *all* detections of the run (the evaluated images).
2. In each image the detections are sorted by score (descending, stable) and each one, in that
   order, is matched to the face of highest overlap (the first such face on ties). At overlap
   ``>= 0.5``: a face that is not in the setting's list ("easy", "medium", "hard") makes the
   detection neither a hit nor a false positive (it is ignored); a listed face not yet found
   becomes found; a listed face already found leaves the detection a false positive.
   There is no one-to-one assignment: a detection whose best face is taken does not fall back
   on its second-best face.
3. For 1000 thresholds ``1 - t / 1000`` (t = 1..1000) each image contributes the number of
   non-ignored detections with normalised score ``>= thresh`` and the number of listed faces they
   found; sums over images give precision (hits / proposals, NaN where 0 / 0) and recall
   (hits / listed faces of all evaluated images, found or not).
4. AP is VOC's all-points area under the precision envelope (NaN precision is skipped by the
   running maximum, as MATLAB's ``max`` skips NaN).

Box convention of the official code: ``x y w h`` becomes ``(x, y, x + w, y + h)`` (no ``- 1``)
and overlaps use ``+ 1`` widths, so every box is one pixel larger than its ``w``; both the
ground truth and the detections get the same treatment. Our detector's boxes use the original
MTCNN convention (``x2`` inclusive, ``w = x2 - x1 + 1``; see :mod:`mtcnn_gluon.boxes`), so they are
converted with ``w = x2 - x1 + 1`` before any of this, exactly as the official ``.txt`` layout
would carry them.

Deviations, both where the official code gives nothing usable: (a) the official code evaluates
all 3,226 val images and counts the faces of images without a prediction file; here only the
evaluated images count (``images=``, by default the images that have predictions), so a partial
copy of the data gives a meaningful number; (b) when every score is equal the official
normalisation divides 0 by 0 (every score NaN, AP 0); here every score becomes 1.

Landmarks
---------
:func:`landmark_nme` gives the mean point error normalised by the inter-ocular distance (the
distance between the two eye points of the truth), per point and overall, and the failure rate
(faces whose mean normalised error exceeds 10 %). :func:`landmark_split` fixes a held-out part of
the CNN_FacePoint training list; :func:`evaluate_landmarks` runs a predictor on it.

FDDB
----
:func:`fddb_roc` gives the discrete ROC (true positive rate against the number of false
positives) of FDDB's protocol with the ellipses replaced by their bounding boxes (see
:mod:`mtcnn_gluon.datasets.fddb`): per image a one-to-one matching that maximises the total
overlap, a matched pair with IoU ``> 0.5`` is a true positive.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

__all__ = [
    "WIDER_SETTINGS", "WIDER_IOU_THRESH", "WIDER_THRESH_NUM",
    "WiderGroundTruth", "WiderResult", "load_wider_gt", "wider_key", "present_val_images",
    "official_overlap", "normalize_scores", "match_image", "image_pr_info", "voc_ap",
    "evaluate_wider", "score_predictions_json", "plot_pr_curves",
    "write_wider_predictions", "read_wider_predictions",
    "LANDMARK_HOLDOUT", "LANDMARK_SEED", "LandmarkResult", "landmark_split", "landmark_errors",
    "landmark_nme", "evaluate_landmarks",
    "FddbRoc", "fddb_roc", "tpr_at_fp",
]

WIDER_SETTINGS = ("easy", "medium", "hard")
WIDER_IOU_THRESH = 0.5  # official IoU_thresh
WIDER_THRESH_NUM = 1000  # official thresh_num
_GT_SUBDIR = ("WIDER_FACE", "eval_tools", "ground_truth")


# ----------------------------------------------------------------------------------------------
# WIDER FACE ground truth
# ----------------------------------------------------------------------------------------------
@dataclass
class WiderGroundTruth:
    """The official val ground truth, keyed by ``"<event>/<name>"`` (name without ``.jpg``).

    Attributes
    ----------
    keys : list of str
        All val images in the official event / file order (3,226 for the official files).
    boxes : dict of str to ndarray, shape (M, 4)
        Faces as official ``x y w h`` (float64). An image without faces may hold one all-zero box,
        as the official file does.
    keep : dict of str to dict of str to ndarray, shape (K,)
        ``keep[setting][key]``: 0-based indices into ``boxes[key]`` of the faces that count in
        that setting (the official ``gt_list``, which is 1-based).
    """

    keys: list
    boxes: dict
    keep: dict

    def n_faces(self, setting: str, keys: Iterable[str] | None = None) -> int:
        """Faces that count in ``setting`` over ``keys`` (default: all images)."""
        keys = self.keys if keys is None else keys
        return int(sum(len(self.keep[setting][k]) for k in keys))


def _mat_str(cell) -> str:
    return str(np.asarray(cell).ravel()[0])


def load_wider_gt(gt_dir, settings: Sequence[str] = WIDER_SETTINGS) -> WiderGroundTruth:
    """Load ``wider_face_val.mat`` and ``wider_<setting>_val.mat`` (scipy.io.loadmat).

    Parameters
    ----------
    gt_dir : path
        The official ``eval_tools/ground_truth`` folder.
    settings : sequence of str
        Which setting files to read.

    Returns
    -------
    WiderGroundTruth
    """
    from scipy.io import loadmat

    gt_dir = Path(gt_dir)
    face_path = gt_dir / "wider_face_val.mat"
    if not face_path.is_file():
        raise FileNotFoundError(f"{face_path}: official WIDER FACE ground truth not found")
    mat = loadmat(str(face_path))
    events = [_mat_str(e) for e in mat["event_list"].ravel()]
    keys, boxes = [], {}
    for i, event in enumerate(events):
        files = mat["file_list"][i, 0].ravel()
        bbxs = mat["face_bbx_list"][i, 0].ravel()
        if len(files) != len(bbxs):
            raise ValueError(f"{face_path}: event {event}: {len(files)} files but {len(bbxs)} box lists")
        for name, bbx in zip(files, bbxs):
            key = f"{event}/{_mat_str(name)}"
            keys.append(key)
            boxes[key] = np.asarray(bbx, dtype=np.float64).reshape(-1, 4)
    keep = {}
    for setting in settings:
        path = gt_dir / f"wider_{setting}_val.mat"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: official WIDER FACE setting file not found")
        smat = loadmat(str(path))
        s_events = [_mat_str(e) for e in smat["event_list"].ravel()]
        if s_events != events:
            raise ValueError(f"{path}: event list differs from {face_path}")
        keep[setting] = {}
        for i, event in enumerate(events):
            files = smat["file_list"][i, 0].ravel()
            lists = smat["gt_list"][i, 0].ravel()
            for name, idx in zip(files, lists):
                key = f"{event}/{_mat_str(name)}"
                if key not in boxes:
                    raise ValueError(f"{path}: image {key} is not in {face_path}")
                # gt_list is 1-based and stored in the smallest integer type: widen before use
                idx = np.asarray(idx, dtype=np.int64).ravel() - 1
                if idx.size and (idx.min() < 0 or idx.max() >= len(boxes[key])):
                    raise ValueError(f"{path}: image {key}: face index out of range")
                keep[setting][key] = idx
        missing = set(boxes) - set(keep[setting])
        if missing:
            raise ValueError(f"{path}: {len(missing)} images of {face_path} missing, e.g. {sorted(missing)[0]}")
    return WiderGroundTruth(keys=keys, boxes=boxes, keep=keep)


def wider_key(path) -> str:
    """``"<event>/<name>"`` for any path to a WIDER image or prediction file.

    ``WIDER_FACE/WIDER_val/images/0--Parade/0_Parade_marchingband_1_465.jpg``,
    ``0--Parade/0_Parade_marchingband_1_465.txt`` and ``0--Parade\\0_Parade_marchingband_1_465``
    all give ``"0--Parade/0_Parade_marchingband_1_465"``. Whether it is a val image is up to the
    caller (look the key up in :class:`WiderGroundTruth`).
    """
    s = os.fspath(path).replace("\\", "/")
    parts = PurePosixPath(s).parts
    if len(parts) < 2:
        raise ValueError(f"{path}: expected '<event>/<name>' at the end of the path")
    name = parts[-1]
    if name.lower().endswith((".jpg", ".jpeg", ".png", ".txt")):
        name = name.rsplit(".", 1)[0]
    return f"{parts[-2]}/{name}"


def present_val_images(data_root) -> list:
    """Keys ``"<event>/<name>"`` of the val images present under ``WIDER_FACE/WIDER_val/images``."""
    root = Path(data_root) / "WIDER_FACE" / "WIDER_val" / "images"
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no WIDER val images folder")
    return sorted(f"{p.parent.name}/{p.stem}" for p in root.glob("*/*.jpg"))


# ----------------------------------------------------------------------------------------------
# The official protocol, one rule per function
# ----------------------------------------------------------------------------------------------
def official_overlap(gt_xyxy, box) -> np.ndarray:
    """Overlap of many ground-truth boxes with one detection, as the official ``boxoverlap.m``.

    Parameters
    ----------
    gt_xyxy : array_like, shape (M, 4)
        ``(x, y, x + w, y + h)`` (the official conversion, no ``- 1``).
    box : array_like, shape (4,)
        The detection, converted the same way.

    Returns
    -------
    ndarray, shape (M,)
        ``inter / (area_a + area_b - inter)`` with ``+ 1`` widths; 0 where the boxes do not
        intersect (``w <= 0`` or ``h <= 0``).
    """
    b = np.asarray(box, dtype=np.float64).reshape(1, 4)
    o = _overlap_xyxy(b, np.asarray(gt_xyxy, dtype=np.float64).reshape(-1, 4))[0]
    return np.where(np.isneginf(o), np.nan, o)


def _overlap_xyxy(d: np.ndarray, g: np.ndarray) -> np.ndarray:
    """(N, M) official overlaps of boxes ``d`` (N, 4) with ``g`` (M, 4), both ``(x, y, x + w, y + h)``."""
    w = np.minimum(d[:, None, 2], g[None, :, 2]) - np.maximum(d[:, None, 0], g[None, :, 0]) + 1
    h = np.minimum(d[:, None, 3], g[None, :, 3]) - np.maximum(d[:, None, 1], g[None, :, 1]) + 1
    inter = w * h
    area_d = (d[:, 2] - d[:, 0] + 1) * (d[:, 3] - d[:, 1] + 1)
    area_g = (g[:, 2] - g[:, 0] + 1) * (g[:, 3] - g[:, 1] + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        o = inter / (area_d[:, None] + area_g[None, :] - inter)
    o[(w <= 0) | (h <= 0)] = 0.0
    # MATLAB's max skips NaN (only possible with degenerate negative-size boxes)
    o[np.isnan(o)] = -np.inf
    return o


def _overlap_matrix(det_xywh: np.ndarray, gt_xywh: np.ndarray) -> np.ndarray:
    """(N, M) official overlaps, detections x faces, both given as official ``x y w h``."""
    d = det_xywh[:, :4].astype(np.float64).copy()
    g = gt_xywh[:, :4].astype(np.float64).copy()
    d[:, 2:] += d[:, :2]
    g[:, 2:] += g[:, :2]
    return _overlap_xyxy(d, g)


def normalize_scores(predictions: Mapping[str, np.ndarray]) -> dict:
    """Min-max normalise column 4 over all detections of all images (official ``norm_score.m``).

    As in the official code the running maximum starts at ``realmin('single')`` and the minimum
    at ``realmax('single')``. Where every score is equal the result is 1 (the official code
    divides 0 by 0 there).

    Parameters
    ----------
    predictions : mapping of key to ndarray, shape (N, 5)

    Returns
    -------
    dict of key to ndarray, shape (N, 5)
        Copies with the normalised score in column 4.
    """
    hi, lo = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
    for p in predictions.values():
        if len(p):
            hi = max(hi, float(np.max(p[:, 4])))
            lo = min(lo, float(np.min(p[:, 4])))
    out = {}
    for k, p in predictions.items():
        q = np.array(p, dtype=np.float64).reshape(-1, 5)
        if len(q):
            q[:, 4] = (q[:, 4] - lo) / (hi - lo) if hi > lo else 1.0
        out[k] = q
    return out


def match_image(det_xywh, gt_xywh, keep, iou_thresh: float = WIDER_IOU_THRESH):
    """Match one image's detections to its faces (official ``image_evaluation``).

    Parameters
    ----------
    det_xywh : array_like, shape (N, 4) or (N, 5)
        Detections as official ``x y w h``, **already sorted** by descending score.
    gt_xywh : array_like, shape (M, 4)
        Faces as official ``x y w h``.
    keep : array_like of int, shape (K,)
        0-based indices of the faces that count in the setting; the others are ignored.
    iou_thresh : float
        A detection matches its best face when the overlap is ``>= iou_thresh``.

    Returns
    -------
    pred_recall : ndarray of int, shape (N,)
        Number of counted faces found by detections ``0..h``.
    proposal : ndarray of bool, shape (N,)
        False for detections whose best face (overlap ``>= iou_thresh``) is ignored; these are
        neither hits nor false positives.
    """
    det = np.asarray(det_xywh, dtype=np.float64).reshape(len(det_xywh), -1)
    gt = np.asarray(gt_xywh, dtype=np.float64).reshape(-1, 4)
    n = len(det)
    if n == 0 or len(gt) == 0:
        return np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    counted = np.zeros(len(gt), dtype=bool)
    counted[np.asarray(keep, dtype=np.int64)] = True
    ov = _overlap_matrix(det, gt)
    best = np.argmax(ov, axis=1)  # first face on ties, like MATLAB's max
    matched = ov[np.arange(n), best] >= iou_thresh
    proposal = ~(matched & ~counted[best])
    hit = matched & counted[best]
    # a face is found once: only its first hit raises the recall, later ones stay false positives
    first = np.zeros(n, dtype=bool)
    hit_idx = np.flatnonzero(hit)
    _, first_pos = np.unique(best[hit_idx], return_index=True)
    first[hit_idx[first_pos]] = True
    return np.cumsum(first), proposal


def _thresholds(thresh_num: int = WIDER_THRESH_NUM) -> np.ndarray:
    return 1 - np.arange(1, thresh_num + 1) / thresh_num


def image_pr_info(scores, proposal, pred_recall, thresh_num: int = WIDER_THRESH_NUM) -> np.ndarray:
    """Per-threshold proposals and hits of one image (official ``image_pr_info``).

    Parameters
    ----------
    scores : array_like, shape (N,)
        Normalised scores, sorted descending.
    proposal, pred_recall : ndarray, shape (N,)
        From :func:`match_image`.
    thresh_num : int

    Returns
    -------
    ndarray, shape (thresh_num, 2)
        Column 0: detections with score ``>= 1 - t / thresh_num`` that are not ignored;
        column 1: counted faces they found.
    """
    s = np.asarray(scores, dtype=np.float64)
    thresh = _thresholds(thresh_num)
    # detections are sorted, so those with score >= thresh are a prefix; its length:
    r = np.searchsorted(-s, -thresh, side="right")
    cum_prop = np.concatenate([[0], np.cumsum(proposal)])
    cum_rec = np.concatenate([[0], np.asarray(pred_recall)])
    return np.stack([cum_prop[r], cum_rec[r]], axis=1).astype(np.float64)


def voc_ap(recall, precision) -> float:
    """VOC all-points average precision (official ``VOCap.m``).

    Parameters
    ----------
    recall, precision : array_like, shape (T,)
        In threshold order (recall non-decreasing). NaN precision is skipped by the running
        maximum, as MATLAB's ``max`` does.
    """
    mrec = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64), [1.0]])
    mpre = np.concatenate([[0.0], np.asarray(precision, dtype=np.float64), [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = np.fmax(mpre[i], mpre[i + 1])
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


# ----------------------------------------------------------------------------------------------
# Evaluation entry points
# ----------------------------------------------------------------------------------------------
@dataclass
class WiderResult:
    """Outcome of :func:`evaluate_wider`.

    Attributes
    ----------
    ap : dict of setting to float
    n_images : dict of setting to int
        Evaluated images (the same for every setting).
    n_images_with_faces : dict of setting to int
        Evaluated images holding at least one face that counts in the setting.
    n_faces : dict of setting to int
        Faces that count in the setting over the evaluated images (the recall denominator).
    n_detections : int
        Detections over the evaluated images.
    thresholds : ndarray, shape (1000,)
        ``1 - t / 1000``, t = 1..1000.
    precision, recall : dict of setting to ndarray, shape (1000,)
        The official ``pr_cruve`` columns (precision NaN where nothing is proposed).
    skipped : list of str
        Prediction keys that are not val images (e.g. other photos), left out and reported.
    """

    ap: dict
    n_images: dict
    n_images_with_faces: dict
    n_faces: dict
    n_detections: int
    thresholds: np.ndarray
    precision: dict
    recall: dict
    skipped: list = field(default_factory=list)

    def summary(self) -> str:
        """One line per setting: AP, images, faces."""
        lines = [f"{s:6s} AP {self.ap[s]:.4f}  ({self.n_images[s]} images, "
                 f"{self.n_images_with_faces[s]} with faces, {self.n_faces[s]} faces)" for s in self.ap]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} predictions that are not WIDER val images")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready summary (curves as lists, NaN as None)."""
        def clean(a):
            return [None if np.isnan(v) else float(v) for v in a]
        return {
            "ap": dict(self.ap), "n_images": dict(self.n_images),
            "n_images_with_faces": dict(self.n_images_with_faces), "n_faces": dict(self.n_faces),
            "n_detections": self.n_detections, "skipped": list(self.skipped),
            "thresholds": clean(self.thresholds),
            "precision": {s: clean(v) for s, v in self.precision.items()},
            "recall": {s: clean(v) for s, v in self.recall.items()},
        }


def _resolve_gt(gt) -> WiderGroundTruth:
    if isinstance(gt, WiderGroundTruth):
        return gt
    p = Path(gt)
    if (p / "wider_face_val.mat").is_file():
        return load_wider_gt(p)
    q = p.joinpath(*_GT_SUBDIR)
    if (q / "wider_face_val.mat").is_file():
        return load_wider_gt(q)
    raise FileNotFoundError(f"{gt}: neither it nor {q} holds wider_face_val.mat")


def _as_detections(boxes, key) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 5))
    if arr.ndim != 2 or arr.shape[1] < 5:
        raise ValueError(f"{key}: expected detections of shape (N, 5) x1, y1, x2, y2, score; got {arr.shape}")
    return arr[:, :5]


def evaluate_wider(predictions: Mapping[str, np.ndarray], gt, images: Iterable[str] | None = None,
                   settings: Sequence[str] = WIDER_SETTINGS, iou_thresh: float = WIDER_IOU_THRESH,
                   thresh_num: int = WIDER_THRESH_NUM, progress: bool = False) -> WiderResult:
    """Score detections with the official WIDER FACE protocol on any subset of val images.

    Parameters
    ----------
    predictions : mapping of path to array_like, shape (N, 5)
        ``x1, y1, x2, y2, score`` in the MTCNN convention (``x2`` inclusive, ``w = x2 - x1 + 1``).
        Keys are any path ending in ``<event>/<name>[.jpg]`` (see :func:`wider_key`); keys that are
        not val images are skipped and listed in ``result.skipped``.
    gt : WiderGroundTruth or path
        The ground truth, its ``ground_truth`` folder, or a data root holding
        ``WIDER_FACE/eval_tools/ground_truth``.
    images : iterable of str, optional
        The evaluated images (keys or paths). Their faces count even without predictions
        (missing predictions are no detections). Default: the val images in ``predictions``.
    settings : sequence of str
    iou_thresh : float
    thresh_num : int
    progress : bool
        Show a tqdm bar over the images.

    Returns
    -------
    WiderResult
    """
    gt = _resolve_gt(gt)
    dets, skipped = {}, []
    for path, boxes in predictions.items():
        try:
            key = wider_key(path)
        except ValueError:  # no '<event>/' part: cannot be a val image
            key = None
        if key not in gt.boxes:
            skipped.append(str(path))
            continue
        if key in dets:
            raise ValueError(f"{path}: a second prediction for image {key}")
        d = _as_detections(boxes, path)
        # MTCNN inclusive box -> official x y w h
        dets[key] = np.column_stack([d[:, 0], d[:, 1], d[:, 2] - d[:, 0] + 1, d[:, 3] - d[:, 1] + 1, d[:, 4]])
    if images is None:
        keys = set(dets)
    else:
        keys = set()
        for path in images:
            key = wider_key(path)
            if key not in gt.boxes:
                raise KeyError(f"{path}: not a WIDER FACE val image")
            keys.add(key)
        extra = set(dets) - keys
        if extra:
            raise ValueError(f"{len(extra)} predicted images are not among `images`, e.g. {sorted(extra)[0]}")
    keys = [k for k in gt.keys if k in keys]  # official order, deterministic
    dets = normalize_scores({k: dets.get(k, np.zeros((0, 5))) for k in keys})
    for k, d in dets.items():
        dets[k] = d[np.argsort(-d[:, 4], kind="stable")]  # read_pred.m: sort descend (stable)

    org = {s: np.zeros((thresh_num, 2)) for s in settings}
    count_face = {s: 0 for s in settings}
    with_faces = {s: 0 for s in settings}
    for k in tqdm(keys, desc="WIDER eval", disable=not progress):
        gt_bbx, d = gt.boxes[k], dets[k]
        for s in settings:
            keep = gt.keep[s][k]
            count_face[s] += len(keep)
            with_faces[s] += bool(len(keep))
            if len(gt_bbx) == 0 or len(d) == 0:
                continue
            pred_recall, proposal = match_image(d[:, :4], gt_bbx, keep, iou_thresh)
            org[s] += image_pr_info(d[:, 4], proposal, pred_recall, thresh_num)
    precision, recall, ap = {}, {}, {}
    for s in settings:
        with np.errstate(invalid="ignore", divide="ignore"):
            precision[s] = org[s][:, 1] / org[s][:, 0]
            recall[s] = org[s][:, 1] / count_face[s] if count_face[s] else np.full(thresh_num, np.nan)
        ap[s] = voc_ap(recall[s], precision[s]) if count_face[s] else float("nan")
    return WiderResult(ap=ap, n_images={s: len(keys) for s in settings}, n_images_with_faces=with_faces,
                       n_faces=count_face, n_detections=int(sum(len(d) for d in dets.values())),
                       thresholds=_thresholds(thresh_num), precision=precision, recall=recall,
                       skipped=skipped)


def score_predictions_json(json_path, data_root, **kwargs) -> WiderResult:
    """Score a detections JSON with :func:`evaluate_wider`.

    The JSON looks like ``{"settings": {...}, "images": {"<path>": {"boxes": [[x1, y1, x2, y2,
    score], ...], "landmarks": [...]}}}``, paths relative to ``data_root`` such as
    ``WIDER_FACE/WIDER_val/images/0--Parade/0_Parade_marchingband_1_465.jpg``; boxes in the MTCNN
    convention. Images that are not WIDER val images are skipped (listed in ``result.skipped``);
    the val images listed are the evaluated set, with or without boxes.

    Parameters
    ----------
    json_path : path
    data_root : path
        Holds ``WIDER_FACE/eval_tools/ground_truth``.
    **kwargs
        Passed to :func:`evaluate_wider`.
    """
    json_path = Path(json_path)
    with open(json_path) as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), dict):
        raise ValueError(f"{json_path}: expected an object with an 'images' object")
    predictions = {}
    for path, entry in doc["images"].items():
        if "WIDER_train" in path.replace("\\", "/").split("/"):
            predictions[path] = None  # never a val image: reported as skipped
            continue
        boxes = entry.get("boxes", []) if isinstance(entry, dict) else None
        if boxes is None:
            raise ValueError(f"{json_path}: images[{path!r}]: expected an object with 'boxes'")
        try:
            predictions[path] = _as_detections(boxes, path)
        except ValueError as err:
            raise ValueError(f"{json_path}: {err}") from None
    skipped = [p for p, v in predictions.items() if v is None]
    result = evaluate_wider({p: v for p, v in predictions.items() if v is not None},
                            Path(data_root).joinpath(*_GT_SUBDIR), **kwargs)
    result.skipped = skipped + result.skipped
    return result


def plot_pr_curves(result: WiderResult, label: str = "MTCNN", path=None, fig=None):
    """Precision-recall curves of the three settings, one panel each, AP in the legend.

    Parameters
    ----------
    result : WiderResult
    label : str
        Legend name of the method.
    path : path, optional
        Save the figure there too (format from the suffix).
    fig : matplotlib.figure.Figure, optional
        Draw into this figure instead of a new one.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    settings = list(result.ap)
    if fig is None:
        fig = Figure(figsize=(4 * len(settings), 4), layout="constrained")
    axes = fig.subplots(1, len(settings), squeeze=False)[0]
    for ax, s in zip(axes, settings):
        ax.plot(result.recall[s], result.precision[s], lw=2, label=f"{label} {result.ap[s]:.3f}")
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="Recall", ylabel="Precision",
               title=f"{s}: {result.n_faces[s]} faces, {result.n_images[s]} images")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower left")
    if path is not None:
        fig.savefig(path)
    return fig


# ----------------------------------------------------------------------------------------------
# Official prediction layout: <event>/<name>.txt
# ----------------------------------------------------------------------------------------------
def write_wider_predictions(predictions: Mapping[str, np.ndarray], out_dir) -> list:
    """Write detections in the official layout, one ``<out_dir>/<event>/<name>.txt`` per image.

    Each file: the image name (without extension), the number of boxes, then one
    ``x y w h score`` line per box (``w = x2 - x1 + 1``). Files are written to a temporary name
    and renamed.

    Parameters
    ----------
    predictions : mapping of path to array_like, shape (N, 5)
        ``x1, y1, x2, y2, score`` in the MTCNN convention; keys as for :func:`evaluate_wider`.
    out_dir : path

    Returns
    -------
    list of Path
        The files written.
    """
    out_dir = Path(out_dir)
    written = []
    for path, boxes in predictions.items():
        key = wider_key(path)
        d = _as_detections(boxes, path)
        event, name = key.split("/")
        lines = [name, str(len(d))]
        for x1, y1, x2, y2, s in d:
            lines.append(f"{x1:.3f} {y1:.3f} {x2 - x1 + 1:.3f} {y2 - y1 + 1:.3f} {s:.6f}")
        target = out_dir / event / f"{name}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".txt.tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, target)
        written.append(target)
    return written


def _read_wider_txt(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 2:
        raise ValueError(f"{path}:{len(lines) + 1}: expected a name line and a count line")
    try:
        count = int(lines[1].strip())
    except ValueError:
        raise ValueError(f"{path}:2: expected the number of boxes, got {lines[1].strip()!r}") from None
    if count < 0:
        raise ValueError(f"{path}:2: negative number of boxes {count}")
    if len(lines) - 2 != count:
        raise ValueError(f"{path}:2: says {count} boxes but {len(lines) - 2} box lines follow")
    out = np.zeros((count, 5))
    for i in range(count):
        fields = lines[i + 2].replace(",", " ").split()
        if len(fields) != 5:
            raise ValueError(f"{path}:{i + 3}: expected 5 numbers 'x y w h score', got {len(fields)}")
        try:
            out[i] = [float(v) for v in fields]
        except ValueError:
            raise ValueError(f"{path}:{i + 3}: expected 5 numbers 'x y w h score', got {lines[i + 2]!r}") from None
    # official x y w h -> MTCNN inclusive box
    out[:, 2] = out[:, 0] + out[:, 2] - 1
    out[:, 3] = out[:, 1] + out[:, 3] - 1
    return out


def read_wider_predictions(pred_dir) -> dict:
    """Read a folder in the official layout (``<event>/<name>.txt``).

    Returns
    -------
    dict of ``"<event>/<name>"`` to ndarray, shape (N, 5)
        ``x1, y1, x2, y2, score`` in the MTCNN convention (``x2 = x + w - 1``), ready for
        :func:`evaluate_wider`.

    Raises
    ------
    ValueError
        A malformed file, naming the file and line.
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"{pred_dir}: no such prediction folder")
    return {f"{p.parent.name}/{p.stem}": _read_wider_txt(p) for p in sorted(pred_dir.glob("*/*.txt"))}


# ----------------------------------------------------------------------------------------------
# Landmarks
# ----------------------------------------------------------------------------------------------
LANDMARK_HOLDOUT = 0.1  # share of trainImageList.txt held out for evaluation
LANDMARK_SEED = 0  # fixes which faces are held out


def landmark_split(n: int, holdout: float | int = LANDMARK_HOLDOUT, seed: int = LANDMARK_SEED):
    """A fixed split of ``n`` landmark faces into training and held-out indices.

    Parameters
    ----------
    n : int
        Number of faces: the length of ``parse_facepoint_list(...)`` (10,000 for the full list).
        Train on ``faces[i] for i in train_idx``, evaluate on ``holdout_idx``.
    holdout : float or int
        Share of faces held out (``0 < holdout < 1``) or their number (int ``>= 1``).
    seed : int
        The same ``(n, holdout, seed)`` always gives the same split.

    Returns
    -------
    train_idx, holdout_idx : ndarray of int, shapes (n - k,), (k,)
        Sorted, disjoint, covering ``range(n)``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if isinstance(holdout, (int, np.integer)) and not isinstance(holdout, bool):
        k = int(holdout)
    elif 0 < holdout < 1:
        k = int(round(n * holdout))
    else:
        raise ValueError(f"holdout must be a share in (0, 1) or a count, got {holdout!r}")
    if not 0 <= k <= n:
        raise ValueError(f"cannot hold out {k} of {n} faces")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[k:]), np.sort(perm[:k])


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

    def summary(self) -> str:
        names = ("left eye", "right eye", "nose", "left mouth", "right mouth")
        per = ", ".join(f"{a} {b:.2%}" for a, b in zip(names, self.nme_per_point))
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
        :func:`mtcnn_gluon.datasets.facepoint.parse_facepoint_list`); default the held-out part of
        ``landmark_split(n, LANDMARK_HOLDOUT, LANDMARK_SEED)``.
    batch_size : int
    fail_thresh : float
    progress : bool

    Returns
    -------
    LandmarkResult
    """
    from .datasets.facepoint import parse_facepoint_list
    from .images import read_image

    folder = Path(data_root) / "landmarks"
    faces = parse_facepoint_list(folder / "trainImageList.txt")
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


# ----------------------------------------------------------------------------------------------
# FDDB-style discrete ROC
# ----------------------------------------------------------------------------------------------
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
    from scipy.optimize import linear_sum_assignment

    from .boxes import iou_matrix

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
        :func:`mtcnn_gluon.datasets.fddb.load_fddb_ground_truth`). Detections of images not
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
        det = _as_detections(detections[name], name)
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
