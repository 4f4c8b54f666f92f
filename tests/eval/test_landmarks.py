"""mtcnn_gluon.eval.landmarks: NME by hand, the fixed held-out split, evaluation on the real held-out faces."""
import numpy as np
import pytest

from mtcnn_gluon.data import facepoint as fp
from mtcnn_gluon.eval import landmarks as lm


# --------------------------------------------------------------------------------------------
# Landmarks
# --------------------------------------------------------------------------------------------
def test_landmark_nme_hand_values():
    truth = np.array([[[0, 0], [10, 0], [5, 5], [2, 10], [8, 10]],
                      [[0, 0], [0, 20], [5, 5], [2, 10], [8, 10]]], dtype=float)  # IOD 10 and 20
    pred = truth.copy()
    pred[0, 2] += [6, 8]  # 10 px / 10 = 1 on the nose of face 0: face mean .2, a failure
    pred[1, 0] += [0, 2]  # 2 px / 20 = .1 on the left eye of face 1: face mean .02
    r = lm.landmark_nme(pred, truth)
    np.testing.assert_allclose(r.errors, [[0, 0, 1.0, 0, 0], [0.1, 0, 0, 0, 0]])
    np.testing.assert_allclose(r.nme_per_point, [0.05, 0, 0.5, 0, 0])
    assert r.nme == pytest.approx(0.11)
    assert r.failure_rate == 0.5
    assert r.n == 2


def test_landmark_failure_threshold_is_strict():
    truth = np.array([[[0, 0], [10, 0], [5, 5], [2, 10], [8, 10]]], dtype=float)
    pred = truth + [1.25, 0.0]  # every point off by 1.25 / 10: mean error exactly .125
    assert lm.landmark_nme(pred, truth, fail_thresh=0.125).failure_rate == 0.0
    assert lm.landmark_nme(pred + [0.01, 0], truth, fail_thresh=0.125).failure_rate == 1.0
    with pytest.raises(ValueError, match="inter-ocular"):
        lm.landmark_nme(truth, np.zeros((1, 5, 2)))
    with pytest.raises(ValueError, match=r"\(N, 5, 2\)"):
        lm.landmark_nme(truth[:, :4], truth[:, :4])


def test_landmark_split_fixed_and_disjoint():
    tr, ho = fp.landmark_split(10000)
    assert len(ho) == 1000 and len(tr) == 9000
    assert np.array_equal(np.union1d(tr, ho), np.arange(10000)) and not np.intersect1d(tr, ho).size
    tr2, ho2 = fp.landmark_split(10000, holdout=0.1, seed=0)
    assert np.array_equal(ho, ho2) and np.array_equal(tr, tr2)
    assert not np.array_equal(ho, fp.landmark_split(10000, seed=1)[1])
    assert len(fp.landmark_split(50, holdout=7)[1]) == 7
    with pytest.raises(ValueError):
        fp.landmark_split(10, holdout=1.5)




def test_evaluate_landmarks_on_held_out_faces(data_root):
    from mtcnn_gluon.data.facepoint import parse_facepoint_list

    faces = parse_facepoint_list(data_root / "landmarks" / "trainImageList.txt")
    assert len(faces) == 10000
    train, held = fp.landmark_split(len(faces))
    boxes = np.stack([f.box for f in faces])
    points = np.stack([f.points for f in faces])
    # a baseline predictor: the mean shape of the training faces, relative to the box
    wh = (boxes[:, 2:] - boxes[:, :2])[:, None, :]
    mean_rel = ((points - boxes[:, None, :2]) / wh)[train].mean(axis=0)

    seen = []

    def predict(images, b):
        assert all(im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3 for im in images)
        seen.append(len(images))
        return b[:, None, :2] + mean_rel[None] * (b[:, 2:] - b[:, :2])[:, None, :]

    r = lm.evaluate_landmarks(predict, data_root, batch_size=400, progress=False)
    print("mean-shape baseline on held-out faces: " + r.summary())
    assert r.n == 1000 and seen == [400, 400, 200] and np.array_equal(r.indices, held)
    # same numbers as computing it directly
    direct = lm.landmark_nme(predict([np.zeros((1, 1, 3), np.uint8)] * len(held), boxes[held]), points[held])
    assert r.nme == pytest.approx(direct.nme) and r.failure_rate == pytest.approx(direct.failure_rate)
    assert 0.03 < r.nme < 0.3
