"""The embedded toy dataset: read by the real parsers, exact boxes, deterministic, honest about landmarks."""
import json

import cv2
import numpy as np
import pytest

from mtcnn_gluon.data.facepoint import load_facepoint

from mtcnn_gluon.data.wider import load_wider
from mtcnn_gluon.data.toy import SETTING_MIN_HEIGHT, TEMPLATE_25, build_toy_dataset
from mtcnn_gluon.eval.wider import evaluate_wider, load_wider_gt

SMALL = dict(n_train=6, n_val=5, n_landmark=12, seed=3)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return build_toy_dataset(tmp_path_factory.mktemp("toy") / "data", **SMALL)


def test_parsers_read_the_toy_set(toy):
    train, val = load_wider(toy, "train"), load_wider(toy, "val")
    assert len(train.images) == 6 and len(val.images) == 5 and not train.missing and not val.missing
    assert all(len(im.boxes) >= 1 for im in train.images)
    fp = load_facepoint(toy)
    assert len(fp.faces) == 12 and not fp.missing


def test_boxes_are_inside_the_images_and_hold_the_pasted_face(toy):
    train = load_wider(toy, "train")
    for im in train.images:
        img = cv2.imread(str(train.path(im)))
        h, w = img.shape[:2]
        b = im.boxes
        assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all() and (b[:, 2] < w).all() and (b[:, 3] < h).all()
        np.testing.assert_array_equal(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])  # pasted squares


def test_ground_truth_mat_scores_perfect_predictions_as_ap_1(toy):
    val = load_wider(toy, "val")
    gt = load_wider_gt(toy / "WIDER_FACE" / "eval_tools" / "ground_truth")
    assert len(gt.keys) == 5
    heights = np.concatenate([im.boxes[:, 3] - im.boxes[:, 1] + 1 for im in val.images])
    for setting, min_h in SETTING_MIN_HEIGHT.items():
        assert gt.n_faces(setting) == int((heights >= min_h).sum())
    preds = {im.name: np.column_stack([im.boxes, np.linspace(1, 0.5, len(im.boxes))]) for im in val.images}
    result = evaluate_wider(preds, toy)
    assert result.ap["hard"] == pytest.approx(1.0)


def test_landmarks_are_the_scaled_template_and_say_so(toy):
    fp = load_facepoint(toy)
    for face in fp.faces:
        side = face.box[2] - face.box[0] + 1
        local = (face.points - face.box[:2] + 0.5) * 25 / side - 0.5
        mirrored = local.copy()
        mirrored[:, 0] = 24 - mirrored[:, 0]
        mirrored = mirrored[[1, 0, 2, 4, 3]]
        assert np.allclose(local, TEMPLATE_25, atol=0.02) or np.allclose(mirrored, TEMPLATE_25, atol=0.02)
    info = json.loads((toy / "toy_dataset.json").read_text())
    assert "approximate" in info["landmarks"] and "not accuracy" in info["purpose"]


def test_deterministic_and_resumable(toy, tmp_path):
    again = build_toy_dataset(tmp_path / "again", **SMALL)
    for rel in ("WIDER_FACE/wider_face_split/wider_face_train_bbx_gt.txt", "landmarks/trainImageList.txt"):
        assert (again / rel).read_text() == (toy / rel).read_text()
    stamp = (again / "toy_dataset.json").stat().st_mtime_ns
    build_toy_dataset(again, **SMALL)  # same settings: nothing rebuilt
    assert (again / "toy_dataset.json").stat().st_mtime_ns == stamp
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("not a toy set")
    with pytest.raises(FileExistsError):
        build_toy_dataset(other, **SMALL)


def test_no_labelled_face_is_covered_by_another(tmp_path):
    """The course's own toy set (default size): no face pasted later hides an earlier one, either way round.

    A covered face would stay in the labels as a phantom the nets are asked to find (version 1 had 7 of 215
    train and 2 of 79 val boxes more than half covered)."""
    root = build_toy_dataset(tmp_path / "data")
    worst = 0.0
    for split in ("train", "val"):
        for im in load_wider(root, split).images:
            b = im.boxes
            for i in range(len(b)):
                for j in range(len(b)):
                    if i == j:
                        continue
                    iw = min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0]) + 1
                    ih = min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1]) + 1
                    inter = max(iw, 0) * max(ih, 0)
                    worst = max(worst, inter / ((b[i, 2] - b[i, 0] + 1) * (b[i, 3] - b[i, 1] + 1)))
    assert worst < 0.1
