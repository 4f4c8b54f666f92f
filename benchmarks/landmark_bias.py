"""Where an ONet's landmark error comes from: its mean signed offset per point, on the held-out faces.

For each weights (``reference``, ``pretrained`` or a folder with ``onet.params``) ONet predicts the five points
inside each held-out face's annotated box (``detector.predict_landmarks``, as ``eval`` does) and this prints the
NME, the mean signed error of every point in pixels (x right, y down), and, as a diagnosis only, the NME with
that mean offset taken away: what a net without the bias would score. (Subtracting an offset measured on the
test faces is not a method; it says how much of the error is a constant shift, which points at the labels.)
A training flip ``x -> 1 - x`` where the exact mirror is ``(w - 1) / w - x`` teaches mirrored samples a point
one source pixel too far right (``flip_samples``); half of them flipped gives a bias of about +0.5 source px in
x, and none in y. A second diagnosis asks whether the points are spread as much as they should be: in
box-relative coordinates it fits the truth as ``a + c * prediction`` per axis over all faces and points. A net
that predicts the mean of what a face could be has ``c`` near 1 (calibrated); ``c > 1`` means its points are
pulled toward the average face (under-fitted), and the NME after that per-axis fit says what it costs. Usage::

    MTCNN_DATA_ROOT=../shared/data python benchmarks/landmark_bias.py reference pretrained runs/x/cascade
"""
from __future__ import annotations

import argparse
import os

import numpy as np

from mtcnn_gluon.data.facepoint import parse_facepoint_list, landmark_list
from mtcnn_gluon.detector import MTCNNDetector, predict_landmarks
from mtcnn_gluon.eval.landmarks import evaluate_landmarks, landmark_nme
from mtcnn_gluon.utils.labels import POINT_NAMES


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", nargs="+", help="reference, pretrained or a folder with onet.params")
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    args = ap.parse_args()
    if not args.data_root:
        raise SystemExit("error: set MTCNN_DATA_ROOT or --data-root")
    faces = parse_facepoint_list(landmark_list(args.data_root))
    for weights in args.weights:
        try:
            det = MTCNNDetector.from_weights(weights, stages=("onet",), data_root=args.data_root)
        except (FileNotFoundError, ValueError) as e:  # a wrong folder or name: one line, not a traceback
            raise SystemExit(f"error: {e}")
        preds = []

        def predict(images, boxes):
            preds.append(predict_landmarks(det, images, boxes))
            return preds[-1]

        result = evaluate_landmarks(predict, args.data_root, progress=False)
        pred = np.concatenate(preds).astype(np.float64)
        truth = np.stack([faces[i].points for i in result.indices]).astype(np.float64)
        bias = (pred - truth).mean(axis=0)  # (5, 2) px
        eyes = np.linalg.norm(truth[:, 1] - truth[:, 0], axis=1).mean()
        print(f"{weights}: {result.summary()}")
        print(f"  mean inter-ocular distance {eyes:.1f} px; mean signed error per point (x, y) in px:")
        for name, (dx, dy) in zip(POINT_NAMES, bias):
            print(f"    {name:<12} {dx:+.3f} {dy:+.3f}")
        print(f"    {'all':<12} {bias[:, 0].mean():+.3f} {bias[:, 1].mean():+.3f}")
        print(f"  NME without the mean offset (diagnosis): {landmark_nme(pred - bias, truth).nme:.2%}; "
              f"without its x part only: {landmark_nme(pred - [bias[:, 0].mean(), 0], truth).nme:.2%}")
        boxes = np.stack([faces[i].box for i in result.indices]).astype(np.float64)
        origin, size = boxes[:, None, :2], (boxes[:, 2:] - boxes[:, :2] + 1)[:, None, :]
        u_pred, u_true = (pred - origin) / size, (truth - origin) / size  # box-relative, (N, 5, 2)
        fitted = np.empty_like(pred)
        slopes = []
        for axis in (0, 1):
            c, a = np.polyfit(u_pred[..., axis].ravel(), u_true[..., axis].ravel(), 1)
            slopes.append(c)
            fitted[..., axis] = (a + c * u_pred[..., axis]) * size[..., axis] + origin[..., axis]
        print(f"  truth against prediction, slope per axis (x, y): {slopes[0]:.3f} {slopes[1]:.3f}; "
              f"NME after that fit (diagnosis): {landmark_nme(fitted, truth).nme:.2%}")


if __name__ == "__main__":
    main()
