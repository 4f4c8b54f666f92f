"""Rebuild ``docs/images/astronaut_detections.png`` (scikit-image's astronaut, our published cascade
``pretrained/`` beside the original MTCNN weights) and ``docs/images/aligned_crops.png`` (the face aligned
to the ArcFace template at 112 and 160 px, as ``python -m mtcnn_gluon align`` writes it). Usage::

    MTCNN_DATA_ROOT=../shared/data python docs/make_figures.py
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from mtcnn_gluon.data.toy import packaged_photos
from mtcnn_gluon.detector import MTCNNDetector
from mtcnn_gluon.utils.align import align_face, template
from mtcnn_gluon.viz import draw_detections

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images", "astronaut_detections.png")
ALIGNED = os.path.join(os.path.dirname(OUT), "aligned_crops.png")
PANEL = 341  # px per side of each panel


def panel(img, weights, label, data_root):
    det = MTCNNDetector.from_weights(weights, data_root=data_root)
    boxes, pts = det.detect(img)
    drawn = cv2.resize(draw_detections(img, boxes, pts, thickness=2), (PANEL, PANEL), interpolation=cv2.INTER_AREA)
    (w, h), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.7, 2)
    cv2.rectangle(drawn, (0, 0), (w + 12, h + base + 10), (0, 0, 0), -1)
    cv2.putText(drawn, label, (6, h + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return drawn


def main():
    data_root = os.environ.get("MTCNN_DATA_ROOT")
    if not data_root:
        raise SystemExit("set MTCNN_DATA_ROOT (the original weights are drawn beside ours)")
    img = packaged_photos(("astronaut",))["astronaut"]
    figure = np.hstack([panel(img, "pretrained", "ours (pretrained/)", data_root),
                        panel(img, "reference", "original MTCNN", data_root)])
    cv2.imwrite(OUT, figure)
    print(f"wrote {OUT}")
    boxes, pts = MTCNNDetector.from_weights("pretrained").detect(img)
    tiles = []
    for size in (112, 160):
        crop, in_crop = align_face(img, pts[0], size)
        for (x, y), (tx, ty) in zip(in_crop, template(size)):
            cv2.circle(crop, (int(round(tx)), int(round(ty))), 3, (255, 255, 255), 1, cv2.LINE_AA)  # template
            cv2.circle(crop, (int(round(x)), int(round(y))), 2, (0, 200, 0), -1, cv2.LINE_AA)  # the face's points
        tiles.append(cv2.resize(crop, (PANEL, PANEL), interpolation=cv2.INTER_NEAREST if size < PANEL else cv2.INTER_AREA))
    source = cv2.resize(draw_detections(img, boxes, pts, thickness=2), (PANEL, PANEL), interpolation=cv2.INTER_AREA)
    cv2.imwrite(ALIGNED, np.hstack([source] + tiles))
    print(f"wrote {ALIGNED}")


if __name__ == "__main__":
    main()
