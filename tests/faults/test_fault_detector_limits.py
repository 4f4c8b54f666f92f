"""Detector limits: tiny images, min_face beyond the image, an all-black image, a crowd of 500 faces.

With MTCNN_DATA_ROOT holding reference_mtcnn/ the original weights are used and the outcomes are exact
(no face in black, 500 of 500 in the crowd); without, randomly initialised nets check the same
bounds (shapes, the max_candidates cap).
"""
import time

import cv2
import numpy as np
import pytest

from mtcnn_gluon.detector import MTCNNDetector, pyramid_scales


@pytest.fixture(scope="module")
def detector(any_weights):
    weights, reference = any_weights
    det = MTCNNDetector.from_weights(weights)
    if not reference:
        det.config.thresholds = (0.0, 0.0, 0.0)  # random nets: let every stage pass windows on
        det.config.max_candidates = 100  # ... but not thousands (the guard, tested below)
    return det, reference


def _assert_empty(boxes, pts):
    assert boxes.shape == (0, 5) and boxes.dtype == np.float32
    assert pts.shape == (0, 5, 2) and pts.dtype == np.float32


@pytest.mark.parametrize("shape", [(11, 11), (11, 400), (400, 11), (1, 1), (5, 7, 3)])
def test_images_under_12_px_give_no_face_and_no_error(detector, shape):
    det, _ = detector
    img = np.full(shape, 128, np.uint8)
    _assert_empty(*det.detect(img))
    assert det.run_pnet(img).shape == (0, 5)


def test_min_face_larger_than_the_image_gives_no_face(detector):
    det, _ = detector
    img = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    assert pyramid_scales(200, 300, min_face=400) == []
    old = det.config.min_face
    det.config.min_face = 400
    try:
        _assert_empty(*det.detect(img))
    finally:
        det.config.min_face = old


def test_all_black_image(detector):
    det, reference = detector
    boxes, pts = det.detect(np.zeros((240, 320, 3), np.uint8))
    assert pts.shape == (len(boxes), 5, 2) and np.isfinite(boxes).all()
    if reference:
        assert len(boxes) == 0


def _crowd():
    """500 copies of the astronaut's face, 40 px each, in a 20 x 25 grid (800 x 1000 px)."""
    import skimage.data

    img = skimage.data.astronaut()[:, :, ::-1]
    face = cv2.resize(np.ascontiguousarray(img[45:185, 151:291]), (40, 40), interpolation=cv2.INTER_AREA)
    grid = np.tile(face, (20, 25, 1))
    return grid


def test_500_faces_bounded_by_max_candidates(detector):
    det, reference = detector
    grid = _crowd()
    sizes = []
    guarded = det.with_config(min_face=30, max_candidates=300)  # at most 300 windows go on to RNet and ONet
    forward = guarded.forward

    def counting(stage, batch):
        sizes.append(len(batch))
        return forward(stage, batch)

    guarded.forward = counting
    t0 = time.perf_counter()
    windows = guarded.run_pnet(grid)
    boxes, pts = guarded.detect(grid)
    seconds = time.perf_counter() - t0
    assert len(windows) == 300
    assert sizes and max(sizes) <= 300
    assert len(boxes) <= 300 and pts.shape == (len(boxes), 5, 2)
    assert seconds < 90
    assert det.config.max_candidates == 20000 and det.config.min_face == 20  # the original is untouched
    if reference:
        # the default guard (20000) is far above what 500 faces need: every face is found
        boxes, _ = det.with_config(min_face=30).detect(grid)
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        cell = (cy // 40).astype(int) * 25 + (cx // 40).astype(int)
        assert len(boxes) == 500
        assert np.array_equal(np.sort(cell), np.arange(500))  # one face in every cell

