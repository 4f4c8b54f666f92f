"""Shared fixtures. Real data comes from $MTCNN_DATA_ROOT (CI: ../shared/data).

Tests that need it use the ``data_root`` fixture: they skip with a reason when the variable is unset,
and fail instead when MTCNN_REQUIRE_DATA=1 (as .ci/run sets it).
"""
import os
from pathlib import Path

import pytest


def _data_root():
    root = os.environ.get("MTCNN_DATA_ROOT")
    required = os.environ.get("MTCNN_REQUIRE_DATA") == "1"
    if not root:
        if required:
            pytest.fail("MTCNN_REQUIRE_DATA=1 but MTCNN_DATA_ROOT is not set")
        pytest.skip("real data not available: set MTCNN_DATA_ROOT to the shared data folder")
    path = Path(root).resolve()
    if not path.is_dir():
        if required:
            pytest.fail(f"MTCNN_DATA_ROOT={root} is not a folder")
        pytest.skip(f"MTCNN_DATA_ROOT={root} is not a folder")
    return path


@pytest.fixture(scope="session")
def data_root():
    """The real shared data folder (WIDER_FACE/, landmarks/, reference_mtcnn/, photos/)."""
    return _data_root()


@pytest.fixture(scope="session")
def reference_weights(data_root):
    """Folder with the original MTCNN weights det1..det3."""
    path = data_root / "reference_mtcnn"
    if not (path / "det1-0001.params").is_file():
        pytest.fail(f"{path} lacks det1-0001.params")
    return path
