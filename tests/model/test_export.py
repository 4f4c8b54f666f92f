"""The nets as ONNX graphs: the same outputs as MXNet at every shape the detector feeds them, in onnxruntime."""
import os

import mxnet as mx
import numpy as np
import onnx
import pytest
from numpy.testing import assert_array_equal
from onnx import numpy_helper

from mtcnn_gluon.model.export import OnnxNet, to_onnx
from mtcnn_gluon.model.nets import get_net, load_reference_weights

SHAPES = {
    # 12 x 12: PNet's first map is 10 x 10 with 10 channels (C = W), where a (C,) slope broadcasts along the
    # width and runs without an error, wrongly; odd and non-square pyramid levels; batches > 1
    "pnet": [(1, 3, 12, 12), (2, 3, 12, 12), (1, 3, 12, 31), (1, 3, 23, 17), (3, 3, 61, 100)],
    "rnet": [(1, 3, 24, 24), (7, 3, 24, 24)],
    "onet": [(1, 3, 48, 48), (5, 3, 48, 48)],
}


def _mxnet(net, x):
    cls, box, lmk = net(mx.nd.array(x))
    return mx.nd.softmax(cls, axis=1).asnumpy(), box.asnumpy(), lmk.asnumpy()


def _random_slopes(net, seed):
    """Slopes that differ per channel (and are negative): a slope broadcast along the wrong axis shows."""
    rng = np.random.default_rng(seed)
    for name, p in net.collect_params().items():
        if name.endswith("alpha"):
            p.set_data(mx.nd.array(rng.uniform(-0.5, 0.9, p.shape)))


@pytest.mark.parametrize("name", ["pnet", "rnet", "onet"])
def test_export_matches_mxnet_with_random_weights(name):
    mx.random.seed(1)
    net = get_net(name)
    _random_slopes(net, 2)
    ox = OnnxNet(to_onnx(net))
    for shape in SHAPES[name]:
        x = np.random.default_rng(3).uniform(-1, 1, shape).astype(np.float32)
        for a, b in zip(_mxnet(net, x), ox(x)):
            assert a.shape == b.shape
            np.testing.assert_allclose(b, a, atol=1e-4, err_msg=f"{name} {shape}")


@pytest.mark.parametrize("name", ["pnet", "rnet", "onet"])
def test_export_matches_mxnet_with_the_original_weights(name, reference_weights):
    net = get_net(name)
    load_reference_weights(net, reference_weights)
    ox = OnnxNet(to_onnx(net))
    for shape in SHAPES[name]:
        x = np.random.default_rng(4).uniform(-1, 1, shape).astype(np.float32)
        for a, b in zip(_mxnet(net, x), ox(x)):
            np.testing.assert_allclose(b, a, atol=1e-4, err_msg=f"{name} {shape}")


def test_prelu_slope_shapes_follow_their_input():
    model = to_onnx(get_net("rnet"))
    slopes = {i.name: numpy_helper.to_array(i).shape for i in model.graph.initializer if i.name.endswith("_slope")}
    assert slopes == {"prelu1_slope": (28, 1, 1), "prelu2_slope": (48, 1, 1), "prelu3_slope": (64, 1, 1),
                      "prelu4_slope": (128,)}  # after the dense layer: one per unit, no spatial axes


def test_a_width_broadcast_slope_would_be_wrong_here():
    """The exporter bug this module avoids, shown on the case that hides it: on PNet's 12 x 12 input the
    (C,) slope runs, and gives other numbers."""
    mx.random.seed(1)
    net = get_net("pnet")
    _random_slopes(net, 2)
    model = to_onnx(net)
    for init in model.graph.initializer:
        if init.name == "prelu1_slope":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).reshape(-1), init.name))
    x = np.random.default_rng(3).uniform(-1, 1, (1, 3, 12, 12)).astype(np.float32)
    wrong = OnnxNet(model)(x)[0]
    assert not np.allclose(wrong, _mxnet(net, x)[0], atol=1e-4)


def test_pnet_takes_any_size_and_the_others_any_batch():
    for name, dims in (("pnet", ["N", 3, "H", "W"]), ("rnet", ["N", 3, 24, 24]), ("onet", ["N", 3, 48, 48])):
        shape = to_onnx(get_net(name)).graph.input[0].type.tensor_type.shape.dim
        assert [d.dim_param or d.dim_value for d in shape] == dims
        onnx.checker.check_model(to_onnx(get_net(name)))


def test_pnet_without_its_landmark_head_gives_the_same_maps():
    mx.random.seed(1)
    net = get_net("pnet")
    full, maps = OnnxNet(to_onnx(net)), OnnxNet(to_onnx(net, landmarks=False))
    assert full.outputs == ["prob", "box", "landmarks"] and maps.outputs == ["prob", "box"]
    assert "landmarks" not in {o for n in to_onnx(net, landmarks=False).graph.node for o in n.output}
    x = np.random.default_rng(5).uniform(-1, 1, (1, 3, 37, 53)).astype(np.float32)
    prob, box, _ = full(x)
    got = maps(x)
    # 37 x 53: conv 35 x 51, pool rounding up 18 x 26, two 3 x 3 convs 14 x 22
    assert len(got) == 2 and got[0].shape == (1, 2, 14, 22)
    np.testing.assert_array_equal(got[0], prob)
    np.testing.assert_array_equal(got[1], box)


@pytest.mark.parametrize("name", ["pnet", "rnet", "onet"])
def test_prelus_with_slopes_of_one_sign_run_after_the_pooling_and_give_the_same_outputs(name):
    mx.random.seed(1)
    net = get_net(name)
    rng = np.random.default_rng(6)
    alphas = [p for key, p in net.collect_params().items() if key.endswith("alpha")]
    for p in alphas:
        p.set_data(mx.nd.array(rng.uniform(0.0, 0.9, p.shape)))
    alphas[1].set_data(mx.nd.zeros(alphas[1].shape))  # a slope of exactly 0 (ReLU) is >= 0 too
    alphas[0].set_data(alphas[0].data() * -1)  # the first PReLU decreases below 0: it must stay before its pool
    model = to_onnx(net)
    order = [n.op_type for n in model.graph.node if n.op_type in ("PRelu", "MaxPool")]
    expected = {"pnet": ["PRelu", "MaxPool", "PRelu", "PRelu"],
                "rnet": ["PRelu", "MaxPool", "MaxPool", "PRelu", "PRelu", "PRelu"],
                "onet": ["PRelu", "MaxPool", "MaxPool", "PRelu", "MaxPool", "PRelu", "PRelu", "PRelu"]}
    assert order == expected[name]
    ox, in_order = OnnxNet(model), OnnxNet(to_onnx(net, pool_first=False))
    for shape in SHAPES[name]:
        x = np.random.default_rng(7).uniform(-1, 1, shape).astype(np.float32)
        for a, b, c in zip(_mxnet(net, x), ox(x), in_order(x)):
            np.testing.assert_allclose(b, a, atol=1e-5, err_msg=f"{name} {shape}")
            assert_array_equal(b, c, err_msg=f"{name} {shape}: not the same floats as in the nets' order")



def test_onnx_nets_run_chunks_at_once_and_keep_their_order(monkeypatch):
    """Several single-thread calls at once give, chunk for chunk and in order, what one call per chunk gives."""
    from mtcnn_gluon.cascade import OnnxNets, onnx_threads
    mx.random.seed(1)
    rnet, pnet = get_net("rnet"), get_net("pnet")
    _random_slopes(rnet, 2)
    nets = OnnxNets({"rnet": to_onnx(rnet), "pnet": to_onnx(pnet, landmarks=False)}, threads=3)
    one = OnnxNet(to_onnx(rnet), threads=1)
    x = np.random.default_rng(9).uniform(-1, 1, (150, 3, 24, 24)).astype(np.float32)
    got = nets.forward("rnet", x, chunk=1000)  # at most ONNX_CHUNK (64) a call: 64 + 64 + 22
    want = [np.concatenate([one(x[i:i + 64])[k] for i in (0, 64, 128)]) for k in range(3)]
    for a, b in zip(got, want):
        assert_array_equal(a, b)
    level = np.random.default_rng(10).uniform(-1, 1, (1, 3, 40, 30)).astype(np.float32)
    prob, box = OnnxNets.read_level(nets.pnet_level(lambda: level))
    assert prob.shape == (15, 10) and box.shape == (4, 15, 10)
    assert_array_equal(prob, OnnxNet(to_onnx(pnet, landmarks=False))(level)[0][0, 1])
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert onnx_threads() == 3 and onnx_threads(5) == 5
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")  # an OpenMP list: its first level
    assert onnx_threads() == 4
    for unset in ("", " "):
        monkeypatch.setenv("OMP_NUM_THREADS", unset)
        assert onnx_threads() == (os.cpu_count() or 1)
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert onnx_threads() == (os.cpu_count() or 1)


@pytest.mark.parametrize("env, threads", [("abc", None), ("0", None), ("2.5", None), ("-3", None),
                                          (None, 0), (None, 1.5)])
def test_bad_thread_counts_are_refused_by_name(monkeypatch, env, threads):
    from mtcnn_gluon.cascade import onnx_threads
    from mtcnn_gluon.utils.checks import UserError
    if env is not None:
        monkeypatch.setenv("OMP_NUM_THREADS", env)
    with pytest.raises(UserError, match="OMP_NUM_THREADS" if env is not None else "threads"):
        onnx_threads(threads)
