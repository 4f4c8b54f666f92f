"""CNN_FacePoint training list (Sun, Wang, Tang 2013): ``trainImageList.txt``.

Line format: ``path left right top bottom x1 y1 x2 y2 x3 y3 x4 y4 x5 y5`` with Windows separators in
``path``. Note the box order *left right top bottom*; it is returned as ``(x1, y1, x2, y2) =
(left, top, right, bottom)``, treated as inclusive pixel indices like every box in this package (as the
classic MTCNN scripts do: width ``right - left + 1``). Points: left eye, right eye, nose, left mouth
corner, right mouth corner.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

import numpy as np

from ..utils.files import read_list_text
from ..utils.labels import POINT_NAMES
from .wider import AnnotationFormatError

__all__ = ["FacePoint", "FacePointSet", "parse_facepoint_list", "load_facepoint", "POINT_NAMES",
           "LANDMARK_HOLDOUT", "LANDMARK_SEED", "landmark_split", "holdout_indices", "landmark_list"]

LANDMARK_HOLDOUT = 0.1  # share of trainImageList.txt held out for evaluation
LANDMARK_SEED = 0  # fixes which faces are held out


@dataclass
class FacePoint:
    """One annotated face.

    Attributes
    ----------
    name : str
        Path relative to the list's folder, with ``/`` separators.
    box : ndarray, float64, shape (4,)
        ``(left, top, right, bottom)``, inclusive.
    points : ndarray, float64, shape (5, 2)
        ``(x, y)`` of left eye, right eye, nose, left mouth, right mouth.
    line : int
        1-based line in the list.
    """

    name: str
    box: np.ndarray
    points: np.ndarray
    line: int = 0


def parse_facepoint_list(path) -> List[FacePoint]:
    """Parse ``trainImageList.txt``; raises :class:`AnnotationFormatError` naming file and line.

    Errors: a line without a path and 14 numbers, a field that is not a finite number, an empty or inverted
    box (``right <= left`` or ``bottom <= top``). Boxes partly outside the image are kept (crops are
    zero-padded); an image listed on several lines gives one face per line.
    """
    path = Path(path)
    out = []
    try:
        text = read_list_text(path)
    except ValueError as err:
        raise AnnotationFormatError(str(err)) from None
    for lineno, raw in enumerate(text.splitlines(), 1):
        tok = raw.split()
        if not tok:
            continue
        if len(tok) != 15:
            raise AnnotationFormatError(
                f"{path.name}:{lineno}: expected a path and 14 numbers, got {len(tok)} fields")
        try:
            v = np.array([float(t) for t in tok[1:]], dtype=np.float64)
        except ValueError:
            raise AnnotationFormatError(
                f"{path.name}:{lineno}: expected 14 numbers after the path, got {' '.join(tok[1:])!r}") from None
        if not np.all(np.isfinite(v)):
            raise AnnotationFormatError(
                f"{path.name}:{lineno}: expected 14 finite numbers after the path, got {' '.join(tok[1:])!r}")
        left, right, top, bottom = v[:4]
        if right <= left or bottom <= top:
            # an empty or inverted box has no crop to sample; its points cannot be labelled
            raise AnnotationFormatError(
                f"{path.name}:{lineno}: expected left < right and top < bottom, got left {left:g} "
                f"right {right:g} top {top:g} bottom {bottom:g}")
        out.append(FacePoint(name=tok[0].replace("\\", "/"), box=np.array([left, top, right, bottom]),
                             points=v[4:].reshape(5, 2), line=lineno))
    return out


@dataclass
class FacePointSet:
    """Parsed faces whose image file exists; ``missing`` lists the others."""

    root: Path
    faces: List[FacePoint]
    missing: List[str] = field(default_factory=list)

    def path(self, face: FacePoint) -> Path:
        return self.root / face.name

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) boxes."""
        return np.stack([f.box for f in self.faces]) if self.faces else np.zeros((0, 4))

    @property
    def points(self) -> np.ndarray:
        """(N, 5, 2) points."""
        return np.stack([f.points for f in self.faces]) if self.faces else np.zeros((0, 5, 2))


def landmark_list(data_root, list_name: str = "trainImageList.txt") -> Path:
    """``landmarks/<list_name>`` under ``data_root`` (or in ``data_root`` itself when it is ``landmarks/``)."""
    root = Path(data_root)
    if (root / "landmarks").is_dir():
        root = root / "landmarks"
    list_file = root / list_name
    if not list_file.is_file():
        raise FileNotFoundError(f"{list_file}: CNN_FacePoint list not found")
    return list_file


def load_facepoint(data_root, list_name: str = "trainImageList.txt") -> FacePointSet:
    """Parse ``landmarks/trainImageList.txt`` under ``data_root`` (or ``data_root`` itself is ``landmarks/``)."""
    list_file = landmark_list(data_root, list_name)
    root = list_file.parent
    faces, missing = [], []
    for face in parse_facepoint_list(list_file):
        (faces if os.path.isfile(root / face.name) else missing).append(face)
    return FacePointSet(root=root, faces=faces, missing=[m.name for m in missing])


def landmark_split(n: int, holdout: float | int = LANDMARK_HOLDOUT, seed: int = LANDMARK_SEED):
    """A fixed split of ``n`` landmark faces into training and held-out indices.

    Parameters
    ----------
    n : int
        Number of faces: the length of ``parse_facepoint_list(...)`` (10,000 for the full list).
        Train on ``faces[i] for i in train_idx``, evaluate on ``holdout_idx``.
    holdout : float or int
        Share of faces held out (``0 < holdout < 1``) or their number (int ``>= 1``).
    seed : int
        The same ``(n, holdout, seed)`` always gives the same split.

    Returns
    -------
    train_idx, holdout_idx : ndarray of int, shapes (n - k,), (k,)
        Sorted, disjoint, covering ``range(n)``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if isinstance(holdout, (int, np.integer)) and not isinstance(holdout, bool):
        k = int(holdout)
    elif 0 < holdout < 1:
        k = int(round(n * holdout))
    else:
        raise ValueError(f"holdout must be a share in (0, 1) or a count, got {holdout!r}")
    if not 0 <= k <= n:
        raise ValueError(f"cannot hold out {k} of {n} faces")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[k:]), np.sort(perm[:k])


def holdout_indices(data_root) -> np.ndarray:
    """The faces held out for the landmark NME: positions in the whole ``trainImageList.txt``.

    A property of the list, not of which images are on disk, so a partial copy of the data holds out
    the very same faces (and never trains on one it evaluates on).
    """
    return landmark_split(len(parse_facepoint_list(landmark_list(data_root))))[1]
