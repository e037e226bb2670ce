# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Reading a CUDA kernel, running it on the CPU emulator, then the benchmark plots
#
# Lecture: "Convolutional neural networks - Convolution" and "Semantic segmentation" (convolution as a
# matrix operation); "Image classification" (AlexNet "used GPUs for training").
#
# Every op family that the course is about has a raw CUDA kernel in `kernels/<family>.cu`, whose header
# names the formula and the Python reference it must match. Without a GPU, `tinygrad_med` compiles the
# same `.cu` file with g++ against a small CUDA header (`tinygrad_med/kernelcheck/cuda_cpu.h`) and runs
# every thread of the grid on the CPU: the **emulated** device. Here we read `im2col`, launch it by hand
# on the slide's 5 x 5 example, then run a whole convolution through the GPU code path.

# %%
import inspect
import json
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy

import tinygrad_med as tm
import tinygrad_med.nn.functional as F
from tinygrad_med import backend
from tinygrad_med.kernelcheck.source import kernel_dir
from tinygrad_med.ops import conv

# %% [markdown]
# ## The kernel: one thread per column element
#
# The header derives the index maps; the kernel body is the formula
# `col[r, m] = x[n, c, oh*SH - PH + kh*dilH, ow*SW - PW + kw*dilW]` with `r` and `m` decoded from the
# thread's flat index `e`. 1-D and 2-D convolutions run as 3-D with unit leading dims.

# %%
source = (kernel_dir() / "conv.cu").read_text()
header = "\n".join(line for line in source.splitlines() if line.startswith("//"))
im2col_kernel = re.search(r'extern "C" __global__ void im2col\(.*?\n}\n', source, re.S).group(0)
print(header)
print()
print(im2col_kernel)

# %% [markdown]
# And the Python side that launches it (`ops/conv.py::_im2col_gpu`): allocate the column matrix, load the
# kernel compiled for the array's dtype, launch a grid-stride grid over `col.size` elements.

# %%
print(inspect.getsource(conv._im2col_gpu))

# %% [markdown]
# ## Launching it by hand on the emulator
#
# The slide's 5 x 5 feature map, a 3 x 3 kernel, no padding, stride 1: 9 rows (kernel offsets) by 9
# columns (output positions). Inside `backend.use_emulator()` `load_kernel` returns the g++-compiled
# kernel (the first call compiles `conv.cu`, a few seconds; later runs reuse the cache).

# %%
F_map = numpy.array(
    [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], dtype=numpy.float64
).reshape(1, 1, 5, 5)
col = numpy.full((9, 9), numpy.nan)
with backend.use_emulator():
    kernel = backend.load_kernel("conv", "im2col", numpy.float64)
    # N, C, D, H, W, KD, KH, KW, SD, SH, SW, PD, PH, PW, dilD, dilH, dilW, OD, OH, OW
    sizes = (1, 1, 1, 5, 5, 1, 3, 3, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 3, 3)
    grid, block = backend.grid_for(col.size, threads=32)
    kernel(grid, block, (F_map, col, *sizes))
print(f"grid {grid} x block {block}: {grid[0] * block[0]} threads for {col.size} elements (grid-stride loop)")
print(col.astype(int))
windows = numpy.stack([F_map[0, 0, i : i + 3, j : j + 3].ravel() for i in range(3) for j in range(3)], axis=1)
print("equals the windows taken in NumPy:", numpy.array_equal(col, windows))

# %% [markdown]
# ## A whole convolution through the GPU code path
#
# On the emulator `on_gpu(x)` is true for NumPy arrays, so `F.conv2d` takes its `_gpu` branches: the
# `im2col` kernel, a GEMM, and in the backward the `col2im` kernel (the adjoint: one thread per input
# element gathering over the kernel offsets, no atomics). The reference is the same op on the CPU in
# `tm.reference_mode()`.

# %%
rng = numpy.random.default_rng(0)
x_np, W_np = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3))
gy = rng.standard_normal((2, 4, 5, 5))
results = {}
for name in ("reference (CPU)", "emulated kernels"):
    x, W = tm.tensor(x_np, requires_grad=True), tm.tensor(W_np, requires_grad=True)
    if name == "emulated kernels":
        with backend.use_emulator():
            y = F.conv2d(x, W, stride=2, padding=1, dilation=1)
            (y * tm.tensor(gy)).sum().backward()
    else:
        with tm.reference_mode():
            y = F.conv2d(x, W, stride=2, padding=1, dilation=1)
            (y * tm.tensor(gy)).sum().backward()
    results[name] = (y.numpy(), x.grad.numpy(), W.grad.numpy())
for label, ref, emu in zip(["y", "gx", "gW"], *results.values(), strict=True):
    print(f"{label}: max |emulated - reference| = {numpy.abs(emu - ref).max():.2e}")

# %% [markdown]
# `tgm gradcheck --device emulated` runs this comparison, and a gradient check, for every op; the tests
# (tests/test_kernelcheck.py) add planted-bug kernels that each check must catch (a missing barrier, an
# early return before a barrier, an out-of-bounds read).
#
# ## The benchmark plots
#
# `tgm bench` times every op on each device against PyTorch and writes a JSON file and its plots. We
# read a run that is already in the repository (benchmarks/results/, measured on an NVIDIA H200 and the
# host's 16 CPU cores) instead of running the benchmark here.

# %%
results_dir = Path(tm.__file__).resolve().parent.parent / "benchmarks" / "results"
run = json.loads((results_dir / "2026-11-26-NVIDIA-H200" / "bench-run1-elementwise-loss-conv.json").read_text())
print(run["machine"]["gpu"], "and", run["machine"]["cpu"], f"({run['machine']['cores']} cores)")
rows = [row for row in run["rows"] if "median_s" in row]
print(f"{len(rows)} timed rows, families: {', '.join(sorted({row['family'] for row in rows}))}")

# %% [markdown]
# The plots that run wrote next to its JSON (`tgm bench` draws them with `tinygrad_med.bench.report.plot`):

# %%
for path in sorted((results_dir / "2026-11-26-NVIDIA-H200").glob("bench-*.png")):
    image = plt.imread(path)
    fig, ax = plt.subplots(figsize=(10, min(12, 10 * image.shape[0] / image.shape[1])))
    ax.imshow(image)
    ax.set_title(path.name, fontsize=9)
    ax.axis("off")

# %% [markdown]
# And the two questions a reader asks, per family: how far are we from PyTorch on the same device
# (time ratio, 1 = as fast), and how much does the GPU gain over the CPU (same op and size)?

# %%
families = sorted({row["family"] for row in rows})
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for k, device in enumerate(["cpu", "cuda"]):
    ratios = [
        [row["vs_torch"] for row in rows if row["family"] == f and row["device"] == device and row.get("vs_torch")]
        for f in families
    ]
    axes[0].scatter(
        [i + 0.15 * (2 * k - 1) for i, r in enumerate(ratios) for _ in r], sum(ratios, []), label=device, alpha=0.7
    )
axes[0].axhline(1, color="k", lw=0.8)
axes[0].set_xticks(range(len(families)), families)
axes[0].set_yscale("log")
axes[0].set_ylabel("our time / PyTorch's")
axes[0].legend()
times = {(r["op"], r["pass"], r["size"], r["device"]): r["median_s"] for r in rows}
speedups = {f: [] for f in families}
for (op, kind, size, device), seconds in times.items():
    if device == "cuda" and (op, kind, size, "cpu") in times:
        family = next(r["family"] for r in rows if r["op"] == op)
        speedups[family].append(times[(op, kind, size, "cpu")] / seconds)
axes[1].boxplot([speedups[f] or [numpy.nan] for f in families])
axes[1].set_xticks(range(1, len(families) + 1), families)
axes[1].set_yscale("log")
axes[1].axhline(1, color="k", lw=0.8)
axes[1].set_ylabel("GPU speedup over 16 CPU cores")
fig.tight_layout()
