"""The pinned environment: environment.yml mirrors requirements.txt; the installed set is the pinned one."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    return {l.split("==")[0].lower(): l.split("==")[1] for l in lines if "==" in l}


def _requirements(name):
    return [l.strip() for l in (ROOT / name).read_text().splitlines() if l.strip() and not l.startswith("#")]


def test_environment_yml_mirrors_requirements():
    text = (ROOT / "environment.yml").read_text()
    pip_lines = [m.group(1).strip() for m in re.finditer(r"^\s+- (\S+==\S+)\s*$", text, re.M)]
    assert _pins(pip_lines) == _pins(_requirements("requirements.txt"))
    assert "python=3.11" in text


def test_every_requirement_is_pinned_exactly():
    for name in ("requirements.txt", "requirements-nodeps.txt", "requirements-gpu.txt"):
        for line in _requirements(name):
            assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][\w.]*", line), f"{name}: {line!r} is not an exact pin"


def test_installed_versions_are_the_pins():
    from importlib.metadata import PackageNotFoundError, version

    for name, pinned in {**_pins(_requirements("requirements.txt")),
                         **_pins(_requirements("requirements-nodeps.txt"))}.items():
        try:
            assert version(name) == pinned, f"{name}: installed {version(name)}, pinned {pinned}"
        except PackageNotFoundError:
            pytest.fail(f"{name} is pinned but not installed")


def test_only_the_headless_opencv_is_installed():
    from importlib.metadata import PackageNotFoundError, version

    with pytest.raises(PackageNotFoundError):
        version("opencv-python")
    import cv2

    assert cv2.__version__.startswith("4.10")


def test_mxnet_sees_numpy_bool():
    import mxnet as mx
    import numpy as np

    assert np.__version__ < "1.24"  # mxnet 1.9.1 uses np.bool
    assert mx.nd.array([1, 2]).asnumpy().sum() == 3
