"""Atomic file output shared by the package: write under a temporary name, then rename.

A reader never sees half a file: either the old one or the whole new one.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = ["json_default", "write_json", "write_text", "save_npz", "read_list_text"]


def json_default(o):
    """JSON for NumPy scalars and arrays and tuples; anything else as its ``str``."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, (np.ndarray, tuple)):
        return list(o) if isinstance(o, tuple) else o.tolist()
    return str(o)


def write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_json(path, obj) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically (parents created); returns the path."""
    return write_text(path, json.dumps(obj, indent=1, default=json_default))


def save_npz(path, **arrays) -> Path:
    """``np.savez`` to ``path`` atomically (read back with ``allow_pickle=False``); returns the path."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def read_list_text(path) -> str:
    """The text of an annotation list, whatever a Windows tool saved it as: UTF-8 (with or without a byte-order
    mark) or UTF-16 with its mark; Windows line ends are fine.

    Raises
    ------
    ValueError
        Naming the file and the byte where it is not text in any of those encodings.
    """
    data = Path(path).read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: byte {err.start}: not UTF-8 text (0x{data[err.start]:02x}); save the list as "
                         "UTF-8") from None
