"""Data-parallel scaling on the CPU: the U-Net recipe with 1 and 2 ranks, all-reduce time vs bytes, MPI bandwidth.

Workload: one training step of the main job's recipe (``tgm train unet --data nuclei``: U-Net, global
batch 16 of 64 x 64 augmented tiles, Dice + cross-entropy, Adam) -- forward, loss, backward, the
gradient all-reduce (2 ranks: DistributedDataParallel, 8 samples per rank), the update.

    python3 benchmarks/bench_distributed.py [--steps 4] [--blocks 2] [--bind] [--out benchmarks/results/...json]

Blocks alternate 1 process / 2 ranks (ABAB), each a fresh process (``mpiexec -n 2`` for 2 ranks)
that times --steps steps after one warm-up step; the figures are medians over every timed step.
Per step: the wall time (the slower rank's), and on 2 ranks the time spent in
``reduce_gradients`` (the buckets start their MPI Iallreduce during backward, from the gradient
hooks; this is the wait for them to finish, which includes waiting for the slower rank) against the
bytes each rank all-reduces.  The same 2-rank process measures MPI's
all-reduce bandwidth on message sizes from 4 KB to 16 MB (algorithm bandwidth = bytes / time).
--bind runs both kinds of block as ranks pinned to one core each (``mpiexec -bind-to core``, one BLAS
thread): 1 rank on 1 core against 2 ranks on 2 cores, instead of one process threading over both
cores against two processes that each do.  The load average is recorded before and after: on a
shared machine it says more than the code.
With N GPUs lent, the same script runs with --device cuda (NCCL); not run here.  No asserts.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy

ROOT = Path(__file__).resolve().parent.parent
SIZES = [2**k for k in range(12, 25, 2)]  # bytes all-reduced in the bandwidth probe: 4 KB .. 16 MB


def worker(args):
    """One block: time the recipe's steps on this process (rank 0 writes the JSON to args.result)."""
    from tinygrad_med import cpu_memory
    from tinygrad_med.distributed import init_process_group
    from tinygrad_med.training.loop import Trainer, make_config

    cpu_memory.reuse_freed_memory()  # as tgm does
    comm = init_process_group() if args.distributed else None
    config = make_config("unet", "nuclei", 1, None, device=args.device, seed=0, prefetch=0)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(config, out, progress=False, comm=comm)
        reduce_times = _time_reductions(trainer)
        steps = _time_steps(trainer, comm, args.steps)
        bandwidth = _bandwidth(comm) if comm is not None and comm.size > 1 else None
    if comm is None or comm.rank == 0:
        ranks = 1 if comm is None else comm.size
        result = {"ranks": ranks, "step_seconds": steps, "allreduce_seconds": reduce_times if ranks > 1 else []}
        result.update({"bytes_per_step": trainer.ddp.bytes_per_step if trainer.ddp else 0, "bandwidth": bandwidth})
        result["buckets"] = len(trainer.ddp.buckets) if trainer.ddp else 0
        Path(args.result).write_text(json.dumps(result))


def _time_reductions(trainer):
    """A list that each timed reduce_gradients() call appends its seconds to."""
    times = []
    if trainer.ddp is None:
        return times
    reduce = trainer.ddp.reduce_gradients

    def timed():
        start = time.perf_counter()
        reduce()
        times.append(time.perf_counter() - start)

    trainer.ddp.reduce_gradients = timed
    return times


def _time_steps(trainer, comm, count):
    """Seconds of count steps after a warm-up one (on 2 ranks: the slower rank's), batches cycling over epochs."""
    batches, epoch, seconds = [], 0, []
    while len(batches) < count + 1:
        trainer.train_loader.set_epoch(epoch)
        batches += list(trainer.train_loader)
        epoch += 1
    for index, (x, y) in enumerate(batches[: count + 1]):
        if comm is not None:
            comm.barrier()
        start = time.perf_counter()
        trainer.train_step(x, y)
        elapsed = numpy.array([time.perf_counter() - start])
        if comm is not None:
            comm.world.Allreduce(comm.MPI.IN_PLACE, elapsed, op=comm.MPI.MAX)
        if index:  # the first step is the warm-up
            seconds.append(float(elapsed[0]))
    return seconds


def _bandwidth(comm, repeat=5):
    """{bytes: median seconds of one float32 all-reduce of that size} through Communicator.allreduce."""
    result = {}
    for size in SIZES:
        buffer, times = numpy.ones(size // 4, numpy.float32), []
        for _ in range(repeat + 1):
            comm.barrier()
            start = time.perf_counter()
            comm.allreduce(buffer)
            times.append(time.perf_counter() - start)
        result[size] = statistics.median(times[1:])
    return result


def run_block(ranks, args):
    """One fresh process (ranks=1) or mpiexec -n ranks; its result dict."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result = handle.name
    command = [sys.executable, __file__, "--worker", "--steps", str(args.steps), "--result", result]
    command += ["--device", args.device]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if args.bind:  # every block as ranks pinned to one core each (the conv's threads follow the affinity)
        command = ["mpiexec", "-bind-to", "core", "-n", str(ranks), *command, "--distributed"]
        env.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    elif ranks > 1:
        command = ["mpiexec", "-n", str(ranks), *command, "--distributed"]
    subprocess.run(command, check=True, env=env)
    data = json.loads(Path(result).read_text())
    os.unlink(result)
    return data


def summarize(blocks):
    """Medians per rank count, the speed-up, the scaling efficiency and the all-reduce share."""
    summary = {}
    for ranks in sorted({b["ranks"] for b in blocks}):
        mine = [b for b in blocks if b["ranks"] == ranks]
        steps = [s for b in mine for s in b["step_seconds"]]
        reduce = [s for b in mine for s in b["allreduce_seconds"]]
        entry = {"step_seconds_median": statistics.median(steps), "steps_per_second": 1 / statistics.median(steps)}
        entry.update({"step_seconds_min": min(steps), "step_seconds_max": max(steps), "steps_timed": len(steps)})
        if reduce:
            entry.update(
                {"allreduce_seconds_median": statistics.median(reduce), "bytes_per_step": mine[0]["bytes_per_step"]}
            )
            entry["allreduce_share_of_step"] = statistics.median(reduce) / statistics.median(steps)
            entry["buckets"] = mine[0]["buckets"]
            probe = {int(k): [b["bandwidth"][k] for b in mine] for k in mine[0]["bandwidth"]}
            entry["mpi_allreduce"] = {
                k: {"seconds": statistics.median(v), "MB_per_s": k / statistics.median(v) / 1e6}
                for k, v in probe.items()
            }
        summary[ranks] = entry
    if 1 in summary and 2 in summary:
        speedup = summary[2]["steps_per_second"] / summary[1]["steps_per_second"]
        summary["speedup_2_vs_1"], summary["efficiency_2"] = speedup, speedup / 2
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per block (after one warm-up)")
    parser.add_argument("--blocks", type=int, default=2, help="ABAB blocks of (1 process, 2 ranks)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bind", action="store_true", help="2 ranks: one core and one BLAS thread per rank")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "distributed-cpu-2026-12-07.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    sys.path.insert(0, str(ROOT))
    from tinygrad_med.bench.timing import machine_info, save_json

    load_before, started, blocks = os.getloadavg(), time.time(), []
    for block in range(args.blocks):
        for ranks in (1, 2):
            blocks.append(run_block(ranks, args))
            print(
                f"block {block + 1}, {ranks} rank(s): steps {blocks[-1]['step_seconds']} load {os.getloadavg()}",
                flush=True,
            )
    result = {"machine": machine_info(), "load_average_before": load_before, "load_average_after": os.getloadavg()}
    result["options"] = {"steps": args.steps, "blocks": args.blocks, "bind": args.bind}
    result.update({"seconds": round(time.time() - started, 1), "blocks": blocks, "summary": summarize(blocks)})
    save_json(args.out, result)
    print(json.dumps(result["summary"], indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
