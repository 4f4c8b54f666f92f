"""The label of a training sample, stated once for the whole package.

One float32 vector of :data:`LABEL_SIZE` numbers per sample::

    [cls, dx1, dy1, dx2, dy2, x1, y1, x2, y2, x3, y3, x4, y4, x5, y5]

``cls`` says what the sample is and so which heads it trains (see :mod:`mtcnn_gluon.model.losses`):
1 positive (classification and box), 0 negative (classification), -1 part face (box), -2 landmark face
(landmarks). Box offsets are :func:`mtcnn_gluon.utils.boxes.encode_offsets` of the crop and its face;
landmarks are relative to the crop, ``x, y`` interleaved per point in :data:`POINT_NAMES` order. Fields a
type does not use are 0.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

__all__ = ["LABEL_SIZE", "CLS_POS", "CLS_NEG", "CLS_PART", "CLS_LANDMARK", "TYPE_CLS", "TYPES", "BOX",
           "LANDMARKS", "POINT_NAMES", "MIRROR_ORDER", "make_labels", "label_types", "type_counts"]

LABEL_SIZE = 15
CLS_POS, CLS_NEG, CLS_PART, CLS_LANDMARK = 1, 0, -1, -2
#: Sample type name -> class value.
TYPE_CLS = {"pos": CLS_POS, "part": CLS_PART, "landmark": CLS_LANDMARK, "neg": CLS_NEG}
#: Type order used for batches, records and summaries.
TYPES = ("pos", "part", "landmark", "neg")
#: Where the box offsets and the landmarks sit in a label vector.
BOX = slice(1, 5)
LANDMARKS = slice(5, 15)
#: The five points, in label order.
POINT_NAMES = ("left eye", "right eye", "nose", "left mouth", "right mouth")
#: Point order after a horizontal flip: the left eye becomes the right eye, and so on.
MIRROR_ORDER = np.array([1, 0, 2, 4, 3])


def make_labels(cls, offsets=None, landmarks=None) -> np.ndarray:
    """Label vectors from parts.

    Parameters
    ----------
    cls : array_like, shape (N,)
    offsets : array_like, shape (N, 4), optional
    landmarks : array_like, shape (N, 5, 2) or (N, 10), optional
        Relative to the crop, x, y per point.

    Returns
    -------
    ndarray, float32, shape (N, 15)
    """
    cls = np.asarray(cls, np.float32).reshape(-1)
    out = np.zeros((len(cls), LABEL_SIZE), np.float32)
    out[:, 0] = cls
    if offsets is not None:
        out[:, BOX] = np.asarray(offsets, np.float32).reshape(-1, 4)
    if landmarks is not None:
        out[:, LANDMARKS] = np.asarray(landmarks, np.float32).reshape(-1, 10)
    return out


def label_types(labels) -> Dict[str, np.ndarray]:
    """Indices of each type in ``labels`` (N, 15) or a class vector (N,)."""
    labels = np.asarray(labels)
    cls = labels[:, 0] if labels.ndim == 2 else labels
    return {t: np.flatnonzero(cls == c) for t, c in TYPE_CLS.items()}


def type_counts(labels) -> Dict[str, int]:
    """Samples of each type, in :data:`TYPES` order (all 0 for no labels)."""
    if len(labels) == 0:
        return {t: 0 for t in TYPES}
    return {t: int(len(v)) for t, v in label_types(labels).items()}
