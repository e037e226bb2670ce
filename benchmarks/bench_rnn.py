"""LSTM forward+backward (seq 32, batch 32, input 128, hidden 256, float32) against PyTorch CPU
and against a NumPy LSTM written step by step (issue: within 1.5x of PyTorch, faster than NumPy per step).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_rnn.py [--reuse-memory] [--out FILE.json]

Each row also shows the page faults per call: fresh host buffers above ~128 KiB cost one fault per
4 KiB page (see tinygrad_med/cpu_memory.py).  --reuse-memory turns on cpu_memory.reuse_freed_memory()
for the whole process, so every candidate runs with the same allocator settings.
"""

import argparse
import statistics
import time

import numpy

import tinygrad_med as tm
from tinygrad_med import cpu_memory, nn
from tinygrad_med.bench.timing import machine_info, save_json

T, N, INPUT, HIDDEN = 32, 32, 128, 256


def numpy_lstm_forward_backward(x, W_ih, W_hh, b):
    """The same LSTM in NumPy, one step at a time (both products per step), with its backward."""
    h, c = numpy.zeros((N, HIDDEN), numpy.float32), numpy.zeros((N, HIDDEN), numpy.float32)
    cache = []
    for t in range(T):
        a = x[t] @ W_ih.T + h @ W_hh.T + b
        i, f = 1 / (1 + numpy.exp(-a[:, :HIDDEN])), 1 / (1 + numpy.exp(-a[:, HIDDEN : 2 * HIDDEN]))
        g, o = numpy.tanh(a[:, 2 * HIDDEN : 3 * HIDDEN]), 1 / (1 + numpy.exp(-a[:, 3 * HIDDEN :]))
        c_new = f * c + i * g
        cache.append((h, c, i, f, g, o, c_new))
        h, c = o * numpy.tanh(c_new), c_new
    gW_ih, gW_hh, gb = numpy.zeros_like(W_ih), numpy.zeros_like(W_hh), numpy.zeros_like(b)
    gh, gc = numpy.ones((N, HIDDEN), numpy.float32), numpy.zeros((N, HIDDEN), numpy.float32)
    for t in reversed(range(T)):
        h_prev, c_prev, i, f, g, o, c_new = cache[t]
        tc = numpy.tanh(c_new)
        gct = gc + gh * o * (1 - tc * tc)
        ga = numpy.concatenate(
            [gct * g * i * (1 - i), gct * c_prev * f * (1 - f), gct * i * (1 - g * g), gh * tc * o * (1 - o)], axis=1
        )
        gW_ih += ga.T @ x[t]
        gW_hh += ga.T @ h_prev
        gb += ga.sum(0)
        gh = ga @ W_hh + 1  # + dL/dh_t from the output sum
        gc = gct * f
    return gW_ih, gW_hh, gb


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per block")
    parser.add_argument("--rounds", type=int, default=6, help="blocks per candidate, rotated")
    parser.add_argument("--reuse-memory", action="store_true", help="keep freed host buffers in the heap")
    args = parser.parse_args()
    reused = cpu_memory.reuse_freed_memory() if args.reuse_memory else False
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((T, N, INPUT)).astype(numpy.float32)
    lstm = nn.LSTM(INPUT, HIDDEN)
    xt = tm.tensor(x)

    def ours():
        lstm.zero_grad()
        out, _ = lstm(xt)
        out.sum().backward()

    W_ih, W_hh = lstm.weight_ih_l0.numpy(), lstm.weight_hh_l0.numpy()
    b = (lstm.bias_ih_l0.numpy() + lstm.bias_hh_l0.numpy()).astype(numpy.float32)
    candidates = {"tinygrad_med": ours, "numpy per step": lambda: numpy_lstm_forward_backward(x, W_ih, W_hh, b)}
    try:
        import torch

        theirs = torch.nn.LSTM(INPUT, HIDDEN)
        xs = torch.from_numpy(x)

        def torch_step():
            theirs.zero_grad()
            out, _ = theirs(xs)
            out.sum().backward()

        candidates["torch"] = torch_step
    except ImportError:
        pass
    # Blocks of repetitions, rotated over the candidates: the first call of a block is not timed,
    # because the previous candidate's threads (OpenBLAS's, or PyTorch's OpenMP pool) may still spin.
    times, faults = {name: [] for name in candidates}, {name: 0 for name in candidates}
    for _ in range(args.rounds):
        for name, fn in candidates.items():
            fn()
            faults_before = cpu_memory.page_faults() or 0
            for _ in range(args.repeat):
                begin = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - begin)
            faults[name] += (cpu_memory.page_faults() or 0) - faults_before
    medians = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    calls = args.rounds * args.repeat
    result = {
        "machine": machine_info(),
        "reuse_freed_memory": reused,
        "median_ms": medians,
        "spread_ms": {name: [min(t) * 1e3, max(t) * 1e3] for name, t in times.items()},
        "page_faults_per_call": {name: count / calls for name, count in faults.items()},
    }
    print(f"reuse_freed_memory: {reused}")
    for name, ms in medians.items():
        print(f"{name:16s} {ms:8.2f} ms   {faults[name] / calls:8.0f} page faults per call")
    if "torch" in medians:
        result["vs_torch"] = medians["tinygrad_med"] / medians["torch"]
        print(f"tinygrad_med / torch = {result['vs_torch']:.2f}x (target <= 1.5x)")
    result["vs_numpy"] = medians["tinygrad_med"] / medians["numpy per step"]
    print(f"tinygrad_med / numpy per step = {result['vs_numpy']:.2f}x (target < 1)")
    if args.out:
        save_json(args.out, result)


if __name__ == "__main__":
    main()
