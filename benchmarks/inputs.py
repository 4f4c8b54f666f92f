"""The images the detector speed benchmarks time (``detect.py``, ``facenet.py``): no MXNet import, so a
benchmark running in another environment (facenet-pytorch's) picks the same ones."""
from __future__ import annotations

import glob
import os

import cv2


def speed_inputs(data_root, wider_images: int = 12) -> dict:
    """``{label: [BGR images]}``: the first ``wider_images`` WIDER val images 1024 px wide (crowds), and the
    shared photo resized to 640x480 and 1920x1080."""
    wider = []
    for path in sorted(glob.glob(os.path.join(data_root, "WIDER_FACE/WIDER_val/images/*/*.jpg"))):
        if len(wider) == wider_images:
            break
        img = cv2.imread(path)
        if img.shape[1] == 1024:
            wider.append(img)
    photo = cv2.imread(os.path.join(data_root, "photos/pangyupo_test2.jpg"))
    return {f"WIDER val, 1024 px wide ({len(wider)} images)": wider,
            "640x480 photo": [cv2.resize(photo, (640, 480))],
            "1920x1080 photo": [cv2.resize(photo, (1920, 1080))]}
