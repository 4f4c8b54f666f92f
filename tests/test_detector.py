"""The detector: equivalence with the reference MTCNN detector's output, edge cases, crop arithmetic."""
import json

import cv2
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from mtcnn_gluon.utils import boxes as bx
from mtcnn_gluon.detector import MTCNNDetector, pyramid_scales
from mtcnn_gluon.utils.images import crop_and_resize
from mtcnn_gluon.utils.images import read_image


@pytest.fixture(scope="module")
def reference_detector(data_root):
    return MTCNNDetector.from_weights("reference", data_root=data_root)


def test_pyramid_scales_hand_worked():
    # 100 px short side, min face 20: m = 0.6 -> 60 px, then 42.5, 30.2, 21.4, 15.2, (10.8 stops)
    s = pyramid_scales(100, 300, min_face=20, factor=0.709)
    assert_allclose(s, [0.6 * 0.709 ** k for k in range(5)])
    assert pyramid_scales(19, 300, min_face=20) == []  # 19 * 0.6 = 11.4 px < 12
    assert pyramid_scales(500, 500, min_face=1000) == []  # min face larger than the image


def test_crop_and_resize_copies_and_pads():
    img = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    # a 4x4 box inside, resized to 4x4, is the slice itself
    out = crop_and_resize(img, np.array([[2, 3, 5, 6]]), 4, round_uint8=True)
    assert_array_equal(out[0], img[3:7, 2:6])
    # a box hanging off the top-left: the padded part is zero, the rest the image
    out = crop_and_resize(img, np.array([[-2, -1, 1, 2]]), 4)
    assert_array_equal(out[0, :1], 0)
    assert_array_equal(out[0, :, :2], 0)
    assert_array_equal(out[0, 1:, 2:], img[0:3, 0:2])
    # wholly outside: all zero, no error
    assert_array_equal(crop_and_resize(img, np.array([[20, 20, 25, 25]]), 4), 0)
    assert crop_and_resize(img, np.zeros((0, 4)), 24).shape == (0, 24, 24, 3)


def test_crop_and_resize_downscale_is_bilinear_on_pixel_centres():
    # 2x downscale of a horizontal ramp: output pixel j samples x = 2j + 0.5 -> mean of columns 2j, 2j+1
    ramp = np.tile(np.arange(0, 80, 10, dtype=np.uint8)[None, :, None], (8, 1, 3))
    out = crop_and_resize(ramp, np.array([[0, 0, 7, 7]]), 4)
    assert_allclose(out[0, 0, :, 0], [5, 25, 45, 65])


def test_equivalence_with_reference_detector(data_root, reference_detector):
    """Same weights, same settings as the reference MXNet detector on 44 real images (issue 2 targets)."""
    ref = json.loads((data_root / "reference_detections.json").read_text())
    det = MTCNNDetector.from_weights("reference", data_root=data_root, **ref["settings"])
    n_ref = n_match = n_big = n_big_match = n_ours = n_unmatched = 0
    errors = []
    for rel, r in ref["images"].items():
        boxes, pts = det.detect(read_image(data_root / rel))
        rb = np.array(r["boxes"], float).reshape(-1, 5)
        rp = np.array(r["landmarks"], float).reshape(-1, 5, 2)
        n_ref += len(rb)
        n_ours += len(boxes)
        m = bx.iou_matrix(rb, boxes)
        for i in range(len(rb)):
            width = rb[i, 2] - rb[i, 0] + 1
            big = width >= 40
            n_big += big
            if m.shape[1] and m[i].max() >= 0.8:
                n_match += 1
                j = m[i].argmax()
                errors.append(np.linalg.norm(rp[i] - pts[j], axis=1).mean() / width)
                n_big_match += big and m[i].max() >= 0.9
        n_unmatched += int((m.max(axis=0) < 0.8).sum()) if len(rb) else len(boxes)
    print(f"reference faces {n_ref}: matched {n_match / n_ref:.4f}, >= 40 px at IoU 0.9 {n_big_match / n_big:.4f}, "
          f"ours unmatched {n_unmatched / n_ours:.4f}, landmark error {np.mean(errors):.5f} of width")
    assert n_ref == 450
    assert n_match / n_ref >= 0.98
    assert n_big_match / n_big >= 0.98
    assert n_unmatched / n_ours <= 0.02
    assert np.mean(errors) <= 0.01


def test_empty_results_have_the_right_shapes(reference_detector):
    for img in [np.zeros((11, 11, 3), np.uint8), np.zeros((200, 300, 3), np.uint8), np.zeros((1, 1, 3), np.uint8)]:
        boxes, pts = reference_detector.detect(img)
        assert boxes.shape == (0, 5) and pts.shape == (0, 5, 2)
    big_face = MTCNNDetector(reference_detector.pnet, reference_detector.rnet, reference_detector.onet,
                             min_face=1000)
    boxes, pts = big_face.detect(np.full((300, 300, 3), 128, np.uint8))
    assert boxes.shape == (0, 5) and pts.shape == (0, 5, 2)


def test_grey_and_bgra_inputs(data_root, reference_detector):
    img = read_image(data_root / "photos" / "pangyupo_test2.jpg")
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    b_grey, _ = reference_detector.detect(grey)
    b_grey3, _ = reference_detector.detect(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    assert len(b_grey) > 0
    assert_allclose(b_grey, b_grey3)
    b_bgr, _ = reference_detector.detect(img)
    b_bgra, _ = reference_detector.detect(cv2.cvtColor(img, cv2.COLOR_BGR2BGRA))
    assert_allclose(b_bgr, b_bgra)


def test_stages_compose_to_detect(data_root, reference_detector):
    img = read_image(data_root / "photos" / "pangyupo_test2.jpg")
    w1 = reference_detector.run_pnet(img)
    w2 = reference_detector.run_rnet(img, w1)
    boxes, pts = reference_detector.run_onet(img, w2)
    assert len(w1) > len(w2) >= len(boxes) > 0
    # windows between stages are integer and square up to the rounding of half pixels (as in the original)
    for w in (w1, w2):
        assert_array_equal(w[:, :4], np.round(w[:, :4]))
        assert np.abs((w[:, 2] - w[:, 0]) - (w[:, 3] - w[:, 1])).max() <= 1
    b2, p2 = reference_detector.detect(img)
    assert_allclose(boxes, b2)
    assert_allclose(pts, p2)


def test_pnet_windows_without_box_offsets_are_the_cells_own(data_root, reference_detector):
    """``run_pnet(calibrate=False)``: the same windows (same scores, same order), each the 12 px cell of a
    pyramid level mapped back (side 12 / scale up to rounding); with the offsets they move."""
    img = read_image(data_root / "photos" / "pangyupo_test2.jpg")
    cal, raw = reference_detector.run_pnet(img), reference_detector.run_pnet(img, calibrate=False)
    assert raw.shape == cal.shape and len(raw) > 10
    assert_array_equal(raw[:, 4], cal[:, 4])
    sides = 12 / np.array(pyramid_scales(*img.shape[:2], 20))
    side = raw[:, 2] - raw[:, 0]
    assert np.abs(side[:, None] - sides[None]).min(axis=1).max() <= 1
    assert np.abs((raw[:, 3] - raw[:, 1]) - side).max() <= 1  # square up to the rounding
    assert np.abs(cal[:, :4] - raw[:, :4]).max() > 1


def test_max_candidates_bounds_the_work(data_root, reference_detector):
    img = read_image(data_root / "photos" / "pangyupo_test2.jpg")
    capped = MTCNNDetector(reference_detector.pnet, reference_detector.rnet, reference_detector.onet,
                           max_candidates=5)
    assert len(capped.run_pnet(img)) == 5


def test_inference_form_finds_the_same_faces_as_the_nets_as_trained(data_root, reference_detector):
    # the fused nets (channel padding, PReLU from oneDNN ops) change float rounding only
    plain = MTCNNDetector(reference_detector.pnet, reference_detector.rnet, reference_detector.onet, fuse=False)
    paths = sorted((data_root / "WIDER_FACE" / "WIDER_val" / "images").glob("*/*.jpg"))[:4]
    paths.append(data_root / "photos" / "pangyupo_test2.jpg")
    for path in paths:
        img = read_image(path)
        # the same integer windows (their order may differ where scores tie at float precision)
        fused_w, plain_w = reference_detector.run_pnet(img), plain.run_pnet(img)
        assert_array_equal(np.unique(fused_w[:, :4], axis=0), np.unique(plain_w[:, :4], axis=0))
        (b1, p1), (b2, p2) = reference_detector.detect(img), plain.detect(img)
        assert b1.shape == b2.shape
        assert_allclose(b1, b2, atol=1e-3)
        assert_allclose(p1, p2, atol=1e-3)


def test_detector_without_a_stage_says_so(data_root):
    pnet_only = MTCNNDetector.from_weights("reference", data_root=data_root, stages=("pnet",))
    img = read_image(data_root / "photos" / "pangyupo_test2.jpg")
    assert len(pnet_only.run_pnet(img)) > 0
    with pytest.raises(ValueError, match="rnet"):
        pnet_only.detect(img)


def test_probability_map_is_pnet_slid_over_the_resized_image(reference_weights):
    """The map a lesson draws: PNet's softmax on the whole resized image, computed here without the detector."""
    import cv2
    import mxnet as mx

    from mtcnn_gluon.model.nets import get_net, load_reference_weights
    from mtcnn_gluon.data.toy import packaged_photos

    img = packaged_photos(("astronaut",))["astronaut"]
    det = MTCNNDetector.from_weights("reference", data_root=reference_weights.parent)
    scale = 12 / 60
    prob = det.probability_map(img, scale)
    h, w = int(np.ceil(img.shape[0] * scale)), int(np.ceil(img.shape[1] * scale))
    net = get_net("pnet")
    load_reference_weights(net, reference_weights)
    x = (cv2.resize(img, (w, h)).astype(np.float32).transpose(2, 0, 1)[None] - 127.5) / 128
    cls, _, _ = net(mx.nd.array(x))
    e = np.exp(cls.asnumpy()[0])
    expected = e[1] / e.sum(axis=0)
    assert prob.shape == expected.shape
    np.testing.assert_allclose(prob, expected, atol=1e-5)
    assert prob.max() > 0.9  # the face is there


def test_onnx_backend_finds_the_same_faces(data_root):
    """`--backend onnx`: the exported graphs in onnxruntime give the MXNet detector's boxes on real images."""
    det = MTCNNDetector.from_weights("reference", data_root=data_root)
    onnx_det = MTCNNDetector.from_weights("reference", data_root=data_root, backend="onnx")
    n = 0
    for path in sorted((data_root / "WIDER_FACE" / "WIDER_val" / "images").glob("*/*.jpg"))[:6]:
        img = read_image(path)
        (b1, p1), (b2, p2) = det.detect(img), onnx_det.detect(img)
        assert b1.shape == b2.shape, path.name
        np.testing.assert_allclose(b2, b1, atol=1e-3)
        np.testing.assert_allclose(p2, p1, atol=1e-3)
        n += len(b1)
    assert n > 20


def test_exported_folder_runs_without_mxnet_and_finds_the_same_faces(data_root, tmp_path):
    """Deployment: `export` writes the graphs; a process that cannot import MXNet detects with them alone."""
    import json
    import subprocess
    import sys

    from mtcnn_gluon.cli import main

    assert main(["export", "--weights", "reference", "--data-root", str(data_root), "--out", str(tmp_path / "onnx")]) == 0
    paths = sorted((data_root / "WIDER_FACE" / "WIDER_val" / "images").glob("*/*.jpg"))[:3]
    code = ("import sys, json; sys.modules['mxnet'] = None\n"
            "from mtcnn_gluon.cascade import OnnxCascade, detections_to_json\n"
            "from mtcnn_gluon.utils.images import read_image\n"
            f"det = OnnxCascade({str(tmp_path / 'onnx')!r})\n"
            f"print(json.dumps([detections_to_json(*det.detect(read_image(p))) for p in {[str(p) for p in paths]!r}]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    det = MTCNNDetector.from_weights("reference", data_root=data_root)
    for path, got in zip(paths, found):
        boxes, pts = det.detect(read_image(path))
        assert len(got["boxes"]) == len(boxes) > 0
        np.testing.assert_allclose(np.asarray(got["boxes"]), boxes, atol=0.02)
