"""The package's shape: layers that import only downwards, no cycle, one command line, each fact stated once.

Read from the source with ``ast`` (nothing is imported), so a change that breaks a rule fails here with the
file and line, whatever the tests of behaviour say.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mtcnn_gluon"

#: Lowest first. A module may import from its own layer (without a cycle) or from the layers below.
LAYERS = (
    ("utils",),
    ("config",),
    ("data", "viz"),
    ("model", "cascade"),
    ("detector",),
    ("eval", "checkpoint", "gpu"),
    ("train", "mining"),
    ("pipeline",),
    ("course",),
    ("cli", "__main__"),
)
MAX_LINES = 600


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        yield ".".join(["mtcnn_gluon", *parts]), path


def _layer(module: str) -> int:
    top = module.split(".")[1] if module.count(".") else ""
    for k, names in enumerate(LAYERS):
        if top in names:
            return k
    raise AssertionError(f"{module}: not in any layer of LAYERS; add it where it belongs")


def _package_imports(module: str, path: Path):
    """``(target module, line, at module level)`` for every import of the package in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    top_level = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[:len(base) - node.level + 1]
                stem = ".".join(anchor + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            if stem.startswith("mtcnn_gluon"):
                # `from . import boxes` names a module; `from .boxes import nms` a name in one
                for alias in node.names:
                    sub = f"{stem}.{alias.name}"
                    targets.append(sub if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).is_file() else stem)
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name.startswith("mtcnn_gluon")]
        for t in targets:
            yield t, node.lineno, id(node) in top_level


MODULES = dict(_modules())


def test_every_module_sits_in_a_layer():
    for module in MODULES:
        if module != "mtcnn_gluon":
            _layer(module)


def test_imports_at_module_level_and_only_downwards():
    problems = []
    for module, path in MODULES.items():
        if module == "mtcnn_gluon":
            continue
        for target, line, top in _package_imports(module, path):
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            if not top:
                problems.append(f"{where}: imports {target} inside a function or block; import at module level")
            if target != "mtcnn_gluon" and _layer(target) > _layer(module):
                problems.append(f"{where}: {module} (layer {_layer(module)}) imports {target} "
                                f"(layer {_layer(target)}), a higher layer")
    assert problems == [], "\n".join(problems)


def test_no_import_cycle():
    graph = {m: {t for t, _, _ in _package_imports(m, p) if t in MODULES and t != m} for m, p in MODULES.items()}
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_modules_stay_readable():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


def _imports_module(path: Path, name: str) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == name for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == name:
            return True
    return False


def test_argparse_lives_in_cli_only():
    users = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if _imports_module(p, "argparse"))
    assert users == ["cli.py"]


def _defined_where(predicate):
    found = set()
    for p in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if predicate(node):
                found.add(str(p.relative_to(PACKAGE)))
    return found


@pytest.mark.parametrize("name, home", [
    ("LABEL_SIZE", "utils/labels.py"), ("TYPE_CLS", "utils/labels.py"), ("MIRROR_ORDER", "utils/labels.py"),
    ("TYPES", "utils/labels.py"), ("INPUT_SIZE", "config.py"), ("LOSS_WEIGHTS", "config.py"),
    ("BATCH_MIX", "config.py"), ("PIXEL_MEAN", "utils/images.py"),
])
def test_each_fact_is_assigned_once(name, home):
    where = _defined_where(lambda n: isinstance(n, ast.Assign)
                           and any(isinstance(t, ast.Name) and t.id == name for t in n.targets))
    assert where == {home}


@pytest.mark.parametrize("value", [127.5, 0.0078125])
def test_input_normalisation_written_once(value):
    where = _defined_where(lambda n: isinstance(n, ast.Constant) and n.value == value)
    assert where == {"utils/images.py"}


@pytest.mark.parametrize("func, home", [
    ("contexts", "utils/device.py"), ("padded_crop", "utils/images.py"), ("crop_and_resize", "utils/images.py"),
    ("normalize", "utils/images.py"), ("detections_to_json", "cascade.py"), ("run_pnet", "cascade.py"), ("evaluate_cascade", "eval/cascade.py"),
])
def test_each_function_is_defined_once(func, home):
    assert _defined_where(lambda n: isinstance(n, ast.FunctionDef) and n.name == func) == {home}


def test_gpus_become_contexts_in_one_place():
    where = _defined_where(lambda n: isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                           and n.func.attr == "gpu" and getattr(n.func.value, "id", "") == "mx")
    assert where <= {"utils/device.py", "gpu.py"}


def test_the_cascade_runs_without_mxnet():
    """A deployment imports ``mtcnn_gluon.cascade`` (NumPy, OpenCV, onnxruntime) and never MXNet."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['mxnet'] = None\n"  # any import of mxnet now fails
            "import mtcnn_gluon.cascade as c\n"
            "assert 'mxnet' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
            "print(c.OnnxCascade.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "OnnxCascade" in out.stdout, out.stderr
