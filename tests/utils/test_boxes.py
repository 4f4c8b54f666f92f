"""Box geometry against hand-worked cases (original MTCNN convention: x2 inclusive, + 1 widths)."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from mtcnn_gluon.utils import boxes as bx


def test_wider_xywh_roundtrip_uses_inclusive_corner():
    # a 10 x 20 WIDER box at (5, 7) covers pixel columns 5..14 and rows 7..26
    assert_array_equal(bx.xywh_to_xyxy([[5, 7, 10, 20]]), [[5, 7, 14, 26]])
    assert_array_equal(bx.xyxy_to_xywh([[5, 7, 14, 26]]), [[5, 7, 10, 20]])


def test_area_counts_pixels_and_zero_size_boxes():
    # a one-pixel box has area 1; WIDER w = 0 means x2 = x1 - 1: area 0; inverted boxes clip at 0
    assert_array_equal(bx.box_area([[3, 3, 3, 3], [0, 0, 9, 4], [5, 5, 4, 9], [5, 5, 0, 0]]), [1, 50, 0, 0])


def test_iou_hand_worked():
    # 10x10 boxes offset by 5 px in x: inter 5*10 = 50, union 100 + 100 - 50 = 150
    assert_allclose(bx.iou([0, 0, 9, 9], [[5, 0, 14, 9]]), [50 / 150])
    # touching at one pixel column counts as overlap in this convention: inter = 1 * 10
    assert_allclose(bx.iou([0, 0, 9, 9], [[9, 0, 18, 9]]), [10 / 190])
    # disjoint, contained, identical
    assert_allclose(bx.iou([0, 0, 9, 9], [[10, 0, 19, 9], [2, 2, 6, 6], [0, 0, 9, 9]]), [0, 25 / 100, 1])


def test_iou_matrix_shapes_and_empty_inputs():
    a = np.array([[0, 0, 9, 9], [5, 0, 14, 9]], float)
    m = bx.iou_matrix(a, a[::-1])
    assert m.shape == (2, 2)
    assert_allclose(m, [[50 / 150, 1], [1, 50 / 150]])
    assert bx.iou_matrix(np.zeros((0, 4)), a).shape == (0, 2)
    assert bx.iou_matrix(a, np.zeros((0, 4))).shape == (2, 0)
    assert bx.iou([0, 0, 9, 9], np.zeros((0, 4))).shape == (0,)


def test_iou_with_zero_size_boxes_is_zero_not_nan():
    zero = [5, 5, 4, 4]  # w = h = 0
    assert_array_equal(bx.iou(zero, [[5, 5, 4, 4], [0, 0, 9, 9]]), [0, 0])


def test_iou_boxes_outside_the_image_are_just_coordinates():
    assert_allclose(bx.iou([-10, -10, -1, -1], [[-5, -10, 4, -1]]), [50 / 150])


def test_nms_union_keeps_best_and_drops_overlaps_above_threshold():
    b = np.array([[0, 0, 9, 9, 0.9], [1, 0, 10, 9, 0.8], [20, 20, 29, 29, 0.7], [5, 0, 14, 9, 0.95]])
    # IoU(0,1) = 90/110 = 0.818; IoU(3,0) = 50/150 = 0.333; IoU(3,1) = 60/140 = 0.43
    assert_array_equal(bx.nms(b, thresh=0.5), [3, 0, 2])
    assert_array_equal(bx.nms(b, thresh=0.3), [3, 2])


def test_nms_threshold_is_strict():
    b = np.array([[0, 0, 9, 9, 0.9], [5, 0, 14, 9, 0.8]])  # IoU exactly 1/3
    assert_array_equal(bx.nms(b, thresh=1 / 3), [0, 1])
    assert_array_equal(bx.nms(b, thresh=1 / 3 - 1e-9), [0])


def test_nms_min_mode_suppresses_contained_box():
    b = np.array([[0, 0, 19, 19, 0.9], [2, 2, 6, 6, 0.8]])
    # union overlap 25/400 = 0.0625 keeps both; min overlap 25/25 = 1 drops the small one
    assert_array_equal(bx.nms(b, thresh=0.7, mode="union"), [0, 1])
    assert_array_equal(bx.nms(b, thresh=0.7, mode="min"), [0])
    assert_array_equal(bx.nms(b[:, :4], b[:, 4], 0.7, "Min"), [0])


def test_nms_ties_later_box_first_as_the_original():
    b = np.array([[0, 0, 9, 9, 0.5], [1, 0, 10, 9, 0.5], [2, 0, 11, 9, 0.5]])
    assert_array_equal(bx.nms(b, thresh=0.9), [2, 1, 0])
    # IoU(2, 1) = 90/110 = 0.82 is dropped, IoU(2, 0) = 80/120 = 0.67 stays
    assert_array_equal(bx.nms(b, thresh=0.7), [2, 0])


def test_nms_empty_and_bad_mode():
    assert bx.nms(np.zeros((0, 5))).shape == (0,)
    with pytest.raises(ValueError, match="union"):
        bx.nms(np.zeros((1, 5)), thresh=0.5, mode="iou")


def _random_boxes(rs, n, fractional):
    x1, y1 = rs.randint(-20, 200, n), rs.randint(-20, 200, n)
    w, h = rs.randint(-3, 60, n), rs.randint(-3, 60, n)  # some empty (w = 0) and inverted boxes
    b = np.stack([x1, y1, x1 + w, y1 + h, np.round(rs.rand(n), 1)], axis=1).astype(np.float64)  # many ties
    if fractional:
        b[:, :4] += rs.rand(n, 4) * 3
    return b


@pytest.mark.parametrize("mode", ["union", "min"])
@pytest.mark.parametrize("thresh", [-0.1, 0.0, 0.3, 0.5, 0.7, 0.95])
def test_nms_equals_the_textbook_loop(mode, thresh, monkeypatch):
    # the fast NMS only measures pairs that can overlap; it must pick exactly what the loop picks,
    # including ties, empty boxes, fractional coordinates and pairs split across chunks
    monkeypatch.setattr(bx, "_PAIR_CHUNK", 64)
    rs = np.random.RandomState(int(thresh * 100) + 10 + (mode == "min"))
    for trial in range(150):
        b = _random_boxes(rs, rs.randint(0, 250), fractional=trial % 2 == 1)
        assert_array_equal(bx.nms(b, thresh=thresh, mode=mode), bx.nms_loop(b, thresh=thresh, mode=mode))


def test_nms_equals_the_loop_on_a_dense_grid_of_pnet_windows():
    # the detector's hardest case: thousands of same-size windows 2 px apart, scores with ties
    ys, xs = np.mgrid[0:120:2, 0:160:2]
    rs = np.random.RandomState(3)
    b = np.stack([xs.ravel(), ys.ravel(), xs.ravel() + 11, ys.ravel() + 11,
                  np.round(rs.rand(xs.size), 2)], axis=1).astype(np.float64)
    for thresh in (0.5, 0.7):
        keep = bx.nms(b, thresh=thresh)
        assert_array_equal(keep, bx.nms_loop(b, thresh=thresh))
        assert 0 < len(keep) < len(b)


def test_nms_loop_and_nms_reject_the_same_bad_input():
    with pytest.raises(ValueError, match="score"):
        bx.nms(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="union"):
        bx.nms_loop(np.zeros((1, 5)), mode="iou")


def test_square_grows_short_side_around_centre():
    # 10 wide x 20 high at x 0..9: side 20, x1 = 0 + 5 - 10 = -5, x2 = -5 + 19 = 14
    assert_allclose(bx.square([[0, 0, 9, 19, 0.7]]), [[-5, 0, 14, 19, 0.7]])
    # odd difference leaves a half pixel, rounded later by the detector
    assert_allclose(bx.square([[0, 0, 10, 19]]), [[-4.5, 0, 14.5, 19]])


def test_crop_windows_inside_and_leaving_the_image():
    w = bx.crop_windows([[2, 3, 6, 8], [-2, -3, 4, 5], [7, 8, 12, 13]], width=10, height=10)
    # inside: the crop is the image slice 3..8 x 2..6
    assert (w.dy[0], w.edy[0], w.dx[0], w.edx[0], w.y[0], w.ey[0], w.x[0], w.ex[0]) == (0, 5, 0, 4, 3, 8, 2, 6)
    # top-left out: image rows 0..5 go to crop rows 3..8, columns 0..4 to crop 2..6
    assert (w.dy[1], w.edy[1], w.dx[1], w.edx[1], w.y[1], w.ey[1], w.x[1], w.ex[1]) == (3, 8, 2, 6, 0, 5, 0, 4)
    assert (w.h[1], w.w[1]) == (9, 7)
    # bottom-right out: 6 x 6 box, only image rows 8..9 and columns 7..9 exist
    assert (w.dy[2], w.edy[2], w.dx[2], w.edx[2], w.y[2], w.ey[2], w.x[2], w.ex[2]) == (0, 1, 0, 2, 8, 9, 7, 9)
    # every window copies a slice of equal size
    assert_array_equal(w.edy - w.dy, w.ey - w.y)
    assert_array_equal(w.edx - w.dx, w.ex - w.x)


def test_offsets_encode_decode_hand_worked_and_inverse():
    crop = np.array([[10, 10, 29, 29]], float)  # 20 px
    face = np.array([[12, 8, 31, 25]], float)
    off = bx.encode_offsets(crop, face)
    assert_allclose(off, [[2 / 20, -2 / 20, 2 / 20, -4 / 20]])
    assert_allclose(bx.decode_offsets(crop, off), face)
    # a score column rides along
    assert_allclose(bx.decode_offsets([[10, 10, 29, 29, 0.9]], off), [[12, 8, 31, 25, 0.9]])


def test_clip_boxes():
    assert_array_equal(bx.clip_boxes([[-3, 2, 12, 15]], width=10, height=12), [[0, 2, 9, 11]])


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        bx.iou_matrix(np.zeros((2, 3)), np.zeros((1, 4)))
