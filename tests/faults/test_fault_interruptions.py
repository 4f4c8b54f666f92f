"""kill -9 in the middle of data generation, hard example mining and training; then rerun.

Each test runs the real command in a subprocess, slows one function down through ``harness.py`` so that
the SIGKILL lands at a known point, leaves torn files such as a crash mid-write would (truncated
temporary files, a half-written record, a partial checkpoint folder), reruns, and compares with an
uninterrupted run: records byte for byte, mined arrays exactly, trained parameters exactly (CPU, one
seed). Nothing half-written is ever read.
"""
import csv
import json
import os

import numpy as np
import pytest

from mtcnn_gluon.data.records import RecordWriter, read_meta

from mtcnn_gluon.utils.labels import make_labels

from .conftest import HARNESS, json_without, make_dataset, patch_env, run, run_and_kill

TIMING = ("train_samples_per_s", "epoch_time_s")  # wall-clock columns of metrics.csv: differ run to run


def _ok(proc):
    assert proc.returncode == 0, proc.stdout
    return proc


# ------------------------------------------------------------------------------------------- data

def test_kill_9_during_pnet_data_generation_then_rerun_gives_identical_records(tmp_path):
    root = make_dataset(tmp_path / "data", n_wider=10, n_landmark=10)
    args = [HARNESS, "-m", "mtcnn_gluon", "data", "pnet", "--data-root", root, "--workers", "1", "--no-progress",
            "--landmark-holdout", "none", "--seed", "3"]
    _ok(run(args + ["--out", tmp_path / "ref"]))
    ref = tmp_path / "ref" / "pnet" / "train"

    out = tmp_path / "killed"
    marker = tmp_path / "kill-now"
    run_and_kill(args + ["--out", out], marker, tmp_path / "killed.log",
                 env=patch_env("mtcnn_gluon.data.sampling:_pnet_task", 4, marker))  # killed at image 5 of 10
    pnet = out / "pnet"
    assert not pnet.exists() or not any(pnet.glob("train.*")), "nothing may be written before the data is whole"

    # what a crash inside the writer would leave: truncated temp files, and (older layout / copied by
    # hand) half a record under the final name with no .json beside it
    pnet.mkdir(parents=True, exist_ok=True)
    rec = ref.with_suffix(".rec").read_bytes()
    (pnet / "train.rec.tmp").write_bytes(rec[:1000])
    (pnet / "train.idx.tmp").write_text("0\t0\n1\t")
    (pnet / "train.rec").write_bytes(rec[: len(rec) // 2])
    (pnet / "train.idx").write_text("0\t0\n")

    _ok(run(args + ["--out", out]))
    for ext in (".rec", ".idx"):
        assert (pnet / f"train{ext}").read_bytes() == ref.with_suffix(ext).read_bytes(), ext
    assert json_without(pnet / "train.json", "seconds") == json_without(ref.with_suffix(".json"), "seconds")
    a, b = read_meta(pnet / "train"), read_meta(ref)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in pnet.iterdir()) == ["train.idx", "train.json", "train.meta.npz", "train.rec"]

    # a third run finds the complete record with the same settings and does nothing
    third = _ok(run(args + ["--out", out]))
    assert "is complete with these settings; nothing to do" in third.stdout


# ----------------------------------------------------------------------------------------- mining

MINE_SCRIPT = """
import json, sys
from mtcnn_gluon.data.wider import load_wider
from mtcnn_gluon.detector import MTCNNDetector
from mtcnn_gluon.config import MiningConfig
from mtcnn_gluon.mining import mine_hard_examples
weights, data_root, out = sys.argv[1:4]
det = MTCNNDetector.from_weights(weights, stages=("pnet",))
summary = mine_hard_examples(det, load_wider(data_root, "train"), "rnet", out, MiningConfig(shard_size=2),
                             seed=0, progress=False)
print("MINED", json.dumps(summary["counts"]))
"""


def test_kill_9_during_mining_resumes_per_shard_and_matches_an_uninterrupted_run(tmp_path, random_cascade):
    root = make_dataset(tmp_path / "data", n_wider=8, n_landmark=2)
    script = tmp_path / "mine.py"
    script.write_text(MINE_SCRIPT)
    _ok(run([HARNESS, script, random_cascade, root, tmp_path / "ref"]))

    out = tmp_path / "killed"
    marker = tmp_path / "kill-now"
    run_and_kill([HARNESS, script, random_cascade, root, out], marker, tmp_path / "killed.log",
                 env=patch_env("mtcnn_gluon.mining:mine_image", 5, marker))  # 2 shards done, 3rd begun
    shards = out / "shards"
    assert sorted(p.name for p in shards.iterdir()) == ["00000.npz", "00001.npz"]
    assert not (out / "mined.npz").exists()
    done = {p.name: p.stat().st_mtime_ns for p in shards.iterdir()}
    (shards / "00002.npz.tmp.npz").write_bytes(b"PK\x03\x04 torn")  # a shard cut off mid-write

    rerun = _ok(run([HARNESS, script, random_cascade, root, out]))
    assert "MINED" in rerun.stdout
    assert {p: (shards / p).stat().st_mtime_ns for p in done} == done  # finished shards were not redone
    with np.load(out / "mined.npz", allow_pickle=False) as a, np.load(tmp_path / "ref" / "mined.npz",
                                                                      allow_pickle=False) as b:
        for k in ("crops", "labels"):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        assert len(a["labels"]) > 0
    assert json.loads((out / "mining_summary.json").read_text()) == \
        json.loads((tmp_path / "ref" / "mining_summary.json").read_text())
    assert sorted(p.name for p in shards.iterdir() if p.name.endswith(".npz") and ".tmp" not in p.name) == \
        [f"{k:05d}.npz" for k in range(4)]


# --------------------------------------------------------------------------------------- training

@pytest.fixture(scope="module")
def tiny_pnet_records(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    rng = np.random.default_rng(0)
    n = 480
    cls = np.resize([1, 0, -1, -2, 0, 0], n)
    labels = make_labels(cls, rng.uniform(-0.2, 0.2, (n, 4)) * (np.abs(cls) == 1)[:, None],
                         rng.uniform(0.1, 0.9, (n, 10)) * (cls == -2)[:, None])
    with RecordWriter(root / "pnet" / "train") as w:
        w.write_many(rng.integers(0, 256, (n, 12, 12, 3), dtype=np.uint8), labels)
    return root


def _metrics(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _without_timing(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def test_kill_9_during_training_resumes_to_identical_parameters(tmp_path, tiny_pnet_records):
    args = [HARNESS, "-m", "mtcnn_gluon", "train", "pnet", "--records", tiny_pnet_records, "--epochs", "3",
            "--batch-size", "32", "--lr", "0.05", "--seed", "0", "--no-progress"]
    _ok(run(args + ["--out", tmp_path / "ref"]))

    out = tmp_path / "killed"
    marker = tmp_path / "kill-now"
    # _validate runs at the end of each epoch, before its checkpoint: killed with epoch 2 trained, unsaved
    run_and_kill(args + ["--out", out], marker, tmp_path / "killed.log",
                 env=patch_env("mtcnn_gluon.train:_validate", 1, marker))
    ckpts = out / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["epoch-0001"]
    assert not (out / "pnet.params").exists()
    epoch1 = _metrics(out / "metrics.csv")
    assert len(epoch1) == 1

    # torn checkpoints: a temp folder cut off mid-write, a copy with truncated JSON, one without optimizer state
    tmp = ckpts / ".tmp-epoch-0002-99999"
    tmp.mkdir()
    (tmp / "pnet.params").write_bytes((ckpts / "epoch-0001" / "pnet.params").read_bytes()[:100])
    torn = ckpts / "epoch-0002"
    torn.mkdir()
    (torn / "state.json").write_text('{"net": "pnet", "epoch": 2, "comp')
    (torn / "pnet.params").write_bytes(b"\0" * 10)
    partial = ckpts / "epoch-0003"
    partial.mkdir()
    state = json.loads((ckpts / "epoch-0001" / "state.json").read_text())
    (partial / "state.json").write_text(json.dumps(dict(state, epoch=3)))
    (partial / "pnet.params").write_bytes((ckpts / "epoch-0001" / "pnet.params").read_bytes())

    from mtcnn_gluon.checkpoint import latest_checkpoint

    assert latest_checkpoint(out) == os.fspath(ckpts / "epoch-0001")
    _ok(run(args + ["--out", out, "--resume"]))

    assert (out / "pnet.params").read_bytes() == (tmp_path / "ref" / "pnet.params").read_bytes()
    resumed, ref = _metrics(out / "metrics.csv"), _metrics(tmp_path / "ref" / "metrics.csv")
    assert len(resumed) == 3
    assert _without_timing(resumed) == _without_timing(ref)
    assert resumed[0] == epoch1[0]  # epoch 1 came from the checkpoint (its timings too), not recomputed


def test_old_pickled_optimizer_state_is_refused_on_resume(tmp_path, tiny_pnet_records):
    """Checkpoints of older versions hold Trainer.save_states output (a pickle): never loaded unasked."""
    from mtcnn_gluon.config import TrainConfig
    from mtcnn_gluon.train import fit

    cfg = TrainConfig.preset("pnet", epochs=1, batch_size=64, steps_per_epoch=1, seed=0)
    fit(tiny_pnet_records, tmp_path, cfg, progress=False)
    ckpt = tmp_path / "checkpoints" / "epoch-0001"
    (ckpt / "optimizer.params").unlink()
    evil = tmp_path / "pwned"
    import pickle

    class Evil:
        def __reduce__(self):
            return (open, (os.fspath(evil), "w"))

    (ckpt / "trainer.states").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ValueError, match=r"trainer\.states: checkpoint from an older version stores the "
                                         r"optimizer state as a pickle, which is not loaded"):
        fit(tiny_pnet_records, tmp_path, TrainConfig.preset("pnet", epochs=2, batch_size=64, steps_per_epoch=1),
            resume=True, progress=False)
    assert not evil.exists()
