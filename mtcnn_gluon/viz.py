"""Pictures: detections on images, training samples drawn from their labels, training and PR curves.

Detection drawing works on ``uint8`` BGR images (as everywhere in the package) and returns a new
image, so it can be written with ``cv2.imwrite`` or shown with :func:`show_detections` (matplotlib,
through gluoncv's ``plot_bbox`` for the boxes and scores).

Curves are drawn on ``matplotlib.figure.Figure`` objects, not through pyplot: saving one never touches
pyplot's backend, so a notebook that trains keeps showing its figures inline.
"""
from __future__ import annotations

import os

import cv2
import matplotlib.pyplot as plt
import numpy as np
from gluoncv.utils.viz import plot_bbox
from matplotlib.figure import Figure

from .utils.labels import BOX, LANDMARKS, TYPE_CLS

__all__ = ["POINT_COLOURS", "draw_detections", "show_detections", "draw_sample_grid", "plot_pr_curves",
           "plot_training_curves"]

# BGR colours of the 5 points: left eye, right eye, nose, left mouth corner, right mouth corner
POINT_COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]


def draw_detections(img: np.ndarray, boxes, landmarks=None, colour=(0, 255, 0), thickness=None,
                    show_scores: bool = True) -> np.ndarray:
    """Draw boxes ``(N, 5)`` (with score) or ``(N, 4)`` and landmarks ``(N, 5, 2)`` on a copy of ``img``.

    Line width and text size follow the image size so a 4000 px photo is as readable as a 640 px one.
    """
    out = np.ascontiguousarray(img.copy())
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, np.asarray(boxes).shape[-1] if len(boxes) else 4)
    scale = max(out.shape[:2]) / 640.0
    thickness = thickness or max(1, int(round(1.5 * scale)))
    for i, b in enumerate(boxes):
        x1, y1, x2, y2 = (int(round(v)) for v in b[:4])
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        if show_scores and len(b) > 4:
            cv2.putText(out, f"{b[4]:.2f}", (x1, max(0, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale,
                        colour, thickness, cv2.LINE_AA)
        if landmarks is not None and len(landmarks) > i:
            for (px, py), c in zip(np.asarray(landmarks[i]).reshape(5, 2), POINT_COLOURS):
                cv2.circle(out, (int(round(px)), int(round(py))), max(1, thickness + 1), c, -1)
    return out


def show_detections(img: np.ndarray, boxes, landmarks=None, ax=None, title=None, thresh: float = 0.0):
    """Matplotlib figure of detections: gluoncv's ``plot_bbox`` for boxes and scores, dots for landmarks.

    Returns the axes.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5) if len(boxes) else np.zeros((0, 5))
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 8 * img.shape[0] / max(img.shape[1], 1)))
    rgb = img[:, :, ::-1]
    ax = plot_bbox(rgb, boxes[:, :4], scores=boxes[:, 4], labels=np.zeros(len(boxes)), thresh=thresh,
                   class_names=["face"], ax=ax, linewidth=2, colors={0: (0.1, 0.9, 0.1)})
    if landmarks is not None and len(landmarks):
        pts = np.asarray(landmarks).reshape(-1, 5, 2)
        for k, c in enumerate(POINT_COLOURS):
            ax.scatter(pts[:, k, 0], pts[:, k, 1], s=12, color=np.array(c[::-1]) / 255.0, zorder=3)
    if title:
        ax.set_title(title)
    ax.axis("off")
    return ax


# ----------------------------------------------------------------------------------------------------
# Training samples drawn back from their labels

def draw_sample_grid(images, labels, per_type: int = 8, scale: int = 4, seed: int = 0, path=None,
                     types=("pos", "part", "neg", "landmark")) -> np.ndarray:
    """A grid of training samples, one row per type, with the labels drawn back onto them.

    Box offsets are decoded against the sample itself (the crop is ``[0, S - 1]`` in both axes, the
    ``+ 1`` convention of ``boxes.py``): the green rectangle is where the label says the face is.
    Landmarks ``(x, y) * S`` are drawn as dots (blue left eye, green right eye, red nose, cyan left
    mouth corner, yellow right mouth corner), so a mirrored sample whose points were not swapped shows
    blue on the right.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, S, S, 3)
        BGR samples, as :func:`mtcnn_gluon.data.records.read_records` returns them.
    labels : ndarray, shape (N, 15)
    per_type : int
        Samples shown per type (chosen at random with ``seed``; fewer if there are fewer).
    scale : int
        Each sample is enlarged this many times (nearest neighbour) before drawing.
    seed : int
    path : str or Path, optional
        Also write the grid there (``cv2.imwrite``).
    types : sequence of str
        Rows, from 'pos', 'part', 'neg', 'landmark'.

    Returns
    -------
    ndarray, uint8, (H, W, 3) BGR grid.
    """
    images = np.asarray(images)
    labels = np.asarray(labels, np.float64).reshape(len(images), -1)
    if len(images) == 0:
        raise ValueError("draw_sample_grid: no samples")
    size = images.shape[1]
    cell = size * scale
    pad, label_w = 4, 120
    cls_of = TYPE_CLS
    unknown = [t for t in types if t not in cls_of]
    if unknown:
        raise ValueError(f"unknown sample types {unknown}; valid: {list(cls_of)}")
    rng = np.random.default_rng(seed)
    grid = np.full((len(types) * (cell + pad) + pad, label_w + per_type * (cell + pad) + pad, 3), 40, np.uint8)
    for r, t in enumerate(types):
        idx = np.flatnonzero(labels[:, 0] == cls_of[t])
        chosen = np.sort(rng.choice(idx, size=min(per_type, len(idx)), replace=False)) if len(idx) else []
        y0 = pad + r * (cell + pad)
        cv2.putText(grid, f"{t} ({len(idx)})", (4, y0 + cell // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (255, 255, 255), 1, cv2.LINE_AA)
        for c, k in enumerate(chosen):
            x0 = label_w + pad + c * (cell + pad)
            tile = cv2.resize(images[k], (cell, cell), interpolation=cv2.INTER_NEAREST)
            lab = labels[k]
            if t in ("pos", "part"):
                # face = crop + offsets * (S) with the crop at [0, S - 1]; pixel i covers [i*scale, (i+1)*scale)
                dx1, dy1, dx2, dy2 = lab[BOX]
                fx1, fy1 = dx1 * size, dy1 * size
                fx2, fy2 = (size - 1) + dx2 * size, (size - 1) + dy2 * size
                p1 = (int(round(fx1 * scale)), int(round(fy1 * scale)))
                p2 = (int(round((fx2 + 1) * scale)) - 1, int(round((fy2 + 1) * scale)) - 1)
                cv2.rectangle(tile, p1, p2, (0, 255, 0), 1)
            if t == "landmark":
                for (x, y), colour in zip(lab[LANDMARKS].reshape(5, 2), POINT_COLOURS):
                    # pixel index x sits at the centre of its enlarged cell
                    px = (x * size + 0.5) * scale
                    py = (y * size + 0.5) * scale
                    cv2.circle(tile, (int(round(px)), int(round(py))), max(1, scale // 2), colour, -1)
            grid[y0:y0 + cell, x0:x0 + cell] = tile
    if path is not None:
        cv2.imwrite(str(path), grid)
    return grid


# ----------------------------------------------------------------------------------------------------
# Curves

def plot_pr_curves(result, label: str = "MTCNN", path=None, fig=None):
    """Precision-recall curves of the three settings, one panel each, AP in the legend.

    Parameters
    ----------
    result : mtcnn_gluon.eval.wider.WiderResult
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
    settings = list(result.ap)
    if fig is None:
        fig = Figure(figsize=(4 * len(settings), 4), layout="constrained")
    axes = fig.subplots(1, len(settings), squeeze=False)[0]
    for ax, s in zip(axes, settings):
        rec, prec = np.asarray(result.recall[s], float), np.asarray(result.precision[s], float)
        ok = ~(np.isnan(rec) | np.isnan(prec))
        # the curve has one point per threshold, most of them equal on small sets: draw its distinct points
        # as markers joined by steps, so that even a single point (constant recall) is visible
        pts = np.unique(np.column_stack([rec[ok], prec[ok]]), axis=0)
        ax.plot(pts[:, 0], pts[:, 1], drawstyle="steps-post", lw=2, marker="o", ms=4,
                label=f"{label} {result.ap[s]:.3f}")
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="Recall", ylabel="Precision",
               title=f"{s}: {result.n_faces[s]} faces, {result.n_images[s]} images")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower left")
    if path is not None:
        fig.savefig(path)
    return fig


_CURVE_PANELS = (
    ("classification", (("train_cls_loss", "train CE (OHEM)"), ("val_cls_loss", "val CE"))),
    ("accuracy", (("val_acc", "val acc"), ("val_pos_acc", "val pos acc"), ("val_neg_acc", "val neg acc"),
                  ("val_recall", "val recall"))),
    ("box L2", (("train_box_loss", "train"), ("val_box_l2", "val"))),
    ("landmark L2", (("train_landmark_loss", "train"), ("val_landmark_l2", "val"))),
)


def plot_training_curves(rows, net_name: str, path=None):
    """The four panels of a training run (classification loss, accuracies and recall, box and landmark L2)
    against the epoch, from the rows of ``metrics.csv``; saved to ``path`` atomically when given.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(16, 3.6), layout="tight")
    axes = fig.subplots(1, len(_CURVE_PANELS))
    ep = [r["epoch"] for r in rows]
    for ax, (title, series) in zip(axes, _CURVE_PANELS):
        for key, label in series:
            ax.plot(ep, [r.get(key, float("nan")) for r in rows], marker="o", ms=3, label=label)
        ax.set_title(f"{net_name}: {title}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if path is not None:
        tmp = os.path.join(os.path.dirname(os.fspath(path)), ".curves.tmp.png")
        fig.savefig(tmp, dpi=80)
        os.replace(tmp, path)
    return fig
