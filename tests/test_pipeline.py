"""The resumable pipeline: step bookkeeping, settings guard, publishing (on the toy dataset, offline)."""
import dataclasses
import json

import mxnet as mx
import pytest

from mtcnn_gluon.config import PipelineConfig
from mtcnn_gluon.data.toy import build_toy_dataset
from mtcnn_gluon.pipeline import publish_cascade, run_pipeline, step_mine, step_train
from mtcnn_gluon.utils.checks import UserError


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return build_toy_dataset(tmp_path_factory.mktemp("toy"), n_train=8, n_val=4, n_landmark=40, seed=0)


def test_presets():
    full, smoke = PipelineConfig.preset("full"), PipelineConfig.preset("smoke")
    assert full.wider_limit is None and smoke.wider_limit == 80 and full.epochs["rnet"] > smoke.epochs["rnet"]
    assert smoke.mining["max_windows"] == 300
    # the recipe adds generated positives and parts to the mined ones; the course's smoke run does not
    assert full.generated_faces == {"rnet": 20, "onet": 20} and smoke.generated_faces == {}
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
    with pytest.raises(ValueError, match="other data settings .*sampling"):
        run_pipeline(toy_root, out, dataclasses.replace(cfg, sampling={"min_face": 40}), until="data")
    with pytest.raises(ValueError, match="unknown step"):
        run_pipeline(toy_root, out, cfg, until="train_qnet")


def test_sampling_reaches_pnets_record(toy_root, tmp_path):
    """``sampling`` changes PNet's crops: positives only from faces >= 50 px (3 of the 12 faces in these 4 toy
    images) give fewer of them; none at all (faces >= 10,000 px) stops the data step with the types it lacks."""
    cfg = PipelineConfig.preset("smoke", wider_limit=4, landmark_limit=40, workers=1)
    base = run_pipeline(toy_root, tmp_path / "a", cfg, until="data", progress=False)["data"]["summary"]
    big = run_pipeline(toy_root, tmp_path / "b", dataclasses.replace(cfg, sampling={"min_face": 50}),
                       until="data", progress=False)["data"]["summary"]
    assert 0 < big["pnet_counts"]["pos"] < base["pnet_counts"]["pos"] / 2
    with pytest.raises(UserError, match=r"PNet record: no pos or part crops from 4 WIDER images .*min_face=10000"):
        run_pipeline(toy_root, tmp_path / "c", dataclasses.replace(cfg, sampling={"min_face": 10000}),
                     until="data", progress=False)


@pytest.mark.parametrize("field, changes, message", [
    ("sampling", {"min_fce": 40}, r"PipelineConfig.sampling: unknown SamplingConfig fields \['min_fce'\]"),
    ("sampling", {"min_face": 0}, "SamplingConfig.min_face: expected a number >= 1"),
    ("mining", {"max_window": 9}, r"PipelineConfig.mining: unknown MiningConfig fields \['max_window'\]"),
    ("generated_sampling", {"small_face_tries": -1}, "SamplingConfig.small_face_tries: expected a number >= 0"),
    ("generated_sampling", {"jitter_tries": 60, "small_face_tries": 40},
     r"PipelineConfig.generated_sampling: \['jitter_tries'\] are set by the stage .* and by generated_faces"),
])
def test_bad_sampling_or_mining_fields_stop_at_once(field, changes, message):
    with pytest.raises(UserError, match=message):
        PipelineConfig.preset("full", **{field: changes})


def test_publish_refuses_an_unfinished_run(toy_root, tmp_path):
    out = tmp_path / "run"
    run_pipeline(toy_root, out, PipelineConfig.preset("smoke", wider_limit=4, landmark_limit=40, workers=1),
                 until="data", progress=False)
    with pytest.raises(FileNotFoundError, match="not finished steps train_pnet, mine_rnet"):
        publish_cascade(out, tmp_path / "pretrained")
    assert not (tmp_path / "pretrained").exists()


def test_retraining_an_earlier_net_rebuilds_what_depends_on_it(toy_root, tmp_path, capsys):
    """Mining is keyed to the nets that mined: retrain PNet and the RNet shards are mined again, and RNet,
    whose records changed, trains afresh instead of resuming on data it was not trained on."""
    tiny = {net: {"steps_per_epoch": 2, "batch_size": 96, "max_val_samples": 200} for net in ("pnet", "rnet")}
    cfg = PipelineConfig.preset("smoke", wider_limit=6, landmark_limit=40, workers=1, val_limit=3,
                                epochs={"pnet": 1, "rnet": 1, "onet": 1}, train_overrides=tiny)
    out = tmp_path / "run"
    run_pipeline(toy_root, out, cfg, until="train_rnet", progress=False)
    mined = json.loads((out / "mine_rnet" / "mining.json").read_text())
    shard = out / "mine_rnet" / "shards" / "00000.npz"
    before = shard.stat().st_mtime_ns
    capsys.readouterr()

    # the same PNet: shards reused, RNet resumes
    step_mine("rnet", toy_root, out, cfg, [mx.cpu()], progress=False)
    assert shard.stat().st_mtime_ns == before
    step_train("rnet", out, cfg, [mx.cpu()], progress=False)
    assert "afresh" not in capsys.readouterr().out

    # PNet trained one epoch more: other weights, so the shards are mined again and RNet starts over
    longer = dataclasses.replace(cfg, epochs={"pnet": 2, "rnet": 1, "onet": 1})
    step_train("pnet", out, longer, [mx.cpu()], progress=False)
    step_mine("rnet", toy_root, out, longer, [mx.cpu()], progress=False)
    assert "mining again" in capsys.readouterr().out
    assert json.loads((out / "mine_rnet" / "mining.json").read_text())["weights"] != mined["weights"]
    assert shard.stat().st_mtime_ns != before
    step_train("rnet", out, longer, [mx.cpu()], progress=False)
    assert "training rnet afresh" in capsys.readouterr().out
    rows = (out / "rnet" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 2  # header + the one epoch of the new run, not the old run's rows


def test_generated_faces_join_the_mined_ones(toy_root, tmp_path):
    """The recipe's generated positives and parts: 24 px crops around the ground truth, added to what PNet mined."""
    import numpy as np

    from mtcnn_gluon.data.records import read_records
    from mtcnn_gluon.mining import load_mined
    from mtcnn_gluon.utils.labels import CLS_PART, CLS_POS

    tiny = {"pnet": {"steps_per_epoch": 2, "batch_size": 96, "max_val_samples": 200}}
    cfg = PipelineConfig.preset("smoke", wider_limit=6, landmark_limit=40, workers=1, val_limit=3,
                                epochs={"pnet": 1, "rnet": 1, "onet": 1}, train_overrides=tiny,
                                generated_faces={"rnet": 6})
    out = tmp_path / "run"
    records = run_pipeline(toy_root, out, cfg, until="mine_rnet", progress=False)
    generated = records["mine_rnet"]["summary"]["generated"]
    assert generated["pos"] > 0 and generated["part"] > 0 and "neg" not in generated
    _, mined = load_mined(out / "mine_rnet")
    for t, cls in (("pos", CLS_POS), ("part", CLS_PART)):
        images, labels = read_records(out / "data" / "rnet" / t)
        assert images.shape[1:] == (24, 24, 3)
        assert len(labels) == int((mined[:, 0] == cls).sum()) + generated[t]
        assert (labels[:, 0] == cls).all() and np.abs(labels[:, 1:5]).max() <= 1


def test_generated_sampling_reaches_the_generated_crops():
    from mtcnn_gluon.pipeline import _generated_sampling
    how = _generated_sampling("onet", 20, {"small_face_tries": 40, "small_face": 30})
    assert (how.size, how.jitter_tries, how.small_face_tries, how.small_face) == (48, 20, 40, 30)
    assert how.random_negatives == how.negatives_near_face == 0
