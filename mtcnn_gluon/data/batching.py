"""From records to training batches: the PNet mix, balanced RNet/ONet batches, flips, the validation split.

* PNet reads one merged record whose types follow a ratio (:func:`mix_by_ratio`, neg:pos:part:landmark
  3:1:1:2), shuffled every epoch.
* RNet and ONet read one record per type and draw every batch with a fixed number of each
  (:class:`BalancedBatchSampler`, 64 pos, 64 part, 64 landmark, 192 neg): once mining has produced far
  more negatives than positives, a merged record would starve the rare types.
* Each sample may be mirrored (:func:`flip_samples`): box offsets follow exactly, landmarks to one source pixel
  (``TrainConfig.flip_landmarks`` False leaves landmark samples unflipped); and its
  brightness, contrast and saturation may be jittered (:func:`jitter_colour`, ``TrainConfig.colour_jitter``),
  and it may be blurred (:func:`blur_samples`, ``TrainConfig.blur``).
* :func:`split_train_val` holds out a fixed, stratified validation share.
"""
from __future__ import annotations

import os
from typing import Dict, Iterator, Mapping, Optional, Tuple, Union

import cv2
import numpy as np

from ..config import BATCH_MIX, INPUT_SIZE
from ..utils.labels import (BOX, CLS_LANDMARK, CLS_NEG, CLS_PART, CLS_POS, LANDMARKS, MIRROR_ORDER, TYPE_CLS,
                            TYPES, label_types)
from .records import read_records

__all__ = ["mix_by_ratio", "BalancedBatchSampler", "find_records", "load_training_data", "split_train_val",
           "flip_samples", "jitter_colour", "blur_samples", "GREY_BGR", "scaled_mix", "TrainBatches"]


def mix_by_ratio(labels, ratio: Mapping[str, float], seed: int = 0) -> np.ndarray:
    """Indices of a shuffled subset of ``labels`` whose types follow ``ratio`` (e.g. neg:pos:part:landmark 3:1:1:2).

    The scarcest type (relative to its share) is kept whole and sets the scale; the others are
    subsampled at random. Types with ratio 0 are left out.

    Returns
    -------
    ndarray of int, shape (K,), in shuffled order (deterministic for ``seed``).
    """
    idx = label_types(labels)
    want = {t: float(r) for t, r in ratio.items() if r > 0}
    unknown = [t for t in want if t not in TYPE_CLS]
    if unknown:
        raise ValueError(f"unknown sample types {unknown} in ratio; valid: {list(TYPES)}")
    empty = [t for t in want if len(idx[t]) == 0]
    if empty:
        raise ValueError(f"no samples of type {empty} to mix (ratio {dict(ratio)})")
    unit = min(len(idx[t]) / r for t, r in want.items())
    rng = np.random.default_rng([seed, 7])
    keep = []
    for t in TYPES:
        if t in want:
            k = min(len(idx[t]), int(round(unit * want[t])))
            keep.append(np.sort(rng.choice(idx[t], size=k, replace=False)))
    keep = np.concatenate(keep)
    return keep[rng.permutation(len(keep))]


class BalancedBatchSampler:
    """Batches with a fixed number of samples of each type (RNet/ONet: 64 pos, 64 part, 64 landmark, 192 neg).

    Parameters
    ----------
    labels_or_counts : dict type -> int, or ndarray (N, 15) / (N,)
        With a dict (one record per type) each batch is a dict ``type -> indices into that type's
        record``. With labels (one array of all types) each batch is one index array into it, the
        types concatenated in the order pos, part, landmark, neg.
    sizes : dict type -> int, optional
        Samples of each type per batch; default ``{'pos': 64, 'part': 64, 'landmark': 64, 'neg': 192}``.
        A type of size 0 is left out.
    seed : int
    num_batches : int, optional
        Batches per epoch; default: enough that every sample of the largest type (relative to its
        batch share) is seen once. Smaller types are reshuffled and cycled.

    Every type walks through its own permutations (drawn from ``(seed, epoch, type)``), so an epoch is
    the same whatever else happens; call :meth:`set_epoch` to move on.
    """

    def __init__(self, labels_or_counts: Union[Mapping[str, int], np.ndarray], sizes: Optional[Mapping[str, int]] = None,
                 seed: int = 0, num_batches: Optional[int] = None):
        sizes = dict(BATCH_MIX if sizes is None else sizes)
        unknown = [t for t in sizes if t not in TYPE_CLS]
        if unknown:
            raise ValueError(f"unknown sample types {unknown}; valid: {list(TYPES)}")
        self.sizes = {t: int(sizes[t]) for t in TYPES if sizes.get(t, 0) > 0}
        if isinstance(labels_or_counts, Mapping):
            self._pools = {t: None for t in self.sizes}
            self.counts = {t: int(labels_or_counts.get(t, 0)) for t in self.sizes}
            self.by_type = True
        else:
            idx = label_types(labels_or_counts)
            self._pools = {t: idx[t] for t in self.sizes}
            self.counts = {t: len(idx[t]) for t in self.sizes}
            self.by_type = False
        empty = [t for t in self.sizes if self.counts[t] == 0]
        if empty:
            raise ValueError(f"no samples of type {empty}, but batches ask for {self.sizes}; "
                             f"counts: {self.counts}")
        self.seed = int(seed)
        self.epoch = 0
        self.num_batches = num_batches or max(-(-self.counts[t] // s) for t, s in self.sizes.items())

    @property
    def batch_size(self) -> int:
        return sum(self.sizes.values())

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_batches

    def _stream(self, t):
        n, s = self.counts[t], self.sizes[t]
        rng = np.random.default_rng([self.seed, self.epoch, TYPES.index(t)])
        need = self.num_batches * s
        perms = np.concatenate([rng.permutation(n) for _ in range(-(-need // n))])[:need]
        return perms.reshape(self.num_batches, s)

    def __iter__(self) -> Iterator:
        streams = {t: self._stream(t) for t in self.sizes}
        for b in range(self.num_batches):
            if self.by_type:
                yield {t: streams[t][b] for t in self.sizes}
            else:
                yield np.concatenate([self._pools[t][streams[t][b]] for t in self.sizes])


def find_records(net: str, records) -> Dict[str, str]:
    """Record prefixes for ``net`` under ``records``: ``{'all': prefix}`` (PNet) or ``{type: prefix}``.

    ``records`` may be the net's folder itself or a folder holding ``pnet/``, ``rnet/``, ``onet/``
    (as ``python -m mtcnn_gluon data`` writes). PNet reads ``train.rec`` (or ``pnet.rec``); RNet and
    ONet read ``pos``, ``part``, ``landmark`` and ``neg``.
    """
    root = os.fspath(records)
    for d in (os.path.join(root, net), root):
        if net == "pnet":
            for name in ("train", "pnet"):
                if os.path.isfile(os.path.join(d, name + ".rec")):
                    return {"all": os.path.join(d, name)}
        else:
            found = {t: os.path.join(d, t) for t in TYPES if os.path.isfile(os.path.join(d, t + ".rec"))}
            if found:
                return found
    want = "train.rec" if net == "pnet" else "pos.rec, part.rec, landmark.rec, neg.rec"
    raise FileNotFoundError(f"{root}: no {net} records found (looked for {want} in {root}/{net}/ and {root}/)")


def load_training_data(net: str, records) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Read the records of ``net`` into memory: dict name → (images uint8 (N, S, S, 3), labels (N, 15))."""
    pools = {}
    for name, prefix in find_records(net, records).items():
        images, labels = read_records(prefix)
        if len(images) and images.shape[1] != INPUT_SIZE[net]:
            raise ValueError(f"{prefix}.rec: {images.shape[1]} px samples, {net} trains on {INPUT_SIZE[net]} px")
        pools[name] = (images, labels)
    return pools


def split_train_val(labels: np.ndarray, fraction: float, cap: int, seed: int, share: float) -> Tuple[np.ndarray, np.ndarray]:
    """Train / validation indices, stratified by class; ``share`` of ``cap`` is this pool's cap."""
    rng = np.random.default_rng([seed, 1])
    train, val = [], []
    for c in (CLS_POS, CLS_PART, CLS_LANDMARK, CLS_NEG):
        idx = np.flatnonzero(labels[:, 0] == c)
        perm = idx[rng.permutation(len(idx))]
        n_val = int(round(len(idx) * fraction))
        n_val = min(n_val, int(cap * share * len(idx) / max(len(labels), 1)), max(len(idx) - 1, 0))
        val.append(perm[:n_val])
        train.append(perm[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def flip_samples(images: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> None:
    """Mirror the samples where ``mask`` is true, in place.

    Images ``(N, S, S, 3)`` are flipped left-right. Box offsets of positives and parts become
    ``(-dx2, dy1, -dx1, dy2)``, which is exact in the inclusive pixel convention. Landmarks become
    ``1 - x`` with the eyes and mouth corners swapped; the exact mirror of a label relative to a crop of
    ``w`` source pixels is ``(w - 1) / w - x`` (see :func:`mtcnn_gluon.data.sampling.invert_landmark_labels`),
    and ``w`` is not stored, so flipped landmarks are off by one source pixel (``1 / w``).
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        return
    images[mask] = images[mask][:, :, ::-1]
    cls = labels[:, 0]
    box = mask & ((cls == CLS_POS) | (cls == CLS_PART))
    if box.any():
        b = labels[box, BOX]
        labels[box, BOX] = np.stack([-b[:, 2], b[:, 1], -b[:, 0], b[:, 3]], axis=1)
    lmk = mask & (cls == CLS_LANDMARK)
    if lmk.any():
        p = labels[lmk, LANDMARKS].reshape(-1, 5, 2)[:, MIRROR_ORDER]
        p[:, :, 0] = 1.0 - p[:, :, 0]
        labels[lmk, LANDMARKS] = p.reshape(-1, 10)


#: BGR weights of the grey value (ITU-R BT.601 luma, as ``cv2.cvtColor(..., COLOR_BGR2GRAY)``).
GREY_BGR = np.array([0.114, 0.587, 0.299], np.float32)


def jitter_colour(images: np.ndarray, factors: np.ndarray) -> None:
    """Change brightness, contrast and saturation of uint8 BGR samples ``(N, S, S, 3)``, in place.

    ``factors`` ``(N, 3)`` are, per sample, ``(b, c, s)``: the pixels are multiplied by ``b``; then moved
    towards (``c < 1``) or away from their mean grey value by ``c``; then each pixel towards or away from
    its own grey value by ``s`` (``s = 0`` gives a grey image); rounded and clipped to [0, 255]. Factors
    of 1 leave a sample as it is. Labels do not change: boxes and landmarks are geometry.
    """
    if len(images) == 0:
        return
    f = np.asarray(factors, np.float32).reshape(len(images), 3, 1, 1, 1)
    x = images.astype(np.float32) * f[:, 0]
    mean_grey = (x @ GREY_BGR).mean(axis=(1, 2))[:, None, None, None]
    x = (x - mean_grey) * f[:, 1] + mean_grey
    grey = (x @ GREY_BGR)[..., None]
    x = (x - grey) * f[:, 2] + grey
    images[...] = np.clip(np.rint(x), 0, 255).astype(np.uint8)


def blur_samples(images: np.ndarray, sigmas) -> None:
    """Blur uint8 samples ``(N, S, S, 3)`` in place, sample ``i`` by a Gaussian of ``sigmas[i]`` px (OpenCV's,
    about 6 sigma + 1 px wide, borders reflected); a sigma of 0 leaves a sample as it is. Labels do
    not change: a blur moves no box or point."""
    for i in np.flatnonzero(np.asarray(sigmas) > 0):
        s = float(sigmas[i])
        images[i] = cv2.GaussianBlur(images[i], (0, 0), sigmaX=s, sigmaY=s, borderType=cv2.BORDER_REFLECT_101)


def scaled_mix(mix: Dict[str, int], batch_size: int) -> Dict[str, int]:
    """``mix`` scaled to sum to ``batch_size`` (floors; the remainder goes to the largest type)."""
    total = sum(mix.values())
    if total == batch_size:
        return dict(mix)
    out = {t: max(1, int(n * batch_size / total)) for t, n in mix.items()}
    biggest = max(out, key=lambda t: mix[t])
    out[biggest] += batch_size - sum(out.values())
    if out[biggest] < 1:
        raise ValueError(f"batch size {batch_size} is too small for the mix {mix}")
    return out


class TrainBatches:
    """Training batches as index arrays, one source (PNet merged) or one per type (RNet/ONet)."""

    def __init__(self, net, pools, train_idx, cfg):
        self.pools = pools
        self.train_idx = train_idx
        self.cfg = cfg
        if net == "pnet":
            self.kind = "merged"
            n = len(train_idx["all"])
            self.batch_size = min(cfg.batch_size, n)
            self.steps = max(1, n // self.batch_size)  # drop the last partial batch: one static shape
        else:
            self.kind = "typed"
            mix = scaled_mix(cfg.batch_mix, cfg.batch_size)
            missing = [t for t in mix if t not in train_idx or len(train_idx[t]) == 0]
            if missing:
                raise ValueError(f"{net}: no training samples of type {missing} (mix {mix})")
            self.sampler = BalancedBatchSampler({t: len(train_idx[t]) for t in mix}, sizes=mix, seed=cfg.seed)
            self.batch_size = self.sampler.batch_size
            self.steps = len(self.sampler)
        if cfg.steps_per_epoch:
            self.steps = min(self.steps, int(cfg.steps_per_epoch))
            if self.kind == "typed":
                self.sampler.num_batches = self.steps

    def epoch(self, epoch: int, rng: np.random.Generator):
        """Yield ``(images uint8 (B, S, S, 3), labels (B, 15))``; the order, flips, colour factors and blurs
        drawn from ``rng`` (colour factors and blurs only when they are on, so runs without them draw as before)."""
        if self.kind == "merged":
            images, labels = self.pools["all"]
            idx = self.train_idx["all"]
            order = idx[rng.permutation(len(idx))]
            batches = (order[b * self.batch_size:(b + 1) * self.batch_size] for b in range(self.steps))
            for sel in batches:
                yield self._finish(images[sel], labels[sel], rng)
        else:
            self.sampler.set_epoch(epoch)
            for batch in self.sampler:
                imgs, labs = [], []
                for t, sel in batch.items():
                    images, labels = self.pools[t]
                    rows = self.train_idx[t][sel]
                    imgs.append(images[rows])
                    labs.append(labels[rows])
                yield self._finish(np.concatenate(imgs), np.concatenate(labs), rng)

    def _finish(self, images, labels, rng):
        if self.cfg.flip:
            mask = rng.random(len(images)) < 0.5  # drawn for every sample either way: one random stream
            if not self.cfg.flip_landmarks:  # the records hold exact mirrors of the landmark crops already
                mask &= labels[:, 0] != CLS_LANDMARK
            flip_samples(images, labels, mask)
        if self.cfg.colour_jitter:
            s = self.cfg.colour_jitter
            jitter_colour(images, rng.uniform(1 - s, 1 + s, (len(images), 3)))
        if self.cfg.blur:
            lo, hi = self.cfg.blur_sigma
            chosen = rng.random(len(images)) < self.cfg.blur
            sigmas = rng.uniform(lo, hi, len(images)) * images.shape[1]
            blur_samples(images, np.where(chosen, sigmas, 0.0))
        return images, labels
