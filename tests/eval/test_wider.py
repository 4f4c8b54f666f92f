"""mtcnn_gluon.eval.wider and .predictions: the official WIDER FACE protocol and its prediction files.

The small cases are worked out by hand from the official MATLAB rules (evaluation.m, boxoverlap.m,
norm_score.m, VOCap.m). Boxes in the cases are official ``x y w h`` with ``w = h = 9``: the official
code turns them into ``(x, y, x + 9, y + 9)`` and measures with ``+ 1``, so each is a 10 x 10 square
(area 100). Two such squares shifted by 2 px overlap 80 / 120 = 2/3; by 5 px 50 / 150 = 1/3.
Scores 1.0 / 0.5 / 0.25 / 0.0 keep min-max normalisation exact, and the thresholds are
``1 - t / 1000``: a detection of normalised score 0.5 is counted from t = 500 (index 499) on.
"""
import json

import numpy as np
import pytest

from mtcnn_gluon import viz
from mtcnn_gluon.eval import predictions as pred
from mtcnn_gluon.eval import wider as ev


def det(x, y, w, h, s):
    """An official ``x y w h`` box as the detector's MTCNN box (x2 inclusive) with a score."""
    return [x, y, x + w - 1, y + h - 1, s]


def make_gt(images):
    """A WiderGroundTruth from ``{key: (faces xywh, keep indices for every setting)}``."""
    boxes = {k: np.asarray(b, dtype=float).reshape(-1, 4) for k, (b, _) in images.items()}
    keep = {s: {k: np.asarray(kp, dtype=np.int64) for k, (_, kp) in images.items()} for s in ev.WIDER_SETTINGS}
    return ev.WiderGroundTruth(keys=list(images), boxes=boxes, keep=keep)


def run(gt, preds, **kw):
    return ev.evaluate_wider({k: np.asarray(v, dtype=float).reshape(-1, 5) for k, v in preds.items()}, gt, **kw)


F = (0, 0, 9, 9)  # a face


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------
def test_official_overlap_hand_values():
    # official boxes (x, y, x + w, y + h) with w = h = 9: 10 x 10 squares
    g = [[0, 0, 9, 9]]
    np.testing.assert_allclose(ev.official_overlap(g, [2, 0, 11, 9]), [80 / 120])
    np.testing.assert_allclose(ev.official_overlap(g, [5, 0, 14, 9]), [50 / 150])
    np.testing.assert_allclose(ev.official_overlap(g, [10, 0, 19, 9]), [0.0])  # touching: w = 0
    # apart on both axes: w = h = -1 would give inter = 1, the official code sets 0
    np.testing.assert_allclose(ev.official_overlap(g, [11, 11, 20, 20]), [0.0])
    # half of the face: exactly .5
    np.testing.assert_allclose(ev.official_overlap(g, [0, 0, 9, 4]), [0.5])
    # zero-size face (w = h = 0) is a 1 x 1 box for the official code
    np.testing.assert_allclose(ev.official_overlap([[20, 20, 20, 20]], [20, 20, 21, 21]), [1 / 4])


def test_voc_ap_hand_values():
    # envelope (1, 1, .5): .5 * 1 + .5 * .5
    assert ev.voc_ap([0.5, 1.0], [1.0, 0.5]) == pytest.approx(0.75, abs=1e-15)
    # NaN precision (nothing proposed yet) is skipped by the running maximum
    assert ev.voc_ap([0.0, 0.5, 1.0], [np.nan, 0.5, 0.25]) == pytest.approx(0.375, abs=1e-15)
    # a dip in precision is covered by the envelope: (1, .8, .8) -> .4 + .4 * .8 + .2 * .8
    assert ev.voc_ap([0.4, 0.8, 1.0], [1.0, 0.5, 0.8]) == pytest.approx(0.4 + 0.4 * 0.8 + 0.2 * 0.8, abs=1e-15)


def test_normalize_scores_min_max_over_all_images():
    out = ev.normalize_scores({"a": np.array([[0, 0, 1, 1, 3.0]]),
                               "b": np.array([[0, 0, 1, 1, 1.0], [0, 0, 1, 1, 2.0]]),
                               "c": np.zeros((0, 5))})
    np.testing.assert_array_equal(out["a"][:, 4], [1.0])
    np.testing.assert_array_equal(out["b"][:, 4], [0.0, 0.5])
    # all equal: 1 (the official code would divide 0 by 0)
    same = ev.normalize_scores({"a": np.array([[0, 0, 1, 1, 0.7], [0, 0, 1, 1, 0.7]])})
    np.testing.assert_array_equal(same["a"][:, 4], [1.0, 1.0])


def test_wider_key_forms():
    want = "0--Parade/0_Parade_marchingband_1_465"
    for p in ("WIDER_FACE/WIDER_val/images/0--Parade/0_Parade_marchingband_1_465.jpg",
              "0--Parade/0_Parade_marchingband_1_465.txt", "0--Parade\\0_Parade_marchingband_1_465", want):
        assert ev.wider_key(p) == want
    with pytest.raises(ValueError, match="event"):
        ev.wider_key("lonely.jpg")


# --------------------------------------------------------------------------------------------
# Matching rules, hand-worked
# --------------------------------------------------------------------------------------------
def test_ignored_face_is_neither_hit_nor_false_positive():
    # faces F0 (counted) and F1 (not in the setting); detections: d3 on nothing (score 1),
    # d1 on F1 (score .5), d2 on F0 (score 0)
    faces = [F, (100, 0, 9, 9)]
    preds = {"e/a": [det(200, 0, 9, 9, 1.0), det(100, 0, 9, 9, 0.5), det(0, 0, 9, 9, 0.0)]}
    r = run(make_gt({"e/a": (faces, [0])}), preds)
    # t < 500: {d3}: 1 proposal, 0 hits; t 500..999: {d3, d1}: still 1 proposal (d1 ignored);
    # t = 1000: {d3, d1, d2}: 2 proposals, 1 hit of 1 face
    p, rc = r.precision["easy"], r.recall["easy"]
    np.testing.assert_array_equal(p[:999], 0.0)
    np.testing.assert_array_equal(rc[:999], 0.0)
    assert p[999] == 0.5 and rc[999] == 1.0
    assert r.ap["easy"] == 0.5
    assert r.n_faces["easy"] == 1
    # if F1 counted: t 500..999 P 1/2 R 1/2, t = 1000 P 2/3 R 1 -> AP 1/2 * 2/3 + 1/2 * 2/3
    r2 = run(make_gt({"e/a": (faces, [0, 1])}), preds)
    assert r2.ap["hard"] == pytest.approx(2 / 3, abs=1e-15)
    assert r2.precision["hard"][998] == 0.5 and r2.recall["hard"][998] == 0.5
    # an ignoring detection below the IoU threshold is a plain false positive: d1 shifted 5 px
    preds3 = {"e/a": [det(200, 0, 9, 9, 1.0), det(105, 0, 9, 9, 0.5), det(0, 0, 9, 9, 0.0)]}
    r3 = run(make_gt({"e/a": (faces, [0])}), preds3)
    assert r3.precision["easy"][999] == pytest.approx(1 / 3, abs=1e-15)
    assert r3.ap["easy"] == pytest.approx(1 / 3, abs=1e-15)
    # overlap exactly .5 is a match (>=): d1 covering the top half of F1 is ignored again
    preds4 = {"e/a": [det(200, 0, 9, 9, 1.0), det(100, 0, 9, 4, 0.5), det(0, 0, 9, 9, 0.0)]}
    assert run(make_gt({"e/a": (faces, [0])}), preds4).ap["easy"] == 0.5


def test_two_detections_on_one_face():
    # F0, F1 counted; d1 on F0 shifted 2 px (IoU 2/3, score 1), d2 exactly on F0 (score .5), d3 on F1 (0)
    faces = [F, (50, 0, 9, 9)]
    preds = {"e/a": [det(2, 0, 9, 9, 1.0), det(0, 0, 9, 9, 0.5), det(50, 0, 9, 9, 0.0)]}
    r = run(make_gt({"e/a": (faces, [0, 1])}), preds)
    p, rc = r.precision["medium"], r.recall["medium"]
    # t < 500: P 1 R 1/2; t 500..999: d2 finds F0 again -> false positive: P 1/2 R 1/2; t = 1000: P 2/3 R 1
    np.testing.assert_array_equal(p[:499], 1.0)
    np.testing.assert_array_equal(p[499:999], 0.5)
    np.testing.assert_array_equal(rc[:999], 0.5)
    assert p[999] == pytest.approx(2 / 3, abs=1e-15) and rc[999] == 1.0
    # envelope 1 up to recall 1/2, then 2/3: AP = 1/2 + 1/2 * 2/3
    assert r.ap["medium"] == pytest.approx(5 / 6, abs=1e-15)


def test_detection_between_two_faces():
    # (a) IoU 1/3 with both faces: a false positive
    faces = [F, (10, 0, 9, 9)]
    r = run(make_gt({"e/a": (faces, [0, 1])}), {"e/a": [det(0, 0, 9, 9, 1.0), det(5, 0, 9, 9, 0.0)]})
    assert r.precision["easy"][998] == 1.0 and r.recall["easy"][998] == 0.5
    assert r.precision["easy"][999] == 0.5 and r.recall["easy"][999] == 0.5
    assert r.ap["easy"] == 0.5
    # (b) IoU 2/3 with both: matched to the first face of highest overlap (F0), already found,
    # so a false positive -- no fall back on the free face F1 (unlike a one-to-one VOC matching)
    faces = [F, (4, 0, 9, 9)]
    r = run(make_gt({"e/a": (faces, [0, 1])}), {"e/a": [det(0, 0, 9, 9, 1.0), det(2, 0, 9, 9, 0.0)]})
    assert r.recall["easy"][999] == 0.5 and r.precision["easy"][999] == 0.5
    assert r.ap["easy"] == 0.5
    # the same detection finds F1 when it is higher in the face list (F1 first)
    r = run(make_gt({"e/a": ([(4, 0, 9, 9), F], [0, 1])}), {"e/a": [det(0, 0, 9, 9, 1.0), det(2, 0, 9, 9, 0.0)]})
    assert r.recall["easy"][999] == 1.0 and r.ap["easy"] == 1.0


def test_score_ties():
    faces = [F, (50, 0, 9, 9)]
    gt = make_gt({"e/a": (faces, [0, 1])})
    hit0, fp, hit1 = det(0, 0, 9, 9, 0.7), det(200, 0, 9, 9, 0.7), det(50, 0, 9, 9, 0.2)
    # normalised: 1, 1, 0. The tied pair enters together: t < 1000 P 1/2 R 1/2; t = 1000 P 2/3 R 1
    for order in ([hit0, fp, hit1], [fp, hit0, hit1], [hit1, fp, hit0]):
        r = run(gt, {"e/a": order})
        np.testing.assert_array_equal(r.precision["hard"][:999], 0.5)
        assert r.precision["hard"][999] == pytest.approx(2 / 3, abs=1e-15)
        assert r.ap["hard"] == pytest.approx(2 / 3, abs=1e-15)
    # a score equal to a threshold counts at that threshold (>=): .25 == 1 - 750 / 1000
    r = run(gt, {"e/a": [det(0, 0, 9, 9, 1.0), det(50, 0, 9, 9, 0.25), det(200, 0, 9, 9, 0.0)]})
    rc = r.recall["hard"]
    assert rc[748] == 0.5 and rc[749] == 1.0
    # two tied detections on one face: whichever comes first finds it, the other is a false positive
    r = run(make_gt({"e/a": ([F], [0])}), {"e/a": [det(0, 0, 9, 9, 0.5), det(1, 0, 9, 9, 0.5)]})
    np.testing.assert_array_equal(r.precision["easy"], 0.5)
    assert r.ap["easy"] == 0.5


def test_image_without_faces():
    # the official val file writes a face-less image as one all-zero box that counts nowhere
    gt = make_gt({"e/a": ([F], [0]), "e/empty": ([(0, 0, 0, 0)], [])})
    preds = {"e/a": [det(0, 0, 9, 9, 1.0)], "e/empty": [det(50, 50, 9, 9, 0.0)]}
    r = run(gt, preds)
    assert r.precision["easy"][998] == 1.0 and r.precision["easy"][999] == 0.5
    assert r.ap["easy"] == 1.0
    assert r.n_images["easy"] == 2 and r.n_images_with_faces["easy"] == 1 and r.n_faces["easy"] == 1
    # with no box at all the official code skips the image (isempty(gt_bbx)): its detections do not count
    gt2 = make_gt({"e/a": ([F], [0]), "e/empty": (np.zeros((0, 4)), [])})
    r2 = run(gt2, preds)
    assert r2.precision["easy"][999] == 1.0
    # an evaluated image without predictions still counts its faces
    gt3 = make_gt({"e/a": ([F], [0]), "e/b": ([F], [0])})
    r3 = run(gt3, {"e/a": [det(0, 0, 9, 9, 1.0)]}, images=["e/a", "e/b"])
    assert r3.n_faces["easy"] == 2 and r3.recall["easy"][999] == 0.5 and r3.ap["easy"] == 0.5
    # ... and an image that is not evaluated does not
    r4 = run(gt3, {"e/a": [det(0, 0, 9, 9, 1.0)]})
    assert r4.n_faces["easy"] == 1 and r4.ap["easy"] == 1.0


def test_zero_size_faces():
    # w = h = 0 is a 1 x 1 box for the official code: the identical detection finds it,
    # a 1 x 1 detection (a 2 x 2 official box, IoU 1/4) does not
    gt = make_gt({"e/a": ([(20, 20, 0, 0), (40, 40, 0, 5)], [0, 1])})
    r = run(gt, {"e/a": [det(20, 20, 0, 0, 1.0), det(40, 40, 0, 5, 0.5), det(20, 20, 1, 1, 0.0)]})
    np.testing.assert_array_equal(r.recall["easy"][[0, 499, 999]], [0.5, 1.0, 1.0])
    assert r.precision["easy"][999] == pytest.approx(2 / 3, abs=1e-15)
    assert r.ap["easy"] == 1.0


def test_skips_non_val_images_and_rejects_duplicates():
    gt = make_gt({"e/a": ([F], [0])})
    r = run(gt, {"photos/x.jpg": [det(0, 0, 9, 9, 1.0)], "x.jpg": [],
                 "WIDER_val/images/e/a.jpg": [det(0, 0, 9, 9, 1.0)]})
    assert r.skipped == ["photos/x.jpg", "x.jpg"] and r.ap["easy"] == 1.0
    with pytest.raises(ValueError, match="second prediction"):
        run(gt, {"e/a": [], "images/e/a.jpg": []})
    with pytest.raises(KeyError, match="not a WIDER FACE val image"):
        run(gt, {}, images=["e/zzz"])


def test_pr_figure(tmp_path):
    gt = make_gt({"e/a": ([F, (50, 0, 9, 9)], [0, 1])})
    r = run(gt, {"e/a": [det(0, 0, 9, 9, 1.0), det(50, 0, 9, 9, 0.0)]})
    fig = viz.plot_pr_curves(r, path=tmp_path / "pr.png")
    assert len(fig.axes) == 3 and (tmp_path / "pr.png").stat().st_size > 0
    assert "1.000" in fig.axes[0].get_legend().get_texts()[0].get_text()


# --------------------------------------------------------------------------------------------
# Official prediction files
# --------------------------------------------------------------------------------------------
def test_prediction_files_round_trip(tmp_path):
    preds = {"WIDER_val/images/0--Parade/0_Parade_a.jpg":
             np.array([[10, 20, 29, 59, 0.9], [1.5, 2.5, 3.5, 4.5, 0.1]]),
             "1--Handshaking/1_b": np.zeros((0, 5))}
    files = pred.write_wider_predictions(preds, tmp_path)
    text = (tmp_path / "0--Parade" / "0_Parade_a.txt").read_text().splitlines()
    assert text[:2] == ["0_Parade_a", "2"]
    assert [float(v) for v in text[2].split()] == [10, 20, 20, 40, 0.9]  # w = x2 - x1 + 1
    assert len(files) == 2 and (tmp_path / "1--Handshaking" / "1_b.txt").read_text() == "1_b\n0\n"
    back = pred.read_wider_predictions(tmp_path)
    assert set(back) == {"0--Parade/0_Parade_a", "1--Handshaking/1_b"}
    np.testing.assert_allclose(back["0--Parade/0_Parade_a"], preds["WIDER_val/images/0--Parade/0_Parade_a.jpg"])
    assert back["1--Handshaking/1_b"].shape == (0, 5)


@pytest.mark.parametrize("body, where", [
    ("n\n2\n1 2 3 4 0.5\n", ":2: says 2 boxes but 1"),
    ("n\n1\n1 2 3 4\n", ":3: expected 5 numbers"),
    ("n\ntwo\n", ":2: expected the number of boxes"),
    ("n\n1\n1 2 x 4 0.5\n", ":3: expected 5 numbers"),
    ("n\n", ":2: expected a name line and a count line"),
])
def test_malformed_prediction_file_names_file_and_line(tmp_path, body, where):
    (tmp_path / "0--Parade").mkdir()
    (tmp_path / "0--Parade" / "bad.txt").write_text(body)
    with pytest.raises(ValueError, match="bad.txt" + where.replace(".", r"\.")):
        pred.read_wider_predictions(tmp_path)


# --------------------------------------------------------------------------------------------
# Real data
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wider_gt(data_root):
    return ev.load_wider_gt(data_root / "WIDER_FACE" / "eval_tools" / "ground_truth")


def _perfect(gt, keys, scores=None):
    from mtcnn_gluon.utils.boxes import xywh_to_xyxy
    out = {}
    for k in keys:
        b = gt.boxes[k]
        s = np.linspace(1.0, 0.5, len(b)) if scores is None else np.full(len(b), scores)
        out[k] = np.column_stack([xywh_to_xyxy(b), s])
    return out


def test_wider_ground_truth_counts(data_root, wider_gt):
    assert len(wider_gt.keys) == 3226
    present = ev.present_val_images(data_root)
    assert len(present) == 394 and all(k in wider_gt.boxes for k in present)
    counts = {s: wider_gt.n_faces(s, present) for s in ev.WIDER_SETTINGS}
    assert counts == {"easy": 874, "medium": 1660, "hard": 4248}
    # evaluating the present images without predictions counts the same faces, recall 0
    r = ev.evaluate_wider({}, wider_gt, images=present)
    assert r.n_faces == {"easy": 874, "medium": 1660, "hard": 4248}
    assert r.n_images == {s: 394 for s in ev.WIDER_SETTINGS}
    assert r.ap == {s: 0.0 for s in ev.WIDER_SETTINGS}


def test_wider_perfect_predictions(data_root, wider_gt):
    present = ev.present_val_images(data_root)
    for scores in (None, 1.0):  # graded and all-equal scores
        r = ev.evaluate_wider(_perfect(wider_gt, present, scores), wider_gt)
        print("perfect, present images:\n" + r.summary())
        assert r.ap == {s: 1.0 for s in ev.WIDER_SETTINGS}
        assert r.n_faces == {"easy": 874, "medium": 1660, "hard": 4248}


def test_wider_perfect_predictions_full_val_duplicate_faces(wider_gt):
    """On all 3,226 images the ground truth itself does not reach AP 1. Some faces are annotated
    twice: the detection on the second copy matches the first copy (first face of highest overlap),
    so the second copy is never found. One face has w = -2: its official box has no area and
    overlaps nothing, itself included. Count those faces independently."""
    r = ev.evaluate_wider(_perfect(wider_gt, wider_gt.keys), wider_gt)
    print("perfect, all val images:\n" + r.summary())
    for s in ev.WIDER_SETTINGS:
        unreachable = 0
        for k in wider_gt.keys:
            b = wider_gt.boxes[k]
            for i in wider_gt.keep[s][k]:
                if any(np.array_equal(b[j], b[i]) for j in range(i)) or min(b[i, 2], b[i, 3]) < 0:
                    unreachable += 1
        found = round(r.recall[s][-1] * r.n_faces[s])
        assert found == r.n_faces[s] - unreachable
        assert 0.9998 < r.ap[s] <= 1.0


def test_reference_detections_json(data_root, tmp_path):
    path = data_root / "reference_detections.json"
    r = pred.score_predictions_json(path, data_root)
    print("reference MTCNN detections:\n" + r.summary())
    assert len(r.skipped) == 4 and all(p.startswith("photos/") for p in r.skipped)
    assert r.n_images == {s: 40 for s in ev.WIDER_SETTINGS}
    n_boxes = sum(len(v["boxes"]) for k, v in json.loads(path.read_text())["images"].items() if "WIDER_val" in k)
    assert r.n_detections == n_boxes
    # the original MTCNN reports about .85 / .82 / .61 on the whole val set
    assert 0.75 < r.ap["easy"] < 0.95 and 0.7 < r.ap["medium"] < 0.95 and 0.4 < r.ap["hard"] < 0.7
    assert r.ap["easy"] > r.ap["medium"] > r.ap["hard"]
    # the official text layout carries the same numbers
    doc = json.loads(path.read_text())["images"]
    pred.write_wider_predictions({k: v["boxes"] for k, v in doc.items() if "WIDER_val" in k}, tmp_path)
    r2 = ev.evaluate_wider(pred.read_wider_predictions(tmp_path), data_root)
    for s in ev.WIDER_SETTINGS:
        assert r2.ap[s] == pytest.approx(r.ap[s], abs=1e-12)


def test_error_analysis_lists_missed_faces_and_false_positives():
    # one image, faces A (10 x 10 at 0,0; counted) and B (20 x 20 at 100,100; counted), C (ignored, 50,0)
    gt = make_gt({"0--Parade/a": ([(0, 0, 9, 9), (100, 100, 19, 19), (50, 0, 9, 9)], [0, 1])})
    preds = {"0--Parade/a": [det(0, 0, 9, 9, 0.9),      # finds A
                             det(50, 0, 9, 9, 0.8),     # on the ignored face C: not a false positive
                             det(200, 200, 9, 9, 0.7),  # hits nothing
                             det(300, 0, 9, 9, 0.2)]}   # hits nothing, below the score threshold
    r = ev.error_analysis(preds, gt, setting="hard", score_thresh=0.5)
    assert [(k, h) for k, _, h in r["missed"]] == [("0--Parade/a", 19.0)]  # B, its WIDER height
    assert r["missed"][0][1] == (100, 100, 118, 118)
    assert [(k, s) for k, _, s in r["false_positives"]] == [("0--Parade/a", 0.7)]
    everything = ev.error_analysis(preds, gt, setting="hard")
    assert [s for _, _, s in everything["false_positives"]] == [0.7, 0.2]


def test_per_event_ap_splits_val_by_event(data_root, wider_gt):
    from mtcnn_gluon.eval.cascade import per_event_ap
    present = ev.present_val_images(data_root)
    parade = [k for k in present if k.startswith("0--Parade/")]
    # perfect boxes on the Parade images only, keyed by file path as `eval` keys them: AP 1 there, 0 elsewhere
    perfect = {ev.val_image_file(k): v for k, v in _perfect(wider_gt, parade).items()}
    r = per_event_ap(perfect, data_root, present)
    assert list(r)[0] == "0--Parade" and len(r) == 5
    assert r["0--Parade"]["images"] == len(parade) == 115
    assert r["0--Parade"]["ap"] == pytest.approx({s: 1.0 for s in ev.WIDER_SETTINGS})
    assert all(v["ap"] == {s: 0.0 for s in ev.WIDER_SETTINGS} for e, v in r.items() if e != "0--Parade")
    # the events partition the present images and their faces
    assert sum(v["images"] for v in r.values()) == 394
    for s, n in {"easy": 874, "medium": 1660, "hard": 4248}.items():
        assert sum(v["faces"][s] for v in r.values()) == n
    assert r["0--Parade"]["faces"] == {"easy": 238, "medium": 608, "hard": 2930}
    # an event's AP is the protocol on that event's images alone
    rng = np.random.default_rng(0)
    noisy = {k: np.column_stack([v[:, :4] + rng.normal(0, 3, (len(v), 4)), rng.uniform(0, 1, len(v))])
             for k, v in _perfect(wider_gt, present).items()}
    alone = ev.evaluate_wider({k: noisy[k] for k in parade}, wider_gt, images=parade).ap
    got = per_event_ap(noisy, data_root, present)["0--Parade"]["ap"]
    assert got == pytest.approx(alone) and 0.1 < got["hard"] < 0.95
