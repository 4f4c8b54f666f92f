"""Files from outside: weights folders that do not fit, and no pickle anywhere a user file is read."""
import ast
import os
import pickle
import re
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

import mtcnn_gluon
from mtcnn_gluon.detector import MTCNNDetector
from mtcnn_gluon.model.nets import WeightsError, get_net, load_weights, save_weights

PACKAGE = Path(mtcnn_gluon.__file__).parent


def _copy_cascade(src, dst):
    dst.mkdir()
    for name in ("pnet", "rnet", "onet"):
        (dst / f"{name}.params").write_bytes((src / f"{name}.params").read_bytes())
    return dst


def test_missing_params_file_names_it(random_cascade, tmp_path):
    folder = _copy_cascade(random_cascade, tmp_path / "w")
    (folder / "rnet.params").unlink()
    with pytest.raises(FileNotFoundError, match=r"w/rnet\.params: weights file for rnet not found"):
        MTCNNDetector.from_weights(folder)
    with pytest.raises(FileNotFoundError, match=r"nowhere: weights folder not found"):
        MTCNNDetector.from_weights(tmp_path / "nowhere")


def test_wrong_shaped_and_missing_parameters_are_listed(random_cascade, tmp_path):
    folder = _copy_cascade(random_cascade, tmp_path / "w")
    (folder / "pnet.params").write_bytes((random_cascade / "rnet.params").read_bytes())  # rnet's weights as pnet
    with pytest.raises(WeightsError, match=r"w/pnet\.params: does not fit pnet: .*conv1_weight has shape "
                                           r"\(28, 3, 3, 3\), expected \(10, 3, 3, 3\)"):
        MTCNNDetector.from_weights(folder)
    arrays = mx.nd.load(os.fspath(random_cascade / "onet.params"))
    del arrays["conv6_3_weight"]
    mx.nd.save(os.fspath(folder / "onet.params"), arrays)
    with pytest.raises(WeightsError, match=r"onet\.params: does not fit onet: missing conv6_3_weight$"):
        load_weights(get_net("onet"), folder / "onet.params")


@pytest.mark.parametrize("content", [b"", b"not weights at all\n", b"\x12\x01\x00\x00\x00\x00\x00\x00garbage"],
                         ids=["empty", "text", "torn"])
def test_unreadable_params_file_is_a_weights_error(tmp_path, content):
    path = tmp_path / "pnet.params"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=r"pnet\.params: not an MXNet parameter file"):
        load_weights(get_net("pnet"), path)


def test_a_pickle_posing_as_weights_is_rejected_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (os.fspath(marker), "w"))

    path = tmp_path / "pnet.params"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(WeightsError, match=r"not an MXNet parameter file"):
        load_weights(get_net("pnet"), path)
    assert not marker.exists()


def test_saved_weights_round_trip(tmp_path):
    net = get_net("rnet")
    save_weights(net, tmp_path / "rnet.params")
    other = get_net("rnet")
    load_weights(other, tmp_path / "rnet.params")
    for (k, a), (_, b) in zip(net.collect_params().items(), other.collect_params().items()):
        np.testing.assert_array_equal(a.data().asnumpy(), b.data().asnumpy(), err_msg=k)


# ------------------------------------------------------------------------------------- no pickle

#: The single pickle load the package keeps: older training checkpoints, only when the user sets
#: MTCNN_TRUST_PICKLED_CHECKPOINTS=1 (see mtcnn_gluon/train.py, _load_legacy_trainer_states).
ALLOWED = {("checkpoint.py", "_load_legacy_trainer_states", "load_states")}


def _calls(tree):
    """(function name, call node) for every call, with the enclosing top-level function's name."""
    for top in ast.walk(tree):
        if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(top):
                if isinstance(node, ast.Call):
                    yield top.name, node


def test_package_source_never_enables_pickle_loading():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        src = path.read_text(encoding="utf-8")
        rel = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(src)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                bad = [n for n in names if n and n.split(".")[0] in ("pickle", "cPickle", "dill", "joblib",
                                                                     "shelve", "marshal", "cloudpickle")]
                if bad:
                    problems.append(f"{rel}:{node.lineno}: imports {bad}")
        seen = set()
        for func, call in _calls(tree):
            if id(call) in seen:
                continue
            seen.add(id(call))
            name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            kwargs = {k.arg: k.value for k in call.keywords}
            where = f"{rel}:{call.lineno}"
            if "allow_pickle" in kwargs and not (isinstance(kwargs["allow_pickle"], ast.Constant)
                                                 and kwargs["allow_pickle"].value is False):
                problems.append(f"{where}: allow_pickle is not False")
            if name == "load" and isinstance(call.func, ast.Attribute) and \
                    getattr(call.func.value, "id", "") in ("np", "numpy") and "allow_pickle" not in kwargs:
                problems.append(f"{where}: np.load without allow_pickle=False")
            if name in ("load_states", "load_optimizer_states", "set_states") and \
                    (rel, func, name) not in ALLOWED:
                problems.append(f"{where}: {name}() unpickles")
            if name in ("load", "loads", "Unpickler") and isinstance(call.func, ast.Attribute) and \
                    getattr(call.func.value, "id", "") in ("torch", "yaml", "pickle", "joblib", "dill"):
                problems.append(f"{where}: {call.func.value.id}.load")
    assert problems == [], "\n".join(problems)


def test_the_one_allowed_pickle_load_is_guarded_by_an_explicit_opt_in():
    src = (PACKAGE / "checkpoint.py").read_text(encoding="utf-8")
    body = src[src.index("def _load_legacy_trainer_states"):]
    body = body[:body.index("\ndef ", 1)]
    guard = body.index('if os.environ.get(_TRUST_LEGACY_ENV) != "1":')
    assert guard < body.index("raise ValueError") < body.index("trainer.load_states(path)")
    assert re.search(r'_TRUST_LEGACY_ENV = "MTCNN_TRUST_PICKLED_CHECKPOINTS"', src)
    assert src.count("load_states(") == 1
