"""The three nets: paper shapes, PReLU equivalence, reference-weight import against the reference symbols."""
import mxnet as mx
import numpy as np
import pytest
from numpy.testing import assert_allclose

from mtcnn_gluon.model.nets import (PReLU, WeightsError, get_net, load_reference_weights, load_weights,
                                     save_weights)


@pytest.mark.parametrize("name,size,spatial", [("pnet", 12, (1, 1)), ("rnet", 24, ()), ("onet", 48, ())])
def test_output_shapes(name, size, spatial):
    net = get_net(name)
    cls, box, lmk = net(mx.nd.zeros((3, 3, size, size)))
    assert cls.shape == (3, 2) + spatial
    assert box.shape == (3, 4) + spatial
    assert lmk.shape == (3, 10) + spatial


def test_pnet_is_fully_convolutional_with_stride_2():
    cls, _, _ = get_net("pnet")(mx.nd.zeros((1, 3, 40, 31)))
    # conv 3 -> 38x29, pool 2 (ceil) -> 19x15, two convs 3 -> 15x11
    assert cls.shape == (1, 2, 15, 11)


@pytest.mark.parametrize("name,n_params", [("pnet", 6962), ("rnet", 101468), ("onet", 389040)])
def test_parameter_counts_match_the_paper_layers(name, n_params):
    # counted by hand from the layer list (conv + PReLU slopes + heads, incl. our landmark heads)
    net = get_net(name)
    assert sum(int(np.prod(p.shape)) for p in net.collect_params().values()) == n_params


@pytest.mark.parametrize("impl", ["dw", "conv", "relu", "mxnet"])
@pytest.mark.parametrize("shape", [(2, 4, 5, 5), (3, 4)])
def test_prelu_equals_the_definition_forwards_and_backwards(impl, shape):
    x = mx.nd.array(np.random.RandomState(0).randn(*shape))
    block = PReLU(4, ndim=len(shape), impl=impl)
    block.initialize()
    alpha = np.array([0.1, 0.25, -0.3, 2.0])
    block.alpha.set_data(mx.nd.array(alpha))
    block.hybridize()
    x.attach_grad()
    with mx.autograd.record():
        y = block(x)
    y.backward()
    a = alpha.reshape((1, 4) + (1,) * (len(shape) - 2))
    xn = x.asnumpy()
    assert_allclose(y.asnumpy(), np.maximum(xn, 0) + a * np.minimum(xn, 0), atol=1e-6)
    assert_allclose(x.grad.asnumpy(), np.where(xn > 0, 1.0, a * np.ones_like(xn)), atol=1e-6)
    # d/d alpha = sum of min(x, 0) over everything but the channel axis
    axes = tuple(i for i in range(len(shape)) if i != 1)
    assert_allclose(block.alpha.grad().asnumpy(), np.minimum(xn, 0).sum(axis=axes), rtol=1e-5)


def test_get_net_names_valid_choices():
    with pytest.raises(ValueError, match="pnet, rnet, onet"):
        get_net("qnet")


@pytest.mark.parametrize("name,prefix,size,outputs", [
    ("pnet", "det1", 29, ["conv4_2", "prob1"]),
    ("rnet", "det2", 24, ["conv5_2", "prob1"]),
    ("onet", "det3", 48, ["conv6_3", "conv6_2", "prob1"]),
])
def test_reference_import_reproduces_reference_symbol(reference_weights, name, prefix, size, outputs):
    net = get_net(name)
    untouched = load_reference_weights(net, reference_weights)
    assert untouched == ({"pnet": ["conv4_3_bias", "conv4_3_weight"], "rnet": ["conv5_3_bias", "conv5_3_weight"],
                          "onet": []}[name])
    net.hybridize()
    x = np.random.RandomState(1).uniform(-1, 1, (5, 3, size, size)).astype(np.float32)
    cls, box, lmk = net(mx.nd.array(x))
    sym, args, _ = mx.model.load_checkpoint(str(reference_weights / prefix), 1)
    internals = sym.get_internals()
    exe = mx.sym.Group([internals[o + "_output"] for o in outputs]).simple_bind(mx.cpu(), data=x.shape,
                                                                               grad_req="null")
    for k, v in args.items():
        if k in exe.arg_dict:
            exe.arg_dict[k][:] = v
    exe.arg_dict["data"][:] = x
    ref = [o.asnumpy() for o in exe.forward()]
    assert_allclose(mx.nd.softmax(cls, axis=1).asnumpy(), ref[-1], atol=1e-5)
    assert_allclose(box.asnumpy(), ref[-2], atol=1e-5)
    if name == "onet":  # reference order x1..x5, y1..y5; ours interleaved
        assert_allclose(lmk.asnumpy(), ref[0][:, [0, 5, 1, 6, 2, 7, 3, 8, 4, 9]], atol=1e-5)


def test_save_load_roundtrip_and_clear_errors(tmp_path):
    a, b = get_net("rnet"), get_net("rnet")
    save_weights(a, tmp_path / "rnet.params")
    load_weights(b, tmp_path / "rnet.params")
    for (ka, pa), (kb, pb) in zip(a.collect_params().items(), b.collect_params().items()):
        assert_allclose(pa.data().asnumpy(), pb.data().asnumpy())
    with pytest.raises(WeightsError, match=r"rnet.params: does not fit pnet: missing .*conv4_1_weight"):
        load_weights(get_net("pnet"), tmp_path / "rnet.params")
    (tmp_path / "bad.params").write_bytes(b"not params")
    with pytest.raises(WeightsError, match="bad.params: not an MXNet parameter file"):
        load_weights(a, tmp_path / "bad.params")
    with pytest.raises(FileNotFoundError, match="nope.params"):
        load_weights(a, tmp_path / "nope.params")
    # one wrong shape is named with both shapes
    arrays = mx.nd.load(str(tmp_path / "rnet.params"))
    arrays["conv4_weight"] = mx.nd.zeros((128, 10))
    mx.nd.save(str(tmp_path / "shape.params"), arrays)
    with pytest.raises(WeightsError, match=r"conv4_weight has shape \(128, 10\), expected \(128, 576\)"):
        load_weights(a, tmp_path / "shape.params")
