"""Pictures: detections with scores and landmarks on images; training samples drawn from their labels.

Detection drawing works on ``uint8`` BGR images (as everywhere in the package) and returns a new
image, so it can be written with ``cv2.imwrite`` or shown with :func:`show_detections` (matplotlib,
through gluoncv's ``plot_bbox`` for the boxes and scores).
"""
from __future__ import annotations

import cv2
import numpy as np

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
    import matplotlib.pyplot as plt
    from gluoncv.utils.viz import plot_bbox

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
# Training samples drawn back from their labels (issue 4). Self-contained: only cv2 and numpy.

_GRID_TYPES = (("pos", 1), ("part", -1), ("neg", 0), ("landmark", -2))
_GRID_POINT_COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255))


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
        BGR samples, as :func:`mtcnn_gluon.records.read_records` returns them.
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
    cls_of = dict(_GRID_TYPES)
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
                fx1, fy1 = lab[1] * size, lab[2] * size
                fx2, fy2 = (size - 1) + lab[3] * size, (size - 1) + lab[4] * size
                p1 = (int(round(fx1 * scale)), int(round(fy1 * scale)))
                p2 = (int(round((fx2 + 1) * scale)) - 1, int(round((fy2 + 1) * scale)) - 1)
                cv2.rectangle(tile, p1, p2, (0, 255, 0), 1)
            if t == "landmark":
                for j, colour in enumerate(_GRID_POINT_COLOURS):
                    # pixel index x sits at the centre of its enlarged cell
                    px = (lab[5 + 2 * j] * size + 0.5) * scale
                    py = (lab[6 + 2 * j] * size + 0.5) * scale
                    cv2.circle(tile, (int(round(px)), int(round(py))), max(1, scale // 2), colour, -1)
            grid[y0:y0 + cell, x0:x0 + cell] = tile
    if path is not None:
        cv2.imwrite(str(path), grid)
    return grid
