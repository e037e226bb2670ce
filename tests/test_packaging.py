"""A non-editable install carries the CUDA kernels, the emulator header and the tgm command."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the wheel and install it into a folder of its own (no dependencies)."""
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(work)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = work.glob("tinygrad_med-*.whl")
    target = work / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    return wheel, target


def test_wheel_contains_every_kernel_and_the_emulator_header(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for cu in (ROOT / "kernels").glob("*.cu*"):
        assert f"tinygrad_med/kernels/{cu.name}" in names
    assert "tinygrad_med/kernelcheck/cuda_cpu.h" in names
    assert any(name.endswith("entry_points.txt") for name in names)


def test_installed_package_finds_its_kernels_outside_the_checkout(installed, tmp_path):
    _, target = installed
    code = (
        "from tinygrad_med import backend; d = backend.kernel_dir(); "
        f"print(d); assert str(d).startswith({str(target)!r}); assert (d / 'gemm.cu').is_file()"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr + run.stdout
