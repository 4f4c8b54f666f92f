"""Fetch WIDER FACE and CNN_FacePoint into the layout the parsers read.

``python -m mtcnn_gluon data download --to DIR`` gives::

    DIR/WIDER_FACE/WIDER_train/images/...      DIR/WIDER_FACE/wider_face_split/*.txt
    DIR/WIDER_FACE/WIDER_val/images/...        DIR/WIDER_FACE/eval_tools/ground_truth/*.mat
    DIR/landmarks/trainImageList.txt, lfw_5590/, net_7876/

Each archive is a :class:`Resource` of :data:`DATA_HUB` (name -> URL, checksum, where it unpacks).
Transfers resume where they stopped (HTTP ``Range``) — a ``.part`` file is kept across failures and
runs — and are verified (SHA-1 or MD5) before unpacking. Whatever could not be fetched is listed at the
end with the reason; the rest is still unpacked.

Checksums: the MD5s of ``WIDER_train.zip``, ``WIDER_val.zip`` and ``wider_face_split.zip`` are the
values torchvision checks for the official archives. No published checksum is known to us for
``eval_tools.zip`` or the CNN_FacePoint ``train.zip``: those entries have ``None`` and are only
checked for completeness (size); the digest actually received is printed so it can be pinned.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, replace
from http.client import HTTPException
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence

from ..utils.progress import tqdm

__all__ = ["Resource", "DATA_HUB", "DownloadError", "fetch", "unpack", "download_all", "file_digest"]


@dataclass(frozen=True)
class Resource:
    """One downloadable archive.

    Attributes
    ----------
    url : str
    into : str
        Folder under the destination it unpacks into (``'WIDER_FACE'``, ``'landmarks'``).
    marker : str
        A path, relative to ``into``, that must exist after unpacking (used to find the archive's root).
    sha1, md5 : str or None
        Expected digest; ``None`` where no published value is known.
    filename : str, optional
        Local archive name (default: the URL's last part).
    """

    url: str
    into: str
    marker: str
    sha1: Optional[str] = None
    md5: Optional[str] = None
    filename: Optional[str] = None

    @property
    def archive_name(self) -> str:
        return self.filename or self.url.rstrip("/").rsplit("/", 1)[-1]


#: Registry of the archives (as d2l's DATA_HUB). WIDER images come from the Hugging Face copy of the
#: official zips (the official page links to Google Drive / Tencent Weiyun, which need a browser).
DATA_HUB: Dict[str, Resource] = {
    "wider_train": Resource("https://huggingface.co/datasets/wider_face/resolve/main/data/WIDER_train.zip",
                            "WIDER_FACE", "WIDER_train/images", md5="3fedf70df600953d25982bcd13d91ba2"),
    "wider_val": Resource("https://huggingface.co/datasets/wider_face/resolve/main/data/WIDER_val.zip",
                          "WIDER_FACE", "WIDER_val/images", md5="dfa7d7e790efa35df3788964cf0bbaea"),
    "wider_split": Resource("http://shuoyang1213.me/WIDERFACE/support/bbx_annotation/wider_face_split.zip",
                            "WIDER_FACE", "wider_face_split/wider_face_train_bbx_gt.txt",
                            md5="0e3767bcf0e326556d407bf5bff5d27c"),
    "wider_eval_tools": Resource("http://shuoyang1213.me/WIDERFACE/support/eval_script/eval_tools.zip",
                                 "WIDER_FACE", "eval_tools/ground_truth/wider_face_val.mat"),
    "cnn_facepoint": Resource("http://mmlab.ie.cuhk.edu.hk/archive/CNN/data/train.zip", "landmarks",
                              "trainImageList.txt", filename="CNN_FacePoint_train.zip"),
}


class DownloadError(RuntimeError):
    """A transfer or check that failed; the message names the URL or file and the reason."""


def file_digest(path, algo: str = "sha1", chunk: int = 1 << 20) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _verify(path, res: Resource):
    for algo in ("sha1", "md5"):
        want = getattr(res, algo)
        if want:
            got = file_digest(path, algo)
            if got.lower() != want.lower():
                raise DownloadError(f"{path}: {algo} checksum mismatch: expected {want}, got {got}")
            return f"{algo} ok"
    return f"no published checksum; sha1 {file_digest(path, 'sha1')}"


def _receive(resp, part: Path, have: int, progress: bool, chunk: int, url: str) -> None:
    """Write one HTTP response to ``part``: appended after ``have`` bytes when the server honoured the
    Range (206), from the start otherwise; raises :class:`DownloadError` when the body stops short."""
    length = resp.headers.get("Content-Length")
    if resp.status == 206:
        total, mode = (have + int(length) if length is not None else None), "ab"
    else:  # 200: full body (server without Range support, or a fresh start)
        have, total, mode = 0, (int(length) if length is not None else None), "wb"
    with open(part, mode) as f, tqdm(total=total, initial=have, unit="B", unit_scale=True, dynamic_ncols=True,
                                     desc=part.name[:-len(".part")], disable=not progress) as bar:
        for block in iter(lambda: resp.read(chunk), b""):
            f.write(block)
            bar.update(len(block))
    got = part.stat().st_size
    if total is not None and got < total:
        raise DownloadError(f"{url}: connection closed after {got} of {total} bytes")


def fetch(url: str, path, retries: int = 5, timeout: float = 60.0, progress: bool = True,
          chunk: int = 1 << 16, backoff: float = 0.5) -> Path:
    """Download ``url`` to ``path``, resuming a partial ``path.part`` with HTTP Range.

    A server that ignores Range (answers 200) restarts the file; a connection that drops mid-way is
    retried up to ``retries`` times, each resuming from the bytes already on disk.

    Returns
    -------
    Path of the completed file (``path``); raises :class:`DownloadError` otherwise.
    """
    path = Path(path)
    part = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    last_err = None
    for attempt in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        req = urllib.request.Request(url, headers={"User-Agent": "mtcnn-gluon"})
        if have:
            req.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                _receive(resp, part, have, progress, chunk, url)
            os.replace(part, path)
            return path
        except urllib.error.HTTPError as err:
            if err.code == 416 and have:  # range past the end: the part file is already whole (or wrong)
                os.replace(part, path)
                return path
            if 400 <= err.code < 500:
                raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
            last_err = f"HTTP {err.code} {err.reason}"
        except (urllib.error.URLError, HTTPException, ConnectionError, TimeoutError, OSError, DownloadError) as err:
            last_err = str(getattr(err, "reason", None) or err)
        if attempt < retries:
            time.sleep(backoff * (attempt + 1))
    raise DownloadError(f"{url}: gave up after {retries + 1} tries ({last_err}); "
                        f"{part.stat().st_size if part.exists() else 0} bytes kept in {part} for the next run")


def unpack(archive, dest, res: Resource) -> Path:
    """Unzip ``archive`` so that ``dest/res.into/res.marker`` exists; the archive's own top folder is found
    by looking for the marker. Returns ``dest/res.into``."""
    target = Path(dest) / res.into
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".unpack_") as tmp:
        try:
            with zipfile.ZipFile(archive) as z:
                bad = [n for n in z.namelist() if n.startswith("/") or ".." in Path(n).parts]
                if bad:
                    raise DownloadError(f"{archive}: unsafe paths in the archive, e.g. {bad[0]!r}")
                z.extractall(tmp)
        except zipfile.BadZipFile as err:
            raise DownloadError(f"{archive}: not a valid zip ({err})") from None
        base = _find_base(Path(tmp), res.marker)
        if base is None:
            raise DownloadError(f"{archive}: does not contain {res.marker!r} (expected for {res.into}/)")
        for child in base.iterdir():
            _merge(child, target / child.name)
    return target


def _find_base(root: Path, marker: str, depth: int = 3) -> Optional[Path]:
    frontier = [root]
    for _ in range(depth + 1):
        nxt = []
        for d in frontier:
            if (d / marker).exists():
                return d
            nxt.extend(p for p in sorted(d.iterdir()) if p.is_dir())
        frontier = nxt
    return None


def _merge(src: Path, dst: Path):
    if src.is_dir() and dst.is_dir():
        for child in src.iterdir():
            _merge(child, dst / child.name)
    else:
        if dst.exists():
            shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
        shutil.move(str(src), str(dst))


def download_all(to, names: Optional[Sequence[str]] = None, hub: Optional[Mapping[str, Resource]] = None,
                 keep_archives: bool = False, retries: int = 5, timeout: float = 60.0, progress: bool = True,
                 verbose: bool = True) -> dict:
    """Fetch, verify and unpack the archives of ``hub`` (default :data:`DATA_HUB`) into ``to``.

    Returns
    -------
    dict with ``ok`` (name -> note), ``failed`` (name -> reason) and ``root``. Resources already unpacked
    (marker present) are skipped.
    """
    hub = DATA_HUB if hub is None else hub
    names = list(hub) if names is None else list(names)
    unknown = [n for n in names if n not in hub]
    if unknown:
        raise KeyError(f"unknown resources {unknown}; valid: {sorted(hub)}")
    root = Path(to)
    root.mkdir(parents=True, exist_ok=True)
    archives = root / "archives"
    ok, failed = {}, {}
    for name in names:
        res = hub[name]
        if (root / res.into / res.marker).exists():
            ok[name] = "already unpacked"
            continue
        archive = archives / res.archive_name
        try:
            if archive.exists():
                try:
                    note = _verify(archive, res)
                except DownloadError:
                    archive.unlink()  # a bad complete archive: fetch again
            if not archive.exists():
                fetch(res.url, archive, retries=retries, timeout=timeout, progress=progress)
            try:
                note = _verify(archive, res)
            except DownloadError:
                archive.unlink()
                raise
            unpack(archive, root, res)
            if not keep_archives:
                archive.unlink()
            ok[name] = note
        except DownloadError as err:
            failed[name] = str(err)
    if verbose:
        for name, note in ok.items():
            print(f"ok      {name:18s} {note}")
        for name, why in failed.items():
            print(f"FAILED  {name:18s} {why}")
        if failed:
            print(f"could not get {len(failed)} of {len(names)}: {', '.join(failed)}; rerun to resume")
    return {"root": str(root), "ok": ok, "failed": failed}


def with_url(res: Resource, url: str, **changes) -> Resource:
    """A copy of ``res`` fetched from ``url`` (mirrors, tests)."""
    return replace(res, url=url, **changes)
