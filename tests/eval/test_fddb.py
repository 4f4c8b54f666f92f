"""mtcnn_gluon.data.fddb and mtcnn_gluon.eval.fddb: ellipse lists, the discrete ROC worked by hand."""
import math

import numpy as np
import pytest

from mtcnn_gluon.data import fddb
from mtcnn_gluon.eval import fddb as fddb_eval


# --------------------------------------------------------------------------------------------
# FDDB
# --------------------------------------------------------------------------------------------
ELLIPSES = """img1
1
20.0 10.0 1.5707963267948966 50.0 50.0  1
img2
2
10.0 10.0 0.0 100.0 100.0  1
10.0 10.0 0.0 200.0 100.0  1
"""


def test_fddb_ellipse_parsing_and_boxes(tmp_path):
    path = tmp_path / "FDDB-fold-01-ellipseList.txt"
    path.write_text(ELLIPSES)
    e = fddb.parse_ellipse_list(path)
    assert list(e) == ["img1", "img2"] and e["img2"].shape == (2, 5)
    gt = fddb.load_fddb_ground_truth(path)
    # vertical major axis: x y w h = (40, 30, 20, 40) -> inclusive (40, 30, 59, 69)
    np.testing.assert_allclose(gt["img1"], [[40, 30, 59, 69]], atol=1e-9)
    np.testing.assert_allclose(gt["img2"], [[90, 90, 109, 109], [190, 90, 209, 109]])
    # 45 degrees, a = 2, b = 1: half sizes sqrt(2.5)
    h = math.sqrt(2.5)
    np.testing.assert_allclose(fddb.ellipses_to_boxes([[2, 1, math.pi / 4, 0, 0]]), [[-h, -h, h - 1, h - 1]])
    bad = tmp_path / "bad.txt"
    bad.write_text("img1\n2\n1 2 3 4 5 1\n")
    with pytest.raises(ValueError, match=r"bad\.txt:4: file ends"):
        fddb.parse_ellipse_list(bad)
    bad.write_text("img1\n1\n1 2 3 4 5\n")
    with pytest.raises(ValueError, match=r"bad\.txt:3: expected 6 numbers"):
        fddb.parse_ellipse_list(bad)


def test_fddb_discrete_roc_hand_worked(tmp_path):
    path = tmp_path / "ellipses.txt"
    path.write_text(ELLIPSES)
    gt = fddb.load_fddb_ground_truth(path)
    # FDDB detection file (x y w h score): img1 exact (.9); img2: face A exact (.8), nothing (.7),
    # face B shifted 5 px (IoU 15*20 / 500 = .6, score .6), A again (.5, a second detection on a face)
    dpath = tmp_path / "dets.txt"
    dpath.write_text("img1\n1\n40 30 20 40 0.9\nimg2\n4\n90 90 20 20 0.8\n300 300 20 20 0.7\n"
                     "195 90 20 20 0.6\n90 90 20 20 0.5\n")
    dets = fddb.read_fddb_detections(dpath)
    roc = fddb_eval.fddb_roc(dets, gt)
    np.testing.assert_allclose(roc.thresholds, [0.9, 0.8, 0.7, 0.6, 0.5])
    np.testing.assert_array_equal(roc.tp, [1, 2, 2, 3, 3])
    np.testing.assert_array_equal(roc.fp, [0, 0, 1, 1, 2])
    np.testing.assert_allclose(roc.tpr, [1 / 3, 2 / 3, 2 / 3, 1, 1])
    assert fddb_eval.tpr_at_fp(roc, 0) == pytest.approx(2 / 3) and fddb_eval.tpr_at_fp(roc, 1) == 1.0
    # writer round trip
    fddb.write_fddb_detections(dets, tmp_path / "again.txt")
    again = fddb.read_fddb_detections(tmp_path / "again.txt")
    for k in dets:
        np.testing.assert_allclose(again[k], dets[k], atol=1e-6)


def test_fddb_matching_is_one_to_one_and_optimal():
    # faces A, B overlap; D1 (higher score) has IoU .6 with both, D2 sits on A: the best matching
    # gives D1 -> B, D2 -> A (a greedy match of D1 to A would leave D2 a false positive)
    gt = {"i": np.array([[0, 0, 19, 19], [10, 0, 29, 19]], dtype=float)}
    d = {"i": np.array([[5, 0, 24, 19, 0.9], [0, 0, 19, 19, 0.8]])}
    roc = fddb_eval.fddb_roc(d, gt)
    np.testing.assert_array_equal(roc.tp, [1, 2])
    np.testing.assert_array_equal(roc.fp, [0, 0])
    with pytest.raises(KeyError, match="no annotation"):
        fddb_eval.fddb_roc({"zzz": d["i"]}, gt)
