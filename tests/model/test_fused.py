"""The inference form of the nets (mtcnn_gluon.model.fused): the same outputs as the nets it was made from."""
import mxnet as mx
import numpy as np
import pytest
from numpy.testing import assert_allclose

from mtcnn_gluon.model.fused import fuse
from mtcnn_gluon.model.nets import get_net, load_reference_weights

SHAPES = {"pnet": [(1, 3, 12, 12), (1, 3, 41, 30), (2, 3, 64, 77)], "rnet": [(1, 3, 24, 24), (37, 3, 24, 24)],
          "onet": [(1, 3, 48, 48), (9, 3, 48, 48)]}


def _random_net(name, seed):
    # random weights and slopes of both signs: padding and the PReLU rewrite must hold for any values
    net = get_net(name)
    rs = np.random.RandomState(seed)
    for param in net.collect_params().values():
        param.set_data(mx.nd.array(rs.uniform(-0.5, 0.5, param.shape)))
    return net


def _outputs(net, x):
    return [o.asnumpy() for o in net(mx.nd.array(x))]


def _assert_same(ours, theirs):
    # float32 sums in another order: equal to ~1e-6 of the outputs' scale
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= 1e-5 * max(1.0, np.abs(theirs).max())


@pytest.mark.parametrize("name", ["pnet", "rnet", "onet"])
@pytest.mark.parametrize("multiple", [8, 1])
def test_fused_net_computes_what_the_net_computes(name, multiple):
    net = _random_net(name, seed=len(name) + multiple)
    fused = fuse(net, multiple=multiple)
    rs = np.random.RandomState(0)
    for shape in SHAPES[name]:  # odd sizes exercise the ceil-mode pooling edges
        x = rs.uniform(-1, 1, shape).astype(np.float32)
        for ours, theirs in zip(_outputs(fused, x), _outputs(net, x)):
            _assert_same(ours, theirs)


def test_fused_net_pads_channels_to_the_onednn_block():
    fused = fuse(get_net("pnet"))
    assert fused.conv1_weight.shape == (16, 3, 3, 3)  # 10 channels padded to 16
    assert fused.conv2_weight.shape == (16, 16, 3, 3)  # and the next layer reads the padding
    assert not fused.conv1_bias.data().asnumpy()[10:].any()
    assert fuse(get_net("rnet")).conv1_weight.shape[0] == 32  # 28 -> 32


def test_fused_net_is_a_copy(data_root):
    net = get_net("onet")
    load_reference_weights(net, data_root / "reference_mtcnn")
    fused = fuse(net)
    x = np.random.RandomState(1).uniform(-1, 1, (4, 3, 48, 48)).astype(np.float32)
    before = _outputs(fused, x)
    for ours, theirs in zip(before, _outputs(net, x)):  # the original weights too
        _assert_same(ours, theirs)
    net.conv1.weight.set_data(net.conv1.weight.data() * 0)
    for a, b in zip(_outputs(fused, x), before):
        assert_allclose(a, b)


def test_fused_net_runs_on_a_list_of_contexts():
    net = _random_net("pnet", seed=5)
    fused = fuse(net, ctx=[mx.cpu(0), mx.cpu(1)])
    x = np.random.RandomState(2).uniform(-1, 1, (1, 3, 30, 30)).astype(np.float32)
    out = fused(mx.nd.array(x, ctx=mx.cpu(1)))[0]
    assert out.context == mx.cpu(1)
    _assert_same(out.asnumpy(), _outputs(net, x)[0])
