"""Parsers: WIDER FACE lists (every quirk) and the CNN_FacePoint list; small files written here + the real files."""
import numpy as np
import pytest

from mtcnn_gluon.data.facepoint import load_facepoint, parse_facepoint_list

from mtcnn_gluon.data.wider import AnnotationFormatError, load_wider, parse_wider_annotations
from mtcnn_gluon.utils.images import try_read_image

QUIRKS = """\
0--Parade/a.jpg
2
10 20 30 40 0 0 0 0 0 0 
100 50 5 0 2 1 1 0 2 1 
0--Parade/empty_train_style.jpg
0
0 0 0 0 0 0 0 0 0 0 
0--Parade/empty_val_style.jpg
1
0 0 0 0 0 0 0 0 0 0 
0--Parade/invalid.jpg
1
7 8 9 10 1 0 0 1 0 0
0--Parade/last_zero_no_placeholder.jpg
0
"""


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_wider_quirks(tmp_path):
    items = parse_wider_annotations(_write(tmp_path, "wider_face_train_bbx_gt.txt", QUIRKS))
    assert [im.name for im in items] == ["0--Parade/a.jpg", "0--Parade/empty_train_style.jpg",
                                         "0--Parade/empty_val_style.jpg", "0--Parade/invalid.jpg",
                                         "0--Parade/last_zero_no_placeholder.jpg"]
    a = items[0]
    # x y w h -> inclusive x2 = x + w - 1; h = 0 gives y2 = y1 - 1 (zero height)
    np.testing.assert_array_equal(a.boxes, [[10, 20, 39, 59], [100, 50, 104, 49]])
    np.testing.assert_array_equal(a.attributes, [[0, 0, 0, 0, 0, 0], [2, 1, 1, 0, 2, 1]])
    np.testing.assert_array_equal(a.degenerate, [False, True])
    np.testing.assert_array_equal(a.usable, [True, False])
    assert a.line == 1
    for im in items[1:3] + items[4:]:  # "0" + zero line, "1" + all-zero box, trailing "0": no faces
        assert im.boxes.shape == (0, 4) and im.attributes.shape == (0, 6)
    inv = items[3]
    np.testing.assert_array_equal(inv.invalid, [True])
    np.testing.assert_array_equal(inv.usable, [False])
    assert inv.line == 11


@pytest.mark.parametrize("text, where", [
    ("a.jpg\n1\n1 2 3 4 0 0 0 0 0\n", "wider_face_train_bbx_gt.txt:3: expected 10 numbers"),
    ("a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n", "wider_face_train_bbx_gt.txt:4: expected 10 numbers"),
    ("a.jpg\nx\n", "wider_face_train_bbx_gt.txt:2: expected a face count"),
    ("a.jpg\n1\n1 2 3 4 0 0 0 0 0 zz\n", "wider_face_train_bbx_gt.txt:3: expected 10 numbers"),
])
def test_wider_malformed_names_file_and_line(tmp_path, text, where):
    with pytest.raises(AnnotationFormatError, match=where):
        parse_wider_annotations(_write(tmp_path, "wider_face_train_bbx_gt.txt", text))


def test_wider_missing_images_counted(tmp_path):
    root = tmp_path / "WIDER_FACE"
    (root / "wider_face_split").mkdir(parents=True)
    (root / "wider_face_split" / "wider_face_train_bbx_gt.txt").write_text(QUIRKS)
    (root / "WIDER_train" / "images" / "0--Parade").mkdir(parents=True)
    (root / "WIDER_train" / "images" / "0--Parade" / "a.jpg").write_bytes(b"")
    ws = load_wider(tmp_path, "train")
    assert [im.name for im in ws.images] == ["0--Parade/a.jpg"]
    assert len(ws.missing) == 4 and ws.stats()["images_missing"] == 4


def test_facepoint_list(tmp_path):
    p = _write(tmp_path, "trainImageList.txt",
               "lfw_5590\\A_0001.jpg 27 52 30 54 34.32 34.80 47.28 36.24 40.40 46.00 34.00 50.80 45.04 52.08\n\n")
    (face,) = parse_facepoint_list(p)
    assert face.name == "lfw_5590/A_0001.jpg"
    np.testing.assert_array_equal(face.box, [27, 30, 52, 54])  # left right top bottom -> x1 y1 x2 y2
    np.testing.assert_allclose(face.points[0], [34.32, 34.80])
    np.testing.assert_allclose(face.points[4], [45.04, 52.08])
    bad = _write(tmp_path, "bad.txt", p.read_text() + "x.jpg 1 2 3\n")
    with pytest.raises(AnnotationFormatError, match=r"bad.txt:3: expected a path and 14 numbers"):
        parse_facepoint_list(bad)


def test_image_reading_converts_and_skips(tmp_path):
    import cv2
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    bgra = np.dstack([grey, grey, grey, np.full_like(grey, 7)])
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    img, skip = try_read_image(tmp_path / "g.png")
    assert skip is None and img.shape == (8, 8, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img[..., 2], grey)
    img, skip = try_read_image(tmp_path / "a.png")
    assert skip is None and img.shape == (8, 8, 3)
    img, skip = try_read_image(tmp_path / "broken.jpg")
    assert img is None and skip.reason == "unreadable" and "broken.jpg" in skip.detail
    img, skip = try_read_image(tmp_path / "nope.jpg")
    assert img is None and skip.reason == "missing"


def test_real_wider_lists(data_root):
    train = load_wider(data_root, "train")
    st = train.stats()
    print("WIDER train:", st)
    assert st["images_listed"] == 12880 and st["images_present"] == 970 and st["faces"] == 5972
    val = load_wider(data_root, "val")
    sv = val.stats()
    print("WIDER val:", sv)
    assert sv["images_listed"] == 3226 and sv["images_present"] == 394
    assert sv["faces"] + 1 == 5289  # one present val image is "1" + an all-zero box: no face
    full = parse_wider_annotations(train.list_file)
    n_empty = sum(len(im.boxes) == 0 for im in full)
    n_degenerate = sum(int(im.degenerate.sum()) for im in full)
    print(f"full train list: {len(full)} images, {n_empty} without faces, {n_degenerate} boxes with w or h = 0")
    assert n_empty > 0 and n_degenerate > 0
    sub = load_wider(data_root, "train", list_file=train.list_file.with_name("wider_face_train_bbx_gt.subset.txt"))
    assert [im.name for im in sub.images] == [im.name for im in train.images]


def test_real_facepoint_list(data_root):
    fp = load_facepoint(data_root)
    assert len(fp.faces) == 10000 and not fp.missing
    w = fp.boxes[:, 2] - fp.boxes[:, 0] + 1
    print(f"CNN_FacePoint: {len(fp.faces)} faces, width {w.min():.0f}-{w.max():.0f} px (median {np.median(w):.0f})")
    assert fp.points.shape == (10000, 5, 2)
    # the left eye is left of the right eye (image coordinates) in nearly every face
    assert np.mean(fp.points[:, 0, 0] < fp.points[:, 1, 0]) > 0.99
    for face in fp.faces[:400]:
        img, skip = try_read_image(fp.path(face))
        assert skip is None and img.shape == (80, 80, 3)
