"""Predictions on disk: the detections JSON the CLI writes, and the official ``<event>/<name>.txt`` layout.

Both carry boxes in the MTCNN convention inside the package (``x2`` inclusive); the official text files
hold ``x y w h score`` with ``w = x2 - x1 + 1``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import numpy as np

from ..utils.files import write_text
from .wider import GT_SUBDIR, WiderResult, as_detections, evaluate_wider, wider_key

__all__ = ["score_predictions_json", "write_wider_predictions", "read_wider_predictions"]


def score_predictions_json(json_path, data_root, **kwargs) -> WiderResult:
    """Score a detections JSON with :func:`evaluate_wider`.

    The JSON looks like ``{"settings": {...}, "images": {"<path>": {"boxes": [[x1, y1, x2, y2,
    score], ...], "landmarks": [...]}}}``, paths relative to ``data_root`` such as
    ``WIDER_FACE/WIDER_val/images/0--Parade/0_Parade_marchingband_1_465.jpg``; boxes in the MTCNN
    convention. Images that are not WIDER val images are skipped (listed in ``result.skipped``);
    the val images listed are the evaluated set, with or without boxes.

    Parameters
    ----------
    json_path : path
    data_root : path
        Holds ``WIDER_FACE/eval_tools/ground_truth``.
    **kwargs
        Passed to :func:`evaluate_wider`.
    """
    json_path = Path(json_path)
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{json_path}: not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{json_path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), dict):
        raise ValueError(f"{json_path}: expected an object with an 'images' object")
    predictions = {}
    for path, entry in doc["images"].items():
        if "WIDER_train" in path.replace("\\", "/").split("/"):
            predictions[path] = None  # never a val image: reported as skipped
            continue
        boxes = entry.get("boxes") if isinstance(entry, dict) else None
        if boxes is None:  # an image without its boxes is not "no detections": it is a broken file
            raise ValueError(f"{json_path}: images[{path!r}]: expected an object with a 'boxes' list")
        try:
            predictions[path] = as_detections(boxes, path)
        except ValueError as err:
            raise ValueError(f"{json_path}: {err}") from None
    _check_not_xywh(json_path, [v for v in predictions.values() if v is not None])
    skipped = [p for p, v in predictions.items() if v is None]
    result = evaluate_wider({p: v for p, v in predictions.items() if v is not None},
                            Path(data_root).joinpath(*GT_SUBDIR), **kwargs)
    result.skipped = skipped + result.skipped
    return result


def _check_not_xywh(json_path, detections) -> None:
    """Boxes are ``x1, y1, x2, y2``; a file of ``x, y, w, h`` boxes scores AP 0 without a word, and reads as
    mostly inverted boxes (``x2 < x1``). A few inverted boxes are legal (the official ground truth has some)."""
    boxes = np.concatenate(detections) if detections else np.zeros((0, 5))
    inverted = (boxes[:, 2] < boxes[:, 0] - 1) | (boxes[:, 3] < boxes[:, 1] - 1)
    if len(boxes) and inverted.mean() > 0.5:
        raise ValueError(f"{json_path}: {int(inverted.sum())} of {len(boxes)} boxes have x2 < x1 or y2 < y1; boxes "
                         "are x1, y1, x2, y2 (a file of x, y, w, h boxes reads like this)")


def write_wider_predictions(predictions: Mapping[str, np.ndarray], out_dir) -> list:
    """Write detections in the official layout, one ``<out_dir>/<event>/<name>.txt`` per image.

    Each file: the image name (without extension), the number of boxes, then one
    ``x y w h score`` line per box (``w = x2 - x1 + 1``). Files are written to a temporary name
    and renamed.

    Parameters
    ----------
    predictions : mapping of path to array_like, shape (N, 5)
        ``x1, y1, x2, y2, score`` in the MTCNN convention; keys as for :func:`evaluate_wider`.
    out_dir : path

    Returns
    -------
    list of Path
        The files written.
    """
    out_dir = Path(out_dir)
    written = []
    for path, boxes in predictions.items():
        key = wider_key(path)
        d = as_detections(boxes, path)
        event, name = key.split("/")
        lines = [name, str(len(d))]
        for x1, y1, x2, y2, s in d:
            lines.append(f"{x1:.3f} {y1:.3f} {x2 - x1 + 1:.3f} {y2 - y1 + 1:.3f} {s:.6f}")
        written.append(write_text(out_dir / event / f"{name}.txt", "\n".join(lines) + "\n"))
    return written


def _read_wider_txt(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 2:
        raise ValueError(f"{path}:{len(lines) + 1}: expected a name line and a count line")
    try:
        count = int(lines[1].strip())
    except ValueError:
        raise ValueError(f"{path}:2: expected the number of boxes, got {lines[1].strip()!r}") from None
    if count < 0:
        raise ValueError(f"{path}:2: negative number of boxes {count}")
    if len(lines) - 2 != count:
        raise ValueError(f"{path}:2: says {count} boxes but {len(lines) - 2} box lines follow")
    out = np.zeros((count, 5))
    for i in range(count):
        fields = lines[i + 2].replace(",", " ").split()
        if len(fields) != 5:
            raise ValueError(f"{path}:{i + 3}: expected 5 numbers 'x y w h score', got {len(fields)}")
        try:
            out[i] = [float(v) for v in fields]
        except ValueError:
            raise ValueError(f"{path}:{i + 3}: expected 5 numbers 'x y w h score', got {lines[i + 2]!r}") from None
    # official x y w h -> MTCNN inclusive box
    out[:, 2] = out[:, 0] + out[:, 2] - 1
    out[:, 3] = out[:, 1] + out[:, 3] - 1
    return out


def read_wider_predictions(pred_dir) -> dict:
    """Read a folder in the official layout (``<event>/<name>.txt``).

    Returns
    -------
    dict of ``"<event>/<name>"`` to ndarray, shape (N, 5)
        ``x1, y1, x2, y2, score`` in the MTCNN convention (``x2 = x + w - 1``), ready for
        :func:`evaluate_wider`.

    Raises
    ------
    ValueError
        A malformed file, naming the file and line.
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"{pred_dir}: no such prediction folder")
    return {f"{p.parent.name}/{p.stem}": _read_wider_txt(p) for p in sorted(pred_dir.glob("*/*.txt"))}
