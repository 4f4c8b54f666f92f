"""Hard examples for the next net: what the earlier stages detect on the training images.

RNet trains on PNet's candidate windows and ONet on what PNet + RNet keep, each labelled by IoU with
the ground truth (neg < 0.3, part 0.4–0.65, pos >= 0.65). The windows are cropped exactly as the
detector crops them at test time (:func:`mtcnn_gluon.utils.images.crop_and_resize`), so the next net
learns on the inputs it will see.

The work is split into shards of images; each finished shard is saved (``shards/NNNNN.npz``, written
atomically, read with ``allow_pickle=False``) and skipped when the step is run again, so an interrupted
run resumes where it stopped. The final records are built from all shards in image order.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from .config import INPUT_SIZE, MiningConfig, config_to_dict
from .detector import MTCNNDetector
from .utils import boxes as bx
from .utils.files import save_npz, write_json
from .utils.images import crop_and_resize, try_read_image
from .utils.labels import BOX, CLS_NEG, CLS_PART, CLS_POS, LABEL_SIZE, type_counts
from .utils.progress import tqdm

__all__ = ["MiningConfig", "label_windows", "mine_image", "mine_hard_examples", "load_mined", "stage_recall",
           "covered_faces"]


def label_windows(windows: np.ndarray, gt: np.ndarray, cfg: MiningConfig, rng: np.random.Generator):
    """Label candidate windows by IoU with the faces.

    Parameters
    ----------
    windows : ndarray, shape (N, 4+)
        Integer square windows.
    gt : ndarray, shape (M, 4)
        Face boxes (usable ones).

    Returns
    -------
    keep : ndarray of int, shape (K,)
        Indices of the windows used as samples.
    labels : ndarray, float32, shape (K, 15)
        ``[cls, offsets to the best face, 10 zeros]``.
    """
    windows = np.asarray(windows, np.float64).reshape(-1, windows.shape[-1] if len(windows) else 4)[:, :4]
    if len(windows) == 0:
        return np.zeros(0, np.int64), np.zeros((0, LABEL_SIZE), np.float32)
    size = np.minimum(windows[:, 2] - windows[:, 0] + 1, windows[:, 3] - windows[:, 1] + 1)
    ok = size >= cfg.min_window
    if len(gt):
        ious = bx.iou_matrix(windows, gt)
        best = ious.argmax(axis=1)
        best_iou = ious[np.arange(len(windows)), best]
    else:
        best = np.zeros(len(windows), np.int64)
        best_iou = np.zeros(len(windows))
    neg = np.nonzero(ok & (best_iou < cfg.neg_iou))[0]
    if len(neg) > cfg.max_neg_per_image:
        neg = np.sort(rng.choice(neg, cfg.max_neg_per_image, replace=False))
    pos = np.nonzero(ok & (best_iou >= cfg.pos_iou))[0]
    part = np.nonzero(ok & (best_iou >= cfg.part_iou) & (best_iou < cfg.pos_iou))[0]
    keep = np.concatenate([pos, part, neg])
    labels = np.zeros((len(keep), LABEL_SIZE), np.float32)
    labels[: len(pos), 0] = CLS_POS
    labels[len(pos): len(pos) + len(part), 0] = CLS_PART
    labels[len(pos) + len(part):, 0] = CLS_NEG
    face_side = np.concatenate([pos, part])
    if len(face_side):
        labels[: len(face_side), BOX] = bx.encode_offsets(windows[face_side], gt[best[face_side]])
    return keep, labels


def mining_detector(detector: MTCNNDetector, cfg: MiningConfig) -> MTCNNDetector:
    """The detector at the mining settings (low thresholds, keep recall high); ``detector`` is unchanged."""
    return detector.with_config(thresholds=cfg.thresholds, min_face=cfg.min_face, max_candidates=cfg.max_windows)


def _stage_windows(detector: MTCNNDetector, img: np.ndarray, stage: str) -> np.ndarray:
    windows = detector.run_pnet(img)
    if stage == "onet" and len(windows):
        windows = detector.run_rnet(img, windows)
    return windows


def covered_faces(windows: np.ndarray, gt: np.ndarray, iou: float) -> np.ndarray:
    """Whether each face ``gt`` (M, 4) is covered by one of ``windows`` at IoU >= ``iou``; (M,) bool."""
    if len(gt) == 0:
        return np.zeros(0, bool)
    if len(windows) == 0:
        return np.zeros(len(gt), bool)
    return bx.iou_matrix(gt, windows[:, :4]).max(axis=1) >= iou


def mine_image(detector: MTCNNDetector, img: np.ndarray, gt: np.ndarray, stage: str, cfg: MiningConfig,
               rng: np.random.Generator):
    """Samples for ``stage`` (``'rnet'`` or ``'onet'``) from one image.

    Returns
    -------
    crops : ndarray, uint8, shape (K, S, S, 3)
    labels : ndarray, float32, shape (K, 15)
    covered : ndarray of bool, shape (M,)
        Whether each face is covered by a window at ``cfg.recall_iou``.
    n_windows : int
    """
    size = INPUT_SIZE[stage]
    windows = _stage_windows(detector, img, stage)
    keep, labels = label_windows(windows, gt, cfg, rng)
    crops = crop_and_resize(img, windows[keep], size, round_uint8=(stage == "rnet"))
    crops = np.clip(np.round(crops), 0, 255).astype(np.uint8)
    return crops, labels, covered_faces(windows, gt, cfg.recall_iou), len(windows)


def mine_hard_examples(detector: MTCNNDetector, wider, stage: str, out_dir, cfg: MiningConfig = None,
                       seed: int = 0, limit: int | None = None, progress: bool = True) -> dict:
    """Run the earlier stages over WIDER FACE training images and collect labelled crops.

    Parameters
    ----------
    detector : MTCNNDetector
        With PNet (``stage='rnet'``) or PNet + RNet (``stage='onet'``) loaded. It runs at the mining
        settings (``cfg.thresholds``, ``cfg.min_face``, ``cfg.max_windows``; :func:`mining_detector`),
        on a copy: the caller's detector keeps its own.
    wider : WiderSet
        From :func:`mtcnn_gluon.data.wider.load_wider`.
    stage : {'rnet', 'onet'}
        The net the samples are for.
    out_dir : path
        Receives ``shards/`` (resumable partial results) and ``mined.npz`` (all crops and labels).
    limit : int, optional
        Only the first ``limit`` images.

    Returns
    -------
    dict
        Summary: counts per type, windows per image, recall on the training images, skipped images.
    """
    if stage not in ("rnet", "onet"):
        raise ValueError(f"stage must be 'rnet' or 'onet', got {stage!r}")
    cfg = cfg or MiningConfig()
    out_dir = Path(out_dir)
    shard_dir = out_dir / "shards"
    stages = ("pnet",) if stage == "rnet" else ("pnet", "rnet")
    key = {"stage": stage, "weights": detector.fingerprint(stages), "images": images_fingerprint(wider),
           "seed": seed, "limit": limit, "config": config_to_dict(cfg)}
    _discard_stale_shards(out_dir, key)
    shard_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "mining.json", key)
    detector = mining_detector(detector, cfg)
    images = wider.images[:limit] if limit else wider.images
    n_shards = (len(images) + cfg.shard_size - 1) // cfg.shard_size
    bar = tqdm(total=len(images), desc=f"mining for {stage}", unit="img", disable=not progress)
    for s in range(n_shards):
        path = shard_dir / f"{s:05d}.npz"
        chunk = images[s * cfg.shard_size:(s + 1) * cfg.shard_size]
        if path.is_file():
            bar.update(len(chunk))
            continue
        save_npz(path, **_mine_shard(detector, wider, chunk, s * cfg.shard_size, stage, cfg, seed, bar))
    bar.close()
    return dict(_gather(shard_dir, n_shards, out_dir, stage, cfg, seed), weights=key["weights"])


#: What each field of ``mining.json`` stands for, in the message that it changed.
_KEY_FIELDS = {"stage": "the stage", "weights": "the earlier nets' weights", "images": "the training images",
               "seed": "the seed", "limit": "the image limit", "config": "the mining settings"}


def images_fingerprint(wider) -> str:
    """SHA-1 of which images a split holds and their annotations, not of where they lie: a run folder or a
    dataset moved elsewhere keeps its shards, an edited annotation list does not."""
    h = hashlib.sha1()
    for item in wider.images:
        h.update(item.name.encode())
        h.update(np.ascontiguousarray(item.boxes, np.float64).tobytes())
        h.update(np.ascontiguousarray(item.usable).tobytes())
    return h.hexdigest()


def _discard_stale_shards(out_dir: Path, key: dict) -> None:
    """Shards are reused only when mined by the same nets with the same settings on the same images: when
    the earlier nets were retrained (or the settings or images changed) the shards and the gathered crops
    are removed, and the message names what changed."""
    path = out_dir / "mining.json"
    if not path.is_file():
        return
    old, new = json.loads(path.read_text()), json.loads(json.dumps(key))
    if old == new:
        return
    changed = [text for field, text in _KEY_FIELDS.items() if old.get(field) != new.get(field)] or ["the key"]
    print(f"{out_dir}: {', '.join(changed)} changed since these shards were mined: mining again")
    shutil.rmtree(out_dir / "shards", ignore_errors=True)
    (out_dir / "mined.npz").unlink(missing_ok=True)


def _mine_shard(detector, wider, chunk, first: int, stage: str, cfg: MiningConfig, seed: int, bar) -> dict:
    """Mine the images ``chunk`` (``first`` is the index of its first image): the arrays of one shard."""
    crops, labels, covered, n_windows, skipped = [], [], [], [], []
    for k, item in enumerate(chunk):
        img, skip = try_read_image(wider.path(item))
        bar.update(1)
        if img is None:
            skipped.append(f"{skip.path}: {skip.reason}: {skip.detail}")
            continue
        gt = item.boxes[item.usable]
        rng = np.random.default_rng([seed, first + k])
        c, l, cov, n = mine_image(detector, img, gt, stage, cfg, rng)
        big = (np.maximum(gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]) + 1) >= cfg.recall_min_face
        crops.append(c)
        labels.append(l)
        covered.append(cov[big])
        n_windows.append(n)
    size = INPUT_SIZE[stage]
    return {"crops": np.concatenate(crops) if crops else np.zeros((0, size, size, 3), np.uint8),
            "labels": np.concatenate(labels) if labels else np.zeros((0, LABEL_SIZE), np.float32),
            "covered": np.concatenate(covered) if covered else np.zeros(0, bool),
            "n_windows": np.asarray(n_windows, np.int64), "skipped": np.asarray(skipped, dtype=str)}


def _gather(shard_dir: Path, n_shards: int, out_dir: Path, stage: str, cfg: MiningConfig, seed: int) -> dict:
    crops, labels, covered, n_windows, skipped = [], [], [], [], []
    for s in range(n_shards):
        with np.load(shard_dir / f"{s:05d}.npz", allow_pickle=False) as z:
            crops.append(z["crops"])
            labels.append(z["labels"])
            covered.append(z["covered"])
            n_windows.append(z["n_windows"])
            skipped += [str(v) for v in z["skipped"]]
    crops = np.concatenate(crops)
    labels = np.concatenate(labels)
    covered = np.concatenate(covered)
    n_windows = np.concatenate(n_windows)
    save_npz(out_dir / "mined.npz", crops=crops, labels=labels)
    summary = {
        "stage": stage,
        "images": int(len(n_windows)),
        "skipped": skipped,
        "windows_per_image": float(n_windows.mean()) if len(n_windows) else 0.0,
        "counts": {t: n for t, n in type_counts(labels).items() if t != "landmark"},
        "train_recall": float(covered.mean()) if len(covered) else float("nan"),
        "faces_for_recall": int(len(covered)),
        "config": config_to_dict(cfg),
        "seed": seed,
    }
    write_json(out_dir / "mining_summary.json", summary)
    return summary


def load_mined(out_dir):
    """``(crops uint8 (N, S, S, 3), labels float32 (N, 15))`` from a finished mining folder."""
    with np.load(Path(out_dir) / "mined.npz", allow_pickle=False) as z:
        return z["crops"], z["labels"]


def stage_recall(detector: MTCNNDetector, wider, stage: str, cfg: MiningConfig = None, limit: int | None = None,
                 progress: bool = True) -> dict:
    """Share of faces (>= ``cfg.recall_min_face`` px, usable) covered at IoU >= ``cfg.recall_iou`` by the
    windows that PNet (``stage='rnet'``) or PNet + RNet (``stage='onet'``) pass on; with mining thresholds.

    Returns ``{"recall", "faces", "images", "windows_per_image"}``.
    """
    cfg = cfg or MiningConfig()
    detector = mining_detector(detector, cfg)
    covered, n_windows = [], []
    for item in tqdm(wider.images[:limit] if limit else wider.images, desc=f"recall before {stage}",
                     unit="img", disable=not progress):
        img, _ = try_read_image(wider.path(item))
        if img is None:
            continue
        gt = item.boxes[item.usable]
        big = (np.maximum(gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]) + 1) >= cfg.recall_min_face
        windows = _stage_windows(detector, img, stage)
        covered.append(covered_faces(windows, gt[big], cfg.recall_iou))
        n_windows.append(len(windows))
    covered = np.concatenate(covered) if covered else np.zeros(0, bool)
    return {"recall": float(covered.mean()) if len(covered) else float("nan"), "faces": int(len(covered)),
            "images": len(n_windows), "windows_per_image": float(np.mean(n_windows)) if n_windows else 0.0}
