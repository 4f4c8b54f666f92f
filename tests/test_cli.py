"""The command line, run as a user would: real images, real weights, real files."""
import json
import subprocess
import sys

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
    assert "expected 3 values" in capsys.readouterr().err


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


def test_demo_finds_the_astronaut_with_the_published_cascade_and_no_data(tmp_path):
    from mtcnn_gluon.data.toy import ASTRONAUT_FACE

    assert main(["demo", "--out", str(tmp_path), "--data-root", ""]) == 0
    doc = json.loads((tmp_path / "detections.json").read_text())
    assert set(doc) == {"pretrained"}  # no data root: no reference weights
    boxes = np.asarray(doc["pretrained"]["images"]["astronaut"]["boxes"])
    assert len(boxes) == 1 and bx.iou(ASTRONAUT_FACE, boxes)[0] >= 0.7
    assert (tmp_path / "astronaut_pretrained.jpg").is_file()
