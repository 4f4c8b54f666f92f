"""RecordIO records: layout, round trips, atomic writes, balanced batches, and labels rechecked on real data."""
import os

import cv2
import numpy as np
import pytest

from mtcnn_gluon.utils.boxes import decode_offsets, iou_matrix
from mtcnn_gluon.data.batching import BalancedBatchSampler, mix_by_ratio
from mtcnn_gluon.data.records import (RecordWriter, read_meta, read_records, read_summary, read_typed_records,
                                      record_complete, write_records, write_typed_records)
from mtcnn_gluon.utils.labels import CLS_LANDMARK, CLS_NEG, CLS_PART, CLS_POS, LABEL_SIZE, make_labels


def _arrays(n=40, size=12, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    cls = np.array([1, 0, -1, -2] * (n // 4))
    labels = make_labels(cls, rng.normal(size=(n, 4)) * (cls[:, None] != 0), rng.random((n, 5, 2)) * (cls[:, None, None] == -2))
    return images, labels


def test_constants():
    assert LABEL_SIZE == 15 and (CLS_POS, CLS_NEG, CLS_PART, CLS_LANDMARK) == (1, 0, -1, -2)


@pytest.mark.parametrize("encoding", ["raw", "png"])
def test_round_trip_and_mxnet_reader(tmp_path, encoding):
    import mxnet as mx
    images, labels = _arrays()
    prefix = tmp_path / "r" / "train"
    write_records(prefix, images, labels, meta={"source": np.arange(40)}, summary={"seed": 3}, encoding=encoding)
    got_i, got_l = read_records(prefix)
    np.testing.assert_array_equal(got_i, images)
    np.testing.assert_array_equal(got_l, labels)
    assert got_l.dtype == np.float32 and got_i.dtype == np.uint8
    rec = mx.recordio.MXIndexedRecordIO(f"{prefix}.idx", f"{prefix}.rec", "r")
    header, payload = mx.recordio.unpack(rec.read_idx(7))
    np.testing.assert_array_equal(header.label, labels[7])
    img = (cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR) if encoding == "png"
           else np.frombuffer(payload, np.uint8).reshape(12, 12, 3))
    np.testing.assert_array_equal(img, images[7])
    rec.close()
    s = read_summary(prefix)
    assert s["counts"] == {"pos": 10, "part": 10, "landmark": 10, "neg": 10} and s["seed"] == 3
    np.testing.assert_array_equal(read_meta(prefix)["source"], np.arange(40))
    assert record_complete(prefix, {"seed": 3}) and not record_complete(prefix, {"seed": 4})
    assert sorted(os.listdir(prefix.parent)) == ["train.idx", "train.json", "train.meta.npz", "train.rec"]


@pytest.mark.parametrize("encoding", ["raw", "png"])
def test_bytes_equal_mxnet_writer(tmp_path, encoding):
    import mxnet as mx
    images, labels = _arrays(12)
    write_records(tmp_path / "ours", images, labels, encoding=encoding)
    rec = mx.recordio.MXIndexedRecordIO(str(tmp_path / "mx.idx"), str(tmp_path / "mx.rec"), "w")
    for i in range(12):
        payload = images[i].tobytes() if encoding == "raw" else cv2.imencode(".png", images[i])[1].tobytes()
        rec.write_idx(i, mx.recordio.pack(mx.recordio.IRHeader(0, labels[i], i, 0), payload))
    rec.close()
    for ext in (".rec", ".idx"):
        assert (tmp_path / f"ours{ext}").read_bytes() == (tmp_path / f"mx{ext}").read_bytes(), ext


def test_writer_is_atomic_and_checks(tmp_path):
    images, labels = _arrays()
    prefix = tmp_path / "x"
    with pytest.raises(RuntimeError):
        with RecordWriter(prefix) as w:
            w.write(images[0], labels[0])
            raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="15 numbers"):
        with RecordWriter(prefix) as w:
            w.write(images[0], labels[0, :10])
    with pytest.raises(ValueError, match="one size"):
        with RecordWriter(prefix) as w:
            w.write(images[0], labels[0])
            w.write(np.zeros((24, 24, 3), np.uint8), labels[0])
    assert os.listdir(tmp_path) == []


def test_typed_records_and_balanced_batches(tmp_path):
    images, labels = _arrays(400)
    prefixes = write_typed_records(tmp_path / "rnet", images, labels, summary={"seed": 1})
    assert sorted(prefixes) == ["landmark", "neg", "part", "pos"]
    typed = read_typed_records(tmp_path / "rnet")
    for t, (im, lb) in typed.items():
        assert len(lb) == 100 and np.all(lb[:, 0] == {"pos": 1, "neg": 0, "part": -1, "landmark": -2}[t])
    counts = {t: len(lb) for t, (im, lb) in typed.items()}
    sizes = {"pos": 8, "part": 8, "landmark": 8, "neg": 24}
    s = BalancedBatchSampler(counts, sizes=sizes, seed=1)
    batches = list(s)
    assert len(batches) == len(s) == 13  # 100 pos / 8 per batch -> 13 batches; neg (24 a batch) cycles
    for b in batches:
        assert {t: len(v) for t, v in b.items()} == sizes
    again = list(BalancedBatchSampler(counts, sizes=sizes, seed=1))
    assert all(np.array_equal(a[t], b[t]) for a, b in zip(batches, again) for t in sizes)
    for t in sizes:  # every sample seen once before any repeats
        seen = np.concatenate([b[t] for b in batches])
        assert len(set(seen[:100])) == 100 and seen.max() < 100
    s.set_epoch(1)
    assert not np.array_equal(next(iter(s))["neg"], batches[0]["neg"])
    # one array of all types: indices into it, 64/64/64/192 by default
    labels_big = make_labels(np.repeat([1, -1, -2, 0], [100, 100, 100, 300]))
    b = next(iter(BalancedBatchSampler(labels_big, seed=0)))
    assert len(b) == 384
    np.testing.assert_array_equal(np.unique(labels_big[b, 0], return_counts=True)[1], [64, 64, 192, 64])  # -2, -1, 0, 1
    with pytest.raises(ValueError, match="no samples of type"):
        BalancedBatchSampler({"pos": 10, "part": 10, "neg": 10}, seed=0)


def test_mix_by_ratio():
    labels = make_labels(np.repeat([0, 1, -1, -2], [1000, 200, 500, 900]))
    keep = mix_by_ratio(labels, {"neg": 3, "pos": 1, "part": 1, "landmark": 2}, seed=0)
    _, counts = np.unique(labels[keep, 0], return_counts=True)  # sorted: -2, -1, 0, 1
    np.testing.assert_array_equal(counts, [400, 200, 600, 200])
    assert len(set(keep)) == len(keep)
    np.testing.assert_array_equal(keep, mix_by_ratio(labels, {"neg": 3, "pos": 1, "part": 1, "landmark": 2}, seed=0))


# ---------------------------------------------------------------------------------------------------
# real data


@pytest.fixture(scope="module")
def pnet_records(data_root, tmp_path_factory):
    from mtcnn_gluon.data.build import build_pnet_records
    out = {}
    for workers in (1, 2):
        d = tmp_path_factory.mktemp(f"pnet_w{workers}")
        build_pnet_records(data_root, d, seed=11, workers=workers, limit=12, landmark_limit=150,
                           progress=False, verbose=False)
        out[workers] = d / "pnet" / "train"
    return out


def test_pnet_record_identical_for_any_workers(pnet_records):
    for ext in (".rec", ".idx", ".meta.npz"):
        a = open(f"{pnet_records[1]}{ext}", "rb").read()
        b = open(f"{pnet_records[2]}{ext}", "rb").read()
        assert a == b, ext


def test_pnet_record_labels_recheck_against_annotations(data_root, pnet_records):
    from mtcnn_gluon.data.facepoint import load_facepoint
    from mtcnn_gluon.data.wider import load_wider
    from mtcnn_gluon.data.sampling import invert_landmark_labels
    prefix = pnet_records[1]
    images, labels = read_records(prefix)
    meta = read_meta(prefix)
    summary = read_summary(prefix)
    sources = summary["sources"]
    counts = summary["counts"]
    print("PNet record (12 WIDER images, 150 landmark faces):", counts, "generated:", summary["generated"])
    assert images.shape == (len(labels), 12, 12, 3)
    # 3:1:1:2 within rounding
    unit = counts["pos"]
    assert abs(counts["neg"] - 3 * unit) <= 1 and abs(counts["part"] - unit) <= 1 and abs(counts["landmark"] - 2 * unit) <= 1
    wider = {im.name: im for im in load_wider(data_root, "train").images}
    fp = load_facepoint(data_root)
    faces = {f.name: f for f in fp.faces}
    cls = labels[:, 0]
    checked = {"pos": 0, "part": 0, "neg": 0, "landmark": 0}
    cache = {}
    for k in range(len(labels)):
        src = sources[meta["source"][k]]
        box = meta["box"][k]
        if cls[k] == -2:
            face = faces[src.split("landmarks/", 1)[1]]
            p = invert_landmark_labels(labels[k, 5:], box, meta["angle"][k], meta["mirror"][k])
            side = box[2] - box[0] + 1
            assert np.abs(p - face.points).max() * 12 / side < 0.5
            checked["landmark"] += 1
            continue
        im = wider[src.split("WIDER_train/images/", 1)[1]]
        if cls[k] == 0:
            assert iou_matrix(box[None], im.boxes).max() < 0.3
            np.testing.assert_array_equal(labels[k, 1:], 0)
            checked["neg"] += 1
        else:
            face = decode_offsets(box[None], labels[k, 1:5][None].astype(np.float64))[0]
            np.testing.assert_allclose(face, im.boxes[meta["face"][k]], atol=2e-3)  # the label names the face
            v = iou_matrix(box[None], face[None])[0, 0]
            eps = 1e-6  # the offsets are stored as float32
            if cls[k] == 1:
                assert v >= 0.65 - eps
                checked["pos"] += 1
            else:
                assert 0.4 - eps <= v < 0.65 + eps
                checked["part"] += 1
            assert iou_matrix(box[None], im.boxes).max() <= v + eps  # matched to the best face
        if k % 9 == 0:  # the pixels are that crop of that image
            path = os.path.join(summary["source_root"], src)
            img = cache.setdefault(path, cv2.imread(path))
            x1, y1, x2, y2 = box.astype(int)
            np.testing.assert_array_equal(images[k], cv2.resize(img[y1:y2 + 1, x1:x2 + 1], (12, 12)))
    assert checked == counts


def test_landmark_records_48px_map_back(data_root, tmp_path):
    from mtcnn_gluon.data.build import build_landmark_records
    from mtcnn_gluon.data.facepoint import load_facepoint
    from mtcnn_gluon.data.sampling import invert_landmark_labels
    exclude = np.arange(0, 120, 3)
    res = build_landmark_records(data_root, tmp_path, sizes=(48,), seed=2, workers=2, limit=120, exclude=exclude,
                                 progress=False, verbose=False)
    prefix = tmp_path / "onet" / "landmark"
    images, labels = read_records(prefix)
    meta = read_meta(prefix)
    print("ONet landmark record (80 faces):", res[48]["counts"])
    assert images.shape[1:] == (48, 48, 3) and np.all(labels[:, 0] == -2)
    assert not set(meta["source"]) & set(exclude.tolist())
    assert meta["mirror"].any() and (meta["angle"] != 0).any()
    fp = load_facepoint(data_root)
    worst = 0.0
    for k in range(len(labels)):
        box = meta["box"][k]
        p = invert_landmark_labels(labels[k, 5:], box, meta["angle"][k], meta["mirror"][k])
        worst = max(worst, np.abs(p - fp.faces[meta["source"][k]].points).max() * 48 / (box[2] - box[0] + 1))
    print(f"largest landmark error mapped back at 48 px: {worst:.2e} px")
    assert worst < 0.5
    # resume: a second call with the same settings does nothing
    mtime = os.path.getmtime(f"{prefix}.rec")
    build_landmark_records(data_root, tmp_path, sizes=(48,), seed=2, workers=2, limit=120, exclude=exclude,
                           progress=False, verbose=False)
    assert os.path.getmtime(f"{prefix}.rec") == mtime


def test_sample_grid_draws_labels_back():
    from mtcnn_gluon.viz import draw_sample_grid
    images = np.zeros((4, 12, 12, 3), np.uint8)
    # pos: face = crop shrunk by 2 px each side -> offsets (2, 2, -2, -2) / 12
    labels = make_labels([1, -1, 0, -2], offsets=[[2 / 12, 2 / 12, -2 / 12, -2 / 12], [0, 0, 0, 0], [0] * 4, [0] * 4],
                         landmarks=[[0] * 10] * 3 + [[3 / 12, 4 / 12] * 5])
    grid = draw_sample_grid(images, labels, per_type=1, scale=4)
    pad, label_w, cell = 4, 120, 48
    pos = grid[pad:pad + cell, label_w + pad:label_w + pad + cell]
    ys, xs = np.nonzero(pos[..., 1] == 255)
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (8, 8, 39, 39)  # pixels 2..9 of 12, at x4
    lm = grid[pad + 3 * (cell + pad):pad + 3 * (cell + pad) + cell, label_w + pad:label_w + pad + cell]
    ys, xs = np.nonzero(lm.max(axis=2) > 0)
    assert abs(xs.mean() - 14) <= 1 and abs(ys.mean() - 18) <= 1  # (3.5, 4.5) * 4


def test_cli_pnet_smoke(data_root, tmp_path, capsys):
    from mtcnn_gluon.cli import main
    argv = ["data", "pnet", "--data-root", str(data_root), "--out", str(tmp_path), "--limit", "3",
            "--landmark-limit", "30", "--workers", "1", "--no-progress", "--seed", "4"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "pnet/train.rec" in out and "11910 images named in the WIDER FACE list are not on disk" in out
    assert "holding out 1000 landmark faces for evaluation" in out
    s = read_summary(tmp_path / "pnet" / "train")
    meta = read_meta(tmp_path / "pnet" / "train")
    from mtcnn_gluon.data.facepoint import landmark_split
    held = set(landmark_split(10000)[1].tolist())
    lm_sources = [s["sources"][i] for i in meta["source"] if "landmarks/" in s["sources"][i]]
    assert lm_sources  # some landmark faces were used, none of them held out
    assert held.isdisjoint(i - s["wider_images_used"] for i in meta["source"] if i >= s["wider_images_used"])
    assert s["seed"] == 4 and s["wider_images_used"] == 3 and s["skipped"]["count"] == 0
    assert main(argv) == 0 and "nothing to do" in capsys.readouterr().out
