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
