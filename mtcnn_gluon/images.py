"""Reading images the way the rest of the package expects them: ``uint8`` BGR, ``(H, W, 3)``."""
from __future__ import annotations

import os

import cv2
import numpy as np

__all__ = ["ImageReadError", "read_image", "to_bgr"]


class ImageReadError(OSError):
    """An image file that exists but cannot be decoded (empty, truncated, not an image)."""


def to_bgr(img: np.ndarray) -> np.ndarray:
    """Return ``img`` as a 3-channel ``uint8`` BGR array.

    Greyscale ``(H, W)`` or ``(H, W, 1)`` is replicated, BGRA drops alpha, 16-bit is scaled to 8 bits.
    """
    img = np.asarray(img)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        if img.size and np.issubdtype(img.dtype, np.floating) and img.max() <= 1.0:
            img = img * 255.0
        img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim == 3 and img.shape[2] == 3:
        return np.ascontiguousarray(img)
    raise ValueError(f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {img.shape}")


def read_image(path) -> np.ndarray:
    """Read an image file as ``uint8`` BGR ``(H, W, 3)``.

    EXIF orientation is ignored (pixels are used as stored), as WIDER FACE annotations expect.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ImageReadError
        The file exists but does not decode (names the file and why).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such image file")
    data = np.fromfile(path, dtype=np.uint8)  # works with non-ASCII paths, unlike cv2.imread
    if data.size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise ImageReadError(f"{path}: not a decodable image ({data.size} bytes)")
    return to_bgr(img)
