"""FDDB (Jain and Learned-Miller 2010) annotation and detection files.

Ellipse list (``FDDB-fold-XX-ellipseList.txt``), per image::

    2002/08/11/big/img_591
    1
    123.583300 85.549500 1.265839 269.693400 161.781200  1

that is: image name, number of faces, then per face ``major_radius minor_radius angle center_x
center_y 1`` (angle in radians, from the x axis to the major axis). Detections use the same
name / count header with ``left top width height score`` lines.

Boxes returned here follow the package's convention (``x2`` inclusive, ``w = x2 - x1 + 1``, see
:mod:`mtcnn_gluon.utils.boxes`): an FDDB rectangle ``x y w h`` becomes ``(x, y, x + w - 1, y + h - 1)``,
so the ``+ 1`` IoU of :func:`mtcnn_gluon.utils.boxes.iou_matrix` equals the plain IoU of the rectangles
``[x, x + w] x [y, y + h]``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from ..utils.boxes import xywh_to_xyxy, xyxy_to_xywh

__all__ = ["parse_ellipse_list", "ellipses_to_boxes", "load_fddb_ground_truth",
           "read_fddb_detections", "write_fddb_detections"]


def _read_blocks(path: Path, n_fields: int, what: str) -> dict:
    """Parse ``name / count / count lines of n_fields numbers`` blocks into ``{name: (count, n_fields)}``."""
    lines = path.read_text().splitlines()
    out, i = {}, 0
    while i < len(lines):
        name = lines[i].strip()
        if not name:
            i += 1
            continue
        if i + 1 >= len(lines):
            raise ValueError(f"{path}:{i + 2}: expected the number of {what} after image {name!r}")
        try:
            count = int(lines[i + 1].strip())
        except ValueError:
            got = lines[i + 1].strip()
            raise ValueError(f"{path}:{i + 2}: expected the number of {what}, got {got!r}") from None
        if count < 0:
            raise ValueError(f"{path}:{i + 2}: negative number of {what} {count}")
        if name in out:
            raise ValueError(f"{path}:{i + 1}: image {name!r} appears twice")
        rows = np.zeros((count, n_fields))
        for j in range(count):
            lineno = i + 3 + j
            if lineno > len(lines):
                raise ValueError(f"{path}:{lineno}: file ends; {count} {what} announced for {name!r}")
            fields = lines[lineno - 1].split()
            if len(fields) != n_fields:
                raise ValueError(f"{path}:{lineno}: expected {n_fields} numbers, got {len(fields)}")
            try:
                rows[j] = [float(v) for v in fields]
            except ValueError:
                got = lines[lineno - 1]
                raise ValueError(f"{path}:{lineno}: expected {n_fields} numbers, got {got!r}") from None
        out[name] = rows
        i += 2 + count
    return out


def parse_ellipse_list(path) -> dict:
    """Read an FDDB ellipse list.

    Returns
    -------
    dict of image name to ndarray, shape (M, 5)
        ``major_radius, minor_radius, angle, center_x, center_y`` per face (the trailing ``1`` is
        dropped).

    Raises
    ------
    ValueError
        Naming the file and line of a malformed entry.
    """
    path = Path(path)
    return {k: v[:, :5] for k, v in _read_blocks(path, 6, "faces").items()}


def ellipses_to_boxes(ellipses) -> np.ndarray:
    """Axis-aligned bounding boxes of rotated ellipses.

    Half sizes ``sqrt(a^2 cos^2 t + b^2 sin^2 t)`` (x) and ``sqrt(a^2 sin^2 t + b^2 cos^2 t)`` (y) for
    major radius ``a``, minor radius ``b`` and angle ``t``; the rectangle ``x y w h`` =
    ``(cx - hx, cy - hy, 2 hx, 2 hy)`` is returned in the package convention.

    Parameters
    ----------
    ellipses : array_like, shape (M, 5)

    Returns
    -------
    ndarray, shape (M, 4)
        ``(x1, y1, x2, y2)`` with ``x2 = x1 + 2 hx - 1``.
    """
    e = np.asarray(ellipses, dtype=np.float64).reshape(-1, 5)
    a, b, t, cx, cy = e.T
    hx = np.sqrt((a * np.cos(t)) ** 2 + (b * np.sin(t)) ** 2)
    hy = np.sqrt((a * np.sin(t)) ** 2 + (b * np.cos(t)) ** 2)
    return xywh_to_xyxy(np.column_stack([cx - hx, cy - hy, 2 * hx, 2 * hy]))


def load_fddb_ground_truth(*paths) -> dict:
    """Face boxes of one or more ellipse lists: ``{image name: (M, 4) boxes}`` (package convention)."""
    out = {}
    for path in paths:
        for name, e in parse_ellipse_list(path).items():
            if name in out:
                raise ValueError(f"{path}: image {name!r} already read from an earlier file")
            out[name] = ellipses_to_boxes(e)
    return out


def read_fddb_detections(path) -> dict:
    """Read FDDB detections (``left top width height score`` lines).

    Returns
    -------
    dict of image name to ndarray, shape (N, 5)
        ``x1, y1, x2, y2, score`` in the package convention.
    """
    out = {}
    for name, rows in _read_blocks(Path(path), 5, "detections").items():
        out[name] = np.column_stack([xywh_to_xyxy(rows[:, :4]), rows[:, 4]]) if len(rows) else np.zeros((0, 5))
    return out


def write_fddb_detections(detections: Mapping[str, np.ndarray], path) -> Path:
    """Write detections ``{name: (N, 5) x1, y1, x2, y2, score}`` as an FDDB detection file."""
    path = Path(path)
    lines = []
    for name, det in detections.items():
        det = np.asarray(det, dtype=np.float64).reshape(-1, 5)
        lines += [name, str(len(det))]
        for (x, y, w, h), s in zip(xyxy_to_xywh(det[:, :4]) if len(det) else [], det[:, 4]):
            lines.append(f"{x:.3f} {y:.3f} {w:.3f} {h:.3f} {s:.6f}")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path
