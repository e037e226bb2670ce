"""Sparse aggregation y = A x on a 100k-vertex mesh with 64 features against scipy.sparse (issue 4).

Target: F.spmm forward within 1.5x of scipy.sparse's own csr @ dense on the same matrix.
Also timed, without a target: forward + backward to x (A^T gy through the cached CSR of A^T,
autograd included) against scipy's A @ x and A^T @ gy, a GCNConv(64, 64) layer forward+backward
(dominated by the dense products of Linear), and, on a GPU, the kernels of kernels/graph.cu
against cupyx.scipy.sparse (cuSPARSE).

    python benchmarks/bench_graph.py [--side 317] [--features 64] [--repeat 20] [--device cpu --device cuda]
        [--out benchmarks/results/bench_graph.json]

The mesh is generated (tinygrad_med.graph.grid_mesh: a flat 317 x 317 grid cut into triangles,
100,489 vertices and 600,400 directed edges); the cortical fsaverage5 mesh shipped with nilearn
has 10,242 vertices per hemisphere, a tenth of the size asked for.  Ours and the reference are
interleaved call by call; medians over ``--repeat`` calls, all from one run on one machine.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy

import tinygrad_med as tm
from tinygrad_med import backend, nn
from tinygrad_med.bench.timing import machine_info, save_json
from tinygrad_med.graph import grid_mesh, mesh_graph
from tinygrad_med.nn import functional as F
from tinygrad_med.ops import graph as ops_graph


def interleaved(fns, repeat, device, warmup=3):
    """{name: median seconds} of each closure, called in turn ``repeat`` times (CUDA events on a GPU)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            if device == "cuda":
                times[name].append(backend.time_call(fn, "cuda"))
            else:
                begin = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - begin)
    return {name: statistics.median(t) for name, t in times.items()}


def cases(graph, x, gy, device):
    """{case: {name: closure}}: ours and the reference for each workload on ``device``."""
    xp = backend.array_module(device)
    A = graph.adjacency.scipy(graph.adjacency.data.astype(numpy.float32))  # scipy's own float32 CSR
    At = A.T.tocsr()
    xt, gyt = tm.tensor(xp.asarray(x)), tm.tensor(xp.asarray(gy))
    xg = tm.tensor(xp.asarray(x), requires_grad=True)
    if device == "cuda":
        import cupyx.scipy.sparse as cusparse

        A, At = cusparse.csr_matrix(A), cusparse.csr_matrix(At)
    reference_x, reference_gy = xt.data, gyt.data

    def ours_bwd():
        xg.grad = None
        F.spmm(graph, xg).backward(gyt)

    layer = nn.GCNConv(x.shape[1], x.shape[1]).to(device)

    def gcn():
        xg.grad = None
        layer.zero_grad()
        layer(xg, graph).backward(gyt)

    out = {
        "spmm_forward": {"tinygrad_med": lambda: F.spmm(graph, xt), "scipy": lambda: A @ reference_x},
        "spmm_forward_backward": {"tinygrad_med": ours_bwd, "scipy": lambda: (A @ reference_x, At @ reference_gy)},
        "gcn_conv_fwd_bwd": {"tinygrad_med": gcn},
    }
    if device == "cuda":  # the kernel alone, without the op's Python (validation, autograd, allocation)
        indptr, indices, _ = graph.adjacency.device_arrays(xp)
        values = xp.asarray(graph.adjacency.data, dtype=numpy.float32).reshape(-1, 1)
        y = xp.empty((graph.num_nodes, 1, x.shape[1]), numpy.float32)
        kernel, launch = ops_graph._kernel("spmm_fwd", y.dtype), ops_graph._grid(y.size)
        args = (indptr, indices, values, reference_x, y, graph.num_nodes, 1, x.shape[1])
        out["spmm_forward_kernel_only"] = {
            "tinygrad_med": lambda: kernel(*launch, args),
            "scipy": lambda: A @ reference_x,
        }
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=317)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--device", action="append", choices=["cpu", "cuda"])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "bench_graph.json"))
    args = parser.parse_args()
    graph = mesh_graph(*grid_mesh(args.side, args.side), pseudo=None)
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((graph.num_nodes, args.features), dtype=numpy.float32)
    gy = rng.standard_normal((graph.num_nodes, args.features), dtype=numpy.float32)
    results = {}
    for device in args.device or ["cpu"]:
        for case, fns in cases(graph, x, gy, device).items():
            medians = interleaved(fns, args.repeat, device)
            entry = {"median_ms": {k: v * 1e3 for k, v in medians.items()}}
            if "scipy" in medians:
                entry["ratio_vs_scipy"] = medians["tinygrad_med"] / medians["scipy"]
            results[f"{device}/{case}"] = entry
            ratio = f", ratio {entry['ratio_vs_scipy']:.2f}x" if "ratio_vs_scipy" in entry else ""
            line = ", ".join(f"{k} {v:.2f} ms" for k, v in entry["median_ms"].items())
            print(f"{device:4s} {case:22s}: {line}{ratio}")
    result = {
        "workload": f"grid mesh {args.side}x{args.side}: V={graph.num_nodes}, E={graph.num_edges} directed edges, "
        f"F={args.features} float32 features; medians of {args.repeat} interleaved calls",
        "target": "spmm_forward within 1.5x of scipy.sparse csr @ dense (issue 4)",
        "reference_on_cuda": "cupyx.scipy.sparse csr_matrix @ dense (cuSPARSE)",
        "cases": results,
        "machine": machine_info(),
        "load_average_1_5_15_min": os.getloadavg(),
    }
    save_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
