"""The README's lecture map leads from each slide to one short reference, its kernel and its fast path.

The table "From each slide to its code" in the section "The lecture, slide by slide" names, per slide,
the reference (one function, or a forward/backward pair, as ``path::name``; a bare name is in the same
file), the CUDA kernel(s) and the fast CPU path, or "-".  Every name must exist, and each reference
(the pair together) must stay within REFERENCE_CAP lines, docstrings included.
"""

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_CAP = 40  # lines per forward/backward pair (issue 13: "at most ~40")
SECTION, TABLE = (
    "## The lecture, slide by slide",
    "| slide | reference (forward, backward) | CUDA kernel | fast CPU path |",
)


def lecture_map(readme):
    """[(slide, reference cell, kernel cell, fast cell)] of the map's table."""
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    lines = section.split(TABLE, 1)[1].strip().splitlines()[1:]  # after the |---| line
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows.append(tuple(cells))
    return rows


def named(cell):
    """The (file, name) pairs of a cell: `path::name` sets the file for the bare `name`s after it."""
    found, current = [], None
    for token in re.findall(r"`([^`]+)`", cell):
        if "::" in token:
            current, token = token.split("::")
        if current is None:
            raise AssertionError(f"{cell!r}: {token!r} comes before any path::name")
        found.append((current, token))
    return found


def python_object(file, name):
    """The function or method ``name`` of tinygrad_med/<file>."""
    module = importlib.import_module("tinygrad_med." + file.removesuffix(".py").replace("/", "."))
    target = module
    for part in name.split("."):
        target = getattr(target, part)
    return target


def kernel_defined(file, name):
    return re.search(rf"__global__[^;{{]*\b{re.escape(name)}\s*\(", (ROOT / file).read_text()) is not None


README = (ROOT / "README.md").read_text()
ROWS = lecture_map(README)


def test_the_map_has_a_row_per_slide_with_an_op():
    slides = [row[0] for row in ROWS]
    assert len(ROWS) >= 20 and len(set(slides)) == len(slides), slides
    for must in (
        "convolution (im2col, one GEMM, col2im)",
        "batch normalisation",
        "Adam",
        "spatial transformer: the sampler",
    ):
        assert must in slides


@pytest.mark.parametrize("slide, reference, kernel, fast", ROWS, ids=[row[0] for row in ROWS])
def test_each_slide_leads_to_a_short_reference_its_kernel_and_its_fast_path(slide, reference, kernel, fast):
    pair = named(reference)
    assert 1 <= len(pair) <= 2 and len({file for file, _ in pair}) == 1, f"{slide}: one reference (a pair at most)"
    lines = 0
    for file, name in pair:
        assert (ROOT / "tinygrad_med" / file).is_file(), f"{slide}: no tinygrad_med/{file}"
        lines += len(inspect.getsource(python_object(file, name)).splitlines())
    assert lines <= REFERENCE_CAP, f"{slide}: the reference {pair} has {lines} lines (cap {REFERENCE_CAP})"
    for file, name in named(kernel):
        assert (ROOT / file).is_file() and kernel_defined(file, name), f"{slide}: no kernel {name} in {file}"
    assert kernel.startswith("-") or named(kernel), slide
    for file, name in named(fast):
        assert callable(python_object(file, name)), f"{slide}: {file}::{name}"
    assert fast == "-" or named(fast), slide


def test_the_parser_and_checks_can_fail():
    assert named("`ops/a.py::f`, `g`") == [("ops/a.py", "f"), ("ops/a.py", "g")]
    with pytest.raises(AssertionError):
        named("`g`")
    assert not kernel_defined("kernels/conv.cu", "no_such_kernel") and kernel_defined("kernels/conv.cu", "im2col")
    long_one = python_object("ops/rnn.py", "LSTMLayer.forward")
    assert len(inspect.getsource(long_one).splitlines()) > 25  # a real body is counted, not a stub
