"""WIDER FACE ``wider_face_{train,val}_bbx_gt.txt`` parser.

Format (``wider_face_split/readme.txt``): a file name line, a count line, then ``count`` lines of
``x y w h blur expression illumination invalid occlusion pose``. Quirks handled here:

- an image without faces is written as count ``0`` followed by one all-zero line (train) — the zero
  line is consumed, not read as the next file name;
- count ``1`` with an all-zero box (val, 4 images) also means no face;
- some boxes have ``w`` or ``h`` = 0: kept (so indices match the official lists) but counted as
  degenerate; :attr:`WiderImage.usable` excludes them;
- the ``invalid`` flag is kept as an attribute column;
- numbers that are not finite (``nan``, ``inf``) and an image listed twice are errors naming file and line;
- images named in the list but absent on disk (a partial download) are counted and listed by
  :func:`load_wider`, not raised.

Boxes are returned in the package's convention (``boxes.py``): ``(x1, y1, x2, y2)`` with inclusive
``x2 = x + w - 1``.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

import numpy as np

from ..utils.boxes import xywh_to_xyxy
from ..utils.files import read_list_text

__all__ = ["WIDER_ATTRIBUTES", "AnnotationFormatError", "WiderImage", "WiderSet",
           "parse_wider_annotations", "load_wider"]

#: Attribute columns after ``x y w h``, in file order.
WIDER_ATTRIBUTES = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")


class AnnotationFormatError(ValueError):
    """A malformed annotation line; the message starts with ``file:line:``."""


@dataclass
class WiderImage:
    """One image of a WIDER FACE list.

    Attributes
    ----------
    name : str
        Path relative to ``WIDER_<split>/images`` (``'1--Handshaking/1_Handshaking_..._409.jpg'``).
    boxes : ndarray, float64, shape (N, 4)
        ``(x1, y1, x2, y2)``, ``x2`` inclusive. Placeholder all-zero lines are not included.
    attributes : ndarray, int64, shape (N, 6)
        Columns as :data:`WIDER_ATTRIBUTES` (blur expression illumination invalid occlusion pose).
    line : int
        1-based line number of the file name in the list.
    """

    name: str
    boxes: np.ndarray
    attributes: np.ndarray
    line: int = 0

    @property
    def invalid(self) -> np.ndarray:
        """(N,) bool, the ``invalid`` flag."""
        return self.attributes[:, WIDER_ATTRIBUTES.index("invalid")] != 0

    @property
    def degenerate(self) -> np.ndarray:
        """(N,) bool, boxes with ``w`` or ``h`` <= 0."""
        return (self.boxes[:, 2] < self.boxes[:, 0]) | (self.boxes[:, 3] < self.boxes[:, 1])

    @property
    def usable(self) -> np.ndarray:
        """(N,) bool, boxes that are neither degenerate nor invalid."""
        return ~self.degenerate & ~self.invalid


def _numbers(tokens, fname, lineno, expected):
    if len(tokens) != expected:
        raise AnnotationFormatError(
            f"{fname}:{lineno}: expected {expected} numbers, got {len(tokens)}: {' '.join(tokens)!r}")
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        raise AnnotationFormatError(
            f"{fname}:{lineno}: expected {expected} numbers, got {' '.join(tokens)!r}") from None
    if not all(math.isfinite(v) for v in values):  # float() accepts 'nan' and 'inf'
        raise AnnotationFormatError(
            f"{fname}:{lineno}: expected {expected} finite numbers, got {' '.join(tokens)!r}")
    return values


def parse_wider_annotations(path) -> List[WiderImage]:
    """Parse a ``*_bbx_gt.txt`` list.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    list of WiderImage, in file order (every named image, present on disk or not).

    Raises
    ------
    AnnotationFormatError
        ``wider_face_train_bbx_gt.txt:1234: expected 10 numbers`` and the like.
    """
    path = Path(path)
    fname = path.name
    try:
        lines = read_list_text(path).splitlines()
    except ValueError as err:
        raise AnnotationFormatError(str(err)) from None
    out: List[WiderImage] = []
    first_line = {}  # image name -> line of its first entry
    i, n = 0, len(lines)
    while i < n:
        name = lines[i].strip().replace("\\", "/")  # Windows separators, as a list saved there has
        if not name:  # blank lines between records (trailing newline) are harmless
            i += 1
            continue
        name_line = i + 1
        if name in first_line:
            # A second entry would be sampled as a separate image that does not know the first entry's
            # faces, so crops of those faces could be labelled negative.
            raise AnnotationFormatError(f"{fname}:{name_line}: image {name!r} is listed again "
                                        f"(first at line {first_line[name]}); merge its faces into one entry")
        first_line[name] = name_line
        if i + 1 >= n:
            raise AnnotationFormatError(f"{fname}:{i + 2}: expected a face count after {name!r}, got end of file")
        count_tok = lines[i + 1].split()
        if len(count_tok) != 1 or not count_tok[0].isdigit():
            raise AnnotationFormatError(
                f"{fname}:{i + 2}: expected a face count (one integer), got {lines[i + 1].strip()!r}")
        count = int(count_tok[0])
        i += 2
        rows = []
        for _ in range(count):
            if i >= n:
                raise AnnotationFormatError(f"{fname}:{i + 1}: expected 10 numbers, got end of file")
            rows.append(_numbers(lines[i].split(), fname, i + 1, 10))
            i += 1
        if count == 0 and i < n:
            # Train writes "0" then one all-zero line; consume it only if it is that placeholder.
            tok = lines[i].split()
            if len(tok) == 10 and all(_is_zero(t) for t in tok):
                i += 1
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 10)
        placeholder = np.all(arr == 0, axis=1)  # "1" then "0 0 0 0 ..." (val): no face
        arr = arr[~placeholder]
        out.append(WiderImage(name=name, boxes=xywh_to_xyxy(arr[:, :4]),
                              attributes=arr[:, 4:].astype(np.int64), line=name_line))
    return out


def _is_zero(tok: str) -> bool:
    try:
        return float(tok) == 0
    except ValueError:
        return False


@dataclass
class WiderSet:
    """A parsed WIDER FACE split with the images that are present on disk.

    Attributes
    ----------
    image_dir : Path
        ``WIDER_<split>/images``.
    images : list of WiderImage
        Images present on disk, in list order.
    missing : list of str
        Names in the list whose file is absent (partial download).
    list_file : Path
    """

    image_dir: Path
    images: List[WiderImage]
    missing: List[str] = field(default_factory=list)
    list_file: Path = None

    def path(self, item: WiderImage) -> Path:
        return self.image_dir / item.name

    def stats(self) -> dict:
        """Counts: images listed/present/missing, faces, invalid, degenerate, usable, per attribute value."""
        faces = sum(len(im.boxes) for im in self.images)
        attrs = (np.concatenate([im.attributes for im in self.images]) if self.images
                 else np.zeros((0, 6), np.int64))
        return {
            "images_listed": len(self.images) + len(self.missing),
            "images_present": len(self.images),
            "images_missing": len(self.missing),
            "images_without_faces": sum(len(im.boxes) == 0 for im in self.images),
            "faces": faces,
            "faces_invalid": int(sum(im.invalid.sum() for im in self.images)),
            "faces_degenerate": int(sum(im.degenerate.sum() for im in self.images)),
            "faces_usable": int(sum(im.usable.sum() for im in self.images)),
            "attributes": {name: {int(v): int(c) for v, c in zip(*np.unique(attrs[:, k], return_counts=True))}
                           for k, name in enumerate(WIDER_ATTRIBUTES)},
        }


def load_wider(data_root, split: str = "train", list_file=None) -> WiderSet:
    """Parse ``WIDER_FACE/wider_face_split/wider_face_<split>_bbx_gt.txt`` and check which images exist.

    Parameters
    ----------
    data_root : str or Path
        Folder holding ``WIDER_FACE/`` (or the ``WIDER_FACE`` folder itself).
    split : {'train', 'val'}
    list_file : path, optional
        Another list in the same format (e.g. the ``.subset.txt``).
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    root = Path(data_root)
    if (root / "WIDER_FACE").is_dir():
        root = root / "WIDER_FACE"
    list_file = Path(list_file) if list_file else root / "wider_face_split" / f"wider_face_{split}_bbx_gt.txt"
    if not list_file.is_file():
        raise FileNotFoundError(f"{list_file}: WIDER FACE list not found")
    image_dir = root / f"WIDER_{split}" / "images"
    present, missing = [], []
    for item in parse_wider_annotations(list_file):
        (present if os.path.isfile(image_dir / item.name) else missing).append(item)
    return WiderSet(image_dir=image_dir, images=present, missing=[m.name for m in missing], list_file=list_file)
