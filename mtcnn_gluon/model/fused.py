"""The inference form of PNet, RNet and ONet: the same function, laid out so oneDNN runs it fast.

Training needs the nets as the paper writes them (:mod:`mtcnn_gluon.model.nets`); detection only needs
their outputs. :func:`fuse` copies a trained net into a :class:`FusedNet` that computes the same
numbers (to float rounding, ~1e-6) about 2–3× faster on CPU. Profiling one PNet forward on a
1024 px image showed where the time went, and each change below removes one cause:

* **Channel counts padded to a multiple of 8.** oneDNN keeps activations in a blocked layout
  (``nChw8c``) only when the channel count is a multiple of the block. PNet's conv1 has 10
  channels and RNet's 28, so their max pooling fell back to a plain-layout kernel: 15 ms of a
  45 ms PNet forward, against 0.2 ms for the same pooling on 8 or 16 blocked channels. The extra
  channels have zero weights and zero bias, so they stay 0 through PReLU and pooling, and the
  next layer's weights for them are 0.
* **PReLU from oneDNN ops only.** MXNet's ``LeakyReLU(act_type='prelu')``, and the ``-x`` and
  ``a - b`` of a ReLU rewrite, have no oneDNN kernels: each converts the blocked activations back
  to plain NCHW and runs a slow elementwise loop. Here
  ``prelu(x) = relu(x) + dwconv(relu(dwconv(x, -1)), -alpha)`` uses ``Activation``, depthwise
  ``Convolution`` and ``elemwise_add``, which oneDNN runs in the blocked layout, and which its
  graph pass fuses (convolution + ReLU, convolution + sum).
* **oneDNN graph fusion**: on CPU the block is hybridised with ``backend='MKLDNN'``.

The PReLU after a dense layer (RNet's 128, ONet's 256 units) stays MXNet's op: it is tiny.
``benchmarks/detect.py`` measures the effect on whole detections.
"""
from __future__ import annotations

import mxnet as mx
import numpy as np
from mxnet.gluon import nn

from .nets import PReLU

__all__ = ["FusedNet", "fuse", "CHANNEL_MULTIPLE", "mkldnn_enabled"]

CHANNEL_MULTIPLE = 8  # oneDNN's channel block on AVX2 (nChw8c)


def mkldnn_enabled() -> bool:
    """Whether this MXNet build has oneDNN (MKLDNN), which the CPU graph pass needs."""
    return mx.runtime.Features().is_enabled("MKLDNN")


def _padded(channels: int, multiple: int) -> int:
    return -(-channels // multiple) * multiple


class FusedNet(nn.HybridBlock):
    """A PNet/RNet/ONet rewritten for inference (see the module docstring); build it with :func:`fuse`.

    Parameters
    ----------
    layers : list of tuple
        ``('conv', key, kernel, channels)``, ``('pool', kernel)``, ``('prelu4', key, channels)``,
        ``('prelu2', key)`` or ``('dense', key, units)``, in order.
    heads : list of tuple
        ``('conv' | 'dense', key, channels)``: the three outputs (class logits, box offsets,
        landmarks), each applied to the trunk's output.
    arrays : dict of str to ndarray
        The parameter values, keyed ``<key>_weight``, ``<key>_bias``, ``<key>_neg``, ``<key>_slope``,
        ``<key>_alpha``.
    name_short : str
        ``'pnet'``, ``'rnet'`` or ``'onet'``.
    """

    def __init__(self, layers, heads, arrays, name_short="", **kwargs):
        super().__init__(**kwargs)
        self._layers = list(layers)
        self._heads = list(heads)
        self.name_short = name_short
        self._values = {k: np.asarray(v, np.float32) for k, v in arrays.items()}
        with self.name_scope():
            for key, value in self._values.items():
                setattr(self, key, self.params.get(key, shape=value.shape, init=mx.init.Zero(),
                                                   grad_req="null", differentiable=False))

    def load(self, ctx) -> "FusedNet":
        """Initialise the parameters on ``ctx`` (a context or a list) with the fused values."""
        self.collect_params().initialize(ctx=ctx, force_reinit=True)
        for key, value in self._values.items():
            getattr(self, key).set_data(mx.nd.array(value))
        return self

    @staticmethod
    def _conv(F, x, weight, bias=None, kernel=1, channels=None, groups=1):
        return F.Convolution(x, weight, bias, kernel=(kernel, kernel), num_filter=channels,
                             num_group=groups, no_bias=bias is None)

    def hybrid_forward(self, F, x, **p):  # noqa: N802 (Gluon's signature)
        for layer in self._layers:
            kind, key = layer[0], layer[1]
            if kind == "conv":
                x = self._conv(F, x, p[key + "_weight"], p[key + "_bias"], kernel=layer[2], channels=layer[3])
            elif kind == "pool":
                x = F.Pooling(x, kernel=(key, key), stride=(2, 2), pool_type="max", pooling_convention="full")
            elif kind == "prelu4":
                c = layer[2]
                neg = F.Activation(self._conv(F, x, p[key + "_neg"], channels=c, groups=c), act_type="relu")
                x = F.Activation(x, act_type="relu") + self._conv(F, neg, p[key + "_slope"], channels=c, groups=c)
            elif kind == "prelu2":
                x = F.LeakyReLU(x, gamma=p[key + "_alpha"], act_type="prelu")
            elif kind == "dense":
                x = F.FullyConnected(x, p[key + "_weight"], p[key + "_bias"], num_hidden=layer[2])
            else:  # pragma: no cover - built by fuse() only
                raise ValueError(f"unknown layer kind {kind!r}")
        outs = []
        for kind, key, channels in self._heads:
            if kind == "conv":
                outs.append(self._conv(F, x, p[key + "_weight"], p[key + "_bias"], channels=channels))
            else:
                outs.append(F.FullyConnected(x, p[key + "_weight"], p[key + "_bias"], num_hidden=channels))
        return tuple(outs)


def _value(param):
    return param.data(param.list_ctx()[0]).asnumpy()


def fuse(net, ctx=None, multiple: int = CHANNEL_MULTIPLE, backend: str | None = "auto") -> FusedNet:
    """Copy a trained PNet/RNet/ONet into its inference form.

    Parameters
    ----------
    net : PNet, RNet or ONet
        With initialised parameters; its values are copied (later training of ``net`` does not
        reach the fused copy).
    ctx : mx.Context or list, optional
        Where the fused net runs (default CPU).
    multiple : int
        Pad convolution channel counts to a multiple of this (1: no padding).
    backend : str or None
        Graph pass for :meth:`~mxnet.gluon.HybridBlock.hybridize`; ``'auto'`` is ``'MKLDNN'`` when
        every context is a CPU and MXNet has oneDNN, else none.

    Returns
    -------
    FusedNet
        Hybridised, same outputs as ``net`` (logits, box offsets, landmarks).
    """
    ctx = ctx if ctx is not None else mx.cpu()
    ctxs = [ctx] if isinstance(ctx, mx.Context) else list(ctx)
    layers, arrays = [], {}
    real, padded = 3, 3  # channels entering the layer: real ones, and with padding
    for name in net._order:
        block = getattr(net, name)
        if isinstance(block, nn.Conv2D):
            w, b = _value(block.weight), _value(block.bias)
            kernel = w.shape[2]
            if w.shape[2] != w.shape[3] or block._kwargs.get("stride", (1, 1)) != (1, 1) \
                    or block._kwargs.get("pad", (0, 0)) != (0, 0):
                raise ValueError(f"fuse: {net.name}.{name}: only square, stride 1, unpadded convolutions")
            out = _padded(w.shape[0], multiple)
            weight = np.zeros((out, padded, kernel, kernel), np.float32)
            weight[:w.shape[0], :real] = w
            bias = np.zeros(out, np.float32)
            bias[:w.shape[0]] = b
            arrays[name + "_weight"], arrays[name + "_bias"] = weight, bias
            layers.append(("conv", name, kernel, out))
            real, padded = w.shape[0], out
        elif isinstance(block, nn.MaxPool2D):
            kw = block._kwargs
            if kw["pool_type"] != "max" or kw["stride"] != (2, 2) or kw["pooling_convention"] != "full":
                raise ValueError(f"fuse: {net.name}.{name}: only max pooling, stride 2, ceil mode")
            layers.append(("pool", kw["kernel"][0]))
        elif isinstance(block, PReLU):
            alpha = np.zeros(padded, np.float32)
            alpha[:real] = _value(block.alpha)
            if layers[-1][0] == "dense":
                arrays[name + "_alpha"] = alpha
                layers.append(("prelu2", name))
            else:
                arrays[name + "_neg"] = -np.ones((padded, 1, 1, 1), np.float32)
                arrays[name + "_slope"] = -alpha.reshape(-1, 1, 1, 1)
                layers.append(("prelu4", name, padded))
        elif isinstance(block, nn.Dense):
            arrays[name + "_weight"], arrays[name + "_bias"] = _dense_weights(block, real, padded)
            layers.append(("dense", name, arrays[name + "_bias"].shape[0]))
            real = padded = arrays[name + "_bias"].shape[0]
        else:  # pragma: no cover - the three nets use only these layers
            raise ValueError(f"fuse: {net.name}.{name}: unsupported layer {type(block).__name__}")
    heads = []
    for name in net.heads:
        block = getattr(net, name)
        if isinstance(block, nn.Conv2D):
            w = _value(block.weight)
            weight = np.zeros((w.shape[0], padded) + w.shape[2:], np.float32)
            weight[:, :real] = w
            heads.append(("conv", name, w.shape[0]))
        else:
            weight = _dense_weights(block, real, padded)[0]
            heads.append(("dense", name, weight.shape[0]))
        arrays[name + "_weight"], arrays[name + "_bias"] = weight, _value(block.bias)
    fused = FusedNet(layers, heads, arrays, name_short=net.name_short, prefix=net.prefix + "fused_").load(ctxs)
    if backend == "auto":
        backend = "MKLDNN" if mkldnn_enabled() and all(c.device_type == "cpu" for c in ctxs) else None
    if backend:
        fused.hybridize(backend=backend, static_alloc=True)
    else:
        fused.hybridize(static_alloc=True)
    return fused


def _dense_weights(block, real: int, padded: int):
    """A dense layer's weights with zero columns for padded input channels (after a flatten)."""
    w, b = _value(block.weight), _value(block.bias)
    if real == padded or w.shape[1] == padded:
        return w, b
    per_channel = w.shape[1] // real
    out = np.zeros((w.shape[0], padded, per_channel), np.float32)
    out[:, :real] = w.reshape(w.shape[0], real, per_channel)
    return out.reshape(w.shape[0], -1), b
