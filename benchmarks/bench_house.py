"""CPU times of the ops the package-layout work touched, two checkouts in ABAB blocks (bench_before_after's harness).

    python benchmarks/bench_house.py BEFORE_TREE AFTER_TREE [--repeat 9] [--blocks 3]
        [--out benchmarks/results/cpu-house-DATE.json]

The ops whose dispatch moved (reference.path), whose fast CPU path moved to its own module
(grid_sample, roi_align, roi_pool) or whose launches changed (softmax, cross-entropy, pooling), plus
conv, batch norm and Adam (their dispatch line changed).  Each block is a fresh process of one tree;
blocks alternate before, after, before, ...  The JSON holds every block's medians, the load average
before each block and the after/before ratio of the median block medians (``--cpu-time``: CPU seconds
instead of wall time, see main).  No asserts: it reports.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_before_after as harness  # noqa: E402

CASES = r"""
def grid_sample():
    grid = tm.tensor(rng.uniform(-1.1, 1.1, (8, 64, 64, 2)).astype(numpy.float32), requires_grad=True)
    return fwd_bwd(lambda x: F.grid_sample(x, grid, align_corners=False), (8, 16, 64, 64), [grid])


def _rois(K=64, size=32):
    corners = numpy.sort(rng.uniform(0, size, (K, 2, 2)), axis=1)
    return tm.tensor(numpy.column_stack([rng.integers(0, 2, K), corners[:, 0], corners[:, 1]]).astype(numpy.float32))


def roi_align():
    rois = _rois()
    return fwd_bwd(lambda x: tm.ops.detection.roi_align(x, rois, (7, 7), 1.0, 2), (2, 64, 32, 32), [])


def roi_pool():
    rois = _rois()
    return fwd_bwd(lambda x: tm.ops.detection.roi_pool(x, rois, (7, 7), 1.0), (2, 64, 32, 32), [])


def cross_entropy():
    target = tm.tensor(rng.integers(0, 1000, 256))
    xt = tm.tensor(rng.standard_normal((256, 1000)).astype(numpy.float32), requires_grad=True)

    def run():
        xt.grad = None
        F.cross_entropy(xt, target).backward()
    return run


TOUCHED = ("conv2d", "max_pool2d", "batch_norm", "adam")  # bench_before_after's workloads whose dispatch changed
CASES = {"grid_sample bilinear 8x16x64x64 fwd+bwd (ms)": (grid_sample, 1e3, 2),
         "roi_align 64 RoIs 7x7 on 2x64x32x32 fwd+bwd (ms)": (roi_align, 1e3, 2),
         "roi_pool 64 RoIs 7x7 on 2x64x32x32 fwd+bwd (ms)": (roi_pool, 1e3, 2),
         "cross_entropy 256x1000 fwd+bwd (ms)": (cross_entropy, 1e3, 3),
         **{name: case for name, case in CASES.items() if name.split()[0] in TOUCHED}}
"""


def main():
    """bench_before_after's ABAB blocks and report, on the workloads above.

    ``--cpu-time`` (taken off argv before the harness reads it) times with time.process_time, the CPU
    seconds of the process (all its threads), instead of wall time: on a machine shared with other jobs
    a process that waits for a core does not count the wait, so the two trees compare more fairly.
    """
    end = harness.CHILD.index('result = {"module"')  # after the harness's CASES: ours extend and filter them
    harness.CHILD = harness.CHILD[:end] + CASES + harness.CHILD[end:]
    if "--cpu-time" in sys.argv:
        sys.argv.remove("--cpu-time")
        harness.CHILD = harness.CHILD.replace("time.perf_counter()", "time.process_time()")
    harness.main()


if __name__ == "__main__":
    main()
