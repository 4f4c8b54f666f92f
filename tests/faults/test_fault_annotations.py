"""Messy annotation lists: each case is either an error naming file and line, or kept and counted.

WIDER FACE (``parse_wider_annotations``):

- CRLF line ends, trailing spaces: parsed as if clean.
- count larger than the lines that follow: error at the first line that is not 10 numbers.
- count smaller: error at the left-over line, which is read as the next file name's count.
- non-numeric / non-finite field: error quoting the line.
- negative coordinates, box beyond the image: kept (they still keep negatives off that face); faces at
  negative coordinates are never positives (as the original gen_12net_data) and are counted in the
  run summary as ``wider_faces.negative_coordinates``.
- w or h = 0: kept so that indices match the official list, flagged ``degenerate``, never positives,
  counted as ``wider_faces.degenerate_w_or_h_0``.
- image listed twice: error (the second entry would be sampled without the first entry's faces, so
  those faces could become negatives).
- empty file: no images; the PNet step then stops with "PNet record: no pos or part or neg crops from 0 WIDER
  images ...".

CNN_FacePoint (``parse_facepoint_list``): CRLF / trailing spaces parsed; wrong field count, non-numeric
or non-finite numbers, w or h = 0 and inverted boxes are errors; negative coordinates and boxes beyond
the image are kept (crops are zero-padded); an image listed twice gives two faces; empty file: no faces.
"""
import json

import numpy as np
import pytest

from mtcnn_gluon.data.build import build_pnet_records
from mtcnn_gluon.data.facepoint import parse_facepoint_list
from mtcnn_gluon.data.wider import AnnotationFormatError, parse_wider_annotations
from mtcnn_gluon.utils.checks import UserError

from .conftest import make_dataset, wider_list

Z6 = "0 0 0 0 0 0"


def _list_file(tmp_path, name, text):
    """An annotation list written byte for byte (CRLF and trailing spaces kept)."""
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return p


def _wider(tmp_path, text):
    return _list_file(tmp_path, "wider_face_train_bbx_gt.txt", text)


def test_wider_crlf_and_trailing_spaces_parse_as_clean(tmp_path):
    clean = parse_wider_annotations(_wider(tmp_path, f"a.jpg\n1\n10 10 20 20 {Z6}\nb.jpg\n0\n0 0 0 0 {Z6}\n"))
    messy = parse_wider_annotations(_wider(tmp_path, f"a.jpg  \r\n1 \r\n10 10 20 20 {Z6}   \r\nb.jpg\t\r\n0\r\n"
                                                     f"0 0 0 0 {Z6}\r\n\r\n"))
    assert [(i.name, i.line) for i in messy] == [(i.name, i.line) for i in clean] == [("a.jpg", 1), ("b.jpg", 4)]
    np.testing.assert_array_equal(messy[0].boxes, [[10, 10, 29, 29]])
    assert len(messy[1].boxes) == 0


@pytest.mark.parametrize("text, message", [
    # count says 2, one face line follows: the next name is read as a face line
    (f"a.jpg\n2\n10 10 20 20 {Z6}\nb.jpg\n1\n1 1 5 5 {Z6}\n",
     r"^wider_face_train_bbx_gt\.txt:4: expected 10 numbers, got 1: 'b\.jpg'$"),
    # count says 1, two face lines follow: the second is read as the next name, its count is missing
    (f"a.jpg\n1\n10 10 20 20 {Z6}\n30 30 20 20 {Z6}\nb.jpg\n1\n1 1 5 5 {Z6}\n",
     r"^wider_face_train_bbx_gt\.txt:5: expected a face count \(one integer\), got 'b\.jpg'$"),
    # count runs past the end of the file
    (f"a.jpg\n3\n10 10 20 20 {Z6}\n", r"^wider_face_train_bbx_gt\.txt:4: expected 10 numbers, got end of file$"),
    (f"a.jpg\n1\n10 x 20 20 {Z6}\n", r"^wider_face_train_bbx_gt\.txt:3: expected 10 numbers, got '10 x 20 20"),
    (f"a.jpg\none\n", r"^wider_face_train_bbx_gt\.txt:2: expected a face count \(one integer\), got 'one'$"),
    (f"a.jpg\n1\n10 nan 20 20 {Z6}\n", r"^wider_face_train_bbx_gt\.txt:3: expected 10 finite numbers"),
    (f"a.jpg\n1\n10 10 20 20 0 0\n", r"^wider_face_train_bbx_gt\.txt:3: expected 10 numbers, got 6"),
    (f"a.jpg\n1\n10 10 20 20 {Z6}\nb.jpg\n0\n0 0 0 0 {Z6}\na.jpg\n1\n50 50 20 20 {Z6}\n",
     r"^wider_face_train_bbx_gt\.txt:7: image 'a\.jpg' is listed again \(first at line 1\)"),
], ids=["count-too-big", "count-too-small", "count-past-eof", "non-numeric", "non-numeric-count", "nan",
        "short-line", "listed-twice"])
def test_wider_errors_name_file_and_line(tmp_path, text, message):
    with pytest.raises(AnnotationFormatError, match=message):
        parse_wider_annotations(_wider(tmp_path, text))


def test_wider_empty_file_gives_no_images_and_the_pnet_step_says_so(tmp_path):
    assert parse_wider_annotations(_wider(tmp_path, "")) == []
    root = make_dataset(tmp_path / "data", n_wider=2, n_landmark=2)
    (root / "WIDER_FACE" / "wider_face_split" / "wider_face_train_bbx_gt.txt").write_text("")
    with pytest.raises(UserError, match=r"^PNet record: no pos or part or neg crops from 0 WIDER images and 2 "):
        build_pnet_records(root, tmp_path / "out", workers=1, progress=False, verbose=False)
    assert not (tmp_path / "out" / "pnet").exists() or not any((tmp_path / "out" / "pnet").iterdir())


def test_wider_odd_boxes_are_kept_flagged_and_counted_in_the_run_summary(tmp_path):
    """Negative coordinates, a box beyond the image, w = 0, h = 0: kept, never positives, counted."""
    root = make_dataset(tmp_path / "data", n_wider=4, n_landmark=4)
    lst = root / "WIDER_FACE" / "wider_face_split" / "wider_face_train_bbx_gt.txt"
    images = parse_wider_annotations(lst)
    odd = [(-5, -3, 40, 40),  # negative coordinates
           (140, 90, 60, 60),  # beyond the 160 x 120 image
           (30, 30, 0, 25),  # w = 0
           (60, 30, 25, 0)]  # h = 0
    entries = [(im.name, [(int(b[0]), int(b[1]), int(b[2] - b[0] + 1), int(b[3] - b[1] + 1)) for b in im.boxes])
               for im in images]
    entries[0] = (entries[0][0], entries[0][1] + odd)
    lst.write_text(wider_list(entries))
    first = parse_wider_annotations(lst)[0]
    np.testing.assert_array_equal(first.degenerate, [False, False, False, False, True, True])
    np.testing.assert_array_equal(first.boxes[2:4], [[-5, -3, 34, 36], [140, 90, 199, 149]])
    summary = build_pnet_records(root, tmp_path / "out", seed=0, workers=1, progress=False, verbose=False)
    assert summary["wider_faces"] == {"faces": 12, "degenerate_w_or_h_0": 2, "invalid_flag": 0,
                                      "negative_coordinates": 1, "smaller_than_min_face": 0}
    assert summary["skipped"]["count"] == 0
    assert summary["wider_images_without_samples"] == 0
    from mtcnn_gluon.data.records import read_meta, read_records

    _, labels = read_records(tmp_path / "out" / "pnet" / "train")
    meta = read_meta(tmp_path / "out" / "pnet" / "train")
    from_first = (meta["source"] == 0) & (labels[:, 0] != 0)
    assert not np.isin(meta["face"][from_first], [2, 4, 5]).any()  # no pos/part from those faces
    on_disk = json.loads((tmp_path / "out" / "pnet" / "train.json").read_text())
    assert on_disk["wider_faces"] == summary["wider_faces"]


FP = "lfw_5590\\a.jpg 10 50 10 50 20 20 40 20 30 30 22 40 38 40"


def _fp(tmp_path, text):
    return _list_file(tmp_path, "trainImageList.txt", text)


def test_facepoint_crlf_trailing_spaces_and_duplicates(tmp_path):
    faces = parse_facepoint_list(_fp(tmp_path, f"{FP}   \r\n\r\n{FP}\r\n"))
    assert [(f.name, f.line) for f in faces] == [("lfw_5590/a.jpg", 1), ("lfw_5590/a.jpg", 3)]
    np.testing.assert_array_equal(faces[0].box, [10, 10, 50, 50])  # left right top bottom -> x1 y1 x2 y2
    assert faces[0].points.shape == (5, 2)


def test_facepoint_negative_and_out_of_image_boxes_are_kept(tmp_path):
    faces = parse_facepoint_list(_fp(tmp_path, "a.jpg -10 50 -5 50 20 20 40 20 30 30 22 40 38 40\n"
                                               "b.jpg 30 900 30 700 40 40 60 40 50 50 42 60 58 60\n"))
    np.testing.assert_array_equal(faces[0].box, [-10, -5, 50, 50])
    np.testing.assert_array_equal(faces[1].box, [30, 30, 900, 700])


@pytest.mark.parametrize("line, message", [
    ("a.jpg 10 50 10", r"^trainImageList\.txt:1: expected a path and 14 numbers, got 4 fields$"),
    ("a.jpg 10 x 10 50 20 20 40 20 30 30 22 40 38 40",
     r"^trainImageList\.txt:1: expected 14 numbers after the path, got '10 x 10 50"),
    ("a.jpg inf 50 10 50 20 20 40 20 30 30 22 40 38 40", r"^trainImageList\.txt:1: expected 14 finite numbers"),
    ("a.jpg 10 10 10 50 20 20 40 20 30 30 22 40 38 40",
     r"^trainImageList\.txt:1: expected left < right and top < bottom, got left 10 right 10 top 10 bottom 50$"),
    ("a.jpg 10 50 10 10 20 20 40 20 30 30 22 40 38 40", r"^trainImageList\.txt:1: expected left < right"),
    ("a.jpg 50 10 10 50 20 20 40 20 30 30 22 40 38 40", r"^trainImageList\.txt:1: expected left < right"),
], ids=["short", "non-numeric", "inf", "w=0", "h=0", "inverted"])
def test_facepoint_errors_name_file_and_line(tmp_path, line, message):
    with pytest.raises(AnnotationFormatError, match=message):
        parse_facepoint_list(_fp(tmp_path, line + "\n"))
    with pytest.raises(AnnotationFormatError, match=message.replace(":1:", ":2:")):
        parse_facepoint_list(_fp(tmp_path, FP + "\n" + line + "\n"))


def test_facepoint_empty_file_gives_no_faces(tmp_path):
    assert parse_facepoint_list(_fp(tmp_path, "")) == []
