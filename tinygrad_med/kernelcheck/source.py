"""What the kernel checks read from a .cu file's text: kernel signatures and barriers.

The signature parser here is the one backend.py's ``load_kernel`` checks arguments
against; this module also lets it read any file, such as the planted-bug kernels of
the tests, and adds the one question the emulator must answer before a launch: does
this kernel reach ``__syncthreads``, directly or through a ``__device__`` function?
"""

import re
from pathlib import Path

__all__ = ["kernel_signatures", "barrier_kernels", "source_files", "kernel_dir", "parse_params", "KERNEL_RE"]


def kernel_dir():
    """The folder holding the .cu files: inside the installed package, else the checkout's."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "kernels"
    if installed.is_dir() and any(installed.glob("*.cu")):
        return installed
    return package.parent / "kernels"


# extern "C" __global__ void [__launch_bounds__(...)] name(params)
KERNEL_RE = re.compile(
    r'extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)\s*\(([^)]*)\)',
    re.S,
)


def parse_params(text):
    """'const real_t* __restrict__ x, long long n' -> [('real_t*', 'x'), ('long long', 'n')]."""
    params = []
    for raw in text.split(","):
        words = raw.replace("*", " * ").split()
        words = [w for w in words if w not in ("const", "__restrict__")]
        if not words:
            continue
        name, ctype = words[-1], " ".join(words[:-1]).replace(" *", "*")
        params.append((ctype, name))
    return params


# `__device__ <type> name(...) {` -- a device function definition (not a declaration)
_DEVICE_FN_RE = re.compile(r"__device__[^;{}()]*?\b(\w+)\s*\([^;{}]*\)\s*(?:const\s*)?\{", re.S)
_COMMENT_RE = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_SYNC_MACRO_RE = re.compile(r"#\s*define\s+(\w+)[^\n]*\b__syncthreads\b")  # e.g. #define SYNC() __syncthreads()


def kernel_signatures(path):
    """{kernel name: [(C type, parameter name), ...]} for every extern "C" __global__ in ``path``."""
    text = Path(path).read_text()
    return {m.group(1): parse_params(m.group(2)) for m in KERNEL_RE.finditer(text)}


def source_files(path):
    """``path`` and every quoted #include it pulls in from its own folder, in include order."""
    path, seen = Path(path), []
    pending = [path]
    while pending:
        current = pending.pop(0)
        if current in seen or not current.is_file():
            continue
        seen.append(current)
        for name in re.findall(r'#\s*include\s*"([^"]+)"', current.read_text()):
            pending.append(current.parent / name)
    return seen


def _body_after(text, start):
    """The text between the first '{' at or after ``start`` and its matching '}'."""
    open_at = text.index("{", start)
    depth = 0
    for k in range(open_at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        if depth == 0:
            return text[open_at + 1 : k]
    return text[open_at + 1 :]


def barrier_kernels(text):
    """Names of the kernels in ``text`` that may call __syncthreads (through device functions too)."""
    text = _COMMENT_RE.sub(" ", text)
    bodies = {m.group(1): _body_after(text, m.end() - 1) for m in _DEVICE_FN_RE.finditer(text)}
    kernels = {m.group(1): _body_after(text, m.end()) for m in KERNEL_RE.finditer(text)}
    syncing = {"__syncthreads"} | set(_SYNC_MACRO_RE.findall(text))
    grew = True
    while grew:  # close over calls: f syncs if its body names a function that syncs
        grew = False
        for name, body in bodies.items():
            if name not in syncing and _mentions(body, syncing):
                syncing.add(name)
                grew = True
    return {k for k, body in kernels.items() if _mentions(body, syncing)}


def _mentions(body, names):
    """True if ``body`` names any of ``names`` (called or not: a function pointer counts too)."""
    return any(re.search(rf"\b{name}\b", body) for name in names)
