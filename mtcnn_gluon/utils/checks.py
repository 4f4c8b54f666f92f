"""Checks at the edges: values of options and settings, output folders. Each failure is one line that names
the option, field or file and says what was expected.

:class:`UserError` is what the command line prints as ``error: <message>`` (no traceback; ``--debug``
shows it). The argparse types (:func:`positive_int`, :func:`probability`, ...) raise
``argparse.ArgumentTypeError``, which argparse turns into a line naming the option.
"""
from __future__ import annotations

import fcntl
import math
import os
import time
from pathlib import Path

__all__ = ["UserError", "finite", "check_range", "check_probabilities", "OutputLock", "check_writable", "same_file"]


class UserError(ValueError):
    """A mistake in what the user gave (an option, a file, a folder): its message is the whole story."""


def finite(name: str, value) -> float:
    """``value`` as a float, or :class:`UserError` naming ``name`` when it is not a finite number."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise UserError(f"{name}: expected a finite number, got {value!r}")
    return v


def check_range(name: str, value, low=None, high=None, low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float within ``[low, high]`` (``(`` / ``)`` with the ``*_open`` flags)."""
    v = finite(name, value)
    bad_low = low is not None and (v <= low if low_open else v < low)
    bad_high = high is not None and (v >= high if high_open else v > high)
    if bad_low or bad_high:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high}"
        raise UserError(f"{name}: expected a number {' and '.join(x for x in (lo, hi) if x)}, got {value!r}")
    return v


def check_probabilities(name: str, values, n: int) -> tuple:
    """``n`` probabilities in [0, 1] (thresholds)."""
    values = tuple(values)
    if len(values) != n:
        raise UserError(f"{name}: expected {n} values, got {len(values)}")
    return tuple(check_range(name, v, 0.0, 1.0) for v in values)


def same_file(a, b) -> bool:
    """Whether two paths name the same file (both must exist), or the same path when either does not."""
    a, b = Path(a), Path(b)
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_writable(folder, what: str = "--out") -> Path:
    """Create ``folder`` if needed and prove a file can be written there, before any work is done."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as err:
        raise UserError(f"{what} {folder}: cannot write there ({err.strerror or err})") from None
    return folder


class OutputLock:
    """Hold ``<folder>/.lock`` for the length of a run: a second run into the same folder stops at once
    instead of interleaving its files with this one's. Entering it first proves the folder can be written
    (:func:`check_writable`).

    Uses ``fcntl.flock`` (released by the kernel when the process dies, so a killed run leaves no stale lock).
    """

    def __init__(self, folder, what: str = "--out"):
        self.path = Path(folder) / ".lock"
        self.what = what
        self._f = None

    def __enter__(self):
        check_writable(self.path.parent, self.what)  # before any work: the folder must take files
        self._f = open(self.path, "a+")
        try:
            fcntl.flock(self._f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._f.seek(0)
            holder = self._f.read().strip() or "another process"
            self._f.close()
            raise UserError(f"{self.what} {self.path.parent}: another run is writing there ({holder}); "
                            "wait for it or use another folder") from None
        self._f.seek(0)
        self._f.truncate()
        self._f.write(f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}")
        self._f.flush()
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._f, fcntl.LOCK_UN)
        self._f.close()
        return False
