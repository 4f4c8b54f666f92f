"""Aligned face crops for recognition: the 5-point similarity transform to the ArcFace template.

A similarity transform (rotation, uniform scale, translation) maps the detected eyes, nose and mouth corners
as close as possible (least squares, Umeyama 1991) onto fixed positions in a 112 x 112 crop — the template
ArcFace and most recognition models are trained on. ``size=160`` scales the template by 160 / 112.
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["ARCFACE_112", "template", "similarity_transform", "align_face"]

#: Left eye, right eye, nose, left and right mouth corner in the 112 x 112 ArcFace crop (x, y), px.
ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]])


def template(size: int = 112) -> np.ndarray:
    """The five target points for a ``size`` x ``size`` crop, shape (5, 2)."""
    if size <= 0:
        raise ValueError(f"size: expected a crop size > 0 px, got {size}")
    return ARCFACE_112 * (size / 112.0)


def similarity_transform(src, dst) -> np.ndarray:
    """The 2 x 3 matrix ``M`` of the similarity ``x -> s R x + t`` that best maps ``src`` onto ``dst``.

    Least squares over the points (Umeyama's closed form): with centred points ``a = src - mean``,
    ``b = dst - mean``, ``U S V^T = svd(b^T a / n)``, ``R = U D V^T`` (``D`` fixes a reflection),
    ``s = trace(S D) / var(a)``, ``t = mean(dst) - s R mean(src)``.

    Parameters
    ----------
    src, dst : array_like, shape (K, 2), K >= 2
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"expected two (K, 2) point sets with K >= 2, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    var = (a ** 2).sum() / len(a)
    if var == 0:
        raise ValueError("the source points coincide: no transform")
    u, sig, vt = np.linalg.svd(b.T @ a / len(a))
    d = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ d @ vt
    scale = np.trace(np.diag(sig) @ d) / var
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def align_face(img: np.ndarray, landmarks, size: int = 112):
    """Warp ``img`` so that the face's five ``landmarks`` (5, 2) land on the template.

    Returns
    -------
    crop : ndarray, uint8, shape (size, size, 3)
    points : ndarray, shape (5, 2)
        The landmarks in the crop's pixels.
    """
    m = similarity_transform(np.asarray(landmarks, np.float64).reshape(5, 2), template(size))
    crop = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    pts = np.asarray(landmarks, np.float64).reshape(5, 2) @ m[:, :2].T + m[:, 2]
    return crop, pts
