"""Hard example labelling: hand-worked windows against faces."""
import numpy as np
from numpy.testing import assert_allclose, assert_array_equal

from mtcnn_gluon.config import MiningConfig

from mtcnn_gluon.mining import label_windows


def test_label_windows_by_iou_hand_worked():
    gt = np.array([[100, 100, 139, 139]], float)  # one 40 px face
    windows = np.array([
        [100, 100, 139, 139],  # IoU 1 -> pos
        [104, 100, 143, 139],  # 36*40 / (2*1600 - 1440) = 0.818 -> pos
        [112, 100, 151, 139],  # 28*40 / (3200 - 1120) = 0.538 -> part
        [120, 100, 159, 139],  # 20*40 / (3200 - 800) = 0.333 -> dropped (between 0.3 and 0.4)
        [300, 300, 339, 339],  # 0 -> neg
        [300, 300, 310, 310],  # 11 px window, smaller than min_window -> dropped
    ], float)
    keep, labels = label_windows(windows, gt, MiningConfig(), np.random.default_rng(0))
    assert_array_equal(keep, [0, 1, 2, 4])
    assert_array_equal(labels[:, 0], [1, 1, -1, 0])
    # offsets of window 2 to the face: (100 - 112) / 40 = -0.3 on x1 and x2, 0 on y
    assert_allclose(labels[2, 1:5], [-0.3, 0, -0.3, 0])
    assert_array_equal(labels[3, 1:], 0)


def test_negatives_capped_per_image_deterministically():
    windows = np.array([[x, 0, x + 29, 29] for x in range(0, 3000, 30)], float)  # 100 negatives
    cfg = MiningConfig(max_neg_per_image=10)
    k1, _ = label_windows(windows, np.zeros((0, 4)), cfg, np.random.default_rng([3, 7]))
    k2, _ = label_windows(windows, np.zeros((0, 4)), cfg, np.random.default_rng([3, 7]))
    assert len(k1) == 10
    assert_array_equal(k1, k2)
    assert_array_equal(k1, np.sort(k1))
