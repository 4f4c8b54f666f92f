"""The command line, run as a user would: real images, real weights, real files."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mtcnn_gluon.utils import boxes as bx
from mtcnn_gluon.cli import main


def test_detect_writes_reference_shaped_json_and_images(data_root, tmp_path):
    rel = "photos/pangyupo_test2.jpg"
    out = tmp_path / "out"
    assert main(["detect", str(data_root / rel), "--weights", "reference", "--data-root", str(data_root),
                 "--out", str(out), "--json", str(tmp_path / "d.json")]) == 0
    doc = json.loads((tmp_path / "d.json").read_text())
    assert doc["settings"]["min_face"] == 20 and doc["settings"]["thresholds"] == [0.6, 0.7, 0.7]
    ours = doc["images"][str(data_root / rel)]
    ref = json.loads((data_root / "reference_detections.json").read_text())["images"][rel]
    assert np.asarray(ours["landmarks"]).shape == (len(ours["boxes"]), 5, 2)
    # the same faces as the reference detector found in this photo
    m = bx.iou_matrix(np.asarray(ref["boxes"]), np.asarray(ours["boxes"]))
    assert len(ours["boxes"]) == len(ref["boxes"]) and (m.max(axis=1) >= 0.9).all()
    assert len(list(out.glob("*.jpg"))) == 1


def test_detect_names_missing_inputs(tmp_path):
    with pytest.raises(SystemExit, match="not found: .*nope.jpg"):
        main(["detect", str(tmp_path / "nope.jpg"), "--weights", str(tmp_path)])


def test_bad_thresholds_are_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["detect", "x.jpg", "--thresholds", "0.6,0.7"])
    assert "expected 3 comma-separated values like 0.6,0.7,0.7, got 2 in '0.6,0.7'" in capsys.readouterr().err


def test_eval_scores_a_predictions_json(data_root, tmp_path):
    code = subprocess.run([sys.executable, "-m", "mtcnn_gluon", "eval", "--predictions",
                           str(data_root / "reference_detections.json"), "--data-root", str(data_root),
                           "--out", str(tmp_path)], capture_output=True, text=True)
    assert code.returncode == 0, code.stderr
    ap = json.loads((tmp_path / "wider_ap.json").read_text())["ap"]
    # independent check: the same JSON scored through the library (tests/test_evaluation.py pins the protocol)
    assert ap["easy"] == pytest.approx(0.8626, abs=1e-4)
    assert (tmp_path / "pr_curves.png").stat().st_size > 10000
    assert "easy   AP 0.8626" in code.stdout


def test_published_cascade_scores_what_its_card_says(data_root, tmp_path):
    """`eval --weights pretrained` (onnxruntime, which gives the MXNet detector's AP to 1e-4) reproduces the
    val AP that ``pretrained/cascade.json`` records from the run that made the weights: the README's numbers
    can not drift from the weights."""
    from pathlib import Path

    card = json.loads((Path(__file__).parents[1] / "pretrained" / "cascade.json").read_text())
    published = card["steps"]["evaluate"]["summary"]["wider"]["ap"]
    code = subprocess.run([sys.executable, "-m", "mtcnn_gluon", "eval", "--weights", "pretrained", "--backend", "onnx",
                           "--no-landmarks", "--data-root", str(data_root), "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert code.returncode == 0, code.stderr
    ap = json.loads((tmp_path / "wider_ap.json").read_text())["ap"]
    for setting in ("easy", "medium", "hard"):
        assert ap[setting] == pytest.approx(published[setting], abs=2e-4), setting


def test_demo_finds_the_astronaut_with_the_published_cascade_and_no_data(tmp_path):
    from mtcnn_gluon.data.toy import ASTRONAUT_FACE

    assert main(["demo", "--out", str(tmp_path), "--data-root", ""]) == 0
    doc = json.loads((tmp_path / "detections.json").read_text())
    assert set(doc) == {"pretrained"}  # no data root: no reference weights
    boxes = np.asarray(doc["pretrained"]["images"]["astronaut"]["boxes"])
    assert len(boxes) == 1 and bx.iou(ASTRONAUT_FACE, boxes)[0] >= 0.7
    assert (tmp_path / "astronaut_pretrained.jpg").is_file()


def test_similarity_transform_recovers_a_hand_made_one():
    """Points made from the template by a known rotation, scale and shift: the transform undoes it exactly."""
    from mtcnn_gluon.utils.align import similarity_transform, template

    t = template(112)
    ang, s, shift = np.deg2rad(-25.0), 2.5, np.array([130.0, 40.0])
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    src = t @ (s * rot).T + shift
    m = similarity_transform(src, t)
    np.testing.assert_allclose(m[:, :2], rot.T / s, atol=1e-12)  # the inverse rotation and scale
    np.testing.assert_allclose(src @ m[:, :2].T + m[:, 2], t, atol=1e-9)
    np.testing.assert_allclose(template(160), t * 160 / 112)


def test_align_writes_one_crop_per_face(data_root, tmp_path):
    photo = data_root / "photos" / "facenet_angelina_jolie.jpg"
    assert main(["align", str(photo), "--weights", "reference", "--data-root", str(data_root), "--out",
                 str(tmp_path), "--size", "160"]) == 0
    doc = json.loads((tmp_path / "align.json").read_text())
    assert doc["size"] == 160 and len(doc["crops"]) >= 1
    for c in doc["crops"]:
        crop = cv2.imread(str(tmp_path / c["crop"]))
        assert crop.shape == (160, 160, 3) and c["source"] == str(photo)
        # the face's points land near the template: within a few px of where recognition models expect them
        err = np.linalg.norm(np.asarray(c["landmarks_in_crop"]) - np.asarray(doc["template"]), axis=1)
        assert err.max() < 12, err


def test_video_frames_give_the_same_boxes_as_the_frames_as_images(data_root, tmp_path):
    from mtcnn_gluon.utils.images import read_image

    frames = [cv2.resize(read_image(p), (320, 240)) for p in sorted((data_root / "photos").glob("*.jpg"))[:3]]
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (320, 240))
    for f in frames:
        writer.write(f)
    writer.release()
    assert main(["detect", str(video), "--weights", "reference", "--data-root", str(data_root), "--json",
                 str(tmp_path / "v.json"), "--frame-stride", "2"]) == 0
    got = json.loads((tmp_path / "v.json").read_text())["images"]
    assert sorted(got) == [f"{video}#frame=0", f"{video}#frame=2"]
    cap = cv2.VideoCapture(str(video))
    decoded = [cap.read()[1] for _ in range(3)]
    for index in (0, 2):  # the decoded frame (MJPG is lossy) detected as an image
        cv2.imwrite(str(tmp_path / f"f{index}.png"), decoded[index])
        assert main(["detect", str(tmp_path / f"f{index}.png"), "--weights", "reference", "--data-root",
                     str(data_root), "--json", str(tmp_path / f"f{index}.json")]) == 0
        img = json.loads((tmp_path / f"f{index}.json").read_text())["images"][str(tmp_path / f"f{index}.png")]
        assert got[f"{video}#frame={index}"] == img
