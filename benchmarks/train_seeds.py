"""Run README's `tgm train` recipes over several seeds and write their held-out results as JSON.

Each row of the README's results table is trained with `python3 -m tinygrad_med train MODEL --data DATA
--seed S` for every seed, one run at a time; the held-out metrics are read from the run folder's
summary.json (tinygrad_med/train.py writes the test_* metrics and the dataset's extras there), and the
wall time, the load average and the machine (CPU model, cores, NumPy's BLAS) are recorded beside them.
The JSON holds per-seed values and, per metric, the median, min and max over the seeds.

The script is resumable: a (row, seed) already in the JSON is skipped, and the JSON is rewritten after
every run, so an interrupted sweep continues where it stopped.

    python3 benchmarks/train_seeds.py                      # all rows, seeds 0 1 2
    python3 benchmarks/train_seeds.py --rows cnn-digits vae-digits --seeds 0 1 2 3
    python3 benchmarks/train_seeds.py --extra=--epochs=3   # a short recipe (flags passed to tgm train)
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tinygrad_med.bench.timing import save_json

ROWS = (
    ("unet", "nuclei"),
    ("cnn", "digits"),
    ("unet3d", "mni152"),
    ("vnet", "mni152"),
    ("maskrcnn", "nuclei"),
    ("fasterrcnn", "nuclei"),
    ("maskrcnn", "shapes"),
    ("fasterrcnn", "shapes"),
    ("fcn", "nuclei"),
    ("prob_unet", "nuclei"),
    ("prob_unet", "lesions-ambiguous"),
    ("unet", "lesions-ambiguous"),
    ("hyperdense2d", "phantoms"),
    ("densenet", "digits"),
    ("stn", "digits"),
    ("autoencoder", "digits"),
    ("vae", "digits"),
    ("vae2d", "digits"),
    ("captioner", "digits"),
    ("spectral_gcn", "cortex"),
    ("geometric_gcn", "cortex"),
    ("vertex_mlp", "cortex"),
    ("graph_classifier", "cortex-patches"),
)
SKIPPED_KEYS = {"config", "interrupted", "epochs", "data_wait_share", "threshold_baseline_value"}
RESULTS = Path(__file__).resolve().parent / "results"


def machine():
    """The CPU model, core count, load average now, Python/NumPy versions and NumPy's BLAS (threadpoolctl)."""
    import numpy

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_info

        blas = [
            {k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for info in threadpool_info()
        ]
    except ImportError:
        blas = "threadpoolctl not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "blas": blas,
    }


def run_one(model, data, seed, out_root, extra=(), nice=5):
    """Train one (model, data, seed) in a subprocess; return its numeric held-out metrics, wall time and load.

    Raises:
        RuntimeError with the tail of the run's output when `tgm train` fails.
    """
    out = Path(out_root) / f"{model}-{data}-s{seed}"
    command = [sys.executable, "-m", "tinygrad_med", "train", model, "--data", data, "--seed", str(seed)]
    command += ["--out", str(out), "--overwrite", "--quiet", *extra]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    with open(out / "summary.json", encoding="utf-8") as handle:
        summary = json.load(handle)
    metrics = {
        k: v
        for k, v in summary.items()
        if k not in SKIPPED_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    metrics["wall_seconds"] = round(wall, 2)
    metrics["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return metrics


def spread(per_seed):
    """Per metric: median, min and max over the seeds (metrics every seed has; load average is not summarised)."""
    runs = list(per_seed.values())
    keys = [k for k in runs[0] if k != "load_average_1min" and all(k in r for r in runs)]
    stats = {}
    for key in keys:
        values = [r[key] for r in runs]
        stats[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    loads = [x for r in runs for x in r.get("load_average_1min", [])]
    if loads:
        stats["load_average_1min"] = {"min": min(loads), "max": max(loads)}
    return stats


def sweep(path, rows, seeds, out_root, extra=()):
    """Train every row for every seed not yet in the JSON at `path`, rewriting it after each run."""
    result = json.loads(Path(path).read_text()) if Path(path).exists() else {}
    result.setdefault("machine", machine())
    result.setdefault("command", "python3 -m tinygrad_med train MODEL --data DATA --seed S " + " ".join(extra))
    table = result.setdefault("rows", {})
    for model, data in rows:
        name = f"{model}-{data}"
        row = table.setdefault(name, {"model": model, "data": data, "seeds": {}})
        for seed in seeds:
            if str(seed) in row["seeds"]:
                continue
            print(f"{name} seed {seed} ...", flush=True)
            try:
                row["seeds"][str(seed)] = run_one(model, data, seed, out_root, extra)
            except RuntimeError as error:
                row.setdefault("errors", {})[str(seed)] = str(error)[-1500:]
                print(error, flush=True)
                continue
            row["stats"] = spread(row["seeds"])
            result["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
            save_json(path, result)
            print(f"  {json.dumps(row['seeds'][str(seed)])}", flush=True)
    return result


def summary_lines(result):
    """One line per row: every metric as 'median (min-max)' over the seeds measured, and the seeds."""
    lines = []
    for name, row in result["rows"].items():
        if "stats" not in row:
            lines.append(f"{name}: no seed finished")
            continue
        stats = [(k, v) for k, v in row["stats"].items() if "median" in v]
        parts = [f"{k} {v['median']:.4g} ({v['min']:.4g}-{v['max']:.4g})" for k, v in stats]
        lines.append(f"{name} [seeds {','.join(row['seeds'])}]: " + "; ".join(parts))
    return lines


def main(argv=None):
    """Parse the command line and run the sweep."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    names = [f"{m}-{d}" for m, d in ROWS]
    parser.add_argument("--rows", nargs="+", choices=names, default=names, metavar="MODEL-DATA")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--date", default=datetime.date.today().isoformat())
    parser.add_argument("--tag", default="", help="suffix of the JSON name (e.g. 'short' for a short recipe)")
    parser.add_argument("--out-root", default="/tmp/seeds", help="where the run folders go")
    parser.add_argument("--extra", action="append", default=[], help="a flag passed on to tgm train")
    parser.add_argument("--show", action="store_true", help="print the JSON's medians and ranges, train nothing")
    args = parser.parse_args(argv)
    rows = [tuple(name.split("-", 1)) for name in args.rows]  # in the order given
    tag = f"-{args.tag}" if args.tag else ""
    path = RESULTS / f"train-seeds-{args.date}{tag}.json"
    if args.show:
        print("\n".join(summary_lines(json.loads(path.read_text()))))
        return
    sweep(path, rows, args.seeds, args.out_root, args.extra)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
