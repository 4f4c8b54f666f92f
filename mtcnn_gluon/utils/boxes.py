"""Box geometry in pure NumPy: IoU, NMS, squaring, padded crops, offset encoding.

Pixel convention
----------------
Everything here follows the original MTCNN's convention, because the original weights' box
regression is calibrated in it: ``(x1, y1, x2, y2)`` are pixel *indices* and ``x2`` is inclusive,
so a box's width is ``x2 - x1 + 1`` and its height ``y2 - y1 + 1``. A WIDER FACE ``x y w h``
annotation becomes ``(x, y, x + w - 1, y + h - 1)``. IoU and areas use these ``+ 1`` widths.
A box with ``x2 = x1 - 1`` has zero width (``w = 0`` in WIDER) and zero area.

Shapes: boxes ``(N, 4)`` (or ``(N, 5)`` with a score column, which is ignored where only
coordinates matter), scores ``(N,)``, landmarks ``(N, 5, 2)``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "xywh_to_xyxy", "xyxy_to_xywh", "box_area", "iou", "iou_matrix", "nms", "nms_loop", "square",
    "clip_boxes", "CropWindows", "crop_windows", "encode_offsets", "decode_offsets",
]


def _as_boxes(boxes) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(-1, arr.shape[0]) if arr.size else arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] < 4:
        raise ValueError(f"expected boxes of shape (N, 4) or (N, 5), got {arr.shape}")
    return arr


def xywh_to_xyxy(boxes) -> np.ndarray:
    """WIDER ``(x, y, w, h)`` → ``(x1, y1, x2, y2)`` with inclusive ``x2 = x + w - 1``.

    Parameters
    ----------
    boxes : array_like, shape (N, 4)
    """
    b = _as_boxes(boxes)[:, :4].copy()
    b[:, 2] = b[:, 0] + b[:, 2] - 1
    b[:, 3] = b[:, 1] + b[:, 3] - 1
    return b


def xyxy_to_xywh(boxes) -> np.ndarray:
    """Inverse of :func:`xywh_to_xyxy`: ``(x1, y1, x2, y2)`` → ``(x, y, x2 - x1 + 1, y2 - y1 + 1)``."""
    b = _as_boxes(boxes)[:, :4].copy()
    b[:, 2] = b[:, 2] - b[:, 0] + 1
    b[:, 3] = b[:, 3] - b[:, 1] + 1
    return b


def box_area(boxes) -> np.ndarray:
    """Areas ``(x2 - x1 + 1) * (y2 - y1 + 1)``, clipped at 0 for degenerate boxes. Shape (N,)."""
    b = _as_boxes(boxes)
    w = np.maximum(b[:, 2] - b[:, 0] + 1, 0)
    h = np.maximum(b[:, 3] - b[:, 1] + 1, 0)
    return w * h


def iou_matrix(boxes_a, boxes_b) -> np.ndarray:
    """Pairwise IoU.

    Parameters
    ----------
    boxes_a : array_like, shape (N, 4)
    boxes_b : array_like, shape (M, 4)

    Returns
    -------
    ndarray, shape (N, M)
        IoU in [0, 1]; 0 where the union is empty (two zero-size boxes).
    """
    a = _as_boxes(boxes_a)
    b = _as_boxes(boxes_b)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    xx1 = np.maximum(a[:, None, 0], b[None, :, 0])
    yy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    xx2 = np.minimum(a[:, None, 2], b[None, :, 2])
    yy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.maximum(xx2 - xx1 + 1, 0) * np.maximum(yy2 - yy1 + 1, 0)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return out


def iou(box, boxes) -> np.ndarray:
    """IoU of one box with many.

    Parameters
    ----------
    box : array_like, shape (4,)
    boxes : array_like, shape (N, 4)

    Returns
    -------
    ndarray, shape (N,)
    """
    return iou_matrix(np.asarray(box, dtype=np.float64)[None, :4], boxes)[0]


def nms(boxes, scores=None, thresh: float = 0.5, mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression.

    A box is suppressed when its overlap with a kept, higher-scoring box is *strictly* greater than
    ``thresh`` (as in the original MTCNN). Overlap is IoU for ``mode='union'`` and
    intersection over the smaller area for ``mode='min'``. Among equal scores the *later* box comes
    first, as the original's ascending ``argsort`` taken from the end does for small inputs; the order
    is stable, so it does not depend on the sort algorithm.

    The result is the textbook loop's (:func:`nms_loop`, kept as the reference), computed faster:
    only pairs of boxes that can overlap by more than ``thresh`` are measured (a sweep over ``x1``;
    for IoU, boxes whose x-overlap is under ``thresh`` times a width cannot qualify), then the greedy
    pass walks those pairs in score order. About 10x faster on the detector's inputs
    (50 ms → 5 ms per WIDER image), identical output (tested against the loop).

    Parameters
    ----------
    boxes : array_like, shape (N, 4) or (N, 5)
        With 5 columns and ``scores=None`` the fifth column is the score.
    scores : array_like, shape (N,), optional
    thresh : float
    mode : {'union', 'min'}

    Returns
    -------
    ndarray of int, shape (K,)
        Indices of the kept boxes, highest score first.
    """
    b, s, mode = _nms_inputs(boxes, scores, mode)
    n = len(b)
    if n == 0:
        return np.zeros((0,), dtype=np.int64)
    if thresh < 0 or not np.isfinite(b[:, :4]).all():
        return nms_loop(b, s, thresh, mode)  # every pair may qualify, or NaN comparisons: the plain loop
    order = np.argsort(s, kind="stable")[::-1]
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    earlier, later = _overlapping_pairs(b, thresh, mode, rank)
    if len(earlier) == 0:
        return order.astype(np.int64)
    by_source = np.argsort(earlier, kind="stable")
    earlier, later = earlier[by_source], later[by_source]
    sources, first = np.unique(earlier, return_index=True)
    bounds = np.append(first, len(earlier))
    suppressed = np.zeros(n, dtype=bool)
    for k, r in enumerate(sources.tolist()):  # score order: a box's suppressors come before it
        if not suppressed[r]:
            suppressed[later[bounds[k]:bounds[k + 1]]] = True
    return order[~suppressed].astype(np.int64)


_PAIR_CHUNK = 1 << 21  # candidate pairs measured at once (bounds memory on huge crowds)


def _overlapping_pairs(b: np.ndarray, thresh: float, mode: str, rank: np.ndarray):
    """Pairs of boxes overlapping by more than ``thresh``, as (higher-ranked, lower-ranked) ranks."""
    n = len(b)
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    area = box_area(b)
    by_x = np.argsort(x1, kind="stable")
    sorted_x1 = x1[by_x]
    # A box j right of i (x1_j >= x1_i) intersects it only if x1_j < x2_i + 1. For IoU, more: IoU > t
    # needs inter > t * area_i, and inter <= x-overlap * h_i, so x-overlap > t * w_i, i.e.
    # x1_j < x2_i + 1 - t * w_i.
    slack = thresh * np.maximum(x2 - x1 + 1, 0)[by_x] if mode == "union" else 0.0
    end = np.searchsorted(sorted_x1, x2[by_x] + 1 - slack, side="left")
    start = np.arange(1, n + 1)
    count = np.maximum(end - start, 0)
    cum = np.cumsum(count)
    earlier, later = [], []
    lo = 0
    while lo < n:  # chunks of boxes whose candidate pairs fit in _PAIR_CHUNK
        hi = max(lo + 1, int(np.searchsorted(cum, (cum[lo - 1] if lo else 0) + _PAIR_CHUNK, side="right")))
        cnt = count[lo:hi]
        total = int(cnt.sum())
        if total:
            i = np.repeat(np.arange(lo, hi), cnt)
            j = start[i] + np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            a, c = by_x[i], by_x[j]
            inter = (np.maximum(np.minimum(x2[a], x2[c]) - np.maximum(x1[a], x1[c]) + 1, 0)
                     * np.maximum(np.minimum(y2[a], y2[c]) - np.maximum(y1[a], y1[c]) + 1, 0))
            hit = _overlap(inter, area[a], area[c], mode) > thresh
            ra, rc = rank[a[hit]], rank[c[hit]]
            earlier.append(np.minimum(ra, rc))
            later.append(np.maximum(ra, rc))
        lo = hi
    if not earlier:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(earlier), np.concatenate(later)


def _overlap(inter, area_a, area_b, mode: str) -> np.ndarray:
    """IoU (``'union'``) or intersection over the smaller area (``'min'``); 0 where that is empty."""
    denom = np.minimum(area_a, area_b) if mode == "min" else area_a + area_b - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, inter / np.where(denom > 0, denom, 1), 0.0)


def _nms_inputs(boxes, scores, mode: str):
    """Checked ``(boxes, scores, mode)``."""
    key = str(mode).lower()
    if key not in ("union", "min"):
        raise ValueError(f"nms mode must be 'union' or 'min', got {mode!r}")
    b = _as_boxes(boxes)
    if scores is None:
        if len(b) and b.shape[1] < 5:
            raise ValueError("nms: boxes have no score column; pass scores")
        s = b[:, 4] if len(b) else np.zeros(0)
    else:
        s = np.asarray(scores, dtype=np.float64)
    if s.shape != (len(b),):
        raise ValueError(f"scores must have shape ({len(b)},), got {s.shape}")
    return b, s, key


def nms_loop(boxes, scores=None, thresh: float = 0.5, mode: str = "union") -> np.ndarray:
    """The textbook greedy NMS loop (same contract as :func:`nms`, which is faster): keep the best
    remaining box, drop the rest that overlap it by more than ``thresh``, repeat."""
    b, s, mode = _nms_inputs(boxes, scores, mode)
    if len(b) == 0:
        return np.zeros((0,), dtype=np.int64)
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    area = box_area(b)
    order = np.argsort(s, kind="stable")[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        order = rest[_overlap(w * h, area[i], area[rest], mode) <= thresh]
    return np.asarray(keep, dtype=np.int64)


def square(boxes) -> np.ndarray:
    """Grow each box to a square of side ``max(w, h)`` around the same centre.

    Extra columns (a score) are carried over unchanged. Coordinates may become fractional;
    the detector rounds them afterwards, as the original does.

    Parameters
    ----------
    boxes : array_like, shape (N, 4+)
    """
    b = _as_boxes(boxes).copy()
    w = b[:, 2] - b[:, 0] + 1
    h = b[:, 3] - b[:, 1] + 1
    side = np.maximum(w, h)
    b[:, 0] = b[:, 0] + w * 0.5 - side * 0.5
    b[:, 1] = b[:, 1] + h * 0.5 - side * 0.5
    b[:, 2] = b[:, 0] + side - 1
    b[:, 3] = b[:, 1] + side - 1
    return b


def clip_boxes(boxes, width: int, height: int) -> np.ndarray:
    """Clip coordinates to the image: x in [0, width - 1], y in [0, height - 1]."""
    b = _as_boxes(boxes).copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width - 1)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height - 1)
    return b


class CropWindows(NamedTuple):
    """Where each (integer) box lands in the image and in its own zero-padded crop.

    The crop of box ``i`` is an array of shape ``(h[i], w[i])``; pixels
    ``crop[dy[i]:edy[i] + 1, dx[i]:edx[i] + 1]`` come from
    ``image[y[i]:ey[i] + 1, x[i]:ex[i] + 1]``, the rest are zero. All arrays are int, shape (N,).
    A box wholly outside the image has an empty window (``edx < dx`` or ``edy < dy``).
    """

    dy: np.ndarray
    edy: np.ndarray
    dx: np.ndarray
    edx: np.ndarray
    y: np.ndarray
    ey: np.ndarray
    x: np.ndarray
    ex: np.ndarray
    w: np.ndarray
    h: np.ndarray


def crop_windows(boxes, width: int, height: int) -> CropWindows:
    """Crop coordinates with padding for boxes that leave a ``width`` × ``height`` image.

    Parameters
    ----------
    boxes : array_like, shape (N, 4+)
        Integer-valued boxes (round them first).
    """
    b = np.round(_as_boxes(boxes)[:, :4]).astype(np.int64)
    x, y, ex, ey = b[:, 0].copy(), b[:, 1].copy(), b[:, 2].copy(), b[:, 3].copy()
    w = ex - x + 1
    h = ey - y + 1
    dx = np.zeros_like(x)
    dy = np.zeros_like(y)
    edx = w - 1
    edy = h - 1
    over = ex > width - 1
    edx[over] = w[over] + width - 2 - ex[over]
    ex[over] = width - 1
    over = ey > height - 1
    edy[over] = h[over] + height - 2 - ey[over]
    ey[over] = height - 1
    under = x < 0
    dx[under] = -x[under]
    x[under] = 0
    under = y < 0
    dy[under] = -y[under]
    y[under] = 0
    return CropWindows(dy, edy, dx, edx, y, ey, x, ex, w, h)


def encode_offsets(anchors, targets) -> np.ndarray:
    """Box regression targets: ``(target - anchor) / [w, h, w, h]`` of the anchor (``+ 1`` widths).

    Parameters
    ----------
    anchors : array_like, shape (N, 4)
        The crops (candidate windows).
    targets : array_like, shape (N, 4)
        The ground-truth boxes they are matched to.

    Returns
    -------
    ndarray, shape (N, 4)
    """
    a = _as_boxes(anchors)[:, :4]
    t = _as_boxes(targets)[:, :4]
    w = a[:, 2] - a[:, 0] + 1
    h = a[:, 3] - a[:, 1] + 1
    return (t - a) / np.stack([w, h, w, h], axis=1)


def decode_offsets(anchors, offsets) -> np.ndarray:
    """Calibrate boxes with predicted offsets: ``anchor + offset * [w, h, w, h]``.

    Extra columns of ``anchors`` (a score) are carried over. Inverse of :func:`encode_offsets`.

    Parameters
    ----------
    anchors : array_like, shape (N, 4+)
    offsets : array_like, shape (N, 4)
    """
    a = _as_boxes(anchors).copy()
    off = np.asarray(offsets, dtype=np.float64).reshape(-1, 4)
    w = a[:, 2] - a[:, 0] + 1
    h = a[:, 3] - a[:, 1] + 1
    a[:, :4] = a[:, :4] + off * np.stack([w, h, w, h], axis=1)
    return a
