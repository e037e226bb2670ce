"""Autograd overhead and a small MLP training step against the same arithmetic in NumPy.

Issue targets (foundation): a chain of 10,000 scalar adds forward+backward at <= 10 us per op;
a 784-256-256-10 MLP training step (batch 128, float32, SGD) within 1.3x of hand-written NumPy.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_autograd.py [--out FILE.json]

Medians over repeated runs, all figures from one run on one machine; no asserts.
"""

import argparse
import statistics
import time

import numpy

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.bench.timing import machine_info, save_json


def chain_of_adds(n=10_000):
    x = tm.tensor(1.0, requires_grad=True)
    begin = time.perf_counter()
    y = x
    for _ in range(n):
        y = y + 1.0
    y.backward()
    return (time.perf_counter() - begin) / n


def numpy_mlp_step(params, x, labels, lr):
    """Forward, softmax cross-entropy, backward and SGD update, written out in NumPy."""
    W1, b1, W2, b2, W3, b3 = params
    h1 = x @ W1.T + b1
    a1 = numpy.maximum(h1, 0)
    h2 = a1 @ W2.T + b2
    a2 = numpy.maximum(h2, 0)
    logits = a2 @ W3.T + b3
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - numpy.log(numpy.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    loss = -log_p[numpy.arange(n), labels].mean()
    g_logits = numpy.exp(log_p)
    g_logits[numpy.arange(n), labels] -= 1
    g_logits /= n
    gW3, gb3 = g_logits.T @ a2, g_logits.sum(0)
    g_a2 = g_logits @ W3
    g_h2 = g_a2 * (h2 > 0)
    gW2, gb2 = g_h2.T @ a1, g_h2.sum(0)
    g_a1 = g_h2 @ W2
    g_h1 = g_a1 * (h1 > 0)
    gW1, gb1 = g_h1.T @ x, g_h1.sum(0)
    for p, g in zip(params, (gW1, gb1, gW2, gb2, gW3, gb3)):
        p -= lr * g
    return loss


def mlp_timings(repeat=30, batch=128):
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((batch, 784)).astype(numpy.float32)
    labels = rng.integers(0, 10, batch)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    params = [p.numpy().copy() for p in model.parameters()]
    opt = tm.optim.SGD(model.parameters(), lr=0.01)
    xt, yt = tm.tensor(x), tm.tensor(labels)

    def ours():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()

    def reference():
        numpy_mlp_step(params, x, labels, 0.01)

    times = {"tinygrad_med": [], "numpy": []}
    for _ in range(3):
        ours(), reference()
    for _ in range(repeat):  # interleaved, so both see the same machine state
        for name, fn in (("tinygrad_med", ours), ("numpy", reference)):
            begin = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - begin)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the figures as JSON")
    args = parser.parse_args()
    per_op = statistics.median(chain_of_adds() for _ in range(7))
    mlp = mlp_timings()
    result = {
        "machine": machine_info(),
        "autograd_us_per_op": per_op * 1e6,
        "mlp_step_ms": {k: v * 1e3 for k, v in mlp.items()},
        "mlp_ratio_vs_numpy": mlp["tinygrad_med"] / mlp["numpy"],
    }
    print(f"autograd: {result['autograd_us_per_op']:.2f} us per scalar add (forward+backward), target <= 10")
    print(
        f"MLP 784-256-256-10 step, batch 128: tinygrad_med {mlp['tinygrad_med'] * 1e3:.2f} ms, "
        f"NumPy {mlp['numpy'] * 1e3:.2f} ms, ratio {result['mlp_ratio_vs_numpy']:.2f}x (target <= 1.3x)"
    )
    if args.out:
        save_json(args.out, result)


if __name__ == "__main__":
    main()
