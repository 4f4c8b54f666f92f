"""Helpers of mtcnn_gluon.course that the notebooks call."""
import json
from pathlib import Path

import numpy as np
import pytest

from mtcnn_gluon import course
from mtcnn_gluon.cli import main
from mtcnn_gluon.data.toy import ASTRONAUT_FACE


def test_resolve_data_root_builds_the_toy_set_only_without_data_root(tmp_path):
    root = course.resolve_data_root("", tmp_path, n_train=3, n_val=3, n_landmark=5)
    assert root == (tmp_path / course.TOY_DIR).resolve() and (root / "toy_dataset.json").is_file()
    assert course.resolve_data_root(str(root), tmp_path / "elsewhere") == root
    assert not (tmp_path / "elsewhere").exists()
    with pytest.raises(FileNotFoundError, match="WIDER_FACE"):
        course.resolve_data_root(str(tmp_path), tmp_path)


def test_save_params_and_figure_path(tmp_path):
    path = course.save_params(tmp_path, "04_train_pnet", {"epochs": 2, "lr": np.float32(0.5), "t": (1, 2)})
    assert path == tmp_path / "config" / "04_train_pnet.json"
    assert json.loads(path.read_text()) == {"epochs": 2, "lr": 0.5, "t": [1, 2]}
    fig = course.figure_path(tmp_path, "09_detections")
    assert fig == tmp_path / "figures" / "09_detections.png" and fig.parent.is_dir()


def test_pipeline_config_applies_only_given_changes():
    from mtcnn_gluon.config import PipelineConfig

    assert course.pipeline_config("smoke") == PipelineConfig.preset("smoke")
    cfg = course.pipeline_config("smoke", epochs={"pnet": 5, "rnet": 0}, steps_per_epoch=3, val_limit=None, workers=1)
    assert cfg.epochs == {**PipelineConfig.preset("smoke").epochs, "pnet": 5}
    assert all(o["steps_per_epoch"] == 3 for o in cfg.train_overrides.values())
    assert cfg.val_limit == PipelineConfig.preset("smoke").val_limit and cfg.workers == 1


def test_packaged_photos_are_bgr():
    import skimage.data as skd

    photos = course.packaged_photos(("astronaut",))
    img = photos["astronaut"]
    assert img.dtype == np.uint8 and img.shape == (512, 512, 3)
    np.testing.assert_array_equal(img[:, :, ::-1], skd.astronaut())
    x1, y1, x2, y2 = ASTRONAUT_FACE
    assert 0 <= x1 < x2 < 512 and 0 <= y1 < y2 < 512


def test_available_weights_lists_what_is_missing(tmp_path):
    found, missing = course.available_weights(tmp_path, None)
    assert "this run" in missing and "reference" in missing
    cascade = tmp_path / "cascade"
    cascade.mkdir()
    for net in ("pnet", "rnet", "onet"):
        (cascade / f"{net}.params").write_bytes(b"")
    found, missing = course.available_weights(tmp_path, None)
    assert found["this run"] == str(cascade)
    ref = tmp_path / "data" / "reference_mtcnn"
    ref.mkdir(parents=True)
    (ref / "det1-0001.params").write_bytes(b"")
    assert course.available_weights(tmp_path, tmp_path / "data")[0]["reference"] == "reference"


def test_write_index_links_notebooks_and_figures(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "00_overview_and_setup.ipynb").write_text("{}")
    course.figure_path(tmp_path, "00_the_task").write_bytes(b"png")
    text = course.write_index(tmp_path, {"00_overview_and_setup": 7.0}).read_text()
    assert "[00_overview_and_setup](notebooks/00_overview_and_setup.ipynb) | 7.0" in text
    assert "![00_the_task](figures/00_the_task.png)" in text


def test_cli_rejects_unknown_notebooks():
    with pytest.raises(SystemExit, match="unknown notebooks"):
        main(["course", "run", "--run-dir", "unused", "--only", "00,99"])
