"""Hard example labelling: hand-worked windows against faces; when mined shards are reused."""
import shutil
from pathlib import Path

import mxnet as mx
import numpy as np
from numpy.testing import assert_allclose, assert_array_equal

from mtcnn_gluon.config import MiningConfig
from mtcnn_gluon.data.toy import build_toy_dataset
from mtcnn_gluon.data.wider import load_wider
from mtcnn_gluon.detector import MTCNNDetector
from mtcnn_gluon.mining import label_windows, mine_hard_examples
from mtcnn_gluon.model.nets import get_net, save_weights


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


def test_shards_follow_the_images_not_their_folder(tmp_path, capsys):
    """A dataset moved elsewhere keeps its mined shards; an edited annotation, other settings or other
    weights mine again, and the message names what changed."""
    root = build_toy_dataset(tmp_path / "toy", n_train=4, n_val=1, n_landmark=4, seed=0)
    mx.random.seed(0)
    save_weights(get_net("pnet"), tmp_path / "w" / "pnet.params")
    det = MTCNNDetector.from_weights(tmp_path / "w", stages=("pnet",))
    cfg, out = MiningConfig(shard_size=2, max_windows=50), tmp_path / "mined"

    def mine(data_root, cfg=cfg, det=det):
        capsys.readouterr()
        mine_hard_examples(det, load_wider(data_root, "train"), "rnet", out, cfg, seed=0, progress=False)
        return capsys.readouterr().out, {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}

    _, first = mine(root)
    moved = Path(shutil.move(str(root), str(tmp_path / "elsewhere")))
    said, again = mine(moved)
    assert again == first and "mining again" not in said

    gt = moved / "WIDER_FACE" / "wider_face_split" / "wider_face_train_bbx_gt.txt"
    lines = gt.read_text().splitlines()
    x, *rest = lines[2].split()
    lines[2] = " ".join([str(int(x) + 3), *rest])  # the first face of the first image, 3 px to the right
    gt.write_text("\n".join(lines) + "\n")
    said, _ = mine(moved)
    assert said.strip().endswith("the training images changed since these shards were mined: mining again")

    said, _ = mine(moved, cfg=MiningConfig(shard_size=2, max_windows=40))
    assert "the mining settings changed" in said and "training images" not in said
    mx.random.seed(1)
    save_weights(get_net("pnet"), tmp_path / "w" / "pnet.params")
    said, _ = mine(moved, cfg=MiningConfig(shard_size=2, max_windows=40),
                   det=MTCNNDetector.from_weights(tmp_path / "w", stages=("pnet",)))
    assert "the earlier nets' weights changed since" in said
