"""tgm bench's comparison with PyTorch: ABAB blocks, the ratio of the medians over blocks, each pair's ratio."""

import importlib.util

import pytest

from tinygrad_med.bench import runner
from tinygrad_med.bench.workloads import WORKLOADS


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed")
def test_torch_comparison_takes_two_blocks_each_in_turn(monkeypatch):
    calls = []
    ours = iter([[4.0, 4.0, 4.0], [2.0, 2.0, 2.0]])  # block medians 4, then 2
    theirs = iter([1.0, 3.0])

    def fake_op(work, items, device, repeat, warmup, backward):
        calls.append("ours")
        return 0.0, next(ours), []

    def fake_torch(work, items, device, repeat, warmup, backward):
        calls.append("torch")
        return next(theirs)

    monkeypatch.setattr(runner, "_time_op", fake_op)
    monkeypatch.setattr(runner, "_time_torch", fake_torch)
    work = next(w for w in WORKLOADS if w.run is not None and w.torch_run is not None)
    row = runner._run_one(work, "small", "cpu", 3, 0, False, {"gemm_gflops": 1.0, "copy_gbs": 1.0}, True)
    assert calls == ["ours", "torch", "ours", "torch"]
    assert row["block_medians_s"] == {"tinygrad_med": [4.0, 2.0], "torch": [1.0, 3.0]}
    assert row["vs_torch_per_pair"] == [4.0, 2.0 / 3.0]
    assert row["vs_torch"] == pytest.approx(3.0 / 2.0)  # median 3 over median 2
