"""Messy image files through read_image, PNet sample generation and the detector.

Outcome per case (also in docs/reliability.md):

=====================  ==========================================================================
zero-byte, truncated   ``ImageReadError`` naming the file; sampling counts it as skipped 'unreadable';
JPEG, text as .jpg     ``detect_files`` lists it under ``skipped`` with the same message
PNG with alpha         read as BGR (alpha dropped)
16-bit PNG             read as 8 bit (high byte)
greyscale              replicated to 3 channels
1 × 1                  read; gives no sample (counted in ``wider_images_without_samples``); no face
8000 × 6000            read; sampled; detected with a large ``min_face`` in bounded time
EXIF-rotated JPEG      stored pixels, orientation ignored on purpose (WIDER boxes refer to them)
spaces + non-ASCII     read, sampled and detected like any other path
=====================  ==========================================================================
"""
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from mtcnn_gluon.data.wider import parse_wider_annotations
from mtcnn_gluon.detector import MTCNNDetector, detect_files
from mtcnn_gluon.utils.images import ImageReadError, read_image
from mtcnn_gluon.config import SamplingConfig
from mtcnn_gluon.data.sampling import generate_pnet_samples

from .conftest import noise_image, wider_list, write_image

UNREADABLE = {
    "empty.jpg": r"empty\.jpg: empty file \(0 bytes\)",
    "truncated.jpg": r"truncated\.jpg: truncated JPEG \(no end-of-image marker",
    "text.jpg": r"text\.jpg: not a decodable image \(\d+ bytes\)",
}
ODD_NAME = "dir with space/élève 顔 1.jpg"


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """One file per case, all under one folder (as a WIDER images folder)."""
    d = tmp_path_factory.mktemp("images")
    (d / "empty.jpg").write_bytes(b"")
    full = write_image(d / "full.jpg", noise_image(120, 160, 1)).read_bytes()
    (d / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (d / "text.jpg").write_text("this is not an image\n")
    bgra = np.dstack([noise_image(100, 100, 2), np.full((100, 100), 7, np.uint8)])
    write_image(d / "alpha.png", bgra)
    write_image(d / "deep.png", (np.arange(100 * 100 * 3, dtype=np.uint16).reshape(100, 100, 3) * 7))
    write_image(d / "grey.png", noise_image(100, 100, 3)[:, :, 0])
    write_image(d / "tiny.png", np.full((1, 1, 3), 200, np.uint8))
    big = np.zeros((6000, 8000, 3), np.uint8)
    big[::97] = 255  # cheap to encode, not constant
    write_image(d / "huge.jpg", big, params=(cv2.IMWRITE_JPEG_QUALITY, 50))
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    Image.fromarray(noise_image(60, 100, 4)[:, :, ::-1]).save(d / "exif.jpg", exif=exif.tobytes())
    write_image(d / ODD_NAME, noise_image(120, 160, 5))
    return d


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_unreadable_files_raise_naming_the_file(image_dir, name):
    with pytest.raises(ImageReadError, match=UNREADABLE[name]):
        read_image(image_dir / name)


def test_missing_file_raises_file_not_found(image_dir):
    with pytest.raises(FileNotFoundError, match=r"nope\.jpg: no such image file"):
        read_image(image_dir / "nope.jpg")


def test_odd_formats_become_uint8_bgr(image_dir):
    alpha = read_image(image_dir / "alpha.png")
    assert alpha.shape == (100, 100, 3) and alpha.dtype == np.uint8
    np.testing.assert_array_equal(alpha, noise_image(100, 100, 2))  # alpha dropped, colour kept
    deep = read_image(image_dir / "deep.png")
    np.testing.assert_array_equal(
        deep, ((np.arange(100 * 100 * 3, dtype=np.uint16).reshape(100, 100, 3) * 7) >> 8).astype(np.uint8))
    grey = read_image(image_dir / "grey.png")
    assert grey.shape == (100, 100, 3)
    np.testing.assert_array_equal(grey[:, :, 0], grey[:, :, 2])
    assert read_image(image_dir / "tiny.png").shape == (1, 1, 3)
    assert read_image(image_dir / "huge.jpg").shape == (6000, 8000, 3)
    assert read_image(image_dir / ODD_NAME).shape == (120, 160, 3)


def test_exif_orientation_is_ignored_on_purpose(image_dir):
    """WIDER FACE boxes refer to the stored pixels, so read_image does not rotate; cv2.imread would."""
    img = read_image(image_dir / "exif.jpg")
    assert img.shape == (60, 100, 3)  # as stored
    assert cv2.imread(str(image_dir / "exif.jpg")).shape == (100, 60, 3)  # what honouring EXIF would give


def test_pnet_sampling_counts_every_bad_file_and_uses_the_rest(image_dir, tmp_path):
    names = ["empty.jpg", "truncated.jpg", "text.jpg", "missing.jpg", "alpha.png", "deep.png", "grey.png",
             "tiny.png", "huge.jpg", "exif.jpg", ODD_NAME]
    faces = {"huge.jpg": [(3000, 2000, 900, 900)], ODD_NAME: [(40, 30, 40, 40)], "alpha.png": [(30, 30, 40, 40)],
             "tiny.png": [(0, 0, 1, 1)]}
    lst = tmp_path / "list.txt"
    lst.write_text(wider_list([(n, faces.get(n, [(20, 20, 30, 30)])) for n in names]), encoding="utf-8")
    images = parse_wider_annotations(lst)
    cfg = SamplingConfig(random_negative_tries=60, random_negatives=5)
    t0 = time.perf_counter()
    ss = generate_pnet_samples(images, image_dir, cfg, seed=0, workers=1, progress=False)
    assert time.perf_counter() - t0 < 60
    skipped = {Path(s.path).name: (s.reason, s.detail) for s in ss.skipped}
    assert {k: v[0] for k, v in skipped.items()} == {
        "empty.jpg": "unreadable", "truncated.jpg": "unreadable", "text.jpg": "unreadable", "missing.jpg": "missing"}
    assert "truncated JPEG" in skipped["truncated.jpg"][1]
    used = set(np.unique(ss.meta["source"]).tolist())
    by_name = {n: i for i, n in enumerate(names)}
    for n in ("alpha.png", "deep.png", "grey.png", "huge.jpg", "exif.jpg", ODD_NAME):
        assert by_name[n] in used, n
    assert by_name["tiny.png"] not in used  # 1 × 1: no crop fits; counted by data.build as without samples
    assert ss.images.shape[1:] == (12, 12, 3)
    # the positives of the huge image are crops of its 900 px face, resized to 12 px
    huge = ss.meta["source"] == by_name["huge.jpg"]
    assert (ss.labels[huge, 0] == 1).sum() > 0


def test_detector_reads_and_runs_every_readable_file(image_dir, random_cascade):
    det = MTCNNDetector.from_weights(random_cascade, min_face=40, thresholds=(0.0, 0.0, 0.0),
                                     max_candidates=200)
    names = ["empty.jpg", "truncated.jpg", "text.jpg", "alpha.png", "deep.png", "grey.png", "tiny.png",
             "exif.jpg", ODD_NAME]
    res = detect_files(det, names, root=image_dir, progress=False)
    assert sorted(res["skipped"]) == ["empty.jpg", "text.jpg", "truncated.jpg"]
    for name, pattern in UNREADABLE.items():
        assert re.search(pattern, res["skipped"][name]), res["skipped"][name]
    assert res["images"]["tiny.png"] == {"boxes": [], "landmarks": []}  # under 12 px: nothing, no error
    for name in ("alpha.png", "deep.png", "grey.png", "exif.jpg", ODD_NAME):
        boxes = np.asarray(res["images"][name]["boxes"]).reshape(-1, 5)
        assert len(boxes) > 0, name  # thresholds 0: every stage passes windows on
        pts = np.asarray(res["images"][name]["landmarks"])
        assert pts.shape == (len(boxes), 5, 2)


def test_detector_on_8000x6000_with_large_min_face_is_bounded(image_dir, random_cascade):
    det = MTCNNDetector.from_weights(random_cascade, min_face=2000, thresholds=(0.0, 0.0, 0.0),
                                     max_candidates=20)
    img = read_image(image_dir / "huge.jpg")
    t0 = time.perf_counter()
    windows = det.run_pnet(img)
    boxes, pts = det.detect(img)
    assert time.perf_counter() - t0 < 60
    assert 0 < len(windows) <= 20  # the guard caps what PNet hands on
    assert boxes.shape[1] == 5 and pts.shape == (len(boxes), 5, 2)
    assert len(boxes) <= 20
