"""PNet and landmark crops: labels rechecked against hand-built images and annotations."""
import cv2
import numpy as np
import pytest

from mtcnn_gluon.utils.boxes import decode_offsets, iou, iou_matrix
from mtcnn_gluon.config import LandmarkAugConfig, SamplingConfig
from mtcnn_gluon.data.wider import WiderImage
from mtcnn_gluon.data.sampling import (generate_pnet_samples, invert_landmark_labels,
                                       landmark_samples_for_face, pnet_samples_for_image)
from mtcnn_gluon.utils.labels import MIRROR_ORDER


def _scene(seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    boxes = np.array([[40, 30, 99, 99], [180, 60, 229, 119], [10, 200, 19, 209], [250, 150, 289, 199]], float)
    usable = np.array([True, True, True, False])  # the last one is flagged invalid
    return img, boxes, usable


def test_pnet_labels_follow_iou_with_all_faces():
    img, boxes, usable = _scene()
    cfg = SamplingConfig()
    images, labels, meta = pnet_samples_for_image(img, boxes, usable, np.random.default_rng(3), cfg)
    assert images.shape[1:] == (12, 12, 3) and labels.shape == (len(images), 15)
    cls = labels[:, 0]
    assert set(np.unique(cls)) <= {1, 0, -1}
    assert np.sum(cls == 0) >= cfg.random_negatives  # 50 random + near-face negatives
    assert np.sum(cls == 1) > 0 and np.sum(cls == -1) > 0
    best = iou_matrix(meta["box"], boxes).max(1)
    assert np.all(best[cls == 0] < 0.3)
    assert np.all(best[cls == 1] >= 0.65)
    assert np.all((best[cls == -1] >= 0.4) & (best[cls == -1] < 0.65))
    matched = meta["face"][cls != 0]
    assert set(matched) <= {0, 1}  # not the 10 px face (too small) nor the invalid one
    # offsets decode back to the matched face
    dec = decode_offsets(meta["box"][cls != 0], labels[cls != 0, 1:5].astype(np.float64))
    np.testing.assert_allclose(dec, boxes[matched], atol=1e-3)
    np.testing.assert_array_equal(labels[cls == 0, 1:], 0)
    np.testing.assert_array_equal(labels[:, 5:], 0)
    # every crop is square, inside the image, and its pixels are the resized crop
    b = meta["box"].astype(int)
    assert np.all(b[:, 2] - b[:, 0] == b[:, 3] - b[:, 1])
    assert b[:, :2].min() >= 0 and np.all(b[:, 2] < 320) and np.all(b[:, 3] < 240)
    for k in range(0, len(b), 17):
        x1, y1, x2, y2 = b[k]
        expect = cv2.resize(img[y1:y2 + 1, x1:x2 + 1], (12, 12), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(images[k], expect)


def test_small_faces_get_their_extra_tries_after_the_usual_crops():
    img, boxes, usable = _scene()
    base = pnet_samples_for_image(img, boxes, usable, np.random.default_rng(3), SamplingConfig(small_face=65))
    more = pnet_samples_for_image(img, boxes, usable, np.random.default_rng(3),
                                  SamplingConfig(small_face=65, small_face_tries=30))
    n = len(base[0])
    np.testing.assert_array_equal(more[2]["box"][:n], base[2]["box"])  # the usual crops, drawn as before
    np.testing.assert_array_equal(more[1][:n], base[1])
    extra_face, extra_cls = more[2]["face"][n:], more[1][n:, 0]
    # only face 1 (larger side 60 < 65) is small; face 0 (70 px) is not, the 10 px and the invalid face never count
    assert 0 < len(extra_face) <= 30 and set(extra_face) == {1}
    assert set(np.unique(extra_cls)) <= {1, -1}
    best = iou_matrix(more[2]["box"][n:], boxes).max(1)
    assert np.all(best[extra_cls == 1] >= 0.65)
    assert np.all((best[extra_cls == -1] >= 0.4) & (best[extra_cls == -1] < 0.65))


def test_pnet_no_faces_and_tiny_images():
    img = np.zeros((24, 40, 3), np.uint8)
    images, labels, _ = pnet_samples_for_image(img, np.zeros((0, 4)), np.zeros(0, bool),
                                               np.random.default_rng(0))
    assert len(images) == 0  # min(w, h) / 2 = 12: no room for a 12 px negative
    img = np.zeros((100, 100, 3), np.uint8)
    images, labels, _ = pnet_samples_for_image(img, np.zeros((0, 4)), np.zeros(0, bool), np.random.default_rng(0))
    assert len(images) == 50 and np.all(labels[:, 0] == 0)


def test_generate_pnet_samples_workers_and_skips(tmp_path):
    items = []
    for i in range(5):
        img, boxes, usable = _scene(i)
        cv2.imwrite(str(tmp_path / f"{i}.png"), img)
        att = np.zeros((len(boxes), 6), np.int64)
        att[~usable, 3] = 1
        items.append(WiderImage(f"{i}.png", boxes, att))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    items.insert(2, WiderImage("bad.jpg", np.zeros((0, 4)), np.zeros((0, 6), np.int64)))
    a = generate_pnet_samples(items, tmp_path, seed=5, workers=1, progress=False)
    b = generate_pnet_samples(items, tmp_path, seed=5, workers=2, progress=False)
    c = generate_pnet_samples(items, tmp_path, seed=6, workers=1, progress=False)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.labels, c.labels) or len(a.labels) != len(c.labels)
    assert [s.reason for s in a.skipped] == ["unreadable"] and a.skipped[0].path.endswith("bad.jpg")
    assert 2 not in set(a.meta["source"])


def _face():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)
    box = np.array([24, 26, 56, 58], float)
    points = np.array([[32.3, 36.8], [47.2, 36.1], [40.4, 46.0], [34.0, 50.8], [45.0, 52.1]])
    return img, box, points


def test_landmark_labels_invert_to_source_points():
    img, box, points = _face()
    cfg = LandmarkAugConfig(shift_tries=40, mirror_prob=0.5, rotate_prob=0.7)
    out = landmark_samples_for_face(img, box, points, np.random.default_rng(0), cfg, sizes=(12, 48))
    imgs, labels, meta = out[48]
    assert np.all(labels[:, 0] == -2) and np.all(labels[:, 1:5] == 0)
    assert meta["mirror"].any() and (meta["angle"] != 0).any() and (meta["mirror"] & (meta["angle"] != 0)).any()
    assert np.all(np.abs(meta["angle"]) <= 15)
    np.testing.assert_array_equal(out[12][1], labels)  # same crops at every size
    for k in range(len(labels)):
        p = invert_landmark_labels(labels[k, 5:], meta["box"][k], meta["angle"][k], meta["mirror"][k])
        side = meta["box"][k][2] - meta["box"][k][0] + 1
        assert np.abs(p - points).max() * 48 / side < 0.5, k
        assert meta["angle"][k] != 0 or iou(meta["box"][k], box[None])[0] >= 0.65 or k == 0


def test_landmark_mirror_swaps_points_and_flips_pixels():
    img, box, points = _face()
    cfg = LandmarkAugConfig(shift_tries=30, mirror_prob=1.0, rotate_prob=0.0)
    imgs, labels, meta = landmark_samples_for_face(img, box, points, np.random.default_rng(2), cfg, sizes=(48,))[48]
    plain = np.flatnonzero(~meta["mirror"])[1:]  # skip the annotated box itself
    for k in plain:
        m = k + 1
        assert meta["mirror"][m] and np.array_equal(meta["box"][m], meta["box"][k])
        np.testing.assert_array_equal(imgs[m], imgs[k][:, ::-1])
        w = meta["box"][k][2] - meta["box"][k][0] + 1
        a = labels[k, 5:].reshape(5, 2)
        b = labels[m, 5:].reshape(5, 2)
        np.testing.assert_allclose(b[:, 1], a[MIRROR_ORDER, 1], atol=1e-6)
        np.testing.assert_allclose(b[:, 0], (w - 1) / w - a[MIRROR_ORDER, 0], atol=1e-6)
        assert b[0, 0] < b[1, 0]  # after the swap the "left eye" is still on the left


def test_landmark_rotation_moves_pixels_with_points():
    # A white dot at the left eye must stay under the rotated left-eye label.
    img = np.zeros((80, 80, 3), np.uint8)
    box = np.array([20, 20, 59, 59], float)
    points = np.array([[30, 32], [50, 32], [40, 42], [32, 52], [48, 52]], float)
    cv2.circle(img, (30, 32), 2, (255, 255, 255), -1)
    cfg = LandmarkAugConfig(shift_tries=30, rotate_prob=1.0, rotate_mirror_prob=0.0, mirror_prob=0.0,
                            include_original=False)
    imgs, labels, meta = landmark_samples_for_face(img, box, points, np.random.default_rng(4), cfg, sizes=(48,))[48]
    rot = np.flatnonzero(meta["angle"] != 0)
    assert len(rot)
    for k in rot:
        g = imgs[k][..., 0].astype(float)
        ys, xs = np.nonzero(g > 100)
        centre = np.array([xs.mean(), ys.mean()])
        expect = labels[k, 5:7] * 48
        assert np.abs(centre - expect).max() < 1.0, (k, centre, expect)


def test_exclude_indices(tmp_path):
    from mtcnn_gluon.data.facepoint import FacePoint
    from mtcnn_gluon.data.sampling import generate_landmark_samples
    img, box, points = _face()
    cv2.imwrite(str(tmp_path / "f.png"), img)
    faces = [FacePoint("f.png", box, points) for _ in range(4)]
    out = generate_landmark_samples(faces, tmp_path, sizes=(24,), seed=0, exclude={1, 3}, workers=1,
                                    progress=False)[24]
    assert set(out.meta["source"]) == {0, 2}
    with pytest.raises(IndexError):
        generate_landmark_samples(faces, tmp_path, sizes=(24,), exclude=[9], workers=1, progress=False)
