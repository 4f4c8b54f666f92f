"""MTCNN's multi-task loss: masked per sample type, with online hard example mining (OHEM).

Each sample carries one label vector ``[cls, 4 box offsets, 10 landmark values]`` (see
:mod:`mtcnn_gluon.utils.labels`); its class decides which of the three tasks it trains:

=============  ======  ==============  ========================  ============
sample         cls     classification  box regression            landmarks
=============  ======  ==============  ========================  ============
positive         1     yes (face)      yes                       no
negative         0     yes (no face)   no                        no
part            -1     no              yes                       no
landmark        -2     no              no                        yes
=============  ======  ==============  ========================  ============

* classification: softmax cross-entropy; OHEM keeps the hardest ``int(n_valid * 0.7)`` of the
  ``n_valid`` positives and negatives in the batch and averages over those kept;
* box: squared error summed over the 4 offsets, averaged over positives and parts;
* landmarks: squared error summed over the 10 values, averaged over landmark samples.

The total is ``det_weight * cls + box_weight * box + landmark_weight * landmark``; the weights are
1 / 0.5 / 0.5 for PNet and RNet and 1 / 0.5 / 1 for ONet (:data:`LOSS_WEIGHTS`), as in the paper
and the classic TensorFlow reproduction (AITTSMD/MTCNN-Tensorflow), whose per-task reductions
(sum over coordinates, mean over the valid samples; mean over the kept samples for OHEM) this
module follows. A task with no valid sample in the batch contributes 0 (not NaN).

Ties in the OHEM cut are broken by position: among equal losses the sample earlier in the batch
is kept. This is what ``tf.nn.top_k`` documents, and it makes the kept set (and so the gradient)
a function of the batch alone, independent of the sort algorithm or device.
"""
from __future__ import annotations

from mxnet.gluon import HybridBlock

from ..config import LOSS_WEIGHTS, OHEM_RATIO
from ..utils.labels import CLS_LANDMARK, CLS_POS

__all__ = ["LOSS_WEIGHTS", "OHEM_RATIO", "ohem_num_keep", "ohem_keep", "OHEM", "MTCNNLoss", "cls_valid_mask",
           "box_valid_mask", "landmark_valid_mask"]

# n * ratio is computed in float32 inside the graph; this guard makes floor() agree with the exact
# rational floor(n * ratio) for ratios with at most two decimals and up to 10^4 valid samples.
_KEEP_EPS = 1e-3


def cls_valid_mask(F, cls):
    """1 for positives (1) and negatives (0), else 0. ``cls`` shape (N,), float."""
    return F.broadcast_greater_equal(cls, F.zeros_like(cls))  # CLS_POS and CLS_NEG are the codes >= 0


def box_valid_mask(F, cls):
    """1 for positives (1) and parts (-1), else 0."""
    return F.abs(cls) == CLS_POS  # parts are -1


def landmark_valid_mask(F, cls):
    """1 for landmark samples (-2), else 0."""
    return cls == CLS_LANDMARK


def ohem_num_keep(F, n_valid, ratio=OHEM_RATIO):
    """How many samples OHEM keeps: ``floor(n_valid * ratio)``, exactly (elementwise).

    This is the classic repo's ``tf.cast(num_valid * 0.7, tf.int32)`` (float32 product, truncated),
    which equals the exact rational floor — e.g. 63 of 90. Python's ``int(90 * 0.7)`` is 62, because
    the double product is 62.99999999999999; that rounding artefact is deliberately not reproduced.
    """
    return F.floor(n_valid * ratio + _KEEP_EPS)


def ohem_keep(F, losses, valid, ratio=OHEM_RATIO):
    """Mask of the hardest ``floor(n_valid * ratio)`` valid samples (ties: lower index first).

    Works on NDArrays and Symbols (use it inside ``hybrid_forward``); the mask carries no gradient.
    The rank of sample ``i`` is the number of valid samples ``j`` that beat it — a larger loss,
    or an equal loss and ``j < i`` — computed with an ``(N, N)`` comparison, which is cheap at
    MTCNN's batch sizes (384 → 147k comparisons) and exact whatever the sort implementation.

    Parameters
    ----------
    F : module
        ``mx.nd`` or ``mx.sym``.
    losses : NDArray or Symbol, shape (N,)
        Per-sample losses (any values; only their order matters).
    valid : NDArray or Symbol, shape (N,)
        1 for samples that take part, 0 for the others (never kept).
    ratio : float
        Fraction of the valid samples to keep, in [0, 1].

    Returns
    -------
    keep : shape (N,), float 0/1
    num_keep : shape (1,), float — ``floor(n_valid * ratio)`` (:func:`ohem_num_keep`)
    """
    losses = F.stop_gradient(losses)
    valid = F.stop_gradient(valid)
    idx = F.contrib.arange_like(losses)
    col = F.reshape(losses, shape=(-1, 1))  # l_i down the rows
    row = F.reshape(losses, shape=(1, -1))  # l_j along the columns
    beats = F.broadcast_greater(row, col)
    ties_before = F.broadcast_equal(row, col) * F.broadcast_lesser(
        F.reshape(idx, shape=(1, -1)), F.reshape(idx, shape=(-1, 1)))
    rank = F.sum(F.broadcast_mul(beats + ties_before, F.reshape(valid, shape=(1, -1))), axis=1)
    num_keep = ohem_num_keep(F, F.sum(valid, axis=0, keepdims=True), ratio)
    keep = valid * F.broadcast_lesser(rank, num_keep)
    return keep, num_keep


class OHEM(HybridBlock):
    """Online hard example mining as a block: ``(losses, valid) -> (keep mask, num_keep)``.

    See :func:`ohem_keep`.
    """

    def __init__(self, ratio: float = OHEM_RATIO, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"OHEM ratio must be in [0, 1], got {ratio}")
        self.ratio = float(ratio)

    def hybrid_forward(self, F, losses, valid):  # noqa: N802 (Gluon's signature)
        return ohem_keep(F, losses, valid, self.ratio)


class MTCNNLoss(HybridBlock):
    """The masked three-task loss with OHEM on classification.

    Call it inside ``autograd.record()`` on the net's outputs and the labels.

    Parameters
    ----------
    det_weight, box_weight, landmark_weight : float
        Weights of the three task losses in the total.
    ohem_ratio : float
        Fraction of the valid classification losses kept (1.0 keeps all: no mining).

    Inputs
    ------
    cls_logits : (N, 2) or (N, 2, 1, 1)
        Class scores before softmax (face = column 1).
    box_pred : (N, 4) or (N, 4, 1, 1)
    landmark_pred : (N, 10) or (N, 10, 1, 1)
    label : (N, 15)
        ``[cls, 4 box offsets, 10 landmark values]``.

    Outputs
    -------
    total, cls_loss, box_loss, landmark_loss : each shape (1,)
        The weighted total and the three unweighted task losses.
    """

    def __init__(self, det_weight: float = 1.0, box_weight: float = 0.5, landmark_weight: float = 0.5,
                 ohem_ratio: float = OHEM_RATIO, **kwargs):
        super().__init__(**kwargs)
        self.weights = (float(det_weight), float(box_weight), float(landmark_weight))
        with self.name_scope():
            self.ohem = OHEM(ohem_ratio)

    @classmethod
    def for_net(cls, name: str, ohem_ratio: float = OHEM_RATIO) -> "MTCNNLoss":
        """The loss with the paper's weights for ``'pnet'``, ``'rnet'`` or ``'onet'``."""
        key = str(name).lower()
        if key not in LOSS_WEIGHTS:
            raise ValueError(f"unknown net {name!r}; choose one of {', '.join(LOSS_WEIGHTS)}")
        return cls(*LOSS_WEIGHTS[key], ohem_ratio=ohem_ratio)

    def hybrid_forward(self, F, cls_logits, box_pred, landmark_pred, label):  # noqa: N802
        cls_logits = F.reshape(cls_logits, shape=(0, -1))
        box_pred = F.reshape(box_pred, shape=(0, -1))
        landmark_pred = F.reshape(landmark_pred, shape=(0, -1))
        cls = F.stop_gradient(F.slice_axis(label, axis=1, begin=0, end=1).reshape((-1,)))
        box_t = F.slice_axis(label, axis=1, begin=1, end=5)
        lmk_t = F.slice_axis(label, axis=1, begin=5, end=15)

        # classification: -log softmax of the true class, on positives and negatives
        cls_valid = cls_valid_mask(F, cls)
        target = F.relu(cls)  # parts / landmarks point at class 0 but are masked out
        ce = -F.pick(F.log_softmax(cls_logits, axis=1), target, axis=1)
        keep, num_keep = self.ohem(ce, cls_valid)
        cls_loss = F.sum(ce * keep, axis=0, keepdims=True) / F.maximum(num_keep, F.ones_like(num_keep))

        box_valid = box_valid_mask(F, cls)
        box_se = F.sum(F.square(box_pred - box_t), axis=1)
        n_box = F.sum(box_valid, axis=0, keepdims=True)
        box_loss = F.sum(box_se * box_valid, axis=0, keepdims=True) / F.maximum(n_box, F.ones_like(n_box))

        lmk_valid = landmark_valid_mask(F, cls)
        lmk_se = F.sum(F.square(landmark_pred - lmk_t), axis=1)
        n_lmk = F.sum(lmk_valid, axis=0, keepdims=True)
        lmk_loss = F.sum(lmk_se * lmk_valid, axis=0, keepdims=True) / F.maximum(n_lmk, F.ones_like(n_lmk))

        w_det, w_box, w_lmk = self.weights
        total = w_det * cls_loss + w_box * box_loss + w_lmk * lmk_loss
        return total, cls_loss, box_loss, lmk_loss
