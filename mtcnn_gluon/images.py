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


def _jpeg_truncated(data: np.ndarray) -> bool:
    """Whether JPEG bytes stop before their end-of-image marker (``FFD9``).

    Walks the header segments to the first start-of-scan (so a thumbnail's ``FFD9`` inside EXIF does not
    count), then looks for ``FFD9`` after it; in entropy-coded data ``FF`` is always followed by ``00`` or a
    restart marker, so only the real end marker matches. Bytes after the marker (camera trailers) are fine.
    """
    if data.size < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return False  # not a JPEG
    buf = data.tobytes()
    pos, n = 2, len(buf)
    while pos + 4 <= n:
        if buf[pos] != 0xFF:
            return False  # malformed header: leave the verdict to the decoder
        marker = buf[pos + 1]
        if marker == 0xFF:
            pos += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:
            pos += 2
        elif marker == 0xDA:
            return buf.find(b"\xff\xd9", pos + 2) < 0
        else:
            pos += 2 + int.from_bytes(buf[pos + 2:pos + 4], "big")
    return True  # headers run off the end: cut before the image data


def read_image(path) -> np.ndarray:
    """Read an image file as ``uint8`` BGR ``(H, W, 3)``.

    EXIF orientation is ignored (pixels are used as stored), as WIDER FACE annotations expect.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ImageReadError
        The file exists but does not decode, or is a JPEG cut short (names the file and why).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such image file")
    data = np.fromfile(path, dtype=np.uint8)  # works with non-ASCII paths, unlike cv2.imread
    if data.size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    if _jpeg_truncated(data):
        # libjpeg decodes a cut-off file without an error, filling the missing rows with grey: the
        # crops taken there would be silently wrong, so refuse it.
        raise ImageReadError(f"{path}: truncated JPEG (no end-of-image marker after the image data, "
                             f"{data.size} bytes)")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise ImageReadError(f"{path}: not a decodable image ({data.size} bytes)")
    return to_bgr(img)
