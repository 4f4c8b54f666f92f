"""Training crops: PNet positives/parts/negatives from WIDER FACE, landmark crops from CNN_FacePoint.

PNet crops follow the classic MTCNN ``gen_12net_data`` recipe (random negatives, negatives near each
face, jittered crops around each face), but draw each image's candidates in one batch and label them
with one IoU matrix against *all* faces of the image. A positive or part crop is matched to the face it
overlaps most; its box offsets are ``encode_offsets(crop, face)`` (``boxes.py`` convention, ``+ 1``
widths), so ``decode_offsets(crop, offsets)`` gives the face back.

Landmark crops follow ``gen_landmark_aug``: the annotated box, shifted square crops kept when their IoU
with the box is at least 0.65, mirrored copies (left/right points swapped) and copies rotated about the
crop centre. A landmark label is ``((px - x1) / w, (py - y1) / h)`` with ``w = x2 - x1 + 1``.

Every image (or face) draws from its own generator seeded by ``(seed, index)``, and results are
gathered in input order, so the output depends on the seed only, never on the number of worker
processes. Each sample carries provenance (:class:`SampleSet.meta`): source index, crop box, matched
face, rotation angle, mirror flag, which lets tests recheck every label against the source annotation.
"""
from __future__ import annotations

import math
import multiprocessing
import os
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from ..config import LandmarkAugConfig, SamplingConfig
from ..utils.boxes import encode_offsets, iou_matrix
from ..utils.images import SkippedImage, crop_and_resize, padded_crop, try_read_image
from ..utils.labels import BOX, CLS_LANDMARK, CLS_NEG, CLS_PART, CLS_POS, LABEL_SIZE, LANDMARKS, MIRROR_ORDER, \
    type_counts
from ..utils.progress import tqdm

__all__ = ["SampleSet", "pnet_samples_for_image", "landmark_samples_for_face", "generate_pnet_samples",
           "generate_landmark_samples", "invert_landmark_labels"]

META_FIELDS = ("source", "box", "face", "angle", "mirror")


@dataclass
class SampleSet:
    """Samples of one size with their labels and provenance.

    Attributes
    ----------
    images : ndarray, uint8, shape (K, S, S, 3)
        BGR crops.
    labels : ndarray, float32, shape (K, 15)
        ``[cls, 4 box offsets, 10 landmark values x1, y1, ..., x5, y5]``.
    meta : dict of ndarray
        ``source`` (K,) int index into ``sources``; ``box`` (K, 4) the crop in the source image
        (inclusive); ``face`` (K,) index of the matched face in the source (-1 for negatives);
        ``angle`` (K,) rotation in degrees (counter-clockwise, cv2 convention); ``mirror`` (K,) bool.
    sources : list of str
        Source image paths.
    skipped : list of SkippedImage
    """

    images: np.ndarray
    labels: np.ndarray
    meta: Dict[str, np.ndarray]
    sources: List[str] = field(default_factory=list)
    skipped: List[SkippedImage] = field(default_factory=list)

    def __len__(self):
        return len(self.labels)

    def counts(self) -> Dict[str, int]:
        return type_counts(self.labels)

    def select(self, index) -> "SampleSet":
        index = np.asarray(index)
        return SampleSet(self.images[index], self.labels[index], {k: v[index] for k, v in self.meta.items()},
                         self.sources, self.skipped)


def _empty(size: int, n: int = 0):
    return (np.zeros((n, size, size, 3), np.uint8), np.zeros((n, LABEL_SIZE), np.float32),
            {"source": np.zeros(n, np.int64), "box": np.zeros((n, 4)), "face": np.full(n, -1, np.int64),
             "angle": np.zeros(n, np.float32), "mirror": np.zeros(n, bool)})


def _concat(parts, size):
    if not parts:
        return _empty(size)
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    meta = {k: np.concatenate([p[2][k] for p in parts]) for k in META_FIELDS}
    return images, labels, meta


def _randint(rng, low, high):
    """``np.random.randint(low, high)`` semantics of the original scripts (float bounds truncated),
    vectorised, with an empty range ``[a, a)`` read as ``a``."""
    low = np.trunc(np.asarray(low, np.float64)).astype(np.int64)
    high = np.trunc(np.asarray(high, np.float64)).astype(np.int64)
    high = np.maximum(high, low + 1)
    return rng.integers(low, high)


def _random_negatives(rng, boxes, W, H, cfg: SamplingConfig):
    """Step 1: square crops anywhere; draw all tries at once, keep the first ``random_negatives`` that miss
    every face. Returns crops (K, 4) int."""
    max_side = min(W, H) // 2  # negatives: square sides in [min_crop, min(W, H) / 2)
    if max_side <= cfg.min_crop or cfg.random_negatives <= 0:
        return np.zeros((0, 4), np.int64)
    n = cfg.random_negative_tries
    side = rng.integers(cfg.min_crop, max_side, size=n)
    nx = rng.integers(0, W - side)
    ny = rng.integers(0, H - side)
    cand = np.stack([nx, ny, nx + side - 1, ny + side - 1], 1)
    best = iou_matrix(cand, boxes).max(1) if len(boxes) else np.zeros(n)
    return cand[np.flatnonzero(best < cfg.neg_iou)[:cfg.random_negatives]]


def _negatives_near_faces(rng, boxes, faces, W, H, cfg: SamplingConfig):
    """Step 2: per face, negatives with a corner drawn within the face's extent (hard negatives: a face's
    surroundings). Returns crops (K, 4) int."""
    max_side = min(W, H) // 2
    if max_side <= cfg.min_crop or cfg.negatives_near_face <= 0:
        return np.zeros((0, 4), np.int64)
    x1, y1 = boxes[faces, 0], boxes[faces, 1]
    w, h = boxes[faces, 2] - x1 + 1, boxes[faces, 3] - y1 + 1
    shape = (len(faces), cfg.negatives_near_face)
    side = rng.integers(cfg.min_crop, max_side, size=shape)
    dx = _randint(rng, np.maximum(-side, -x1[:, None]), np.broadcast_to(w[:, None], shape))
    dy = _randint(rng, np.maximum(-side, -y1[:, None]), np.broadcast_to(h[:, None], shape))
    nx = np.maximum(0, x1[:, None] + dx).astype(np.int64)
    ny = np.maximum(0, y1[:, None] + dy).astype(np.int64)
    cand = np.stack([nx, ny, nx + side - 1, ny + side - 1], -1).reshape(-1, 4)
    cand = cand[(cand[:, 2] < W) & (cand[:, 3] < H)]
    return cand[iou_matrix(cand, boxes).max(1) < cfg.neg_iou]


def _jittered_crops(rng, boxes, faces, usable, W, H, cfg: SamplingConfig):
    """Step 3: per face, crops of side in [0.8 min(w, h), 1.25 max(w, h)) with the centre shifted by up to
    0.2 w / h, labelled positive or part by their best IoU. Returns crops (K, 4) int, classes (K,), faces (K,)."""
    x1, y1 = boxes[faces, 0], boxes[faces, 1]
    w, h = boxes[faces, 2] - x1 + 1, boxes[faces, 3] - y1 + 1
    big = w >= cfg.min_face_for_jitter
    if cfg.jitter_tries <= 0 or not big.any():
        return np.zeros((0, 4), np.int64), np.zeros(0), np.zeros(0, np.int64)
    x1, y1, w, h = x1[big], y1[big], w[big], h[big]
    shape = (int(big.sum()), cfg.jitter_tries)
    lo, hi = cfg.jitter_scale
    side = _randint(rng, np.broadcast_to((np.minimum(w, h) * lo)[:, None], shape),
                    np.broadcast_to(np.ceil(hi * np.maximum(w, h))[:, None], shape))
    dx = _randint(rng, np.broadcast_to(-w[:, None] * cfg.jitter_shift, shape),
                  np.broadcast_to(w[:, None] * cfg.jitter_shift, shape))
    dy = _randint(rng, np.broadcast_to(-h[:, None] * cfg.jitter_shift, shape),
                  np.broadcast_to(h[:, None] * cfg.jitter_shift, shape))
    nx = np.maximum(x1[:, None] + w[:, None] / 2 + dx - side / 2, 0).astype(np.int64)
    ny = np.maximum(y1[:, None] + h[:, None] / 2 + dy - side / 2, 0).astype(np.int64)
    cand = np.stack([nx, ny, nx + side - 1, ny + side - 1], -1).reshape(-1, 4)
    cand = cand[(cand[:, 2] < W) & (cand[:, 3] < H)]
    ious = iou_matrix(cand, boxes)
    match = ious.argmax(1) if len(cand) else np.zeros(0, np.int64)
    best = ious[np.arange(len(cand)), match] if len(cand) else np.zeros(0)
    label = np.where(best >= cfg.pos_iou, CLS_POS, np.where(best >= cfg.part_iou, CLS_PART, 9))
    keep = (label != 9) & usable[match]  # a crop that fits an unusable face best is dropped
    return cand[keep], label[keep], match[keep]


def pnet_samples_for_image(img: np.ndarray, boxes: np.ndarray, usable: np.ndarray,
                           rng: np.random.Generator, cfg: SamplingConfig = SamplingConfig()):
    """PNet crops of one image.

    Parameters
    ----------
    img : ndarray, uint8, shape (H, W, 3)
    boxes : ndarray, shape (N, 4)
        All annotated faces (inclusive ``x2``); all of them count when labelling by IoU.
    usable : ndarray of bool, shape (N,)
        Faces that may be positives (not invalid, not degenerate). Faces smaller than
        ``cfg.min_face`` are excluded here too.
    rng : numpy Generator
    cfg : SamplingConfig

    Returns
    -------
    images (K, S, S, 3) uint8, labels (K, 15) float32, meta dict (see :class:`SampleSet`).
    Order: random negatives, then per face its near negatives, then per face its pos/part crops, then per
    small face (``cfg.small_face_tries``) its extra pos/part crops.
    """
    H, W = img.shape[:2]
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    fw = boxes[:, 2] - boxes[:, 0] + 1
    fh = boxes[:, 3] - boxes[:, 1] + 1
    usable = (np.asarray(usable, bool) & (np.maximum(fw, fh) >= cfg.min_face)
              & (boxes[:, 0] >= 0) & (boxes[:, 1] >= 0))
    faces = np.flatnonzero(usable)
    crops = [_random_negatives(rng, boxes, W, H, cfg)]
    if len(faces):
        crops.append(_negatives_near_faces(rng, boxes, faces, W, H, cfg))
    n_neg = sum(len(c) for c in crops)
    cls, face_of = [np.full(n_neg, CLS_NEG)], [np.full(n_neg, -1)]
    if len(faces):
        small = faces[np.maximum(fw, fh)[faces] < cfg.small_face] if cfg.small_face_tries else faces[:0]
        passes = [(faces, cfg)] + ([(small, replace(cfg, jitter_tries=cfg.small_face_tries))] if len(small) else [])
        for who, how in passes:  # the extra pass draws after the first: without it the crops are unchanged
            jit, jit_cls, jit_face = _jittered_crops(rng, boxes, who, usable, W, H, how)
            crops.append(jit)
            cls.append(jit_cls)
            face_of.append(jit_face)
    boxes_int = np.concatenate(crops).astype(np.int64)
    if len(boxes_int) == 0:
        return _empty(cfg.size)
    cls = np.concatenate(cls).astype(np.float32)
    face_of = np.concatenate(face_of).astype(np.int64)
    labels = np.zeros((len(cls), LABEL_SIZE), np.float32)
    labels[:, 0] = cls
    matched = face_of >= 0
    if matched.any():
        labels[matched, BOX] = encode_offsets(boxes_int[matched], boxes[face_of[matched]])
    images = crop_and_resize(img, boxes_int, cfg.size, round_uint8=True).astype(np.uint8)
    n = len(cls)
    meta = {"source": np.zeros(n, np.int64), "box": boxes_int.astype(np.float64), "face": face_of,
            "angle": np.zeros(n, np.float32), "mirror": np.zeros(n, bool)}
    return images, labels, meta


# ----------------------------------------------------------------------------------------------------
# landmarks

def _rotation(box, angle):
    """2x3 affine: rotate by ``angle`` degrees about the centre of ``box`` (cv2 convention)."""
    cx = (box[0] + box[2]) / 2.0
    cy = (box[1] + box[3]) / 2.0
    return cv2.getRotationMatrix2D((float(cx), float(cy)), float(angle), 1.0)


def _landmark_label(points, box, angle, mirror):
    """Points (5, 2) in the source → label (10,) relative to ``box`` after rotation and mirroring."""
    p = np.asarray(points, np.float64)
    if angle:
        m = _rotation(box, angle)
        p = p @ m[:, :2].T + m[:, 2]
    w = box[2] - box[0] + 1
    h = box[3] - box[1] + 1
    rel = (p - box[:2]) / np.array([w, h])
    if mirror:
        # pixel index q in a crop of width w mirrors to w - 1 - q
        rel = rel[MIRROR_ORDER]
        rel[:, 0] = (w - 1) / w - rel[:, 0]
    return rel.reshape(-1)


def invert_landmark_labels(label10, box, angle=0.0, mirror=False) -> np.ndarray:
    """Map a landmark label back to source-image points: inverse of the label computation.

    Parameters
    ----------
    label10 : array_like, shape (10,)
    box : array_like, shape (4,)
        The crop in the source image (inclusive).
    angle : float
        Rotation used for the sample, degrees.
    mirror : bool

    Returns
    -------
    ndarray, shape (5, 2)
    """
    box = np.asarray(box, np.float64)
    w = box[2] - box[0] + 1
    h = box[3] - box[1] + 1
    rel = np.asarray(label10, np.float64).reshape(5, 2).copy()
    if mirror:
        rel[:, 0] = (w - 1) / w - rel[:, 0]
        rel = rel[MIRROR_ORDER]  # the swap is its own inverse
    p = rel * np.array([w, h]) + box[:2]
    if angle:
        m = _rotation(box, angle)
        p = (p - m[:, 2]) @ np.linalg.inv(m[:, :2]).T
    return p


def _render(img, box, angle, mirror, size):
    """The sample image of crop ``box`` (inclusive, may leave the image: zero padding)."""
    x1, y1, x2, y2 = (int(v) for v in box)
    cw, ch = x2 - x1 + 1, y2 - y1 + 1
    if angle:
        m = _rotation(box, angle)
        m[:, 2] -= (x1, y1)
        crop = cv2.warpAffine(img, m, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    else:
        crop = padded_crop(img, (x1, y1, x2, y2))
    out = crop if (cw, ch) == (size, size) else cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(out[:, ::-1]) if mirror else out


def landmark_samples_for_face(img: np.ndarray, box, points, rng: np.random.Generator,
                              cfg: LandmarkAugConfig = LandmarkAugConfig(), sizes: Sequence[int] = None):
    """Landmark crops of one annotated face, rendered at each size.

    Parameters
    ----------
    img : ndarray, uint8, shape (H, W, 3)
    box : array_like, shape (4,)
        Annotated face box (inclusive).
    points : array_like, shape (5, 2)
        Left eye, right eye, nose, left mouth, right mouth.
    rng : numpy Generator
    cfg : LandmarkAugConfig
    sizes : sequence of int, optional
        Defaults to ``cfg.sizes``. The same crops (same draws) are rendered at every size.

    Returns
    -------
    dict size -> (images (K, size, size, 3), labels (K, 15), meta dict); samples whose points leave
    the crop are dropped.
    """
    sizes = tuple(sizes or cfg.sizes)
    H, W = img.shape[:2]
    box = np.asarray(box, np.float64)
    points = np.asarray(points, np.float64)
    x1, y1, x2, y2 = box
    w, h = x2 - x1 + 1, y2 - y1 + 1
    crops = []  # (box, angle, mirror)
    if cfg.include_original:
        crops.append((np.round(box), 0.0, False))
    n = cfg.shift_tries
    if n > 0:
        lo, hi = cfg.shift_scale
        side = _randint(rng, np.full(n, min(w, h) * lo), np.full(n, math.ceil(hi * max(w, h))))
        dx = _randint(rng, np.full(n, -w * cfg.shift), np.full(n, w * cfg.shift))
        dy = _randint(rng, np.full(n, -h * cfg.shift), np.full(n, h * cfg.shift))
        nx = np.maximum(x1 + w / 2 - side / 2 + dx, 0).astype(np.int64)
        ny = np.maximum(y1 + h / 2 - side / 2 + dy, 0).astype(np.int64)
        cand = np.stack([nx, ny, nx + side - 1, ny + side - 1], 1).astype(np.float64)
        ok = (cand[:, 2] < W) & (cand[:, 3] < H)
        ok &= iou_matrix(cand, box[None])[:, 0] >= cfg.min_iou
        # Every augmentation decision is drawn for every try, kept or not, so the stream stays aligned.
        u_mirror = rng.random(n)
        u_rotate = rng.random(n)
        angles = rng.uniform(-cfg.max_angle, cfg.max_angle, n)
        u_rot_mirror = rng.random(n)
        for k in np.flatnonzero(ok):
            crops.append((cand[k], 0.0, False))
            if u_mirror[k] < cfg.mirror_prob:
                crops.append((cand[k], 0.0, True))
            if u_rotate[k] < cfg.rotate_prob:
                crops.append((cand[k], float(angles[k]), bool(u_rot_mirror[k] < cfg.rotate_mirror_prob)))
    kept, labels = [], []
    for c in crops:
        lab = _landmark_label(points, c[0], c[1], c[2])
        if np.all(lab >= 0) and np.all(lab <= 1):  # as the original: all points inside the crop
            kept.append(c)
            labels.append(lab)
    out = {}
    k = len(kept)
    lab = np.zeros((k, LABEL_SIZE), np.float32)
    lab[:, 0] = CLS_LANDMARK
    if k:
        lab[:, LANDMARKS] = np.stack(labels)
    meta = {"source": np.zeros(k, np.int64),
            "box": np.array([c[0] for c in kept], np.float64).reshape(k, 4),
            "face": np.zeros(k, np.int64), "angle": np.array([c[1] for c in kept], np.float32),
            "mirror": np.array([c[2] for c in kept], bool)}
    for s in sizes:
        imgs = np.empty((k, s, s, 3), np.uint8)
        for i, c in enumerate(kept):
            imgs[i] = _render(img, c[0], c[1], c[2], s)
        out[s] = (imgs, lab.copy(), {kk: v.copy() for kk, v in meta.items()})
    return out


# ----------------------------------------------------------------------------------------------------
# many images, many processes

def _pnet_task(task):
    index, path, boxes, usable, seed, cfg = task
    img, skipped = try_read_image(path)
    if img is None:
        return index, None, skipped
    rng = np.random.default_rng([seed, index])
    images, labels, meta = pnet_samples_for_image(img, boxes, usable, rng, cfg)
    meta["source"][:] = index
    return index, (images, labels, meta), None


def _landmark_task(task):
    chunk, seed, cfg, sizes = task
    results = []
    for index, path, box, points in chunk:
        img, skipped = try_read_image(path)
        if img is None:
            results.append((index, None, skipped))
            continue
        rng = np.random.default_rng([seed, index])
        out = landmark_samples_for_face(img, box, points, rng, cfg, sizes)
        for s in out:
            out[s][2]["source"][:] = index
        results.append((index, out, None))
    return results


def _worker_init():
    cv2.setNumThreads(1)  # one process per core already; cv2's own pool would oversubscribe


def _map(fn, tasks, workers, desc, progress, total=None, unit="img"):
    """Ordered map over ``tasks`` with ``workers`` processes (0 or 1: in this process)."""
    total = len(tasks) if total is None else total
    bar = None
    if progress:
        bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True)
    try:
        if workers is None:
            workers = os.cpu_count() or 1
        if workers <= 1 or len(tasks) <= 1:
            for t in tasks:
                r = fn(t)
                if bar is not None:
                    bar.update(len(r) if isinstance(r, list) else 1)
                yield r
            return
        # fork: no re-import, works without a __main__ guard; MXNet (as Gluon's DataLoader relies on)
        # survives fork, and the workers never touch it.
        ctx = multiprocessing.get_context("fork")
        chunk = max(1, min(16, len(tasks) // (workers * 8)))
        # Stop cv2's thread pool before forking: a child inherits the pool's thread handles but not the
        # threads, and its cv2.setNumThreads then joins a handle that may by now name one of the threads
        # MXNet restarts after fork; seen hanging forever in a process that had run the detector.
        cv_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            with ctx.Pool(workers, initializer=_worker_init) as pool:
                for r in pool.imap(fn, tasks, chunksize=chunk):
                    if bar is not None:
                        bar.update(len(r) if isinstance(r, list) else 1)
                    yield r
        finally:
            cv2.setNumThreads(cv_threads)
    finally:
        if bar is not None:
            bar.close()


def generate_pnet_samples(images: Sequence, image_dir, cfg: SamplingConfig = SamplingConfig(), seed: int = 0,
                          workers: Optional[int] = None, progress: bool = True) -> SampleSet:
    """PNet samples from WIDER FACE images.

    Parameters
    ----------
    images : sequence of :class:`~mtcnn_gluon.data.wider.WiderImage`
    image_dir : path
        ``WIDER_train/images``.
    cfg : SamplingConfig
    seed : int
        Image ``i`` draws from ``default_rng([seed, i])``; the result does not depend on ``workers``.
    workers : int, optional
        Processes (default: all cores; 0 or 1: this process).
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    SampleSet
        In image order; ``meta['source']`` indexes ``sources`` (one entry per input image).
    """
    usable_flag = (lambda im: im.usable if cfg.skip_invalid else ~im.degenerate)
    sources = [os.path.join(os.fspath(image_dir), im.name) for im in images]
    tasks = [(i, sources[i], im.boxes, usable_flag(im), seed, cfg) for i, im in enumerate(images)]
    parts, skipped = [], []
    for index, res, skip in _map(_pnet_task, tasks, workers, "PNet samples", progress):
        if res is None:
            skipped.append(skip)
        elif len(res[1]):
            parts.append(res)
    imgs, labels, meta = _concat(parts, cfg.size)
    return SampleSet(imgs, labels, meta, sources, skipped)


def generate_landmark_samples(faces: Sequence, root, cfg: LandmarkAugConfig = LandmarkAugConfig(),
                              sizes: Sequence[int] = None, seed: int = 0, exclude=None,
                              workers: Optional[int] = None, progress: bool = True,
                              chunk: int = 250) -> Dict[int, SampleSet]:
    """Landmark samples from CNN_FacePoint faces, at each size.

    Parameters
    ----------
    faces : sequence of :class:`~mtcnn_gluon.data.facepoint.FacePoint`
    root : path
        Folder the face paths are relative to (``landmarks/``).
    cfg : LandmarkAugConfig
    sizes : sequence of int, optional
        Defaults to ``cfg.sizes``.
    seed : int
        Face ``i`` draws from ``default_rng([seed, i])``.
    exclude : array_like of int or set, optional
        Indices into ``faces`` to leave out (a held-out evaluation split).
    workers, progress : as :func:`generate_pnet_samples`.
    chunk : int
        Faces per task (the result does not depend on it).

    Returns
    -------
    dict size -> SampleSet; ``meta['source']`` indexes ``faces`` (and ``sources``), ``meta['face']`` is 0.
    """
    sizes = tuple(sizes or cfg.sizes)
    excluded = set(int(i) for i in (exclude if exclude is not None else ()))
    bad = [i for i in excluded if not 0 <= i < len(faces)]
    if bad:
        raise IndexError(f"exclude holds indices outside 0..{len(faces) - 1}: {sorted(bad)[:5]}")
    sources = [os.path.join(os.fspath(root), f.name) for f in faces]
    items = [(i, sources[i], f.box, f.points) for i, f in enumerate(faces) if i not in excluded]
    tasks = [(items[k:k + chunk], seed, cfg, sizes) for k in range(0, len(items), chunk)]
    parts = {s: [] for s in sizes}
    skipped = []
    for results in _map(_landmark_task, tasks, workers, "landmark samples", progress, total=len(items),
                        unit="face"):
        for index, out, skip in results:
            if out is None:
                skipped.append(skip)
                continue
            for s in sizes:
                if len(out[s][1]):
                    parts[s].append(out[s])
    result = {}
    for s in sizes:
        imgs, labels, meta = _concat(parts[s], s)
        result[s] = SampleSet(imgs, labels, meta, sources, skipped)
    return result
