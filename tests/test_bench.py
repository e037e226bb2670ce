"""``tgm bench`` end to end at a tiny size: table, JSON with the machine, plots, compare."""

import json

import pytest

from tinygrad_med import cli
from tinygrad_med.bench import report
from tinygrad_med.bench.model_steps import MODEL_STEPS
from tinygrad_med.bench.workloads import QUICK, WORKLOADS, families


@pytest.mark.slow
def test_bench_cpu_writes_table_json_and_plots(tmp_path, capsys):
    out = tmp_path / "bench"
    code = cli.main(
        [
            "bench",
            "--device",
            "cpu",
            "--size",
            "small",
            "--repeat",
            "2",
            "--warmup",
            "1",
            "--quick-peaks",
            "--no-torch",
            "--ops",
            "matmul",
            "--ops",
            "optim",
            "--ops",
            "norm",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "GFLOP/s" in printed and "roofline" in printed
    (result,) = out.glob("*.json")
    data = json.loads(result.read_text())
    assert data["machine"]["cores"] >= 1 and "blas" in data["machine"]
    assert data["peaks"]["cpu"]["gemm_gflops"] > 0 and data["peaks"]["cpu"]["copy_gbs"] > 0
    timed = [r for r in data["rows"] if "median_s" in r]
    assert {r["op"] for r in timed} >= {"matmul (cuBLAS/BLAS)", "adam step"}
    assert all(r["status"] == "ok" and r["rel_error"] < 1e-3 for r in timed)
    pictures = sorted(p.name.split("-")[-1] for p in out.glob("*.png"))
    assert pictures == ["matmul.png", "norm.png", "optim.png", "roofline.png"], pictures  # roofline + one per family
    code = cli.main(
        [
            "bench",
            "--device",
            "cpu",
            "--size",
            "small",
            "--repeat",
            "2",
            "--quick-peaks",
            "--no-torch",
            "--ops",
            "optim",
            "--out",
            str(tmp_path / "again"),
            "--compare",
            str(result),
        ]
    )
    assert code == 0 and "new time / old time" in capsys.readouterr().out


def test_speedup_and_crossover_from_rows():
    rows = [
        {"op": "x", "pass": "forward", "size": s, "device": d, "params": {"n": n}, "median_s": t}
        for s, n, d, t in [
            ("small", 1, "cpu", 1.0),
            ("small", 1, "cuda", 2.0),
            ("medium", 2, "cpu", 4.0),
            ("medium", 2, "cuda", 1.0),
        ]
    ]
    entry = report.speedups(rows)["x [forward]"]
    assert entry["speedup"] == {"small": 0.5, "medium": 4.0} and entry["gpu_wins_from"] == "medium"


def test_every_workload_declares_three_sizes_and_a_cost():
    for work in WORKLOADS:
        assert set(work.sizes) == {"small", "medium", "large"}, work.name
        flops_fwd, bytes_fwd, flops_fb, bytes_fb = work.cost(work.sizes["small"])
        assert bytes_fwd > 0 and bytes_fb >= bytes_fwd and flops_fb >= flops_fwd, work.name


def test_quick_keeps_every_op_family_and_skips_only_known_workloads():
    names = {w.name for w in WORKLOADS} | set(MODEL_STEPS)
    assert set(QUICK["skip"]) <= names, set(QUICK["skip"]) - names
    kept = {w.family for w in WORKLOADS if w.name not in QUICK["skip"]}
    kept |= {"model"} if set(MODEL_STEPS) - set(QUICK["skip"]) else set()
    assert kept == set(families())
    assert QUICK["sizes"] == ["small"] and QUICK["repeat"] <= 3


def _row(op, family, device, size="small", kind="forward", **extra):
    return {
        "op": op,
        "family": family,
        "device": device,
        "size": size,
        "pass": kind,
        "params": {"n": 1},
        "median_s": 1e-3,
        "intensity": 2.0,
        "gflops": 5.0,
        "roofline_share": 0.3,
        **extra,
    }


def test_roofline_and_family_plots_from_rows(tmp_path):
    rows = [
        _row("conv2d 3x3", "conv", "cpu", vs_torch=1.5),
        _row("conv2d 3x3", "conv", "cuda", median_s=1e-4),
        _row("adam step", "optim", "cpu", kind="step"),
    ]
    peaks = {d: {"gemm_gflops": 100.0, "copy_gbs": 10.0} for d in ("cpu", "cuda")}
    written = report.plot(rows, peaks, str(tmp_path / "x"))
    assert [p.rsplit("-", 1)[-1] for p in written] == ["roofline.png", "conv.png", "optim.png"]
    assert all((tmp_path / p.rsplit("/", 1)[-1]).stat().st_size > 5000 for p in written)
    assert report.family_style("conv") != report.family_style("optim")


def test_quick_runs_the_small_size_three_times(tmp_path, capsys):
    out = tmp_path / "quick"
    code = cli.main(
        ["bench", "--device", "cpu", "--quick", "--quick-peaks", "--no-torch", "--ops", "optim"] + ["--out", str(out)]
    )
    assert code == 0, capsys.readouterr().out
    (result,) = out.glob("*.json")
    rows = json.loads(result.read_text())["rows"]
    assert [(r["op"], r["size"], r["n"]) for r in rows] == [("adam step", "small", 3)]
