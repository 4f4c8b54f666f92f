"""Detector speed against facenet-pytorch's MTCNN, on the inputs of ``benchmarks/detect.py``.

facenet-pytorch needs torch, which this project does not install; so this script runs twice, once in a
separate environment that has facenet-pytorch and once in the project's, and each run prints median ms per
image (first call / repeated calls) and faces found per image for the same inputs: the first 12 WIDER val
images 1024 px wide, and the shared photo resized to 640x480 and 1920x1080. Same settings for both: min face
20, thresholds 0.6 / 0.7 / 0.7, pyramid factor 0.709, ``OMP_NUM_THREADS`` threads.

The registry's torch has a CPU build (``torch==2.13.0+cpu``), but its torchvision is built for the CUDA
torch and fails to import; facenet-pytorch's detector uses torchvision only for ``batched_nms``, so this
script stands in for it with a greedy NMS written in torch (a Python loop over kept boxes: slower than
torchvision's compiled op in crowds, so facenet's times are an upper bound there). Usage::

    python3.11 -m venv /tmp/fp && /tmp/fp/bin/pip install "torch==2.13.0+cpu" "numpy<2" pillow requests tqdm \\
        opencv-python-headless==4.8.1.78 && /tmp/fp/bin/pip install --no-deps facenet-pytorch==2.5.3
    OMP_NUM_THREADS=2 /tmp/fp/bin/python benchmarks/facenet.py facenet --data-root ../shared/data
    OMP_NUM_THREADS=2 python benchmarks/facenet.py ours --data-root ../shared/data
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import types

import numpy as np

from inputs import speed_inputs  # benchmarks/inputs.py: the images detect.py times

SETTINGS = dict(min_face=20, thresholds=(0.6, 0.7, 0.7), factor=0.709)


def facenet_detector():
    """facenet-pytorch's ``MTCNN(...).detect`` on BGR images, torchvision stubbed (see the module doc)."""
    import torch

    for name in ("torchvision", "torchvision.transforms", "torchvision.transforms.functional", "torchvision.ops",
                 "torchvision.ops.boxes"):
        sys.modules[name] = types.ModuleType(name)  # detection never calls the transforms
    sys.modules["torchvision.transforms"].functional = sys.modules["torchvision.transforms.functional"]
    sys.modules["torchvision.ops.boxes"].batched_nms = _batched_nms
    from facenet_pytorch import MTCNN

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    det = MTCNN(min_face_size=SETTINGS["min_face"], thresholds=list(SETTINGS["thresholds"]),
                factor=SETTINGS["factor"], post_process=False, keep_all=True, device="cpu")

    def detect(img):
        with torch.no_grad():
            boxes, _ = det.detect(np.ascontiguousarray(img[:, :, ::-1]))  # it takes RGB
        return [] if boxes is None else boxes

    return detect


def _batched_nms(boxes, scores, idxs, threshold):
    """torchvision's ``batched_nms``: greedy NMS per ``idxs`` group (groups kept apart by a coordinate shift)."""
    import torch

    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    boxes = boxes + (idxs.to(boxes) * (boxes.max() + 1))[:, None]
    x1, y1, x2, y2 = boxes.unbind(1)
    area = (x2 - x1) * (y2 - y1)
    order, keep = scores.argsort(descending=True), []
    while order.numel():
        i, rest = order[0], order[1:]
        keep.append(i)
        inter = ((torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
                 * (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0))
        order = rest[inter / (area[i] + area[rest] - inter) <= threshold]
    return torch.stack(keep)


def our_detector(data_root):
    from mtcnn_gluon.detector import MTCNNDetector

    det = MTCNNDetector.from_weights("reference", data_root=data_root, backend="onnx", **SETTINGS)
    return lambda img: det.detect(img)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("detector", choices=("facenet", "ours"))
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    if not args.data_root:
        raise SystemExit("set MTCNN_DATA_ROOT or --data-root")
    detect = facenet_detector() if args.detector == "facenet" else our_detector(args.data_root)
    name = "facenet-pytorch" if args.detector == "facenet" else "ours (onnxruntime)"
    for label, imgs in speed_inputs(args.data_root).items():
        rep = args.repeat if len(imgs) > 1 else 4 * args.repeat
        first, again, faces = [], [], []
        for img in imgs:
            for r in range(rep + 1):
                t = time.perf_counter()
                found = detect(img)
                (again if r else first).append(time.perf_counter() - t)
            faces.append(len(found))
        print(f"| {name} | {label} | {1000 * np.median(first):.0f} / {1000 * np.median(again):.0f} | "
              f"{np.mean(faces):.1f} |", flush=True)


if __name__ == "__main__":
    main()
