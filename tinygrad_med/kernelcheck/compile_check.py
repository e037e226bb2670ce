"""Compile every kernel file for the GPU, without a GPU, and check what CuPy will pass it.

For each kernels/*.cu and each REAL_T (float, double):
  1. nvcc -cubin -arch=sm_90 -Xptxas -v -Werror all-warnings, with backend.compile_options
     (the options CuPy compiles with): any warning fails; ptxas reports registers, shared
     memory, stack and spills per kernel (spills must be 0);
  2. NVRTC, the compiler CuPy really uses, through cupy.cuda.nvrtc when it is installed
     (pip install cupy-cuda13x 'nvidia-cuda-nvrtc==13.0.*'); anything in its log fails;
  3. each kernel's PTX parameter list against the signature backend.kernel_signature parses:
     CuPy packs every Python int as 64 bits and every float as a double and checks nothing,
     so a by-value int or float parameter reads garbage on the GPU. Pointers and long long
     must be 64-bit integers in PTX (.u64/.s64/.b64), double must be .f64.

Run as ``python -m tinygrad_med.kernelcheck.compile_check [FILE.cu ...]``: prints a table and
exits 1 on any problem, 2 if nvcc is missing. ``check_file`` / ``check_files`` are the API.
"""

import argparse
import concurrent.futures
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import backend
from . import source, tool_env

__all__ = [
    "KernelReport",
    "FileReport",
    "find_nvcc",
    "nvrtc_binding",
    "ptx_entries",
    "source_problems",
    "check_file",
    "check_files",
    "format_table",
    "main",
]

DTYPES = ("float32", "float64")
ARCH = "90"  # Hopper (sm_90): the GPUs the course runs on
_PTX_WIDTHS = {  # kernel parameter C type -> PTX types CuPy's 8-byte argument fits
    "long long": ("u64", "s64", "b64"),
    "unsigned long long": ("u64", "s64", "b64"),
    "double": ("f64",),
}
_POINTER_WIDTHS = ("u64", "b64")
_NVRTC_EXTRA = (f"-arch=compute_{ARCH}", "-ftz=true", "--device-as-default-execution-space")  # as CuPy adds
_ENTRY_RE = re.compile(r"\.entry\s+(\w+)\s*\(([^)]*)\)", re.S)
_PARAM_RE = re.compile(r"\.param\s+(?:\.align\s+\d+\s+)?\.(\w+)\s+\w+(\[\d+\])?")


@dataclasses.dataclass
class KernelReport:
    """What ptxas said about one kernel, and its PTX parameter types."""

    name: str
    registers: int = -1
    shared_bytes: int = 0
    stack_bytes: int = 0
    spill_bytes: int = 0
    ptx_params: tuple = ()


@dataclasses.dataclass
class FileReport:
    """The result for one .cu file and one REAL_T: per-kernel numbers and a list of problems."""

    path: Path
    dtype: str
    kernels: dict = dataclasses.field(default_factory=dict)
    problems: list = dataclasses.field(default_factory=list)
    nvrtc: str = "not run"

    @property
    def ok(self):
        return not self.problems


def find_nvcc():
    """Path of nvcc (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin), or None."""
    candidates = [shutil.which("nvcc"), os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "nvcc")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def nvrtc_binding():
    """(cupy.cuda.nvrtc, None) if NVRTC can compile here, else (None, why not)."""
    try:  # the one place outside backend.py that touches CuPy: its NVRTC binding needs no GPU
        from cupy.cuda import nvrtc

        nvrtc.getVersion()
        return nvrtc, None
    except Exception as error:  # ImportError, or libnvrtc missing (RuntimeError / OSError)
        return None, f"NVRTC not available ({type(error).__name__}: {error}); pip install 'nvidia-cuda-nvrtc==13.0.*'"


def _nvcc_options(cu_path, dtype):
    """backend.compile_options in nvcc's spelling, plus the file's own folder on the include path."""
    spelled = {"--std=c++17": "-std=c++17"}
    return [spelled.get(o, o) for o in backend.compile_options(dtype)] + [f"-I{Path(cu_path).parent}", "-ftz=true"]


def _run_nvcc(nvcc, cu_path, dtype, report):
    """nvcc -> ptxas with -v; returns the PTX text ('' on failure, with the problem recorded)."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [nvcc, "-cubin", f"-arch=sm_{ARCH}", "-Xptxas", "-v", "-Werror", "all-warnings",
                   *_nvcc_options(cu_path, dtype), "--keep", "--keep-dir", tmp,
                   "-o", os.path.join(tmp, "out.cubin"), str(cu_path)]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, env=tool_env())
        if result.returncode != 0:
            report.problems.append(f"nvcc failed:\n{result.stderr.strip()}")
            return ""
        output = result.stderr + result.stdout
        warnings = [line for line in output.splitlines() if "warning" in line.lower()]
        if warnings:  # a tool that -Werror does not reach still fails the check
            report.problems.append("nvcc warnings:\n" + "\n".join(warnings))
        _parse_ptxas(output, report)
        ptx = next(Path(tmp).glob("*.ptx"), None)
        return ptx.read_text() if ptx else ""


def _parse_ptxas(text, report):
    """Fill report.kernels from ptxas -v: registers, shared memory, stack frame and spills."""
    current = None
    for line in text.splitlines():
        if m := re.search(r"Compiling entry function '(\w+)'", line):
            current = report.kernels.setdefault(m.group(1), KernelReport(m.group(1)))
        elif current and (
            m := re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        ):
            current.stack_bytes, current.spill_bytes = int(m.group(1)), int(m.group(2)) + int(m.group(3))
        elif current and (m := re.search(r"Used (\d+) registers", line)):
            current.registers = int(m.group(1))
            smem = re.search(r"(\d+) bytes smem", line)
            current.shared_bytes = int(smem.group(1)) if smem else 0
    for kernel in report.kernels.values():
        if kernel.spill_bytes:
            report.problems.append(f"{kernel.name}: {kernel.spill_bytes} bytes of register spills (must be 0)")


def _run_nvrtc(nvrtc, cu_path, dtype, report):
    """Compile through NVRTC as CuPy does; returns the PTX ('' on failure or when skipped)."""
    if nvrtc is None:
        return ""
    options = [*backend.compile_options(dtype), f"-I{Path(cu_path).parent}", *_NVRTC_EXTRA]
    program = nvrtc.createProgram(Path(cu_path).read_text(), Path(cu_path).name, [], [])
    try:
        try:
            nvrtc.compileProgram(program, options)
        except nvrtc.NVRTCError as error:
            report.nvrtc = "failed"
            report.problems.append(f"NVRTC failed ({error}):\n{_text(nvrtc.getProgramLog(program)).strip()}")
            return ""
        log = _text(nvrtc.getProgramLog(program)).strip()
        report.nvrtc = "warnings" if log else "ok"
        if log:
            report.problems.append(f"NVRTC warnings:\n{log}")
        return _text(nvrtc.getPTX(program))
    finally:
        nvrtc.destroyProgram(program)


def _text(value):
    return value.decode(errors="replace").rstrip("\0") if isinstance(value, bytes) else value


def ptx_entries(ptx):
    """{entry name: (PTX type of each parameter, ...)}; arrays/structs show as e.g. 'b8[16]'."""
    return {m.group(1): tuple(t + (n or "") for t, n in _PARAM_RE.findall(m.group(2))) for m in _ENTRY_RE.finditer(ptx)}


def _check_params(signatures, entries, report, compiler):
    """Compare each kernel's parsed C signature with its PTX parameter types."""
    for name in sorted(set(entries) - set(signatures)):
        report.problems.append(
            f'{compiler}: entry {name} is not an extern "C" __global__ void kernel backend.kernel_signature can parse'
        )
    for name, params in signatures.items():
        if name not in entries:
            report.problems.append(f"{compiler}: kernel {name} is missing from the PTX")
            continue
        ptx = entries[name]
        report.kernels.setdefault(name, KernelReport(name)).ptx_params = ptx
        if len(ptx) != len(params):
            report.problems.append(f"{compiler}: {name} has {len(params)} parameters in C but {len(ptx)} in PTX")
            continue
        for (ctype, pname), width in zip(params, ptx, strict=True):
            allowed = _POINTER_WIDTHS if ctype.endswith("*") else _PTX_WIDTHS.get(ctype, ())
            if width not in allowed:
                report.problems.append(
                    f"{compiler}: {name}: parameter {pname} ({ctype}) is .{width} in PTX; CuPy passes a Python int "
                    "as 64 bits and a float as a double: declare it long long or double"
                )


def source_problems(signatures):
    """Problems visible in the C source alone: by-value parameters CuPy cannot pass."""
    return [
        f"{name}: parameter {pname} has by-value type {ctype!r}; use long long or double"
        for name, params in signatures.items()
        for ctype, pname in params
        if not ctype.endswith("*") and ctype not in _PTX_WIDTHS
    ]


def check_file(cu_path, dtype, nvcc=None, nvrtc=None):
    """Check one .cu file for one REAL_T ('float32' or 'float64').

    Args:
        nvcc: path of nvcc (None: find_nvcc(); the nvcc step is skipped with a problem if absent).
        nvrtc: the cupy.cuda.nvrtc module, or None to skip the NVRTC step.
    Returns:
        a FileReport; ``report.ok`` is True when there is no problem.
    """
    report = FileReport(Path(cu_path), str(dtype))
    signatures = source.kernel_signatures(cu_path)
    report.problems += source_problems(signatures)
    nvcc = nvcc or find_nvcc()
    if nvcc is None:
        report.problems.append("nvcc not found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin)")
    else:
        ptx = _run_nvcc(nvcc, cu_path, dtype, report)
        if ptx:  # empty when nvcc failed: its errors are the problem
            _check_params(signatures, ptx_entries(ptx), report, "nvcc")
    ptx = _run_nvrtc(nvrtc, cu_path, dtype, report)
    if ptx:
        _check_params(signatures, ptx_entries(ptx), report, "NVRTC")
    report.problems = list(dict.fromkeys(report.problems))  # nvcc and NVRTC often say the same thing
    return report


def check_files(paths=None, use_nvrtc=True, jobs=None):
    """check_file for every path (default: every kernels/*.cu) and both dtypes, in parallel."""
    paths = sorted(backend.kernel_dir().glob("*.cu")) if paths is None else [Path(p) for p in paths]
    nvcc = find_nvcc()
    nvrtc = nvrtc_binding()[0] if use_nvrtc else None
    work = [(path, dtype) for path in paths for dtype in DTYPES]
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as pool:
        return list(pool.map(lambda job: check_file(job[0], job[1], nvcc, nvrtc), work))


def format_table(reports):
    """A plain-text table: one row per kernel and dtype, then every problem in full."""
    rows = [("file", "REAL_T", "kernel", "regs", "smem B", "stack B", "spill B", "PTX params", "NVRTC")]
    for r in reports:
        for k in sorted(r.kernels.values(), key=lambda k: k.name):
            params = " ".join(k.ptx_params) or "-"
            row = (
                r.path.name,
                r.dtype,
                k.name,
                k.registers,
                k.shared_bytes,
                k.stack_bytes,
                k.spill_bytes,
                params,
                r.nvrtc,
            )
            rows.append(tuple(str(c) for c in row))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    for r in reports:
        lines += [f"PROBLEM {r.path.name} ({r.dtype}): {p}" for p in r.problems]
    return "\n".join(lines)


def main(argv=None):
    """Command line: check the given .cu files (default all of kernels/), print the table, exit 0/1/2."""
    parser = argparse.ArgumentParser(
        prog="python -m tinygrad_med.kernelcheck.compile_check", description=__doc__.split("\n")[0]
    )
    parser.add_argument("files", nargs="*", help="kernel files (default: kernels/*.cu)")
    parser.add_argument("--no-nvrtc", action="store_true", help="skip the NVRTC step")
    parser.add_argument("-j", "--jobs", type=int, default=None, help="parallel compiles (default: CPU count)")
    args = parser.parse_args(argv)
    if find_nvcc() is None:
        print("compile_check: nvcc not found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin)", file=sys.stderr)
        return 2
    if not args.no_nvrtc and nvrtc_binding()[0] is None:
        print(f"compile_check: skipping NVRTC: {nvrtc_binding()[1]}")
    reports = check_files(args.files or None, use_nvrtc=not args.no_nvrtc, jobs=args.jobs)
    print(format_table(reports))
    failed = sum(not r.ok for r in reports)
    print(f"compile_check: {len(reports) - failed} of {len(reports)} (file, REAL_T) builds clean")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
