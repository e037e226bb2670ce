"""What fresh host memory costs: training steps with glibc's default allocator against
cpu_memory.reuse_freed_memory() (freed buffers kept in the heap), in separate processes.

Workloads: the main job's U-Net step (16-32-64, 4 x 1 x 128 x 128, cross-entropy, Adam) and the
LSTM of bench_rnn.py (seq 32, batch 32, 128 -> 256, forward+backward).  Each mode runs in its own
fresh process (the allocator setting cannot be undone), alternating default/reuse --rounds times;
each process reports the median step time and the page faults per step.

    python benchmarks/bench_memory.py [--rounds 2] [--out benchmarks/results/cpu-memory-DATE.json]
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tinygrad_med.bench.timing import machine_info, save_json

_CHILD = """
import sys, time, statistics, json, numpy
import tinygrad_med as tm
from tinygrad_med import cpu_memory, nn
from bench_unet import SHAPE, ours_step
mode, workload = sys.argv[1], sys.argv[2]
if mode == "reuse":
    assert cpu_memory.reuse_freed_memory()
tm.manual_seed(0)
rng = numpy.random.default_rng(0)
if workload == "unet":  # the step bench_unet.py times against PyTorch
    x = rng.standard_normal(SHAPE).astype(numpy.float32)
    step = ours_step(x, rng.integers(0, 2, (SHAPE[0],) + SHAPE[2:]))
else:
    lstm = nn.LSTM(128, 256)
    x = tm.tensor(rng.standard_normal((32, 32, 128)).astype(numpy.float32))
    def step():
        lstm.zero_grad(); out, _ = lstm(x); out.sum().backward()
for _ in range(3):
    step()
times, faults = [], cpu_memory.page_faults()
for _ in range(int(sys.argv[3])):
    begin = time.perf_counter(); step(); times.append(time.perf_counter() - begin)
faults = (cpu_memory.page_faults() - faults) / len(times)
print(json.dumps({"median_ms": statistics.median(times) * 1e3, "page_faults_per_step": faults}))
"""


def _run(mode, workload, steps):
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, workload, str(steps)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent,  # the child imports bench_unet
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="default/reuse process pairs per workload")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per process")
    parser.add_argument("--out")
    args = parser.parse_args()
    rows = {}
    for workload in ("unet", "lstm"):
        runs = {"default": [], "reuse": []}
        for _ in range(args.rounds):
            for mode in runs:
                runs[mode].append(_run(mode, workload, args.steps))
        rows[workload] = {
            mode: {
                "median_ms": statistics.median(r["median_ms"] for r in results),
                "page_faults_per_step": statistics.median(r["page_faults_per_step"] for r in results),
                "runs": results,
            }
            for mode, results in runs.items()
        }
        default, reuse = rows[workload]["default"], rows[workload]["reuse"]
        rows[workload]["reuse_over_default"] = reuse["median_ms"] / default["median_ms"]
        print(
            f"{workload:5s} default {default['median_ms']:7.1f} ms ({default['page_faults_per_step']:7.0f} faults/step)"
            f"   reuse {reuse['median_ms']:7.1f} ms ({reuse['page_faults_per_step']:5.0f})"
            f"   ratio {rows[workload]['reuse_over_default']:.2f}x"
        )
    result = {"machine": machine_info(), "date": time.strftime("%Y-%m-%d %H:%M"), "workloads": rows}
    if args.out:
        save_json(args.out, result)


if __name__ == "__main__":
    main()
