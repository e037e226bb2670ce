"""Winograd F(2x2, 3x3) against the im2col fast path, as a library user runs them: default threads, wall time.

conv2d 3x3 stride 1 padding 1 forward + backward per shape (N, C, F, H), in alternating blocks
(im2col, Winograd, im2col, Winograd) of 7 timed calls after 2 warm-up calls; the median of each block.
This is the measurement behind ops/conv_winograd.py::tile_for being off by default.

    python3 benchmarks/bench_winograd_dispatch.py     # results/winograd-quiet-DATE.json
"""

import datetime
import json
import os
import platform
import time

import numpy

import tinygrad_med as tm
import tinygrad_med.nn.functional as F
from tinygrad_med.ops.conv_winograd import winograd

SHAPES = [(16, 64, 64, 32), (4, 64, 64, 32), (4, 128, 128, 32), (4, 256, 256, 16), (8, 128, 128, 64)]


def block_median(N, C, Fo, H, on, rng):
    x = tm.Tensor(rng.standard_normal((N, C, H, H), dtype=numpy.float32), requires_grad=True)
    w = tm.Tensor(rng.standard_normal((Fo, C, 3, 3), dtype=numpy.float32) * 0.05, requires_grad=True)

    def step():
        with winograd(on):
            y = F.conv2d(x, w, padding=1)
        y.sum().backward()
        x.grad = w.grad = None

    for _ in range(2):
        step()
    times = []
    for _ in range(7):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1e3 * float(numpy.median(times))


def main():
    rng, rows = numpy.random.default_rng(0), []
    for shape in SHAPES:
        blocks = {"im2col": [], "winograd": []}
        for _ in range(2):
            blocks["im2col"].append(block_median(*shape, False, rng))
            blocks["winograd"].append(block_median(*shape, True, rng))
        ratio = float(numpy.median(blocks["winograd"]) / numpy.median(blocks["im2col"]))
        rows.append({"N,C,F,H": shape, "ms": blocks, "winograd_over_im2col": round(ratio, 3)})
        print(shape, {k: [round(v, 1) for v in b] for k, b in blocks.items()}, f"winograd/im2col {ratio:.2f}")
    day = datetime.date.today().isoformat()
    out = os.path.join(os.path.dirname(__file__), "results", f"winograd-quiet-{day}.json")
    with open(out, "w") as handle:
        json.dump(
            {
                "machine": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "load_after": os.getloadavg(),
                "rows": rows,
            },
            handle,
            indent=1,
        )
    print("wrote", out)


if __name__ == "__main__":
    main()
