"""The official WIDER FACE protocol: easy / medium / hard AP of face detections.

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
MTCNN convention (``x2`` inclusive, ``w = x2 - x1 + 1``; see :mod:`mtcnn_gluon.utils.boxes`), so they are
converted with ``w = x2 - x1 + 1`` before any of this, exactly as the official ``.txt`` layout
would carry them.

Deviations, both where the official code gives nothing usable: (a) the official code evaluates
all 3,226 val images and counts the faces of images without a prediction file; here only the
evaluated images count (``images=``, by default the images that have predictions), so a partial
copy of the data gives a meaningful number; (b) when every score is equal the official
normalisation divides 0 by 0 (every score NaN, AP 0); here every score becomes 1.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping, Sequence

import numpy as np
from scipy.io import loadmat

from ..utils.progress import tqdm

__all__ = [
    "WIDER_SETTINGS", "WIDER_IOU_THRESH", "WIDER_THRESH_NUM",
    "WiderGroundTruth", "WiderResult", "load_wider_gt", "wider_key", "present_val_images", "val_image_file",
    "official_overlap", "normalize_scores", "match_image", "image_pr_info", "voc_ap", "as_detections",
    "evaluate_wider", "GT_SUBDIR", "error_analysis",
]

WIDER_SETTINGS = ("easy", "medium", "hard")
WIDER_IOU_THRESH = 0.5  # official IoU_thresh
WIDER_THRESH_NUM = 1000  # official thresh_num
GT_SUBDIR = ("WIDER_FACE", "eval_tools", "ground_truth")


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


def _loadmat(path: Path) -> dict:
    try:
        return loadmat(str(path))
    except Exception as err:  # scipy raises several kinds for a damaged file
        raise ValueError(f"{path}: not a readable MATLAB .mat file ({type(err).__name__}: {err})") from None


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
    gt_dir = Path(gt_dir)
    face_path = gt_dir / "wider_face_val.mat"
    if not face_path.is_file():
        raise FileNotFoundError(f"{face_path}: official WIDER FACE ground truth not found")
    mat = _loadmat(face_path)
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
        smat = _loadmat(path)
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
    _check_settings_nest(gt_dir, keep)
    return WiderGroundTruth(keys=keys, boxes=boxes, keep=keep)


def _check_settings_nest(gt_dir: Path, keep: dict) -> None:
    """The official settings nest (every easy face is a medium face, every medium face a hard one) and each
    holds more faces than the last: a setting file that is a copy of another, or the wrong file under a
    setting's name, would otherwise score silently."""
    order = [s for s in WIDER_SETTINGS if s in keep]
    for lo, hi in zip(order, order[1:]):
        n_lo = sum(len(v) for v in keep[lo].values())
        n_hi = sum(len(v) for v in keep[hi].values())
        outside = [k for k, v in keep[lo].items() if not set(v.tolist()) <= set(keep[hi][k].tolist())]
        if outside or n_lo >= n_hi:
            why = (f"image {outside[0]} has {lo} faces that are not {hi} faces" if outside
                   else f"{n_lo} {lo} faces but only {n_hi} {hi} faces")
            raise ValueError(f"{gt_dir / f'wider_{lo}_val.mat'} / wider_{hi}_val.mat: the settings do not nest "
                             f"({why}); is one file another setting's?")


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


def val_image_file(key) -> str:
    """The path of val image ``"<event>/<name>"`` relative to the data root (as detections JSON names it)."""
    return f"WIDER_FACE/WIDER_val/images/{key}.jpg"


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
    q = p.joinpath(*GT_SUBDIR)
    if (q / "wider_face_val.mat").is_file():
        return load_wider_gt(q)
    raise FileNotFoundError(f"{gt}: neither it nor {q} holds wider_face_val.mat")


def as_detections(boxes, key) -> np.ndarray:
    """``boxes`` as float64 detections ``(N, 5)`` (extra columns dropped); ``key`` names them in errors."""
    try:
        arr = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{key}: expected rows of numbers x1, y1, x2, y2, score") from None
    if arr.size == 0:
        return np.zeros((0, 5))
    if arr.ndim != 2 or arr.shape[1] < 5:
        raise ValueError(f"{key}: expected detections of shape (N, 5) x1, y1, x2, y2, score; got {arr.shape}")
    arr = arr[:, :5]
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if len(bad):
        raise ValueError(f"{key}: box {bad[0]} is not finite: {arr[bad[0]].tolist()} (NaN or inf would shift "
                         "the score normalisation of every image)")
    return arr


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
        d = as_detections(boxes, path)
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


def error_analysis(predictions: Mapping[str, np.ndarray], gt, setting: str = "hard", score_thresh: float = 0.0,
                   iou_thresh: float = WIDER_IOU_THRESH, images: Iterable[str] | None = None) -> dict:
    """What a cascade got wrong, for people to look at: the faces it missed and the detections that hit none.

    With the official overlap (:func:`official_overlap`): a face of ``setting`` is *missed* when no
    detection with score ``>= score_thresh`` overlaps it by ``iou_thresh``; a detection is a *false
    positive* when it overlaps no face at all by ``iou_thresh`` (faces outside the setting included, as the
    protocol ignores those hits).

    Parameters
    ----------
    predictions : mapping of path to array_like, shape (N, 5)
        MTCNN convention, as for :func:`evaluate_wider`.
    gt : WiderGroundTruth or path
    setting : {'easy', 'medium', 'hard'}
    score_thresh : float
        Detections below it are left out (e.g. the detector's last threshold).
    images : iterable of str, optional
        Default: the val images in ``predictions``.

    Returns
    -------
    dict
        ``missed``: list of ``(key, box x1 y1 x2 y2, height)``, largest first; ``false_positives``: list of
        ``(key, box, score)``, highest score first.
    """
    gt = _resolve_gt(gt)
    dets = {wider_key(p): as_detections(b, p) for p, b in predictions.items()}
    keys = [wider_key(k) for k in images] if images is not None else [k for k in gt.keys if k in dets]
    missed, false = [], []
    for k in keys:
        d = dets.get(k, np.zeros((0, 5)))
        d = d[d[:, 4] >= score_thresh]
        faces = gt.boxes[k]
        d_xywh = np.column_stack([d[:, 0], d[:, 1], d[:, 2] - d[:, 0] + 1, d[:, 3] - d[:, 1] + 1])
        ov = _overlap_matrix(d_xywh, faces) if len(d) and len(faces) else np.zeros((len(d), len(faces)))
        found = (ov >= iou_thresh).any(axis=0) if len(d) else np.zeros(len(faces), bool)
        for i in gt.keep[setting][k]:
            if not found[i]:
                x, y, w, h = faces[i]
                missed.append((k, (x, y, x + w - 1, y + h - 1), float(h)))
        hits = (ov >= iou_thresh).any(axis=1) if len(faces) else np.zeros(len(d), bool)
        false += [(k, tuple(float(v) for v in d[j, :4]), float(d[j, 4])) for j in np.flatnonzero(~hits)]
    missed.sort(key=lambda t: -t[2])
    false.sort(key=lambda t: -t[2])
    return {"missed": missed, "false_positives": false}
