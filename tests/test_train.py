"""fit(): outputs, determinism, interrupt + resume, torn checkpoints, schedule, flips, CLI.

Runs on tiny synthetic records written with the real RecordWriter, on CPU, in seconds.
"""
import json
import os
import shutil

import mxnet as mx
import numpy as np
import pytest

from mtcnn_gluon.model.nets import get_net, load_weights
from mtcnn_gluon.data.records import RecordWriter, write_typed_records
from mtcnn_gluon.utils.labels import make_labels
from mtcnn_gluon.checkpoint import latest_checkpoint
from mtcnn_gluon.config import TrainConfig
import cv2

from mtcnn_gluon.data.batching import blur_samples, find_records, flip_samples, jitter_colour
from mtcnn_gluon.cli import main
from mtcnn_gluon.train import METRIC_COLUMNS, fit, make_lr_scheduler


def _synthetic(n, size, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    cls = np.resize([1, 0, -1, -2, 0, 0], n)
    off = rng.uniform(-0.2, 0.2, (n, 4)) * (np.abs(cls) == 1)[:, None]
    lmk = rng.uniform(0.1, 0.9, (n, 10)) * (cls == -2)[:, None]
    return images, make_labels(cls, off, lmk)


@pytest.fixture(scope="module")
def pnet_records(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    images, labels = _synthetic(150, 12, 0)
    with RecordWriter(root / "pnet" / "train") as w:
        for img, lab in zip(images, labels):
            w.write(img, lab)
    return root


def _cfg(**kw):
    values = dict(epochs=2, batch_size=24, val_fraction=0.2, lr=0.05, lr_decay_epochs=(1,))
    return TrainConfig.preset("pnet", **dict(values, **kw))


def _params(path):
    net = get_net("pnet")
    load_weights(net, path)
    return {k: v.data().asnumpy() for k, v in net.collect_params().items()}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


class _Stop(Exception):
    pass


def _stop_after(epoch):
    def cb(e, row):
        if e == epoch:
            raise _Stop

    return cb


@pytest.fixture(scope="module")
def uninterrupted(pnet_records, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    result = fit(pnet_records, out, _cfg(), progress=False)
    return out, result


def test_fit_writes_weights_metrics_curves_and_json_checkpoints(uninterrupted):
    out, result = uninterrupted
    assert result.params_path == str(out / "pnet.params")
    params = _params(out / "pnet.params")
    start = {k: v.data().asnumpy() for k, v in get_net("pnet").collect_params().items()}
    assert any(not np.array_equal(params[k], start[k]) for k in params)  # it trained
    lines = (out / "metrics.csv").read_text().splitlines()
    assert lines[0].split(",") == list(METRIC_COLUMNS) and len(lines) == 3
    assert [r["epoch"] for r in result.metrics] == [1, 2]
    assert result.metrics[0]["lr"] == pytest.approx(0.05) and result.metrics[1]["lr"] == pytest.approx(0.005)
    for r in result.metrics:
        assert 0 <= r["val_acc"] <= 1 and 0 <= r["val_recall"] <= r["val_pos_acc"] + 1e-9
        assert np.isfinite([r["train_loss"], r["val_box_l2"], r["val_landmark_l2"]]).all()
    assert (out / "curves.png").stat().st_size > 1000
    ckpt = latest_checkpoint(out)
    assert os.path.basename(ckpt) == "epoch-0002"
    state = json.loads(open(os.path.join(ckpt, "state.json")).read())  # plain JSON, no pickle
    assert state["epoch"] == 2 and state["complete"] is True and state["numpy_rng"]["bit_generator"] == "PCG64"
    assert json.loads((out / "config.json").read_text())["net"] == "pnet"


def test_same_seed_same_parameters_and_another_seed_differs(pnet_records, uninterrupted, tmp_path):
    out, _ = uninterrupted
    fit(pnet_records, tmp_path / "a", _cfg(), progress=False)
    _assert_same(_params(tmp_path / "a" / "pnet.params"), _params(out / "pnet.params"))
    fit(pnet_records, tmp_path / "b", _cfg(seed=1, epochs=1), progress=False)
    other = _params(tmp_path / "b" / "pnet.params")
    assert not np.array_equal(other["pnet_conv1_weight"], _params(out / "pnet.params")["pnet_conv1_weight"])


@pytest.fixture(scope="module")
def interrupted(pnet_records, tmp_path_factory):
    """A run stopped after epoch 1 (its checkpoint written), as a crash after the save would."""
    out = tmp_path_factory.mktemp("stopped")
    with pytest.raises(_Stop):
        fit(pnet_records, out, _cfg(), progress=False, callback=_stop_after(1))
    assert not (out / "pnet.params").exists()
    assert os.path.basename(latest_checkpoint(out)) == "epoch-0001"
    return out


def test_resume_gives_the_same_parameters_as_an_uninterrupted_run(pnet_records, uninterrupted, interrupted,
                                                                  tmp_path):
    full, full_result = uninterrupted
    out = tmp_path / "run"
    shutil.copytree(interrupted, out)
    result = fit(pnet_records, out, _cfg(), progress=False, resume=True)
    _assert_same(_params(out / "pnet.params"), _params(full / "pnet.params"))
    assert [r["epoch"] for r in result.metrics] == [1, 2]
    for a, b in zip(result.metrics, full_result.metrics):
        for k in METRIC_COLUMNS:
            if not k.endswith(("_per_s", "_time_s")):
                assert a[k] == pytest.approx(b[k], rel=1e-6, nan_ok=True), k


def test_half_written_checkpoint_is_ignored_on_resume(pnet_records, uninterrupted, interrupted, tmp_path):
    full, _ = uninterrupted
    out = tmp_path / "run"
    shutil.copytree(interrupted, out)
    ckpts = out / "checkpoints"
    # a crash while writing epoch 2: the temporary folder with a torn weights file ...
    torn = ckpts / ".tmp-epoch-0002-12345"
    torn.mkdir()
    (torn / "pnet.params").write_bytes(b"\x00" * 17)
    (torn / "trainer.states").write_bytes(b"garbage")
    (torn / "state.json").write_text('{"net": "pnet", "epoch": 2, "comp')
    # ... and, were a folder ever to get the final name without its state, that too
    (ckpts / "epoch-0003").mkdir()
    (ckpts / "epoch-0003" / "pnet.params").write_bytes(b"\x00" * 17)
    assert os.path.basename(latest_checkpoint(out)) == "epoch-0001"
    fit(pnet_records, out, _cfg(), progress=False, resume=True)
    _assert_same(_params(out / "pnet.params"), _params(full / "pnet.params"))


def test_resume_without_checkpoint_starts_afresh(pnet_records, uninterrupted, tmp_path):
    full, _ = uninterrupted
    fit(pnet_records, tmp_path, _cfg(), progress=False, resume=True)
    _assert_same(_params(tmp_path / "pnet.params"), _params(full / "pnet.params"))


def test_rnet_balanced_batches_adam_and_cli(tmp_path, capsys):
    images, labels = _synthetic(96, 24, 1)
    write_typed_records(tmp_path / "records" / "rnet", images, labels)
    assert sorted(find_records("rnet", tmp_path / "records")) == ["landmark", "neg", "part", "pos"]
    assert main(["train", "rnet", "--records", str(tmp_path / "records"), "--out", str(tmp_path / "run"),
                 "--smoke", "--batch-size", "24", "--optimizer", "adam", "--epochs", "1", "--no-progress"]) == 0
    assert "rnet.params" in capsys.readouterr().out
    net = get_net("rnet")
    load_weights(net, tmp_path / "run" / "rnet.params")
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (cfg["optimizer"], cfg["batch_size"], cfg["recall_threshold"]) == ("adam", 24, 0.7)


def test_presets_follow_the_classic_settings():
    p, r, o = (TrainConfig.preset(n) for n in ("pnet", "rnet", "onet"))
    assert (p.epochs, r.epochs, o.epochs) == (30, 22, 22)
    assert (p.lr, p.momentum, p.wd, p.lr_decay_epochs, p.lr_decay) == (0.001, 0.9, 0.0005, (6, 14, 20), 0.1)
    assert (p.batch_size, r.batch_mix) == (384, {"pos": 64, "part": 64, "landmark": 64, "neg": 192})
    assert (p.landmark_weight, r.landmark_weight, o.landmark_weight) == (0.5, 0.5, 1.0)
    assert (p.recall_threshold, r.recall_threshold, o.recall_threshold) == (0.6, 0.7, 0.7)
    with pytest.raises(ValueError, match="choose one of"):
        TrainConfig.preset("xnet")


def test_lr_schedule_steps_at_epoch_boundaries_and_warms_up():
    cfg = TrainConfig(lr=0.1, epochs=4, lr_decay_epochs=(1, 3), lr_decay=0.1)
    sched = make_lr_scheduler(cfg, iters_per_epoch=10)
    lrs = {u: sched(u) for u in (1, 10, 11, 30, 31, 40)}  # MXNet counts updates from 1
    assert lrs == pytest.approx({1: 0.1, 10: 0.1, 11: 0.01, 30: 0.01, 31: 0.001, 40: 0.001})
    warm = make_lr_scheduler(TrainConfig(lr=0.1, epochs=4, lr_decay_epochs=(2,), warmup_epochs=1,
                                         warmup_start_lr=0.0), iters_per_epoch=10)
    assert warm(0) == pytest.approx(0.0) and 0 < warm(5) < 0.1
    assert [warm(u) for u in (10, 20, 21, 40)] == pytest.approx([0.1, 0.1, 0.01, 0.01])


def test_flip_mirrors_images_boxes_and_landmarks():
    img = np.arange(2 * 2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 2, 3).transpose(0, 2, 1, 3).copy()  # (2, 2, 3, 3)
    images = np.stack([img[0], img[0], img[1]])
    lmk = [0.1, 0.2, 0.7, 0.25, 0.4, 0.5, 0.2, 0.8, 0.6, 0.85]  # left eye, right eye, nose, mouth l, r
    labels = make_labels([1, -2, -1], offsets=[[0.1, -0.2, 0.05, 0.3], [0, 0, 0, 0], [-0.1, 0, 0.2, 0]],
                         landmarks=[np.zeros(10), lmk, np.zeros(10)])
    mask = np.array([True, True, False])
    flipped_images, flipped = images.copy(), labels.copy()
    flip_samples(flipped_images, flipped, mask)
    np.testing.assert_array_equal(flipped_images[0], images[0][:, ::-1])
    np.testing.assert_array_equal(flipped_images[2], images[2])
    np.testing.assert_allclose(flipped[0, 1:5], [-0.05, -0.2, -0.1, 0.3])
    np.testing.assert_allclose(flipped[0, 5:], 0)  # positives carry no landmarks
    np.testing.assert_allclose(flipped[1, 5:], [0.3, 0.25, 0.9, 0.2, 0.6, 0.5, 0.4, 0.85, 0.8, 0.8], atol=1e-6)
    np.testing.assert_array_equal(flipped[2], labels[2])


def test_colour_jitter_by_hand():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (3, 4, 4, 3), dtype=np.uint8)
    same = images.copy()
    jitter_colour(same, np.ones((3, 3)))
    np.testing.assert_array_equal(same, images)  # factors of 1: unchanged
    # brightness 0.5, then 2 (clipped at 255); contrast and saturation 1
    one = np.array([[[[100, 50, 201]]], [[[100, 50, 201]]]], np.uint8)
    jitter_colour(one, [[0.5, 1, 1], [2, 1, 1]])
    np.testing.assert_array_equal(one[0, 0, 0], [50, 25, 100])  # 100.5 rounds to even
    np.testing.assert_array_equal(one[1, 0, 0], [200, 100, 255])
    # saturation 0: each pixel becomes its own grey value (OpenCV's BGR2GRAY, to its rounding)
    grey = images.copy()
    jitter_colour(grey, [[1, 1, 0]] * 3)
    want = np.stack([cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) for im in images])
    assert np.abs(grey.astype(int) - want[..., None]).max() <= 1
    assert (grey == grey[..., :1]).all()
    # contrast 0 on a two-pixel grey image (10 and 30): both become the mean, 20
    two = np.array([[[[10, 10, 10], [30, 30, 30]]]], np.uint8)
    jitter_colour(two, [[1, 0, 1]])
    np.testing.assert_array_equal(two, 20)


def test_colour_jitter_changes_training_batches_only_when_asked(tmp_path):
    from mtcnn_gluon.data.batching import TrainBatches
    images, labels = _synthetic(60, 12, 1)
    pools = {"all": (images, labels)}
    idx = {"all": np.arange(60)}
    plain = TrainBatches("pnet", pools, idx, _cfg(flip=False, batch_size=20))
    jittered = TrainBatches("pnet", pools, idx, _cfg(flip=False, batch_size=20, colour_jitter=0.3))
    a = [b[0].copy() for b in plain.epoch(0, np.random.default_rng(0))]
    b = [b[0].copy() for b in jittered.epoch(0, np.random.default_rng(0))]
    order = np.random.default_rng(0).permutation(60)
    np.testing.assert_array_equal(a[0], images[order[:20]])  # off: the samples as stored
    assert not np.array_equal(a[0], b[0])
    np.testing.assert_array_equal(images, _synthetic(60, 12, 1)[0])  # the pool itself is never changed
    with pytest.raises(ValueError, match="colour_jitter"):
        TrainConfig(colour_jitter=1.5)


def test_blur_by_hand():
    # a vertical line of 255 in a 25 x 25 sample: blurred by sigma s, each row becomes 255 g(x), the sampled
    # Gaussian, so its mass stays, its spread is s^2 (the Gaussian's variance, by a hand sum over the pixels) and
    # its peak is 255 / (sqrt(2 pi) s); along the line nothing changes
    line = np.zeros((3, 25, 25, 3), np.uint8)
    line[:, :, 12] = 255
    blurred = line.copy()
    blur_samples(blurred, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(blurred[0], line[0])  # sigma 0: unchanged
    x = np.arange(25) - 12
    for k, sigma in ((1, 1.0), (2, 2.0)):
        assert (blurred[k] == blurred[k, :1]).all() and (blurred[k] == blurred[k, ..., :1]).all()
        row = blurred[k, 0, :, 0].astype(np.float64)
        assert abs(row.sum() - 255) <= 25 * 0.5  # each pixel rounds by at most 0.5
        assert abs((row * x ** 2).sum() / row.sum() - sigma ** 2) < 0.05 * sigma ** 2
        assert abs(row[12] - 255 / (np.sqrt(2 * np.pi) * sigma)) <= 1.5  # OpenCV sums 8-bit images in fixed point
    flat = np.full((1, 8, 8, 3), 77, np.uint8)
    blur_samples(flat, [1.5])
    np.testing.assert_array_equal(flat, 77)  # a flat sample stays flat, borders included


def test_blur_changes_training_batches_only_when_asked():
    from mtcnn_gluon.data.batching import TrainBatches
    images, labels = _synthetic(60, 12, 1)
    pools = {"all": (images, labels)}
    idx = {"all": np.arange(60)}
    plain = TrainBatches("pnet", pools, idx, _cfg(flip=False, batch_size=20))
    every = TrainBatches("pnet", pools, idx, _cfg(flip=False, batch_size=20, blur=1.0, blur_sigma=(0.1, 0.1)))
    some = TrainBatches("pnet", pools, idx, _cfg(flip=False, batch_size=20, blur=0.5))
    a = [b[0].copy() for b in plain.epoch(0, np.random.default_rng(0))]
    b = [b[0].copy() for b in every.epoch(0, np.random.default_rng(0))]
    c = [b[0].copy() for b in some.epoch(0, np.random.default_rng(0))]
    order = np.random.default_rng(0).permutation(60)
    np.testing.assert_array_equal(a[0], images[order[:20]])  # off: the samples as stored, the same order
    want = images[order[:20]].copy()
    blur_samples(want, np.full(20, 0.1 * 12))  # sigma 0.1 x the 12 px side, every sample
    np.testing.assert_array_equal(b[0], want)
    changed = [not np.array_equal(x, y) for x, y in zip(c[0], a[0])]
    assert 3 <= sum(changed) <= 17  # about half of the 20 (the synthetic samples are not flat)
    np.testing.assert_array_equal(images, _synthetic(60, 12, 1)[0])  # the pool itself is never changed
    with pytest.raises(ValueError, match="blur"):
        TrainConfig(blur=1.5)
    with pytest.raises(ValueError, match="blur_sigma"):
        TrainConfig(blur_sigma=(0.08, 0.02))


def test_batch_split_across_two_contexts(pnet_records, tmp_path):
    # two CPU contexts stand in for two GPUs: split_and_load, one loss per context, averaged gradients
    result = fit(pnet_records, tmp_path, _cfg(epochs=1), ctx=[mx.cpu(0), mx.cpu(1)], progress=False)
    params = _params(tmp_path / "pnet.params")
    assert all(np.isfinite(v).all() for v in params.values())
    assert np.isfinite(result.metrics[0]["train_loss"])


def test_flip_landmarks_off_leaves_landmark_samples_and_the_random_stream_alone():
    from mtcnn_gluon.data.batching import TrainBatches
    images, labels = _synthetic(60, 12, 1)
    labels[::3, 0] = -2  # every third sample a landmark sample
    labels[::3, 5:] = np.linspace(0.1, 0.9, 10)
    pools = {"all": (images, labels)}
    idx = {"all": np.arange(60)}
    both = TrainBatches("pnet", pools, idx, _cfg(batch_size=60))
    boxes_only = TrainBatches("pnet", pools, idx, _cfg(batch_size=60, flip_landmarks=False))
    (a_img, a_lab), = [(i.copy(), l.copy()) for i, l in both.epoch(0, np.random.default_rng(0))]
    (b_img, b_lab), = [(i.copy(), l.copy()) for i, l in boxes_only.epoch(0, np.random.default_rng(0))]
    order = np.random.default_rng(0).permutation(60)
    lmk = labels[order, 0] == -2
    flipped = np.array([not np.array_equal(a_img[k], images[order[k]]) for k in range(60)])
    assert flipped[lmk].any() and flipped[~lmk].any()  # flips on: both kinds mirrored
    np.testing.assert_array_equal(b_img[lmk], images[order][lmk])  # off: landmark samples as stored
    np.testing.assert_array_equal(b_lab[lmk], labels[order][lmk])
    np.testing.assert_array_equal(b_img[~lmk], a_img[~lmk])  # and every other sample flipped as before
    np.testing.assert_array_equal(b_lab[~lmk], a_lab[~lmk])
