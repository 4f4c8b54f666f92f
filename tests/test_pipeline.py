"""The resumable pipeline: step bookkeeping, settings guard, publishing (on the toy dataset, offline)."""
import json

import pytest

from mtcnn_gluon.data.toy import build_toy_dataset
from mtcnn_gluon.config import PipelineConfig
from mtcnn_gluon.pipeline import publish_cascade, run_pipeline


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return build_toy_dataset(tmp_path_factory.mktemp("toy"), n_train=8, n_val=4, n_landmark=40, seed=0)


def test_presets():
    full, smoke = PipelineConfig.preset("full"), PipelineConfig.preset("smoke")
    assert full.wider_limit is None and full.epochs["pnet"] > smoke.epochs["pnet"]
    assert smoke.mining["max_windows"] == 300
    with pytest.raises(ValueError, match="'smoke' or 'full'"):
        PipelineConfig.preset("huge")


def test_finished_steps_are_skipped_and_data_settings_are_guarded(toy_root, tmp_path, capsys):
    cfg = PipelineConfig.preset("smoke", wider_limit=4, landmark_limit=40, workers=1)
    out = tmp_path / "run"
    first = run_pipeline(toy_root, out, cfg, until="data", progress=False)
    counts = first["data"]["summary"]["pnet_counts"]
    assert counts["pos"] > 0 and counts["neg"] >= 3 * counts["pos"] - 3  # the 3:1:1:2 mix
    rec = (out / "data" / "pnet" / "train.rec").read_bytes()
    capsys.readouterr()
    again = run_pipeline(toy_root, out, cfg, until="data", progress=False)
    assert "data: done before" in capsys.readouterr().out
    assert again["data"] == json.loads(json.dumps(first["data"]))
    assert (out / "data" / "pnet" / "train.rec").read_bytes() == rec
    # other epochs may resume the same folder; other data may not
    run_pipeline(toy_root, out, PipelineConfig.preset("smoke", wider_limit=4, landmark_limit=40,
                                                      epochs={"pnet": 5, "rnet": 1, "onet": 1}),
                 until="data", progress=False)
    with pytest.raises(ValueError, match="other data settings .*wider_limit=4"):
        run_pipeline(toy_root, out, PipelineConfig.preset("smoke", wider_limit=5, landmark_limit=40), until="data")
    with pytest.raises(ValueError, match="unknown step"):
        run_pipeline(toy_root, out, cfg, until="train_qnet")


def test_publish_refuses_an_unfinished_run(toy_root, tmp_path):
    out = tmp_path / "run"
    run_pipeline(toy_root, out, PipelineConfig.preset("smoke", wider_limit=4, landmark_limit=40, workers=1),
                 until="data", progress=False)
    with pytest.raises(FileNotFoundError, match="not finished steps train_pnet, mine_rnet"):
        publish_cascade(out, tmp_path / "pretrained")
    assert not (tmp_path / "pretrained").exists()
