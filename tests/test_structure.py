"""The package's structure (STYLE.md section 1): imports go downwards, nothing imports another module's private names.

Every module under tinygrad_med/ is parsed with ``ast``; every import it holds (at module level and inside
functions, relative imports resolved) becomes an edge of the import graph.  The checks:

* no import cycle, except the one between ``tinygrad_med.tensor`` and the op modules: Tensor's methods
  delegate to ``ops/`` (``x.relu()``) and the ops build Tensors, which is inherent to a define-by-run
  framework.  A cycle is allowed only when ``tinygrad_med.tensor`` is in it and every other member is a
  core module or lives in ``tinygrad_med.ops``.
* no ``from X import _name`` and no ``X._name`` of another module's private name.  Dunders
  (``__version__``) are not private; a private *module* (``data/_packages.py``) may be imported from its
  own package only.
* ``tinygrad_med.data`` imports nothing from the training layer or models.
* layers: a module never imports a module of a higher layer (core < ops < nn/optim < data < models < the top).
* a generous size cap: files <= 600 lines, function bodies <= 80 lines (STYLE.md's ~400/~40 is the aim;
  the cap catches a file that grew without anyone splitting it by meaning).
"""

import ast
import importlib
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tinygrad_med"
FILE_CAP = 600  # lines per file
BODY_CAP = 80  # lines per function body, docstring excluded

CORE = {
    "tinygrad_med",  # the package's __init__ re-exports the public names; treated as the top below
    "tinygrad_med.tensor",
    "tinygrad_med.function",
    "tinygrad_med.autograd",
    "tinygrad_med.backend",
    "tinygrad_med.random",
    "tinygrad_med.errors",
    "tinygrad_med.inplace",  # version counters of in-place ops, checked by autograd
    "tinygrad_med.anomaly",  # detect_anomaly, checked by autograd
}

# old module paths kept for one release: each only warns and re-exports its new module
DEPRECATED = {
    "tinygrad_med.train": "tinygrad_med.training.loop",
    "tinygrad_med.train_cli": "tinygrad_med.training.cli",
    "tinygrad_med.objectives": "tinygrad_med.training.objectives",
    "tinygrad_med.objectives_generative": "tinygrad_med.training.objectives.generative",
    "tinygrad_med.objectives_detection": "tinygrad_med.training.objectives.detection",
    "tinygrad_med.objectives_captioning": "tinygrad_med.training.objectives.captioning",
    "tinygrad_med.run_folder": "tinygrad_med.training.run_folder",
    "tinygrad_med.run_config": "tinygrad_med.training.run_config",
    "tinygrad_med.plots": "tinygrad_med.training.plots",
    "tinygrad_med.metrics": "tinygrad_med.training.metrics",
    "tinygrad_med.predict_io": "tinygrad_med.training.predict_io",
    "tinygrad_med.gradcheck_cases": "tinygrad_med.gradcheck.cases",
    "tinygrad_med.gradcheck_cases_advanced": "tinygrad_med.gradcheck.cases_advanced",
    "tinygrad_med.gradcheck_suite": "tinygrad_med.gradcheck.suite",
    "tinygrad_med.utils": "tinygrad_med.nn.receptive_field",
    "tinygrad_med.objectives_graph": "tinygrad_med.training.objectives.graph",
    "tinygrad_med.plots_graph": "tinygrad_med.training.plots_graph",
}

# layer of a module: the first prefix that matches (longest prefixes first); unlisted modules are layer 0 (core)
LAYERS = [
    ("tinygrad_med.kernelcheck", 0),  # the kernel emulator the backend runs kernels with on 'emulated'
    ("tinygrad_med.ops", 1),
    ("tinygrad_med.graph", 1),
    ("tinygrad_med.factory", 1),
    ("tinygrad_med.factory_args", 1),
    ("tinygrad_med.nn", 2),
    ("tinygrad_med.optim", 2),
    ("tinygrad_med.serialization", 2),
    ("tinygrad_med.npz_reader", 2),
    ("tinygrad_med.data", 3),
    ("tinygrad_med.models", 4),
    ("tinygrad_med.training", 5),
    ("tinygrad_med.gradcheck", 5),
    ("tinygrad_med.bench", 5),
    ("tinygrad_med.exercises", 5),
    ("tinygrad_med.distributed", 5),
    ("tinygrad_med.cli", 6),
    ("tinygrad_med.__main__", 6),
    *((name, 7) for name in DEPRECATED),  # above everything; nothing in the package imports them
]
TOP = {"tinygrad_med"}  # the package __init__ may import everything


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules():
    """{dotted name: (path, ast tree)} of every module of the package."""
    return {module_name(p): (p, ast.parse(p.read_text())) for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(current, path, level, name):
    """Absolute dotted name of ``from <level dots><name> import``, seen from module ``current``."""
    if not level:
        return name
    package = current.split(".") if path.name == "__init__.py" else current.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imports(mods):
    """(module, imported module, imported name or None, line) for every import inside the package."""
    for current, (path, tree) in mods.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("tinygrad_med"):
                        yield current, alias.name, None, node.lineno
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(current, path, node.level, node.module)
                if not target.startswith("tinygrad_med"):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in mods:  # `from . import backend` imports a module
                        yield current, sub, None, node.lineno
                    else:
                        yield current, target, alias.name, node.lineno


def graph(mods):
    """{module: set of modules it imports}, with each imported package's __init__ as a node of its own."""
    edges = {name: set() for name in mods}
    for current, target, _, _ in imports(mods):
        if target in mods and target != current:
            edges[current].add(target)
    return edges


def cycles(edges):
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def _allowed_cycle(component):
    """The tensor <-> ops cycle: tensor.py is in it, every other member is core or under tinygrad_med.ops."""
    rest = set(component) - {"tinygrad_med.tensor"}
    return "tinygrad_med.tensor" in component and all(m in CORE or m.startswith("tinygrad_med.ops") for m in rest)


def layer(name):
    for prefix, level in sorted(LAYERS, key=lambda item: -len(item[0])):
        if name == prefix or name.startswith(prefix + "."):
            return level
    return 0


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _package_of(name, mods):
    path = mods[name][0]
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def private_imports(mods):
    """'module:line imports X._name' for every private name taken from another module."""
    found = []
    aliases = {}  # module -> {local name: imported module} for `X._name` attribute access
    for current, target, name, line in imports(mods):
        if name is None:
            last = target.rpartition(".")[2]
            aliases.setdefault(current, {})[last] = target
            if _private(last) and target in mods and _package_of(target, mods) != _package_of(current, mods):
                found.append(f"{current}:{line} imports private module {target}")
        elif _private(name) and target != current:
            found.append(f"{current}:{line} imports {target}.{name}")
    for current, (_, tree) in mods.items():
        local = aliases.get(current, {})
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and _private(node.attr):
                target = local.get(node.value.id)
                if target and target != current and f"{target}.{node.attr}" not in mods:
                    found.append(f"{current}:{node.lineno} uses {target}.{node.attr}")
    return sorted(set(found))


def _body_lines(function):
    body = function.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        body = body[1:]
    return body[-1].end_lineno - body[0].lineno + 1 if body else 0


MODS = modules()
EDGES = graph(MODS)


def test_the_walk_finds_the_package():
    assert len(MODS) > 100
    assert "tinygrad_med.nn.functional" in EDGES["tinygrad_med.nn.conv"]
    assert "tinygrad_med.models" in EDGES["tinygrad_med.training.loop"]


def test_no_import_cycle_but_tensor_and_ops():
    bad = [c for c in cycles(EDGES) if not _allowed_cycle(c)]
    assert not bad, "import cycles (a helper both need belongs in the lower module):\n" + "\n".join(map(str, bad))


def test_no_private_name_imported_across_modules():
    found = private_imports(MODS)
    assert not found, "make the helper public in the lower module:\n" + "\n".join(found)


def test_data_imports_neither_training_nor_models():
    bad = [
        f"{a} -> {b}"
        for a, targets in EDGES.items()
        if a.startswith("tinygrad_med.data")
        for b in targets
        if layer(b) >= layer("tinygrad_med.models")
    ]
    assert not bad, bad


def test_imports_go_downwards():
    bad = [
        f"{a} (layer {layer(a)}) -> {b} (layer {layer(b)})"
        for a, targets in EDGES.items()
        if a not in TOP
        for b in targets
        if layer(b) > layer(a) and not _allowed_cycle([a, b])  # tensor.py's methods call ops/
    ]
    assert not bad, "imports of a higher layer:\n" + "\n".join(sorted(bad))


def test_files_and_function_bodies_stay_under_the_cap():
    over = []
    for name, (path, tree) in MODS.items():
        lines = path.read_text().count("\n")
        if lines > FILE_CAP:
            over.append(f"{name}: {lines} lines (cap {FILE_CAP})")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_lines(node) > BODY_CAP:
                over.append(f"{name}::{node.name}: body {_body_lines(node)} lines (cap {BODY_CAP})")
    assert not over, "split by meaning:\n" + "\n".join(over)


def test_the_checks_can_fail():
    """The checkers catch what they are for, on a made-up graph and module."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert _allowed_cycle(["tinygrad_med.ops.conv", "tinygrad_med.tensor"])
    assert not _allowed_cycle(["tinygrad_med.backend", "tinygrad_med.kernelcheck.emulator"])
    assert not _allowed_cycle(["tinygrad_med.nn.conv", "tinygrad_med.tensor"])
    assert _private("_blocks") and not _private("__version__") and not _private("blocks")
    assert layer("tinygrad_med.data.registry") < layer("tinygrad_med.models.unet") < layer("tinygrad_med.training")


@pytest.mark.parametrize("old", sorted(DEPRECATED))
def test_each_old_path_warns_and_re_exports_its_new_module(old):
    new = importlib.import_module(DEPRECATED[old])
    sys.modules.pop(old, None)  # imported afresh, so that the warning fires here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        shim = importlib.import_module(old)
    assert any(issubclass(w.category, DeprecationWarning) and DEPRECATED[old] in str(w.message) for w in caught)
    assert shim.__all__ and all(getattr(shim, name) is getattr(new, name) for name in new.__all__)


def test_the_package_and_its_cli_import_no_deprecated_path():
    """``import tinygrad_med`` and the modules behind ``tgm`` load without a DeprecationWarning."""
    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning); import tinygrad_med, tinygrad_med.cli;"
        " import tinygrad_med.training.cli, tinygrad_med.gradcheck.suite, tinygrad_med.bench;"
        " assert tinygrad_med.gradcheck.__module__ == 'tinygrad_med.gradcheck.check'"
    )
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    edges = [f"{a} -> {b}" for a, targets in EDGES.items() if a not in DEPRECATED for b in targets if b in DEPRECATED]
    assert not edges, edges


# ---------------------------------------------------------------- kernels: one block_reduce, one launch helper

KERNELS = ROOT / "kernels"
HALVING_LOOP = r"for\s*\([^;]*;[^;]*>\s*0\s*;[^)]*(/=\s*2|>>=\s*1)"  # a shared-memory tree: the step halves


def hand_written_reductions(texts):
    """Kernel files (name -> source) that halve a stride in a loop: a tree reduction of their own."""
    import re

    return sorted(name for name, text in texts.items() if name != "common.cuh" and re.search(HALVING_LOOP, text))


def launch_size_math(texts):
    """Python modules (name -> source) other than the backend that size launches themselves."""
    import re

    pattern = r"MAX_BLOCKS\s*=|bit_length\(\)\)|\(\s*32\s*,\s*8\s*\)"
    return sorted(name for name, text in texts.items() if name != "tinygrad_med.backend" and re.search(pattern, text))


def test_every_kernel_reduction_uses_common_block_reduce():
    """One tree reduction, common.cuh's block_reduce; every .cu that reduces over a block calls it."""
    texts = {p.name: p.read_text() for p in sorted(KERNELS.glob("*.cu*"))}
    assert "block_reduce" in texts["common.cuh"]
    assert not hand_written_reductions(texts), "use common.cuh's block_reduce in " + ", ".join(
        hand_written_reductions(texts)
    )
    reducing = [name for name, text in texts.items() if "__shared__" in text and "block_reduce(" in text]
    assert {"cross_entropy.cu", "softmax.cu", "norm.cu", "graph.cu"} <= set(reducing)


def test_launch_sizes_come_from_the_backend():
    """backend.grid_for (and backend.launch on top of it) is the one place that sizes a launch."""
    texts = {name: path.read_text() for name, (path, _) in MODS.items()}
    assert not launch_size_math(texts), "use backend.grid_for / backend.launch in " + ", ".join(launch_size_math(texts))


def test_the_kernel_checks_can_fail():
    tree = "for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) { buf[t] += buf[t + half]; }"
    assert hand_written_reductions({"mine.cu": tree, "common.cuh": tree}) == ["mine.cu"]
    assert launch_size_math({"tinygrad_med.ops.x": "kernel(grid, (32, 8), args)", "tinygrad_med.backend": "(32, 8)"})
