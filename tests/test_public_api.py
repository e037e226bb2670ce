"""Every public name of every module has a docstring (STYLE.md, section 3), and the package imports clean."""

import importlib
import inspect
import pkgutil

import tinygrad_med


def _modules():
    """Every module but __main__ and the deprecated old paths (tests/test_structure.py checks those re-export)."""
    for info in pkgutil.walk_packages(tinygrad_med.__path__, "tinygrad_med."):
        if info.name.endswith("__main__") or _deprecated(info):
            continue
        yield importlib.import_module(info.name)


def _deprecated(info):
    spec = info.module_finder.find_spec(info.name.rpartition(".")[2])
    return not info.ispkg and spec.origin and open(spec.origin).read(40).startswith('"""Deprecated: ')


def test_every_module_and_public_name_has_a_docstring():
    missing = []
    for module in _modules():
        if not (module.__doc__ or "").strip():
            missing.append(f"{module.__name__} (module docstring)")
        for name in getattr(module, "__all__", ()):
            if not hasattr(module, name):
                missing.append(f"{module.__name__}.{name} (listed in __all__ but absent)")
                continue
            obj = getattr(module, name)  # may be None: backend.cupy without CuPy installed
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and not (obj.__doc__ or "").strip():
                missing.append(f"{module.__name__}.{name}")
    assert not missing, "no docstring: " + ", ".join(missing)


def test_ops_docstrings_cite_the_lecture_and_give_formulas():
    """Each public op function of tinygrad_med/ops/ names its slide and states its forward pass."""
    lacking = []
    for module in _modules():
        if not module.__name__.startswith("tinygrad_med.ops."):
            continue
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not inspect.isfunction(obj) or name.startswith("_"):
                continue
            doc = inspect.getdoc(obj) or ""
            module_doc = module.__doc__ or ""
            if "Lecture:" not in doc + module_doc:
                lacking.append(f"{module.__name__}.{name}")
    assert not lacking, "no 'Lecture:' citation (in the function or its module): " + ", ".join(lacking)
