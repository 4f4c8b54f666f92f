"""Fault-suite helpers: real files written into tmp_path, real subprocesses killed with SIGKILL.

Everything here is tiny on purpose (the suite runs on 2 busy CPU cores in CI): images of ~100 px,
datasets of a dozen images, nets at random initialisation unless the reference weights are available.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

PY = sys.executable
HARNESS = Path(__file__).with_name("harness.py")
REPO = Path(__file__).resolve().parents[2]


def write_image(path, img, ext=None, params=()):
    """Encode ``img`` with OpenCV and write it to ``path`` (non-ASCII paths work: no cv2.imwrite)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(ext or path.suffix, img, list(params))
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def noise_image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def wider_list(entries):
    """WIDER ``*_bbx_gt.txt`` text from ``[(name, [(x, y, w, h), ...]), ...]``."""
    lines = []
    for name, faces in entries:
        lines.append(name)
        lines.append(str(len(faces)))
        if not faces:
            lines.append("0 0 0 0 0 0 0 0 0 0")
        for x, y, w, h in faces:
            lines.append(f"{x} {y} {w} {h} 0 0 0 0 0 0")
    return "\n".join(lines) + "\n"


def make_dataset(root, n_wider=10, n_landmark=10, seed=0):
    """A tiny data root in the real layout: ``WIDER_FACE/`` (train list + images) and ``landmarks/``.

    WIDER images are 120 × 160 noise with two faces of 30–44 px; landmark faces are 64 × 64 with a box
    of (12, 52, 12, 52) and five points inside it. Image content does not matter to the samplers: labels
    come from the annotations only.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    wider = root / "WIDER_FACE"
    entries = []
    for k in range(n_wider):
        name = f"0--Parade/0_Parade_{k}.jpg"
        write_image(wider / "WIDER_train" / "images" / name, noise_image(120, 160, seed * 1000 + k))
        faces = []
        for x0 in (8, 90):
            s = int(rng.integers(30, 45))
            faces.append((x0 + int(rng.integers(0, 10)), int(rng.integers(5, 120 - s - 5)), s, s))
        entries.append((name, faces))
    (wider / "wider_face_split").mkdir(parents=True, exist_ok=True)
    (wider / "wider_face_split" / "wider_face_train_bbx_gt.txt").write_text(wider_list(entries))
    lm = root / "landmarks"
    lines = []
    for k in range(n_landmark):
        name = f"lfw_5590\\face_{k}.jpg"
        write_image(lm / "lfw_5590" / f"face_{k}.jpg", noise_image(64, 64, 5000 + seed * 1000 + k))
        pts = [22, 25, 42, 25, 32, 33, 24, 43, 40, 43]
        lines.append(f"{name} 12 52 12 52 " + " ".join(str(v + int(rng.integers(-2, 3))) for v in pts))
    lm.mkdir(parents=True, exist_ok=True)
    (lm / "trainImageList.txt").write_text("\n".join(lines) + "\n")
    return root


def child_env(**extra):
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(args, env=None, timeout=180, cwd=None):
    """Run ``python <args>`` to completion; return the CompletedProcess (output in .stdout)."""
    return subprocess.run([PY, *map(str, args)], env=env or child_env(), cwd=cwd or REPO, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run_and_kill(args, marker, log, env=None, timeout=180):
    """Start ``python <args>``, wait until ``marker`` exists, then SIGKILL the process (kill -9).

    The process runs in its own session so that any helpers it forked can be reaped afterwards by
    its group id. Fails if the process ends before reaching the kill point.
    """
    marker = Path(marker)
    with open(log, "w") as out:
        p = subprocess.Popen([PY, *map(str, args)], env=env or child_env(), cwd=REPO, stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True)
        t0 = time.monotonic()
        try:
            while not marker.exists():
                if p.poll() is not None:
                    pytest.fail(f"process ended (rc {p.returncode}) before the kill point:\n{Path(log).read_text()}")
                if time.monotonic() - t0 > timeout:
                    pytest.fail(f"kill point not reached in {timeout} s:\n{Path(log).read_text()}")
                time.sleep(0.02)
            os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=30)
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # this process's group only: anything it forked
            except (ProcessLookupError, PermissionError):
                pass
            if p.poll() is None:
                p.kill()
                p.wait()
    assert p.returncode == -signal.SIGKILL
    return p


def patch_env(target, after, marker, delay=600.0):
    """Environment for harness.py: after ``after`` calls of ``target`` ('module:function'), touch
    ``marker`` and sleep ``delay`` s in every later call (the test kills the process meanwhile)."""
    return child_env(FAULT_PATCH=target, FAULT_AFTER=after, FAULT_MARKER=marker, FAULT_DELAY=delay)


def json_without(path, *keys):
    d = json.loads(Path(path).read_text())
    for k in keys:
        d.pop(k, None)
    return d


@pytest.fixture(scope="session")
def random_cascade(tmp_path_factory):
    """A weights folder with randomly initialised pnet/rnet/onet.params (seeded)."""
    import mxnet as mx

    from mtcnn_gluon.model.nets import get_net, save_weights

    folder = tmp_path_factory.mktemp("random_cascade")
    mx.random.seed(0)
    for name in ("pnet", "rnet", "onet"):
        save_weights(get_net(name), folder / f"{name}.params")
    return folder


@pytest.fixture(scope="session")
def any_weights(random_cascade):
    """``(weights, is_reference)``: the original MTCNN weights when MTCNN_DATA_ROOT has them, else random."""
    root = os.environ.get("MTCNN_DATA_ROOT")
    if root and (Path(root) / "reference_mtcnn" / "det1-0001.params").is_file():
        return "reference", True
    return random_cascade, False
