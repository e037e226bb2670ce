"""One U-Net training step against PyTorch CPU (issue 5), and the share of an epoch spent waiting for data.

Workload: the U-Net of the main job with 2 down and 2 up levels, widths 16-32-64, conv-BN-ReLU
blocks, 2x2 transposed-conv up-sampling, a 1x1 head to 2 classes; input 4 x 1 x 128 x 128
float32; loss cross-entropy; Adam (lr 1e-3). One step = forward, loss, backward, Adam update.
Target: within 2x of PyTorch CPU. PyTorch is timed with its default threads and with one thread
(on a busy machine its OpenMP threads can be several times slower than one); the ratio is against
the faster of the two. NumPy's BLAS uses its default threads.

    python benchmarks/bench_unet.py [--repeat 10] [--reuse-memory] [--out benchmarks/results/bench_unet.json]

--reuse-memory keeps freed host buffers for the whole process (tinygrad_med/cpu_memory.py), as `tgm` does.

The two frameworks' steps are interleaved call by call so that both see the same machine state;
medians over --repeat steps, all figures from one run on one machine; no asserts.

Data wait: one epoch of the nuclei recipe (64 random augmented 64 x 64 tiles, batch 16) with the
loader's background prefetch on and off; ``DataLoader.wait_time`` is the time the loop sat blocked
waiting for a batch, reported as a share of the epoch's wall time.
"""

import argparse
import time
from pathlib import Path

import numpy
from bench_norm import interleaved  # the same call-by-call interleaving as the batch-norm benchmark
from unet_nets import torch_unet

import tinygrad_med as tm
from tinygrad_med import cpu_memory
from tinygrad_med.bench.timing import machine_info, save_json
from tinygrad_med.models import UNet

SHAPE = (4, 1, 128, 128)


def ours_step(x, y):
    tm.manual_seed(0)
    model = UNet(1, 2, base_width=16, depth=2)
    optimizer = tm.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = tm.tensor(x), tm.tensor(y)

    def run():
        loss = tm.nn.functional.cross_entropy(model(xt), yt)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return run


def torch_step(torch, x, y):
    model = torch_unet(torch)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def run():
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return run


def _one_thread(torch, step):
    """Run ``step`` with PyTorch limited to one thread (its OpenMP threads suffer most on a busy machine)."""

    def run():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            step()
        finally:
            torch.set_num_threads(threads)

    return run


def data_wait(prefetch):
    """Share of one nuclei epoch's wall time spent blocked on the loader (with the real training step)."""
    from tinygrad_med.data import DataLoader
    from tinygrad_med.data.registry import get_dataset
    from tinygrad_med.ops.dice import dice_ce_loss

    tm.manual_seed(0)
    model = UNet(1, 2)
    optimizer = tm.optim.Adam(model.parameters(), lr=3e-3)
    loader = DataLoader(get_dataset("nuclei", "train"), 16, shuffle=True, drop_last=True, prefetch=prefetch)
    start = time.perf_counter()
    for x, y in loader:
        loss = dice_ce_loss(model(x), y, include_background=False)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    epoch = time.perf_counter() - start
    return {
        "epoch_s": epoch,
        "wait_s": loader.wait_time,
        "fetch_s": loader.fetch_time,
        "wait_share": loader.wait_time / epoch,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "bench_unet.json"))
    parser.add_argument("--reuse-memory", action="store_true", help="keep freed host buffers (as `tgm` does)")
    args = parser.parse_args()
    reused = cpu_memory.reuse_freed_memory() if args.reuse_memory else False
    try:
        import torch
    except ImportError:
        torch = None
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal(SHAPE, dtype=numpy.float32)
    y = rng.integers(0, 2, (SHAPE[0],) + SHAPE[2:])
    fns = {"tinygrad_med": ours_step(x, y)}
    if torch is not None:
        fns["torch"] = torch_step(torch, x, y)
        fns["torch_1_thread"] = _one_thread(torch, torch_step(torch, x, y))
    medians = interleaved(fns, args.repeat)
    result = {
        "workload": f"U-Net 16-32-64 (2 down, 2 up, BN+ReLU) training step, Adam, input {SHAPE} float32",
        "median_ms": {k: v * 1e3 for k, v in medians.items()},
        "target": "within 2x of PyTorch CPU",
        "reuse_freed_memory": reused,
    }
    if torch is not None:  # against the faster of PyTorch's default threads and one thread
        result["ratio_vs_torch"] = medians["tinygrad_med"] / min(medians["torch"], medians["torch_1_thread"])
        result["torch_threads"] = torch.get_num_threads()
    line = ", ".join(f"{k} {v:.1f} ms" for k, v in result["median_ms"].items())
    ratio = f", ratio {result['ratio_vs_torch']:.2f}x" if torch is not None else ""
    print(f"U-Net training step {SHAPE}: {line}{ratio}")
    result["data_wait"] = {f"prefetch_{p}": data_wait(p) for p in (2, 0)}
    for name, wait in result["data_wait"].items():
        print(
            f"nuclei epoch, {name}: {wait['epoch_s']:.2f} s, waiting for batches {wait['wait_s']:.3f} s "
            f"({100 * wait['wait_share']:.1f} %), building batches {wait['fetch_s']:.3f} s"
        )
    result["machine"] = machine_info()
    save_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
