"""Training records: MXNet RecordIO files holding one image and one label vector per sample.

The label layout is :mod:`mtcnn_gluon.utils.labels` (``[cls, 4 box offsets, 10 landmark values]``).

Files: ``<prefix>.rec`` + ``<prefix>.idx`` (byte for byte what ``mx.recordio.MXIndexedRecordIO`` writes, so
MXNet's own readers open them; written here without a Python call into MXNet per sample), ``<prefix>.json`` (counts
per type, skipped items and why, config, seed) and optionally ``<prefix>.meta.npz`` (per-sample
provenance: source image, crop box, matched face, rotation, mirror). Images are stored lossless:
``'raw'`` (the ``S*S*3`` BGR bytes; the default, fastest to read) or ``'png'``. Everything is written
under a temporary name and renamed when complete; the JSON is written last, so its presence means
the record is whole.

PNet uses one shuffled record of all types; RNet/ONet use one record per type (``pos``, ``part``,
``neg``, ``landmark`` in one folder), read in balanced batches (:mod:`mtcnn_gluon.data.batching`).
"""
from __future__ import annotations

import json
import os
import struct
from typing import Dict, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..utils.files import json_default, write_json
from ..utils.labels import LABEL_SIZE, TYPE_CLS, TYPES, label_types, type_counts
from ..utils.progress import tqdm

__all__ = ["RecordWriter", "write_records", "read_records", "read_summary", "read_meta", "record_complete",
           "write_typed_records", "read_typed_records"]

_MAGIC = 0xCED7230A
_HEADER = struct.Struct("IfQQ")  # mx.recordio.IRHeader: flag, label, id, id2
_PNG = b"\x89PNG"


class RecordWriter:
    """Write ``(image, label)`` samples to ``<prefix>.rec/.idx`` atomically.

    Use as a context manager::

        with RecordWriter("data/pnet/train", summary={"seed": 0}) as w:
            w.write(img, label)       # img uint8 BGR (S, S, 3), label (15,)

    On a clean exit the files are renamed into place and ``<prefix>.json`` is written with the counts per
    type plus ``summary``; on an exception the temporary files are removed.

    Parameters
    ----------
    prefix : str or Path
        Without extension.
    encoding : {'raw', 'png'}
    summary : dict, optional
        Extra JSON content (config, seed, skipped items ...).
    meta : dict of ndarray, optional
        Per-sample provenance saved as ``<prefix>.meta.npz`` (arrays of length = number of samples).
    """

    def __init__(self, prefix, encoding: str = "raw", summary: Optional[dict] = None,
                 meta: Optional[Mapping[str, np.ndarray]] = None):
        if encoding not in ("raw", "png"):
            raise ValueError(f"encoding must be 'raw' or 'png', got {encoding!r}")
        self.prefix = os.fspath(prefix)
        self.encoding = encoding
        self.summary = dict(summary or {})
        self.meta = meta
        self._shape = None
        self._cls = []

    def __enter__(self):
        d = os.path.dirname(self.prefix)
        if d:
            os.makedirs(d, exist_ok=True)
        self._tmp = (f"{self.prefix}.idx.tmp", f"{self.prefix}.rec.tmp")
        # The bytes are exactly what mx.recordio.MXIndexedRecordIO writes (dmlc RecordIO: magic, length,
        # IRHeader, labels, payload, zero padding to 4 bytes; idx lines "key\toffset"), produced here
        # without a Python call into MXNet per sample, which made writing slower than sampling.
        self._frec = open(self._tmp[1], "wb")
        self._fidx = open(self._tmp[0], "w")
        self._pos = 0
        return self

    def _check(self, shape):
        if len(shape) != 3 or shape[2] != 3 or shape[0] != shape[1]:
            raise ValueError(f"{self.prefix}: expected uint8 (S, S, 3) images, got shape {shape}")
        if self._shape is None:
            self._shape = tuple(shape)
        elif tuple(shape) != self._shape:
            raise ValueError(f"{self.prefix}: all images of a record have one size; got {tuple(shape)} after "
                             f"{self._shape}")

    def write(self, img: np.ndarray, label) -> None:
        """Append one sample: ``img`` uint8 BGR (S, S, 3), ``label`` of 15 numbers."""
        img = np.asarray(img)
        if img.dtype != np.uint8:
            raise ValueError(f"{self.prefix}: expected a uint8 image, got {img.dtype}")
        self._check(img.shape)
        label = np.asarray(label, np.float32).reshape(-1)
        if label.size != LABEL_SIZE:
            raise ValueError(f"{self.prefix}: expected a label of {LABEL_SIZE} numbers, got {label.size}")
        if self.encoding == "raw":
            payload = np.ascontiguousarray(img).tobytes()
        else:
            ok, buf = cv2.imencode(".png", img)
            if not ok:
                raise ValueError(f"{self.prefix}: PNG encoding failed")
            payload = buf.tobytes()
        key = len(self._cls)
        data = _HEADER.pack(LABEL_SIZE, 0.0, key, 0) + label.astype("<f4").tobytes() + payload
        pad = (-len(data)) % 4
        self._frec.write(struct.pack("<II", _MAGIC, len(data)) + data + b"\0" * pad)
        self._fidx.write(f"{key}\t{self._pos}\n")
        self._pos += 8 + len(data) + pad
        self._cls.append(float(label[0]))

    def write_many(self, images: np.ndarray, labels: np.ndarray) -> None:
        """Append many samples at once (vectorised for ``'raw'``): images (N, S, S, 3) uint8, labels (N, 15)."""
        images = np.asarray(images)
        labels = np.asarray(labels, np.float32).reshape(len(images), -1)
        if labels.shape[1] != LABEL_SIZE:
            raise ValueError(f"{self.prefix}: expected labels of {LABEL_SIZE} numbers, got {labels.shape[1]}")
        if self.encoding != "raw" or len(images) == 0:
            for i in range(len(images)):
                self.write(images[i], labels[i])
            return
        if images.dtype != np.uint8:
            raise ValueError(f"{self.prefix}: expected uint8 images, got {images.dtype}")
        self._check(images.shape[1:])
        n = len(images)
        p = int(np.prod(images.shape[1:]))
        length = _HEADER.size + 4 * LABEL_SIZE + p
        pad = (-length) % 4
        stride = 8 + length + pad
        rows = np.zeros((n, stride), np.uint8)
        keys = np.arange(len(self._cls), len(self._cls) + n, dtype=np.uint64)
        head = np.zeros((n, 2), "<u4")
        head[:, 0] = _MAGIC
        head[:, 1] = length
        rows[:, :8] = head.view(np.uint8)
        hdr = np.zeros(n, dtype=[("flag", "<u4"), ("label", "<f4"), ("id", "<u8"), ("id2", "<u8")])
        hdr["flag"] = LABEL_SIZE
        hdr["id"] = keys
        rows[:, 8:8 + _HEADER.size] = hdr.view(np.uint8).reshape(n, _HEADER.size)
        lab_end = 8 + _HEADER.size + 4 * LABEL_SIZE
        rows[:, 8 + _HEADER.size:lab_end] = labels.astype("<f4").view(np.uint8).reshape(n, -1)
        rows[:, lab_end:lab_end + p] = images.reshape(n, p)
        self._frec.write(rows.tobytes())
        offsets = self._pos + stride * np.arange(n, dtype=np.int64)
        self._fidx.write("".join(f"{k}\t{o}\n" for k, o in zip(keys.tolist(), offsets.tolist())))
        self._pos += stride * n
        self._cls.extend(labels[:, 0].tolist())

    def __len__(self):
        return len(self._cls)

    def __exit__(self, exc_type, exc, tb):
        self._frec.close()
        self._fidx.close()
        if exc_type is not None:
            for p in self._tmp:
                if os.path.exists(p):
                    os.remove(p)
            return False
        n = len(self._cls)
        if self.meta is not None:
            bad = {k: len(v) for k, v in self.meta.items() if len(v) != n}
            if bad:
                raise ValueError(f"{self.prefix}: meta arrays must have {n} rows, got {bad}")
            tmp = f"{self.prefix}.meta.tmp.npz"
            np.savez(tmp, **{k: np.asarray(v) for k, v in self.meta.items()})
            os.replace(tmp, f"{self.prefix}.meta.npz")
        os.replace(self._tmp[1], f"{self.prefix}.rec")
        os.replace(self._tmp[0], f"{self.prefix}.idx")
        summary = {"samples": n, "counts": type_counts(np.asarray(self._cls)),
                   "image_size": int(self._shape[0]) if self._shape else None,
                   "encoding": self.encoding, "label_size": LABEL_SIZE}
        summary.update(self.summary)
        write_json(f"{self.prefix}.json", summary)
        return False


def write_records(prefix, images: np.ndarray, labels: np.ndarray, meta=None, summary=None,
                  encoding: str = "raw", progress: bool = False) -> str:
    """Write arrays ``images`` (N, S, S, 3) uint8 and ``labels`` (N, 15) to ``<prefix>.rec``; returns ``prefix``."""
    images = np.asarray(images)
    labels = np.asarray(labels, np.float32)
    if len(images) != len(labels):
        raise ValueError(f"{prefix}: {len(images)} images but {len(labels)} labels")
    step = 65536
    starts = range(0, len(labels), step)
    bar = None
    if progress:
        bar = tqdm(total=len(labels), desc=f"write {os.path.basename(os.fspath(prefix))}", unit="sample",
                   dynamic_ncols=True)
    with RecordWriter(prefix, encoding=encoding, summary=summary, meta=meta) as w:
        for i in starts:
            w.write_many(images[i:i + step], labels[i:i + step])
            if bar is not None:
                bar.update(len(labels[i:i + step]))
    if bar is not None:
        bar.close()
    return os.fspath(prefix)


def _check_complete(prefix, buf, offsets) -> None:
    """The index must reach the end of the record file: a short ``.idx`` (or a ``.rec`` cut off or grown)
    would drop or garble samples without a word."""
    if len(offsets) == 0:
        if len(buf):
            raise ValueError(f"{prefix}.idx: empty index but {prefix}.rec holds {len(buf)} bytes")
        return
    last = int(offsets[-1])
    if last + 8 > len(buf):
        raise ValueError(f"{prefix}.rec: cut short: the index points at byte {last}, the file has {len(buf)}")
    length = int(np.frombuffer(buf[last + 4:last + 8].tobytes(), "<u4")[0]) & ((1 << 29) - 1)
    end = last + 8 + length + (-length) % 4
    if end != len(buf):
        raise ValueError(f"{prefix}.idx: indexes {len(offsets)} records ending at byte {end}, but {prefix}.rec "
                         f"has {len(buf)} bytes: the index and the record do not match (an interrupted copy?)")


def _read_idx(path):
    keys, offsets = [], []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    k, o = line.split("\t")
                    keys.append(int(k))
                    offsets.append(int(o))
                except ValueError:
                    raise ValueError(f"{path}:{lineno}: expected 'key<TAB>offset', got {line.strip()[:60]!r}") from None
    return np.asarray(keys, np.int64), np.asarray(offsets, np.int64)


def read_records(prefix) -> Tuple[np.ndarray, np.ndarray]:
    """Load a whole record into memory.

    Parameters
    ----------
    prefix : str or Path
        Without extension.

    Returns
    -------
    images : ndarray, uint8, shape (N, S, S, 3)
        BGR, in write order.
    labels : ndarray, float32, shape (N, 15)
    """
    prefix = os.fspath(prefix)
    rec_path, idx_path = f"{prefix}.rec", f"{prefix}.idx"
    for p in (rec_path, idx_path):
        if not os.path.isfile(p):
            raise FileNotFoundError(f"{p}: record file not found")
    _, offsets = _read_idx(idx_path)
    buf = np.fromfile(rec_path, dtype=np.uint8)
    n = len(offsets)
    if n == 0:
        _check_complete(prefix, buf, offsets)
        return np.zeros((0, 0, 0, 3), np.uint8), np.zeros((0, LABEL_SIZE), np.float32)
    order = np.argsort(offsets, kind="stable")
    if not np.array_equal(order, np.arange(n)):
        raise ValueError(f"{idx_path}: offsets are not in write order")
    _check_complete(prefix, buf, offsets)
    encoding = None  # from the summary when there is one; otherwise sniffed per record
    if os.path.isfile(f"{prefix}.json"):
        try:
            encoding = read_summary(prefix).get("encoding")
        except (OSError, ValueError):
            pass
    stride = np.diff(np.append(offsets, len(buf)))
    lab_end = 8 + _HEADER.size + 4 * LABEL_SIZE
    if np.all(stride == stride[0]) and offsets[0] == 0:
        # Fixed-size records (raw images): one strided view instead of a Python loop.
        s = int(stride[0])
        rows = buf[:n * s].reshape(n, s)
        head = rows[:, :8].copy().view("<u4")
        length = head[:, 1] & ((1 << 29) - 1)
        flags = rows[:, 8:12].copy().view("<u4")[:, 0]
        payload_len = length - _HEADER.size - 4 * LABEL_SIZE
        if (np.all(head[:, 0] == _MAGIC) and np.all(head[:, 1] >> 29 == 0) and np.all(flags == LABEL_SIZE)
                and np.all(payload_len == payload_len[0])):
            p = int(payload_len[0])
            side = int(round(np.sqrt(p / 3)))
            looks_png = bytes(rows[0, lab_end:lab_end + 4]) == _PNG
            if side * side * 3 == p and (encoding == "raw" or (encoding is None and not looks_png)):
                labels = rows[:, 8 + _HEADER.size:lab_end].copy().view("<f4")
                images = rows[:, lab_end:lab_end + p].reshape(n, side, side, 3).copy()
                return images, labels.astype(np.float32)
    return _read_records_loop(prefix, buf, offsets, encoding)


def _read_records_loop(prefix, buf, offsets, encoding=None):
    mv = memoryview(buf)
    images, labels = [], []
    for off in offsets:
        magic, lrec = struct.unpack_from("<II", mv, off)
        if magic != _MAGIC:
            raise ValueError(f"{prefix}.rec: bad record magic at byte {off}")
        if lrec >> 29:
            raise ValueError(f"{prefix}.rec: split (multi-part) records are not supported (byte {off})")
        length = lrec & ((1 << 29) - 1)
        start = off + 8
        flag = _HEADER.unpack_from(mv, start)[0]
        if flag != LABEL_SIZE:
            raise ValueError(f"{prefix}.rec: expected {LABEL_SIZE} labels per record, got {flag} (byte {off})")
        lab_start = start + _HEADER.size
        labels.append(np.frombuffer(buf[lab_start:lab_start + 4 * LABEL_SIZE].tobytes(), "<f4"))
        payload = buf[lab_start + 4 * LABEL_SIZE:start + length]
        if encoding == "png" or (encoding is None and bytes(payload[:4]) == _PNG):
            img = cv2.imdecode(payload, cv2.IMREAD_COLOR)
        else:
            side = int(round(np.sqrt(len(payload) / 3)))
            if side * side * 3 != len(payload):
                raise ValueError(f"{prefix}.rec: raw image of {len(payload)} bytes is not S*S*3 (byte {off})")
            img = payload.reshape(side, side, 3)
        images.append(img)
    return np.stack(images), np.stack(labels).astype(np.float32)


def read_summary(prefix) -> dict:
    """The JSON summary beside a record."""
    path = f"{os.fspath(prefix)}.json"
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None


def read_meta(prefix) -> Dict[str, np.ndarray]:
    """Per-sample provenance saved beside a record (``<prefix>.meta.npz``)."""
    with np.load(f"{os.fspath(prefix)}.meta.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def record_complete(prefix, expect: Optional[Mapping] = None) -> bool:
    """Whether ``<prefix>.rec/.idx/.json`` exist and the summary matches ``expect`` on its keys (resume)."""
    prefix = os.fspath(prefix)
    if not all(os.path.isfile(f"{prefix}{e}") for e in (".rec", ".idx", ".json")):
        return False
    if not expect:
        return True
    try:
        summary = read_summary(prefix)
    except (OSError, ValueError):
        return False
    expect = json.loads(json.dumps(dict(expect), default=json_default))
    return all(summary.get(k) == v for k, v in expect.items())


def write_typed_records(out_dir, images: np.ndarray, labels: np.ndarray, meta=None, summary=None,
                        types: Optional[Sequence[str]] = None, encoding: str = "raw",
                        progress: bool = False) -> Dict[str, str]:
    """One record per sample type (RNet/ONet layout): ``out_dir/{pos,part,neg,landmark}.rec``.

    Parameters
    ----------
    out_dir : path
    images : ndarray, uint8, shape (N, S, S, 3)
    labels : ndarray, shape (N, 15)
    meta : dict of ndarray (N, ...), optional
        Provenance, split by type alongside.
    summary : dict, optional
        Extra JSON content for every type's summary.
    types : sequence of str, optional
        Types to write (default: those present in ``labels``). A requested type with no sample is
        written as an empty record, so a training run sees it and can say so.
    encoding : {'raw', 'png'}

    Returns
    -------
    dict type -> record prefix
    """
    labels = np.asarray(labels, np.float32)
    idx = label_types(labels)
    if types is None:
        types = [t for t in TYPES if len(idx[t])]
    unknown = [t for t in types if t not in TYPE_CLS]
    if unknown:
        raise ValueError(f"unknown sample types {unknown}; valid: {list(TYPES)}")
    os.makedirs(out_dir, exist_ok=True)
    out = {}
    for t in types:
        sel = idx[t]
        prefix = os.path.join(os.fspath(out_dir), t)
        m = {k: np.asarray(v)[sel] for k, v in meta.items()} if meta is not None else None
        write_records(prefix, images[sel], labels[sel], meta=m, summary=dict(summary or {}, type=t),
                      encoding=encoding, progress=progress)
        out[t] = prefix
    return out


def read_typed_records(out_dir, types: Sequence[str] = TYPES) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Load ``out_dir/<type>.rec`` for each type: dict type -> (images, labels)."""
    return {t: read_records(os.path.join(os.fspath(out_dir), t)) for t in types}
