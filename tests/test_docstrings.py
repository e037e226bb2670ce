"""Every Function names its lecture, formulas and shapes; every kernel file opens with its formula.

STYLE.md section 4: a Function subclass's docstring has a summary line and the parts ``Lecture:``,
``Forward:``, ``Backward:`` and ``Shapes:``.  Non-differentiable Functions (none today) would still carry
all four parts, their ``Backward:`` saying why no gradient flows: keeping the same four parts everywhere
is what lets a student find the backward formula of any op in the same place.
Every kernels/*.cu file opens with a ``//`` header naming the file, a formula and the Python reference.
"""

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import tinygrad_med
from tinygrad_med.function import Function

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("Lecture:", "Forward:", "Backward:", "Shapes:")
SKIP_MODULES = ("tinygrad_med.__main__",)  # running it parses sys.argv


def _functions():
    """Every Function subclass defined in the package, after importing all of its modules."""
    for info in pkgutil.walk_packages(tinygrad_med.__path__, "tinygrad_med."):
        if info.name not in SKIP_MODULES:
            importlib.import_module(info.name)
    found, todo = {}, [Function]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("tinygrad_med."):
                found[f"{sub.__module__}.{sub.__qualname__}"] = sub
    return found


FUNCTIONS = _functions()


def test_the_package_defines_functions():
    assert len(FUNCTIONS) >= 70, sorted(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_docstring_has_the_five_parts(name):
    doc = FUNCTIONS[name].__doc__ or ""
    summary = doc.strip().splitlines()[0] if doc.strip() else ""
    assert summary and not summary.startswith(PARTS), f"{name}: no summary line"
    missing = [part for part in PARTS if part not in doc]
    assert not missing, f"{name} docstring lacks {missing}"


def test_a_missing_part_is_reported():
    """The check above can fail: a class with only a summary is caught."""

    class Bare(Function):
        """Only a summary."""

    assert [part for part in PARTS if part not in Bare.__doc__] == list(PARTS)


CU_FILES = sorted((ROOT / "kernels").glob("*.cu"))


def _header(path):
    """The leading block of // comment lines of a kernel file."""
    lines = path.read_text().splitlines()
    block = []
    for line in lines:
        if not line.startswith("//"):
            break
        block.append(line)
    return "\n".join(block)


@pytest.mark.parametrize("path", CU_FILES, ids=lambda p: p.name)
def test_kernel_file_opens_with_formula_and_reference(path):
    header = _header(path)
    assert header.startswith(f"// kernels/{path.name} -- "), f"{path.name}: first line must name the file"
    assert "=" in header, f"{path.name}: the header names no formula"
    assert "Reference:" in header, f"{path.name}: the header names no Python reference"


# `D_il`, or D as the dilation in a window formula: k*D, p*D, q*D (an offset times D) or D*(K-1)
DILATION_AS_D = re.compile(r"\bD_il\b|\b[kpq]\*D\b|\bD\*\(K")


def test_no_dilation_named_d():
    """Dilation is `dil` everywhere (README's notation table); `D` is depth, and `D_il` is gone."""
    sources = [*ROOT.joinpath("tinygrad_med").rglob("*.py"), *CU_FILES, ROOT / "README.md"]
    offenders = [str(p.relative_to(ROOT)) for p in sources if DILATION_AS_D.search(p.read_text())]
    assert not offenders


def test_dilation_pattern_catches_the_old_names():
    for old in ("x[n, c, o*S - P + k*D]", "OD = (D + 2P - D_il*(KD-1) - 1)", "floor((H + 2P - D*(KH-1) - 1) / S)"):
        assert DILATION_AS_D.search(old), old
    assert not DILATION_AS_D.search("x (N, C, D, H, W), OD = (D + 2P - dil*(KD-1) - 1) / S, q*dil")
