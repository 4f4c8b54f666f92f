"""Every user error gets one clear line; no bad input yields a silent wrong result, a lost result or a green run.

Each case runs the real command line in-process (``mtcnn_gluon.cli.main``) or the library call a user makes,
on real files written into ``tmp_path``, and asserts the exit status, that the message names the option or
the file, and that nothing was lost or left behind. docs/reliability.md lists every case with what the user
sees.
"""
import json
import os
import shutil
from pathlib import Path

import cv2
import mxnet as mx
import numpy as np
import pytest

from mtcnn_gluon.cli import main
from mtcnn_gluon.config import DetectorConfig, TrainConfig
from mtcnn_gluon.data.facepoint import holdout_indices, landmark_split, parse_facepoint_list
from mtcnn_gluon.data.records import RecordWriter, read_records
from mtcnn_gluon.data.toy import build_toy_dataset
from mtcnn_gluon.data.wider import AnnotationFormatError, parse_wider_annotations
from mtcnn_gluon.model.nets import WeightsError, get_net, load_reference_weights, load_weights, save_weights
from mtcnn_gluon.train import fit
from mtcnn_gluon.utils.checks import OutputLock, UserError
from mtcnn_gluon.utils.images import read_image
from mtcnn_gluon.utils.labels import make_labels

from .conftest import noise_image, wider_list, write_image


def run_cli(argv, capsys):
    """``(exit status, stdout, stderr)`` of one command; argparse's exits included."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
        if not isinstance(exc.code, int) and exc.code:
            print(exc.code, file=__import__("sys").stderr)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return build_toy_dataset(tmp_path_factory.mktemp("toy") / "data", n_train=6, n_val=5, n_landmark=30, seed=1)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder of two readable photos (the toy set's val images)."""
    d = tmp_path_factory.mktemp("photos")
    for i, img in enumerate((noise_image(90, 120, 1), noise_image(100, 80, 2))):
        write_image(d / f"p{i}.jpg", img)
    return d


# ------------------------------------------------------------------------- options, checked where they enter

OPTION_CASES = [
    # (argv after the command, the option the message must name)
    (["detect", "x.jpg", "--min-face", "nan"], "--min-face"),
    (["detect", "x.jpg", "--min-face", "0"], "--min-face"),
    (["detect", "x.jpg", "--min-face", "-5"], "--min-face"),
    (["detect", "x.jpg", "--thresholds", "0.6,1.7,0.7"], "--thresholds"),
    (["detect", "x.jpg", "--thresholds", "0.6,nan,0.7"], "--thresholds"),
    (["detect", "x.jpg", "--thresholds", "0.6,0.7"], "--thresholds"),
    (["detect", "x.jpg", "--thresholds", "a,b,c"], "--thresholds"),
    (["detect", "x.jpg", "--factor", "1.5"], "--factor"),
    (["detect", "x.jpg", "--factor", "0"], "--factor"),
    (["detect", "x.jpg", "--factor", "nan"], "--factor"),
    (["detect", "x.jpg", "--gpus", "x"], "--gpus"),
    (["detect", "x.jpg", "--gpus", "0;1"], "--gpus"),
    (["eval", "--out", "o", "--limit", "-1"], "--limit"),
    (["train", "pnet", "--records", "r", "--out", "o", "--colour-jitter", "1.5"], "--colour-jitter"),
    (["train", "pnet", "--records", "r", "--out", "o", "--colour-jitter", "nan"], "--colour-jitter"),
    (["train", "pnet", "--records", "r", "--out", "o", "--blur", "2"], "--blur"),
    (["eval", "--out", "o", "--limit", "abc"], "--limit"),
    (["eval", "--out", "o", "--min-face", "inf"], "--min-face"),
    (["data", "pnet", "--ratio", "3:1:1"], "--ratio"),
    (["data", "pnet", "--ratio", "3:1:1:x"], "--ratio"),
    (["data", "pnet", "--ratio", "0:0:0:0"], "--ratio"),
    (["data", "pnet", "--ratio", "-1:1:1:1"], "--ratio"),
    (["data", "pnet", "--limit", "0"], "--limit"),
    (["data", "pnet", "--limit", "-3"], "--limit"),
    (["data", "pnet", "--landmark-limit", "0"], "--landmark-limit"),
    (["data", "pnet", "--neg-per-image", "-1"], "--neg-per-image"),
    (["data", "pnet", "--neg-per-image", "nan"], "--neg-per-image"),
    (["data", "pnet", "--min-face", "0"], "--min-face"),
    (["data", "pnet", "--workers", "0"], "--workers"),
    (["data", "pnet", "--seed", "-1"], "--seed"),
    (["data", "pnet", "--encoding", "jpg"], "--encoding"),
    (["data", "pnet", "--landmark-holdout", "maybe"], "--landmark-holdout"),
    (["data", "landmarks", "--sizes", "0"], "--sizes"),
    (["data", "landmarks", "--sizes", "24", "-48"], "--sizes"),
    (["data", "landmarks", "--max-angle", "nan"], "--max-angle"),
    (["data", "landmarks", "--max-angle", "400"], "--max-angle"),
    (["data", "landmarks", "--limit", "0"], "--limit"),
    (["train", "pnet", "--records", "r", "--out", "o", "--epochs", "-1"], "--epochs"),
    (["train", "pnet", "--records", "r", "--out", "o", "--batch-size", "0"], "--batch-size"),
    (["train", "pnet", "--records", "r", "--out", "o", "--lr", "0"], "--lr"),
    (["train", "pnet", "--records", "r", "--out", "o", "--lr", "nan"], "--lr"),
    (["train", "pnet", "--records", "r", "--out", "o", "--lr", "-0.1"], "--lr"),
    (["train", "pnet", "--records", "r", "--out", "o", "--warmup-epochs", "-1"], "--warmup-epochs"),
    (["train", "pnet", "--records", "r", "--out", "o", "--seed", "x"], "--seed"),
    (["train", "qnet", "--records", "r", "--out", "o"], "net"),
    (["train", "pnet", "--records", "r", "--out", "o", "--optimizer", "rmsprop"], "--optimizer"),
    (["pipeline", "--out", "o", "--until", "train_qnet"], "--until"),
    (["pipeline", "--out", "o", "--preset", "huge"], "--preset"),
    (["pipeline", "--out", "o", "--workers", "0"], "--workers"),
    (["course", "run", "--preset", "huge"], "--preset"),
]


@pytest.mark.parametrize("argv, option", OPTION_CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_bad_option_is_refused_before_any_work(argv, option, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_cli(argv, capsys)
    assert rc == 2
    assert option in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing was written


@pytest.mark.parametrize("argv, needle", [
    (["pipeline", "--data-root", "{root}", "--out", "o", "--epochs", "pnet=x"], "--epochs"),
    (["pipeline", "--data-root", "{root}", "--out", "o", "--epochs", "qnet=3"], "--epochs"),
    (["course", "run", "--run-dir", "o", "--only", "00,99"], "--only"),
])
def test_bad_option_values_found_later_name_the_option(argv, needle, toy, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_cli([a.format(root=toy) for a in argv], capsys)
    assert rc != 0 and needle in err
    assert not (tmp_path / "o" / "steps").exists()


def test_settings_in_the_api_are_checked_too():
    with pytest.raises(UserError, match="thresholds .*finite"):
        DetectorConfig(thresholds=(0.6, float("nan"), 0.7))
    with pytest.raises(UserError, match="lr: expected a number > 0"):
        TrainConfig(lr=0.0)


# ------------------------------------------------------------------------------ missing or wrong inputs

@pytest.mark.parametrize("argv, needle", [
    (["eval", "--out", "o"], "--data-root"),
    (["eval", "--data-root", "/nonexistent/data", "--out", "o"], "/nonexistent/data"),
    (["data", "pnet", "--data-root", "/nonexistent/data", "--out", "o"], "/nonexistent/data"),
    (["data", "landmarks", "--out", "o"], "--data-root"),
    (["train", "pnet", "--records", "/nonexistent/records", "--out", "o"], "/nonexistent/records"),
    (["pipeline", "--out", "o"], "--data-root"),
    (["detect", "{photo}", "--weights", "/nonexistent/weights", "--out", "o"], "/nonexistent/weights"),
    (["detect", "{photo}", "--weights", "reference", "--out", "o"], "data root"),
])
def test_missing_inputs_are_one_line_naming_them(argv, needle, photos, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MTCNN_DATA_ROOT", raising=False)
    rc, _, err = run_cli([a.format(photo=photos / "p0.jpg") for a in argv], capsys)
    assert rc == 2 and needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "o").glob("*.json")) if (tmp_path / "o").exists() else True


def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MTCNN_DATA_ROOT", raising=False)
    rc, _, err = run_cli(["--debug", "eval", "--out", tmp_path / "o"], capsys)
    assert rc == 2 and "Traceback" in err and "error: eval: --data-root" in err


def test_missing_image_is_named(tmp_path, capsys, random_cascade):
    rc, _, err = run_cli(["detect", tmp_path / "nope.jpg", "--weights", random_cascade], capsys)
    assert rc == 1 and "nope.jpg" in err


# --------------------------------------------------------------------------------------- detect: outputs

def test_json_output_that_is_an_input_is_refused(photos, tmp_path, capsys, random_cascade):
    src = tmp_path / "in.jpg"
    shutil.copy(photos / "p0.jpg", src)
    before = src.read_bytes()
    rc, _, err = run_cli(["detect", src, "--weights", random_cascade, "--json", src], capsys)
    assert rc == 2 and "--json" in err and "one of the inputs" in err
    assert src.read_bytes() == before


def test_out_inside_the_input_folder_is_refused(photos, tmp_path, capsys, random_cascade):
    folder = tmp_path / "pics"
    shutil.copytree(photos, folder)
    rc, _, err = run_cli(["detect", folder, "--weights", random_cascade, "--out", folder / "annotated"], capsys)
    assert rc == 2 and "inside the input folder" in err
    assert not (folder / "annotated").exists()


def test_unwritable_out_fails_before_detecting(photos, tmp_path, capsys, random_cascade):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    rc, _, err = run_cli(["detect", photos, "--weights", random_cascade, "--out", blocker / "sub"], capsys)
    assert rc == 2 and "--out" in err and "cannot write" in err
    assert blocker.read_text() == "not a folder"


def test_second_run_into_a_busy_out_stops_at_once(photos, tmp_path, capsys, random_cascade):
    out = tmp_path / "out"
    with OutputLock(out):
        rc, _, err = run_cli(["detect", photos, "--weights", random_cascade, "--out", out], capsys)
    assert rc == 2 and "another run is writing" in err
    assert not (out / "detections.json").exists()
    rc, _, _ = run_cli(["detect", photos, "--weights", random_cascade, "--out", out], capsys)
    assert rc == 0 and (out / "detections.json").is_file()  # the lock is gone with its run


def test_one_bad_image_never_loses_the_others(photos, tmp_path, capsys, random_cascade):
    folder = tmp_path / "pics"
    shutil.copytree(photos, folder)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("hello")
    (folder / "anim.gif").write_bytes(b"GIF89a")
    rc, out, _ = run_cli(["detect", folder, "--weights", random_cascade, "--out", tmp_path / "o"], capsys)
    doc = json.loads((tmp_path / "o" / "detections.json").read_text())
    assert rc == 0
    assert sorted(Path(p).name for p in doc["images"]) == ["p0.jpg", "p1.jpg"]
    assert any("broken.jpg" in k for k in doc["skipped"]) and "broken.jpg" in out
    assert any("notes.txt" in k for k in doc["skipped"]) and any("anim.gif" in k for k in doc["skipped"])
    assert "could not be read" in out and "not readable images" in out
    rc, _, _ = run_cli(["detect", folder, "--weights", random_cascade, "--out", tmp_path / "o2", "--strict"], capsys)
    assert rc == 1 and (tmp_path / "o2" / "detections.json").is_file()


def test_truncated_jpeg_is_skipped_by_name(photos, tmp_path, capsys, random_cascade):
    data = (photos / "p0.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    rc, out, _ = run_cli(["detect", tmp_path / "cut.jpg", "--weights", random_cascade, "--json",
                          tmp_path / "d.json"], capsys)
    doc = json.loads((tmp_path / "d.json").read_text())
    assert rc == 0 and "truncated JPEG" in doc["skipped"][str(tmp_path / "cut.jpg")] and "cut.jpg" in out


def _exif_rotated_jpeg(path, img):
    from PIL import Image

    pil = Image.fromarray(img[:, :, ::-1])
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to show
    pil.save(path, exif=exif.tobytes())
    return path


def test_exif_orientation_is_applied_to_photos_and_not_to_datasets(tmp_path):
    img = noise_image(60, 100, 3)
    path = _exif_rotated_jpeg(tmp_path / "phone.jpg", img)
    assert read_image(path).shape[:2] == (60, 100)  # datasets: pixels as stored, as annotations expect
    assert read_image(path, exif=True).shape[:2] == (100, 60)  # photos: upright


# -------------------------------------------------------------------------------- eval: malformed input

def _predictions(tmp_path, toy, boxes=None, entry=None, text=None):
    path = tmp_path / "pred.json"
    if text is not None:
        path.write_bytes(text)
        return path
    key = next(iter(sorted((toy / "WIDER_FACE" / "WIDER_val" / "images").glob("*/*.jpg"))))
    rel = str(key.relative_to(toy))
    path.write_text(json.dumps({"images": {rel: entry if entry is not None else {"boxes": boxes}}}))
    return path


@pytest.mark.parametrize("kind, needle", [
    ("no boxes", "'boxes' list"),
    ("nan", "not finite"),
    ("inf score", "not finite"),
    ("xywh", "x, y, w, h"),
    ("not json", "not valid JSON"),
    ("utf16", "not UTF-8"),
    ("strings", "rows of numbers"),
])
def test_malformed_predictions_are_refused_by_name(kind, needle, toy, tmp_path, capsys):
    cases = {
        "no boxes": dict(entry={"landmarks": []}),
        "nan": dict(boxes=[[10, 10, float("nan"), 40, 0.9]]),
        "inf score": dict(boxes=[[10, 10, 40, 40, float("inf")]]),
        "xywh": dict(boxes=[[100, 80, 30, 30, 0.9]]),
        "not json": dict(text=b'{"images": {'),
        "utf16": dict(text='{"images": {}}'.encode("utf-16")),
        "strings": dict(boxes=[["a", "b", "c", "d", "e"]]),
    }
    path = _predictions(tmp_path, toy, **cases[kind])
    rc, _, err = run_cli(["eval", "--predictions", path, "--data-root", toy, "--out", tmp_path / "o"], capsys)
    assert rc == 2 and needle in err and "pred.json" in err
    assert not (tmp_path / "o" / "wider_ap.json").exists()


def test_a_setting_file_that_is_another_setting_is_refused(toy, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(toy, root)
    gt = root / "WIDER_FACE" / "eval_tools" / "ground_truth"
    shutil.copy(gt / "wider_hard_val.mat", gt / "wider_easy_val.mat")
    path = _predictions(tmp_path, root, boxes=[])
    rc, _, err = run_cli(["eval", "--predictions", path, "--data-root", root, "--out", tmp_path / "o"], capsys)
    assert rc == 2 and "do not nest" in err and "wider_easy_val.mat" in err


def test_a_damaged_mat_file_is_named(toy, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(toy, root)
    (root / "WIDER_FACE" / "eval_tools" / "ground_truth" / "wider_face_val.mat").write_bytes(b"MATLAB 5.0 junk")
    path = _predictions(tmp_path, root, boxes=[])
    rc, _, err = run_cli(["eval", "--predictions", path, "--data-root", root, "--out", tmp_path / "o"], capsys)
    assert rc == 2 and "wider_face_val.mat" in err and "Traceback" not in err


def test_an_unreadable_val_image_is_reported_not_hidden(toy, tmp_path, capsys, random_cascade):
    root = tmp_path / "data"
    shutil.copytree(toy, root)
    victim = sorted((root / "WIDER_FACE" / "WIDER_val" / "images").glob("*/*.jpg"))[0]
    victim.write_bytes(b"garbage")
    argv = ["eval", "--weights", random_cascade, "--data-root", root, "--no-landmarks", "--min-face", "40"]
    rc, out, _ = run_cli(argv + ["--out", tmp_path / "o"], capsys)
    assert rc == 0 and victim.name in out and "count as missed" in out
    assert victim.stem in json.dumps(json.loads((tmp_path / "o" / "predictions.json").read_text())["skipped"])
    rc, _, _ = run_cli(argv + ["--out", tmp_path / "o2", "--strict"], capsys)
    assert rc == 1
    # per-event APs cover every val image, the unreadable one too; onnxruntime scores the same
    events = json.loads((tmp_path / "o" / "per_event_ap.json").read_text())
    n_val = len(list((root / "WIDER_FACE" / "WIDER_val" / "images").glob("*/*.jpg")))
    assert sum(e["images"] for e in events.values()) == n_val
    # onnxruntime finds the same boxes (low thresholds, so that random nets find some)
    low = ["--thresholds", "0.45,0.45,0.45"]
    for out, extra in (("o3", []), ("o4", ["--backend", "onnx"])):
        assert run_cli(argv + low + ["--out", tmp_path / out] + extra, capsys)[0] == 0
    found = [json.loads((tmp_path / d / "predictions.json").read_text())["images"] for d in ("o3", "o4")]
    assert found[0].keys() == found[1].keys()
    assert sum(len(v["boxes"]) for v in found[0].values()) > 0
    for key, v in found[0].items():
        np.testing.assert_allclose(np.asarray(found[1][key]["boxes"]).reshape(-1, 5),
                                   np.asarray(v["boxes"]).reshape(-1, 5), atol=0.02)


# -------------------------------------------------------------------------------------------- weights

def test_weights_missing_arrays_are_refused(tmp_path):
    net = get_net("pnet")
    save_weights(net, tmp_path / "full.params")
    arrays = mx.nd.load(str(tmp_path / "full.params"))
    arrays.pop("conv2_weight")
    mx.nd.save(str(tmp_path / "pnet.params"), arrays)
    with pytest.raises(WeightsError, match="pnet.params.*missing conv2_weight"):
        load_weights(get_net("pnet"), tmp_path / "pnet.params")


def test_reference_weights_missing_arrays_are_refused(tmp_path, reference_weights):
    arrays = mx.nd.load(str(reference_weights / "det2-0001.params"))
    arrays.pop(next(k for k in arrays if k.endswith("conv3_weight")))
    mx.nd.save(str(tmp_path / "det2-0001.params"), arrays)
    with pytest.raises(WeightsError, match="det2-0001.params: parameters missing for rnet: conv3_weight"):
        load_reference_weights(get_net("rnet"), tmp_path)


def test_truncated_weights_are_named(tmp_path, capsys, photos):
    folder = tmp_path / "w"
    folder.mkdir()
    for name in ("pnet", "rnet", "onet"):
        save_weights(get_net(name), folder / f"{name}.params")
    data = (folder / "rnet.params").read_bytes()
    (folder / "rnet.params").write_bytes(data[: len(data) // 3])
    rc, _, err = run_cli(["detect", photos, "--weights", folder, "--json", tmp_path / "d.json"], capsys)
    assert rc == 2 and "rnet.params" in err and not (tmp_path / "d.json").exists()


# ------------------------------------------------------------------------------------------- training

def _records(folder, n=240, size=12, kinds=(1, 0, -1, -2), seed=0):
    rng = np.random.default_rng(seed)
    cls = np.resize(np.asarray(kinds, np.float32), n)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    labels = make_labels(cls, rng.uniform(-0.2, 0.2, (n, 4)) * (np.abs(cls)[:, None] == 1),
                         rng.uniform(0.2, 0.8, (n, 10)) * (cls[:, None] == -2))
    folder.mkdir(parents=True, exist_ok=True)
    with RecordWriter(folder / "train") as w:
        w.write_many(images, labels)
    return folder


def _tiny(**kw):
    return TrainConfig.preset("pnet", smoke=True, **{"epochs": 1, "steps_per_epoch": 2, "batch_size": 64, **kw})


def test_training_refuses_data_a_head_cannot_learn_from(tmp_path):
    rec = _records(tmp_path / "rec", kinds=(0, -1, -2))  # no positives
    with pytest.raises(UserError, match="face/non-face head trains on pos and neg.*0 pos"):
        fit(rec, tmp_path / "run", _tiny(), progress=False)
    assert not (tmp_path / "run" / "pnet.params").exists()


def test_diverging_training_stops_and_writes_no_nan_weights(tmp_path, capsys):
    rec = _records(tmp_path / "rec")
    rc, _, err = run_cli(["train", "pnet", "--records", rec, "--out", tmp_path / "run", "--smoke", "--lr", "1e30",
                          "--optimizer", "sgd", "--no-progress"], capsys)
    assert rc == 2 and "diverged in epoch" in err and "lower learning rate" in err
    epoch = int(err.split("diverged in epoch ")[1].split()[0])
    assert not (tmp_path / "run" / "pnet.params").exists()  # no weights published
    assert not (tmp_path / "run" / "checkpoints" / f"epoch-{epoch:04d}").exists()  # nothing of that epoch
    for ckpt in (tmp_path / "run" / "checkpoints").glob("epoch-*"):  # what was kept is finite
        params = mx.nd.load(str(ckpt / "pnet.params"))
        assert all(np.isfinite(v.asnumpy()).all() for v in params.values())


@pytest.mark.parametrize("change, needle", [({"lr": 0.01}, "lr 0.001 there, 0.01 now"),
                                            ({"seed": 3}, "seed 0 there, 3 now")])
def test_resume_refuses_changed_settings_unless_told(change, needle, tmp_path):
    rec = _records(tmp_path / "rec")
    fit(rec, tmp_path / "run", _tiny(), progress=False)
    with pytest.raises(UserError, match=needle):
        fit(rec, tmp_path / "run", _tiny(epochs=2, **change), resume=True, progress=False)
    fit(rec, tmp_path / "run", _tiny(epochs=2, **change), resume=True, resume_changed=True, progress=False)


def test_resume_accepts_a_checkpoint_older_than_a_new_setting_at_its_default(tmp_path):
    # a checkpoint written before TrainConfig had colour_jitter trained without it: the same as its default, 0
    rec = _records(tmp_path / "rec")
    fit(rec, tmp_path / "run", _tiny(), progress=False)
    for state in (tmp_path / "run" / "checkpoints").glob("epoch-*/state.json"):
        saved = json.loads(state.read_text())
        del saved["config"]["colour_jitter"]
        state.write_text(json.dumps(saved))
    # the missing setting stands for its default: another value is refused, the default resumes
    with pytest.raises(UserError, match="colour_jitter 0.0 there, 0.2 now"):
        fit(rec, tmp_path / "run", _tiny(epochs=2, colour_jitter=0.2), resume=True, progress=False)
    result = fit(rec, tmp_path / "run", _tiny(epochs=2), resume=True, progress=False)
    assert len(result.metrics) == 2


def test_resume_refuses_other_data(tmp_path):
    fit(_records(tmp_path / "rec"), tmp_path / "run", _tiny(), progress=False)
    other = _records(tmp_path / "rec2", seed=5)
    with pytest.raises(UserError, match="other training data"):
        fit(other, tmp_path / "run", _tiny(epochs=2), resume=True, progress=False)


def test_a_folder_with_checkpoints_is_not_silently_reused(tmp_path):
    rec = _records(tmp_path / "rec")
    fit(rec, tmp_path / "run", _tiny(epochs=2), progress=False)
    with pytest.raises(UserError, match="holds checkpoints of an earlier run"):
        fit(rec, tmp_path / "run", _tiny(epochs=2), progress=False)
    with pytest.raises(UserError, match="already at epoch 2, past epochs=1"):
        fit(rec, tmp_path / "run", _tiny(epochs=1), resume=True, progress=False)


def test_short_index_is_refused(tmp_path):
    rec = _records(tmp_path / "rec")
    idx = rec / "train.idx"
    idx.write_text("".join(idx.read_text().splitlines(keepends=True)[:-5]))
    with pytest.raises(ValueError, match="train.idx: indexes 235 records"):
        read_records(rec / "train")


# ------------------------------------------------------------------------------------ annotation lists

ENTRIES = [("0--Parade/a.jpg", [(10, 10, 30, 30)]), ("0--Parade/b.jpg", [(5, 5, 20, 20), (40, 40, 25, 25)])]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_lists_saved_with_a_bom_or_as_utf16_read_the_same(encoding, tmp_path):
    (tmp_path / "plain.txt").write_text(wider_list(ENTRIES), encoding="utf-8")
    (tmp_path / "other.txt").write_bytes(wider_list(ENTRIES).encode(encoding))
    a, b = parse_wider_annotations(tmp_path / "plain.txt"), parse_wider_annotations(tmp_path / "other.txt")
    assert [im.name for im in a] == [im.name for im in b] == ["0--Parade/a.jpg", "0--Parade/b.jpg"]
    assert all(np.array_equal(x.boxes, y.boxes) for x, y in zip(a, b))


def test_windows_separators_in_a_list_are_read_as_folders(tmp_path):
    (tmp_path / "win.txt").write_text(wider_list(ENTRIES).replace("/", "\\"), encoding="utf-8")
    assert [im.name for im in parse_wider_annotations(tmp_path / "win.txt")] == ["0--Parade/a.jpg", "0--Parade/b.jpg"]


def test_a_list_that_is_not_text_is_named_with_the_byte(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"0--Parade/a.jpg\n1\n10 10 \xff\xfe\x00 30\n")
    with pytest.raises(AnnotationFormatError, match=r"bad.txt: byte 24: not UTF-8"):
        parse_wider_annotations(tmp_path / "bad.txt")


def test_held_out_landmark_faces_do_not_depend_on_which_files_are_present(toy, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(toy, root)
    faces = parse_facepoint_list(root / "landmarks" / "trainImageList.txt")
    expected = landmark_split(len(faces))[1]
    for f in faces[::3]:  # a partial download: a third of the images are gone
        os.remove(root / "landmarks" / f.name)
    np.testing.assert_array_equal(holdout_indices(root), expected)


def test_cv2_errors_in_one_image_do_not_abort_detection(random_cascade, tmp_path):
    """A file OpenCV refuses mid-decode (here: a PNG header with a broken body) is skipped by name."""
    from mtcnn_gluon.detector import MTCNNDetector, detect_files

    good = write_image(tmp_path / "good.png", noise_image(40, 40, 4))
    bad = tmp_path / "bad.png"
    bad.write_bytes(good.read_bytes()[:40] + b"\x00" * 30)
    det = MTCNNDetector.from_weights(random_cascade)
    result = detect_files(det, [str(bad), str(good)], progress=False)
    assert list(result["images"]) == [str(good)] and "bad.png" in result["skipped"][str(bad)]
    assert cv2.imread(str(good)) is not None
