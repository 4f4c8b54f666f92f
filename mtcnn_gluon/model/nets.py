"""PNet, RNet and ONet as Gluon ``HybridBlock``s with the paper's layer shapes, and weight I/O.

Every net maps a ``(N, 3, S, S)`` float32 batch (BGR, ``(x - 127.5) / 128``) to three outputs:

* class logits, ``(N, 2)`` (face = column 1; apply softmax for probabilities),
* box offsets, ``(N, 4)``, relative to the input window (see :func:`mtcnn_gluon.utils.boxes.decode_offsets`),
* landmarks, ``(N, 10)``, interleaved ``x1, y1, …, x5, y5`` relative to the window
  (left eye, right eye, nose, left and right mouth corner).

PNet is fully convolutional: on a 12 × 12 input its outputs are ``(N, 2, 1, 1)`` etc., on a larger
image a map with one cell every 2 pixels; :meth:`PNet.hybrid_forward` keeps the spatial axes.

Layer names (``conv1``, ``prelu1``, …, ``conv4_1``) follow the original Caffe models so the
reference weights map onto them one to one (:func:`load_reference_weights`).
"""
from __future__ import annotations

import os

import mxnet as mx
from mxnet.gluon import nn

from ..config import INPUT_SIZE, NET_NAMES

__all__ = ["PReLU", "PNet", "RNet", "ONet", "get_net", "NET_NAMES", "INPUT_SIZE", "PRELU_FORMS",
           "load_reference_weights", "load_weights", "save_weights", "WeightsError"]

REFERENCE_PREFIX = {"pnet": "det1", "rnet": "det2", "onet": "det3"}
#: How PReLU can be computed (see :class:`PReLU`); the first is the default. Same numbers either way;
#: ``benchmarks/prelu.py`` measures them side by side.
PRELU_FORMS = ("dw", "conv", "relu", "mxnet")


class WeightsError(ValueError):
    """A weights file that does not fit the net (missing, unexpected or wrong-shaped parameters)."""


class PReLU(nn.HybridBlock):
    """Parametric ReLU, ``max(x, 0) + alpha * min(x, 0)`` with one slope per channel.

    MXNet 1.9's own op (``LeakyReLU(act_type='prelu')``) has no oneDNN kernel: it dominates a
    training step and pushes the activations out of oneDNN's blocked layout, which slows the
    pooling next to it. The default here, ``impl='dw'``, writes it with oneDNN ops only,
    ``relu(x) + dwconv1x1(relu(dwconv1x1(x, -1)), -alpha)`` (``Activation``, depthwise 1 × 1
    ``Convolution``, ``elemwise_add``), forwards and backwards. ``benchmarks/prelu.py`` measures
    the forms side by side; one training step of 384 samples on 2 cores: ONet 358 ms ('dw') vs
    637 ('conv') vs 1,374 (MXNet's op), RNet 79 vs 103 vs 236. ``'conv'`` is
    ``relu(x) - dwconv1x1(relu(-x), alpha)`` (its ``-x`` and ``-`` are not oneDNN ops),
    ``'relu'`` the same with a broadcast multiply, ``'mxnet'`` MXNet's op. All give the same numbers
    to float precision; after a dense layer (2-D input) ``'dw'`` and ``'conv'`` use MXNet's op.

    Parameters
    ----------
    channels : int
        Number of channels (axis 1); one slope per channel, initialised to 0.25 as in Caffe.
    ndim : int
        Rank of the input: 4 after a convolution, 2 after a dense layer.
    impl : {'dw', 'conv', 'relu', 'mxnet'}, optional
        Default ``'dw'`` (the first of :data:`PRELU_FORMS`).
    """

    def __init__(self, channels: int, ndim: int = 4, impl: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self._channels = channels
        self._shape = (1, channels) + (1,) * (ndim - 2)
        self._impl = impl or PRELU_FORMS[0]
        if self._impl not in PRELU_FORMS:
            raise ValueError(f"PReLU impl must be one of {', '.join(PRELU_FORMS)}, got {self._impl!r}")
        if self._impl in ("conv", "dw") and ndim != 4:
            self._impl = "mxnet"
        with self.name_scope():
            self.alpha = self.params.get("alpha", shape=(channels,), init=mx.init.Constant(0.25))

    def hybrid_forward(self, F, x, alpha):  # noqa: N802 (Gluon's signature)
        if self._impl == "mxnet":
            return F.LeakyReLU(x, gamma=alpha, act_type="prelu")
        if self._impl == "dw":
            weight = F.reshape(alpha, shape=(-1, 1, 1, 1))
            conv = dict(kernel=(1, 1), num_filter=self._channels, num_group=self._channels, no_bias=True)
            neg = F.Activation(F.Convolution(x, F.ones_like(weight) * -1, **conv), act_type="relu")
            return F.Activation(x, act_type="relu") + F.Convolution(neg, -weight, **conv)
        if self._impl == "conv":
            weight = F.reshape(alpha, shape=(-1, 1, 1, 1))
            return F.relu(x) - F.Convolution(F.relu(-x), weight, kernel=(1, 1), num_filter=self._channels,
                                             num_group=self._channels, no_bias=True)
        slope = F.reshape(alpha, shape=self._shape)
        return F.relu(x) - F.broadcast_mul(slope, F.relu(-x))


def _conv(in_channels, channels, kernel):
    return nn.Conv2D(channels, kernel_size=kernel, in_channels=in_channels,
                     weight_initializer=mx.init.Xavier())


def _pool(kernel):
    # ceil_mode = Caffe's (and the reference symbol's) pooling_convention='full'
    return nn.MaxPool2D(pool_size=kernel, strides=2, ceil_mode=True)


class _MTCNNNet(nn.HybridBlock):
    name_short = ""

    def _add(self, name, block):
        setattr(self, name, block)
        self._order.append(name)

    def _trunk(self, F, x):
        for name in self._order:
            x = getattr(self, name)(x)
        return x


class PNet(_MTCNNNet):
    """Proposal net: 12 × 12 receptive field, conv 10-16-32, fully convolutional."""

    name_short = "pnet"
    heads = ("conv4_1", "conv4_2", "conv4_3")  # class logits, box offsets, landmarks

    def __init__(self, prelu: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self._order = []
        with self.name_scope():
            self._add("conv1", _conv(3, 10, 3))
            self._add("prelu1", PReLU(10, impl=prelu))
            self._add("pool1", _pool(2))
            self._add("conv2", _conv(10, 16, 3))
            self._add("prelu2", PReLU(16, impl=prelu))
            self._add("conv3", _conv(16, 32, 3))
            self._add("prelu3", PReLU(32, impl=prelu))
            self.conv4_1 = _conv(32, 2, 1)  # face / not face
            self.conv4_2 = _conv(32, 4, 1)  # box offsets
            self.conv4_3 = _conv(32, 10, 1)  # landmarks (not in the original PNet)

    def hybrid_forward(self, F, x):  # noqa: N802
        x = self._trunk(F, x)
        return self.conv4_1(x), self.conv4_2(x), self.conv4_3(x)


class RNet(_MTCNNNet):
    """Refine net: 24 × 24 input, conv 28-48-64, dense 128."""

    name_short = "rnet"
    heads = ("conv5_1", "conv5_2", "conv5_3")

    def __init__(self, prelu: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self._order = []
        with self.name_scope():
            self._add("conv1", _conv(3, 28, 3))
            self._add("prelu1", PReLU(28, impl=prelu))
            self._add("pool1", _pool(3))
            self._add("conv2", _conv(28, 48, 3))
            self._add("prelu2", PReLU(48, impl=prelu))
            self._add("pool2", _pool(3))
            self._add("conv3", _conv(48, 64, 2))
            self._add("prelu3", PReLU(64, impl=prelu))
            self._add("conv4", nn.Dense(128, in_units=64 * 3 * 3, weight_initializer=mx.init.Xavier()))
            self._add("prelu4", PReLU(128, ndim=2, impl=prelu))
            self.conv5_1 = nn.Dense(2, in_units=128)
            self.conv5_2 = nn.Dense(4, in_units=128)
            self.conv5_3 = nn.Dense(10, in_units=128)  # not in the original RNet

    def hybrid_forward(self, F, x):  # noqa: N802
        x = self._trunk(F, x)
        return self.conv5_1(x), self.conv5_2(x), self.conv5_3(x)


class ONet(_MTCNNNet):
    """Output net: 48 × 48 input, conv 32-64-64-128, dense 256."""

    name_short = "onet"
    heads = ("conv6_1", "conv6_2", "conv6_3")

    def __init__(self, prelu: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self._order = []
        with self.name_scope():
            self._add("conv1", _conv(3, 32, 3))
            self._add("prelu1", PReLU(32, impl=prelu))
            self._add("pool1", _pool(3))
            self._add("conv2", _conv(32, 64, 3))
            self._add("prelu2", PReLU(64, impl=prelu))
            self._add("pool2", _pool(3))
            self._add("conv3", _conv(64, 64, 3))
            self._add("prelu3", PReLU(64, impl=prelu))
            self._add("pool3", _pool(2))
            self._add("conv4", _conv(64, 128, 2))
            self._add("prelu4", PReLU(128, impl=prelu))
            self._add("conv5", nn.Dense(256, in_units=128 * 3 * 3, weight_initializer=mx.init.Xavier()))
            self._add("prelu5", PReLU(256, ndim=2, impl=prelu))
            self.conv6_1 = nn.Dense(2, in_units=256)
            self.conv6_2 = nn.Dense(4, in_units=256)
            self.conv6_3 = nn.Dense(10, in_units=256)

    def hybrid_forward(self, F, x):  # noqa: N802
        x = self._trunk(F, x)
        return self.conv6_1(x), self.conv6_2(x), self.conv6_3(x)


_NETS = {"pnet": PNet, "rnet": RNet, "onet": ONet}


def get_net(name: str, ctx=None, initialize: bool = True, prelu: str | None = None) -> _MTCNNNet:
    """Build ``'pnet'``, ``'rnet'`` or ``'onet'``, initialised on ``ctx`` (a context or a list).

    ``prelu`` picks how PReLU is computed (:class:`PReLU`; default ``'dw'``, fastest for training); the parameters are the same whichever is used.

    Raises
    ------
    ValueError
        For any other name, listing the valid ones.
    """
    key = str(name).lower()
    if key not in _NETS:
        raise ValueError(f"unknown net {name!r}; choose one of {', '.join(NET_NAMES)}")
    net = _NETS[key](prefix=key + "_", prelu=prelu)
    if initialize:
        net.initialize(ctx=ctx if ctx is not None else mx.cpu())
    return net


def _param_table(net):
    """Our parameters keyed by the original layer names: ``conv1_weight``, ``prelu1_gamma`` …"""
    table = {}
    for layer, child in net._children.items():  # attribute name -> block
        for full_name, param in child.params.items():
            kind = full_name.rpartition("_")[2]
            table[f"{layer}_{'gamma' if kind == 'alpha' else kind}"] = param  # Caffe calls the slope gamma
    return table


# The reference ONet orders its landmarks x1..x5, y1..y5; ours interleave them (x1, y1, …).
_INTERLEAVE = [0, 5, 1, 6, 2, 7, 3, 8, 4, 9]


def load_reference_weights(net: _MTCNNNet, folder) -> list:
    """Load the original MTCNN weights (``det1``/``det2``/``det3`` MXNet conversion) into ``net``.

    Each reference parameter is mapped by its layer name (``conv1_weight`` → ``conv1.weight``,
    ``prelu1_gamma`` → ``prelu1.alpha``); the ONet landmark rows are reordered to our interleaved
    layout. PNet and RNet have no landmark layer in the reference: ``conv4_3`` / ``conv5_3`` keep
    their initial values and are returned as the list of names left untouched.

    Raises
    ------
    FileNotFoundError, WeightsError
        Missing file; a reference parameter with no counterpart or a different shape.
    """
    key = net.name_short
    path = os.path.join(os.fspath(folder), f"{REFERENCE_PREFIX[key]}-0001.params")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: reference weights for {key} not found")
    loaded = mx.nd.load(path)
    ours = _param_table(net)
    seen = set()
    for raw_name, value in loaded.items():
        name = raw_name.split(":", 1)[-1]
        if name not in ours:
            raise WeightsError(f"{path}: parameter {name!r} has no counterpart in {key} "
                               f"(ours: {', '.join(sorted(ours))})")
        param = ours[name]
        if key == "onet" and name.startswith("conv6_3"):
            value = value[_INTERLEAVE]
        if tuple(value.shape) != tuple(param.shape):
            raise WeightsError(f"{path}: parameter {name!r} has shape {tuple(value.shape)}, "
                               f"{key} expects {tuple(param.shape)}")
        param.set_data(value)
        seen.add(name)
    untouched = sorted(set(ours) - seen)
    # PNet and RNet have no landmark head in the original; anything else missing would stay random
    allowed = {f"{h}_{k}" for h in net.heads[2:] for k in ("weight", "bias")} if key != "onet" else set()
    missing = [n for n in untouched if n not in allowed]
    if missing:
        raise WeightsError(f"{path}: parameters missing for {key}: {', '.join(missing)} (they would stay at "
                           "their random initial values)")
    return untouched


def save_weights(net: _MTCNNNet, path) -> None:
    """Save parameters atomically (temp file, then rename) in MXNet's own format (no pickle)."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    arrays = {k: p.data(p.list_ctx()[0]).copyto(mx.cpu()) for k, p in _param_table(net).items()}
    mx.nd.save(tmp, arrays)
    os.replace(tmp, path)


def load_weights(net: _MTCNNNet, path) -> None:
    """Load parameters written by :func:`save_weights`, checking every name and shape.

    Raises
    ------
    FileNotFoundError
        No such file.
    WeightsError
        Unreadable file, or parameters missing, unexpected or of another shape (all listed).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: weights file for {net.name_short} not found")
    try:
        loaded = mx.nd.load(path)
    except mx.base.MXNetError as err:
        raise WeightsError(f"{path}: not an MXNet parameter file ({str(err).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise WeightsError(f"{path}: expected named parameters, found an unnamed list")
    ours = _param_table(net)
    problems = []
    missing = sorted(set(ours) - set(loaded))
    extra = sorted(set(loaded) - set(ours))
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected {', '.join(extra)}")
    for name in sorted(set(ours) & set(loaded)):
        if tuple(loaded[name].shape) != tuple(ours[name].shape):
            problems.append(f"{name} has shape {tuple(loaded[name].shape)}, expected {tuple(ours[name].shape)}")
    if problems:
        raise WeightsError(f"{path}: does not fit {net.name_short}: " + "; ".join(problems))
    for name, value in loaded.items():
        ours[name].set_data(value)

