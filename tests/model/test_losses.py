"""The masked multi-task loss and OHEM, against values worked out by hand or with plain NumPy."""
import math
from fractions import Fraction

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from mtcnn_gluon.config import LOSS_WEIGHTS

from mtcnn_gluon.model.losses import MTCNNLoss, OHEM, ohem_keep, ohem_num_keep


def _label(cls, box=None, lmk=None):
    out = np.zeros(15, np.float32)
    out[0] = cls
    if box is not None:
        out[1:5] = box
    if lmk is not None:
        out[5:15] = lmk
    return out


def _batch():
    """pos, neg, part, landmark; the tasks a sample must not train get wildly wrong predictions."""
    labels = np.stack([
        _label(1, box=[0, 0, 0, 0]),
        _label(0),
        _label(-1, box=[0, 0, 0, 0.1]),
        _label(-2, lmk=np.zeros(10)),
    ])
    logits = np.array([[0.0, math.log(3.0)],  # pos: p(face) = 3/4, CE = ln(4/3)
                       [0.0, 0.0],  # neg: CE = ln 2
                       [50.0, -50.0],  # part: never classified
                       [50.0, -50.0]], np.float32)  # landmark: never classified
    box = np.array([[0.1, 0, 0, 0],  # pos: squared error 0.01
                    [9, 9, 9, 9],  # neg: no box target
                    [0, 0.2, 0, 0],  # part: 0.04 + 0.01 = 0.05
                    [9, 9, 9, 9]], np.float32)  # landmark: no box target
    lmk = np.full((4, 10), 7.0, np.float32)
    lmk[3] = 0.1  # landmark: 10 * 0.01 = 0.1
    return logits, box, lmk, labels


def _run(loss, logits, box, lmk, labels, hybridize=False):
    if hybridize:
        loss.hybridize()
    args = [mx.nd.array(a) for a in (logits, box, lmk)]
    for a in args:
        a.attach_grad()
    with autograd.record():
        out = loss(*args, mx.nd.array(labels))
    out[0].backward()
    return [float(o.asscalar()) for o in out], [a.grad.asnumpy() for a in args]


@pytest.mark.parametrize("hybridize", [False, True])
def test_masks_per_class_without_mining(hybridize):
    logits, box, lmk, labels = _batch()
    (total, cls, bx, lm), _ = _run(MTCNNLoss(1.0, 0.5, 0.5, ohem_ratio=1.0), logits, box, lmk, labels, hybridize)
    assert cls == pytest.approx((math.log(4 / 3) + math.log(2)) / 2, rel=1e-5)
    assert bx == pytest.approx((0.01 + 0.05) / 2, rel=1e-5)
    assert lm == pytest.approx(0.1, rel=1e-5)
    assert total == pytest.approx(cls + 0.5 * 0.03 + 0.5 * 0.1, rel=1e-5)


@pytest.mark.parametrize("hybridize", [False, True])
def test_ohem_keeps_the_harder_of_two_and_only_it_gets_gradient(hybridize):
    logits, box, lmk, labels = _batch()
    # 2 valid (pos, neg) -> floor(1.4) = 1 kept: the neg (ln 2 > ln 4/3)
    (total, cls, bx, lm), (g_cls, g_box, g_lmk) = _run(
        MTCNNLoss.for_net("onet"), logits, box, lmk, labels, hybridize)
    assert cls == pytest.approx(math.log(2), rel=1e-5)
    assert total == pytest.approx(math.log(2) + 0.5 * 0.03 + 1.0 * 0.1, rel=1e-5)
    # d CE / d logits = softmax - onehot, for the kept neg only: (1/2 - 1, 1/2)
    np.testing.assert_allclose(g_cls, [[0, 0], [-0.5, 0.5], [0, 0], [0, 0]], atol=1e-6)
    # box: 0.5 * 2 (pred - target) / 2 samples on pos and part only
    expect_box = np.zeros((4, 4), np.float32)
    expect_box[0, 0] = 0.5 * 2 * 0.1 / 2
    expect_box[2, 1] = 0.5 * 2 * 0.2 / 2
    expect_box[2, 3] = 0.5 * 2 * -0.1 / 2
    np.testing.assert_allclose(g_box, expect_box, atol=1e-6)
    expect_lmk = np.zeros((4, 10), np.float32)
    expect_lmk[3] = 1.0 * 2 * 0.1 / 1
    np.testing.assert_allclose(g_lmk, expect_lmk, atol=1e-6)


def test_pnet_shaped_outputs_and_weights():
    logits, box, lmk, labels = _batch()
    (total, cls, bx, lm), _ = _run(MTCNNLoss.for_net("pnet"), logits.reshape(4, 2, 1, 1),
                                   box.reshape(4, 4, 1, 1), lmk.reshape(4, 10, 1, 1), labels)
    assert total == pytest.approx(math.log(2) + 0.5 * 0.03 + 0.5 * 0.1, rel=1e-5)
    assert LOSS_WEIGHTS == {"pnet": (1.0, 0.5, 0.5), "rnet": (1.0, 0.5, 0.5), "onet": (1.0, 0.5, 1.0)}
    with pytest.raises(ValueError, match="choose one of"):
        MTCNNLoss.for_net("qnet")


def test_tasks_without_samples_give_zero_not_nan():
    labels = np.stack([_label(-1, box=[0.1, 0, 0, 0]), _label(-1)])  # parts only
    (total, cls, bx, lm), _ = _run(MTCNNLoss(), np.zeros((2, 2), np.float32), np.zeros((2, 4), np.float32),
                                   np.ones((2, 10), np.float32), labels)
    assert (cls, lm) == (0.0, 0.0)
    assert bx == pytest.approx(0.01 / 2, rel=1e-5)
    assert total == pytest.approx(0.5 * 0.005, rel=1e-5)


def test_ohem_tie_at_the_cut_keeps_the_lower_indices():
    #            0    1    2    3    4    5    6    7    8    9   10 (invalid) 11 (invalid)
    losses = [0.9, 0.5, 0.9, 0.5, 0.1, 0.9, 0.5, 0.5, 0.2, 0.5, 5.0, 0.5]
    valid = [1] * 10 + [0, 0]
    # 10 valid -> keep 7: the three 0.9s, then four of the five 0.5s (1, 3, 6, 7; not 9)
    keep, num_keep = OHEM(0.7)(mx.nd.array(losses), mx.nd.array(valid))
    np.testing.assert_array_equal(keep.asnumpy(), [1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0])
    assert num_keep.asscalar() == 7


def test_ohem_matches_a_numpy_lexsort_reference():
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 40, 384):
        losses = np.round(rng.random(n) * 4) / 4  # few distinct values: many ties
        valid = rng.random(n) < 0.6
        k = int(valid.sum()) * 7 // 10
        order = np.lexsort((np.arange(n), -losses))  # by loss descending, then index
        ref = np.zeros(n)
        ref[[i for i in order if valid[i]][:k]] = 1
        keep, _ = ohem_keep(mx.nd, mx.nd.array(losses), mx.nd.array(valid.astype(np.float32)), 0.7)
        np.testing.assert_array_equal(keep.asnumpy(), ref, err_msg=f"n={n}")


def test_num_keep_is_the_exact_floor():
    n = np.arange(0, 5001)
    got = ohem_num_keep(mx.nd, mx.nd.array(n), 0.7).asnumpy().astype(int)
    np.testing.assert_array_equal(got, n * 7 // 10)
    # the classic repo's float32 product agrees; Python's double product is one short at 90
    assert np.array_equal((n.astype(np.float32) * np.float32(0.7)).astype(int), n * 7 // 10)
    assert got[90] == 63 and int(90 * 0.7) == 62
    for r in ("0.5", "0.25", "1", "0"):
        exact = [int(Fraction(int(k)) * Fraction(r)) for k in n[:1001]]
        np.testing.assert_array_equal(ohem_num_keep(mx.nd, mx.nd.array(n[:1001]), float(r)).asnumpy(), exact)


def test_ohem_ratio_is_checked():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        OHEM(1.5)
