"""``tgm bench`` end to end at a tiny size: table, JSON with the machine, plots, compare."""

import json

import pytest

from tinygrad_med import cli
from tinygrad_med.bench import report
from tinygrad_med.bench.workloads import WORKLOADS


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
    assert len(list(out.glob("*.png"))) == 2
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
