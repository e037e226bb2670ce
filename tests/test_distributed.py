"""Data-parallel training (tinygrad_med/distributed/, training/parallel.py).

The programs that need several ranks run under ``mpiexec -n 2`` in a subprocess
(tests/distributed_worker.py and ``tgm train --nproc 2``); they skip when mpi4py or mpiexec is
missing (``pip install "tinygrad_med[distributed]"``).  The sampler, the bucket plan and the
command-line refusals are checked in this process.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med import distributed as dist
from tinygrad_med import nn
from tinygrad_med.cli import main
from tinygrad_med.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "distributed_worker.py"
MPIEXEC = shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
    reason='needs mpi4py and mpiexec: pip install "tinygrad_med[distributed]"',
)


def run_ranks(*args, timeout=60, env=None, mpiexec_options=()):
    """``mpiexec -n 2 python3 tests/distributed_worker.py ARGS``: (exit status, stdout + stderr, seconds)."""
    environ = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    command = [MPIEXEC, *mpiexec_options, "-n", "2", sys.executable, str(WORKER), *args]
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environ, cwd=ROOT)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - start


# ----------------------------------------------------------------------------- in this process
@pytest.mark.parametrize("n", [0, 1, 7, 20, 21])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_shards_are_disjoint_equal_and_cover(n, world, drop_last):
    shards = [dist.DistributedSampler(range(n), world, r, seed=5, drop_last=drop_last) for r in range(world)]
    for epoch in (0, 1):
        for s in shards:
            s.set_epoch(epoch)
        indices = [list(s) for s in shards]
        assert len({len(i) for i in indices}) == 1  # every rank takes part in every collective
        flat = sum(indices, [])
        if drop_last:
            assert len(set(flat)) == len(flat) == n - n % world  # disjoint, only the tail dropped
        else:
            assert set(flat) == set(range(n)) and len(flat) - n == (-n) % world  # covering, padded by the head
    if n > 2:
        assert list(shards[0].indices(0)) != list(shards[0].indices(1))  # reshuffled each epoch


def test_two_ranks_batches_are_the_one_process_batches():
    """Rank r's batch t of B/W samples, over the ranks, is the one-process batch t of B (same seed)."""
    data = TensorDataset(numpy.arange(37))
    one = DataLoader(data, 8, shuffle=True, drop_last=True, seed=4)
    shards = [dist.DistributedSampler(data, 2, r, seed=4, drop_last=True) for r in range(2)]
    loaders = [dist.DistributedLoader(data, 4, s, drop_last=True) for s in shards]
    for epoch in (0, 3):
        expected = one.batch_indices(epoch)
        mine = [loader.batch_indices(epoch) for loader in loaders]
        assert len(mine[0]) == len(mine[1]) == len(expected) == 4
        for t, batch in enumerate(expected):
            assert sorted(numpy.concatenate([mine[0][t], mine[1][t]])) == sorted(batch)


class OneRank:
    """A communicator of one rank (the sums are the arrays themselves), for what needs no MPI."""

    rank, size = 0, 1

    def iallreduce(self, array):
        return None

    def wait(self, handle, what):
        pass

    def broadcast(self, array, root=0, what=""):
        return array


def test_buckets_follow_the_cap_in_reverse_order():
    model = nn.Sequential(nn.Linear(100, 100), nn.Linear(100, 100), nn.Linear(100, 10))  # 40 KB per weight
    ddp = dist.DistributedDataParallel(model, OneRank(), bucket_cap_mb=0.04)
    assert ddp.buckets == [["2.bias", "2.weight", "1.bias"], ["1.weight", "0.bias"], ["0.weight"]]
    assert ddp.bytes_per_step == sum(p.data.nbytes for p in model.parameters())
    model(tm.randn(3, 100)).sum().backward()
    before = {k: p.grad.numpy() for k, p in model.named_parameters()}
    ddp.reduce_gradients()  # one rank: the mean is the gradient itself
    assert all(numpy.array_equal(before[k], p.grad.numpy()) for k, p in model.named_parameters())


class TwinRanks(OneRank):
    """Two ranks with the same gradients: the sum is twice the array, the mean the array itself."""

    size = 2

    def iallreduce(self, array):
        array *= 2
        return None


def three_bucket_model():
    tm.manual_seed(0)
    model = nn.Sequential(nn.Linear(100, 100), nn.Linear(100, 100), nn.Linear(100, 10)).double()
    return model, dist.DistributedDataParallel(model, TwinRanks(), bucket_cap_mb=0.04)


def test_buckets_start_their_all_reduce_during_backward_last_layer_first():
    """Each bucket starts as soon as its parameters' gradients are final, in reverse layer order, while
    backward goes on; reduce_gradients() only waits."""
    model, ddp = three_bucket_model()
    ddp.events = events = []
    model[0].weight.register_post_accumulate_grad_hook(lambda p: events.append("0.weight final"))
    x = tm.randn(3, 100, dtype=tm.float64, requires_grad=True)
    x.register_post_accumulate_grad_hook(lambda t: events.append("input final"))
    model(x).sum().backward()
    events.append("backward returned")
    ddp.reduce_gradients()
    assert ddp.buckets == [["2.bias", "2.weight", "1.bias"], ["1.weight"], ["0.bias"], ["0.weight"]]  # float64
    # the last layers' buckets start while backward has the first layer still to do
    assert events[:2] == [("start", 0), ("start", 1)]
    # the first layer's gradients (input, weight, bias) are final together, at its backward
    assert sorted(map(str, events[2:6])) == sorted(
        map(str, ["input final", "0.weight final", ("start", 2), ("start", 3)])
    )
    assert events[6:] == ["backward returned"] + [("wait", k) for k in range(4)]


def test_accumulating_two_backwards_and_unused_parameters_reduce_the_final_sums():
    """A second backward before reduce_gradients() re-sends the buckets already started (they held the
    first pass's gradients); a parameter without a gradient (unused) is reduced as zeros at the end."""
    model, ddp = three_bucket_model()
    for _ in range(2):
        model(tm.randn(3, 100, dtype=tm.float64)).sum().backward()
    expected = {k: p.grad.numpy().copy() for k, p in model.named_parameters()}
    ddp.reduce_gradients()  # twin ranks: the mean is the summed gradient itself
    assert all(numpy.array_equal(expected[k], p.grad.numpy()) for k, p in model.named_parameters())
    model.zero_grad()
    model[2](model[1](tm.randn(3, 100, dtype=tm.float64))).sum().backward()  # layer 0 unused
    ddp.reduce_gradients()
    assert not model[0].weight.grad.numpy().any() and model[2].weight.grad.numpy().any()


def test_convert_sync_batchnorm_keeps_order_parameters_and_state_dict():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
    weight, keys = model[1].weight, list(model.state_dict())
    dist.convert_sync_batchnorm(model)
    assert isinstance(model[1], dist.SyncBatchNorm) and model[1].weight is weight
    assert list(model.state_dict()) == keys and isinstance(model[2], nn.ReLU)


class TwinRank(OneRank):
    """Two ranks whose other rank holds the same data: a sum over ranks is twice this rank's."""

    size = 2

    def allreduce(self, array, what=""):
        array *= 2
        return array


def test_sync_batchnorm_equals_batch_norm_over_both_ranks_batches():
    """SyncBatchNorm on x, the other rank holding the same x and gy, == BatchNorm on [x; x] (forward, backward,
    running statistics); gamma's and beta's gradients stay local (half of the whole batch's) for DDP to average."""
    rng = numpy.random.default_rng(0)
    x, gy = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 3, 5))
    plain, sync = nn.BatchNorm1d(3).double(), dist.SyncBatchNorm(3, comm=TwinRank()).double()
    gamma = rng.uniform(0.5, 2, 3)
    for module in (plain, sync):
        module.weight.data[...] = gamma
    both = tm.tensor(numpy.concatenate([x, x]), requires_grad=True)
    y = plain(both)
    (y * tm.tensor(numpy.concatenate([gy, gy]))).sum().backward()
    mine = tm.tensor(x, requires_grad=True)
    y_sync = sync(mine)
    (y_sync * tm.tensor(gy)).sum().backward()
    numpy.testing.assert_allclose(y_sync.numpy(), y.numpy()[:4], rtol=1e-12, atol=1e-12)
    numpy.testing.assert_allclose(mine.grad.numpy(), both.grad.numpy()[:4], rtol=1e-10, atol=1e-12)
    for name in ("weight", "bias"):
        numpy.testing.assert_allclose(2 * getattr(sync, name).grad.numpy(), getattr(plain, name).grad.numpy())
    for name in ("running_mean", "running_var"):
        numpy.testing.assert_allclose(getattr(sync, name).numpy(), getattr(plain, name).numpy(), rtol=1e-12)


def test_cli_refusals(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "mlp", "--data", "digits", "--out", out, "--sync-bn"]) == 2
    assert "--distributed" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # as if mpi4py were not installed
    for extra in (["--distributed"], ["--nproc", "2"]):
        assert main(["train", "mlp", "--data", "digits", "--out", out, *extra]) == 2
        err = capsys.readouterr().err
        assert 'pip install "tinygrad_med[distributed]"' in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(out)


def test_global_batch_must_split_evenly(tmp_path):
    from tinygrad_med.training.loop import Trainer, make_config

    config = make_config("mlp", "digits", 1, 10, prefetch=0)
    with pytest.raises(ValueError, match="not a multiple of the 3 ranks"):
        Trainer(config, str(tmp_path), progress=False, comm=types.SimpleNamespace(rank=0, size=3))


def test_all_reduce_sum_sums_forward_and_backward_over_ranks():
    """all_reduce_sum: the sum over ranks forward, the sum of the ranks' incoming gradients backward;
    the input itself with one rank or none."""
    x = tm.tensor(numpy.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = dist.all_reduce_sum(x, TwinRank())
    numpy.testing.assert_array_equal(y.numpy(), [2.0, 4.0, 6.0])
    numpy.testing.assert_array_equal(x.numpy(), [1.0, 2.0, 3.0])  # a copy: the input is not summed in place
    (y * tm.tensor(numpy.array([1.0, 0.0, -1.0]))).sum().backward()
    numpy.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, -2.0])
    assert dist.all_reduce_sum(x, OneRank()) is x and dist.all_reduce_sum(x) is x


def test_dice_of_a_twin_rank_is_the_dice_of_the_doubled_batch():
    """soft Dice with comm: the other rank holding the same batch, it is the Dice of both batches together."""
    from tinygrad_med.ops.dice import dice_loss

    rng = numpy.random.default_rng(1)
    x, y = rng.standard_normal((2, 3, 4, 4)), rng.integers(0, 3, (2, 4, 4))
    both = dice_loss(tm.tensor(numpy.concatenate([x, x])), numpy.concatenate([y, y])).item()
    alone = dice_loss(tm.tensor(x), y).item()
    twin = dice_loss(tm.tensor(x), y, global_sum=lambda sums: dist.all_reduce_sum(sums, TwinRank())).item()
    assert abs(twin - both) < 1e-12 and abs(alone - both) > 1e-4


# ----------------------------------------------------------------------------- under mpiexec -n 2
@needs_mpi
def test_two_ranks_equal_one_process_float64():
    """4 SGD steps with momentum, global batch 8: 2 ranks == 1 process to round-off (batch norm: with SyncBatchNorm)."""
    code, output, _ = run_ranks("equivalence")
    assert code == 0, output
    result = json.loads(output.split("RESULT ", 1)[1].splitlines()[0])
    assert result["plain"] < 1e-12 and result["syncbn"] < 1e-12, result
    assert result["bn_unsynced"] > 1e-4, result  # each rank's own statistics: not the one-process step


@needs_mpi
def test_batch_level_losses_give_two_ranks_the_one_process_gradient():
    """Dice + CE, float64: with the Dice sums all-reduced, 2 ranks' mean gradient == 1 process's to round-off;
    with each rank's own sums (the mean of two half-batch Dice losses) it is another gradient. The same for
    cross-entropy with ignored labels (a mean over unequal counts per rank) through Objective.global_mean."""
    code, output, _ = run_ranks("dice")
    assert code == 0, output
    result = json.loads(output.split("RESULT ", 1)[1].splitlines()[0])
    assert result["global"] < 1e-13 and result["ignored_global"] < 1e-13, result
    assert result["shard"] > 1e-4 and result["ignored_shard"] > 1e-4, result  # without the global sums


KILLED = "TERMINATED WITH THE EXIT STRING: Killed (signal 9)"  # mpiexec's own line
FAILURES = {  # how rank 1 fails: (mpiexec options, what the output must say: one of)
    "kill": ((), ("BAD TERMINATION",)),  # mpiexec ends the other rank itself
    # mpiexec signals SIGUSR1 to rank 0, which says so and aborts (in some runs only mpiexec's line comes through)
    "kill-no-cleanup": (("-disable-auto-cleanup",), ("tgm distributed: rank 0 of 2: another rank ended", KILLED)),
    "hang": ((), ("tgm distributed: rank 0 of 2: the second all-reduce did not complete within 4 s",)),  # the deadline
    "raise": ((), ("tgm distributed: rank 1 of 2: distributed_worker: planted failure on rank 1",)),
}


@needs_mpi
@pytest.mark.parametrize("how", sorted(FAILURES))
def test_a_failing_rank_stops_every_rank_with_a_message(how):
    options, expected = FAILURES[how]
    code, output, seconds = run_ranks(how.split("-")[0], env={"TGM_DIST_TIMEOUT": "4"}, mpiexec_options=options)
    assert code != 0 and "passed the all-reduce" not in output
    assert any(line in output for line in expected), output
    assert seconds < 30


def checkpoint_weights(folder):
    from tinygrad_med.training.loop import load_checkpoint

    checkpoint = load_checkpoint(os.path.join(folder, "checkpoint.npz"))
    return int(checkpoint["epoch"]), {k: numpy.asarray(v) for k, v in checkpoint["model"].items()}


def train_nproc(out, *options):
    command = [sys.executable, "-m", "tinygrad_med", "train", "mlp", "--data", "digits", "--out", out, "--quiet"]
    environ = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [*command, "--nproc", "2", *options], capture_output=True, text=True, env=environ, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@needs_mpi
def test_checkpoints_move_between_two_ranks_and_one_process(tmp_path):
    base = ["train", "mlp", "--data", "digits", "--quiet", "--prefetch", "0"]
    reference, two_then_one, one_then_two = (str(tmp_path / n) for n in ("ref", "two_one", "one_two"))
    assert main([*base, "--epochs", "2", "--out", reference]) == 0
    printed = train_nproc(two_then_one, "--epochs", "1")
    assert "test_accuracy" in printed and printed.count("wrote ") == 1  # rank 0 alone reports and writes
    assert main([*base, "--epochs", "2", "--out", two_then_one, "--resume"]) == 0
    assert main([*base, "--epochs", "1", "--out", one_then_two]) == 0
    train_nproc(one_then_two, "--epochs", "2", "--resume")
    epoch, expected = checkpoint_weights(reference)
    for folder in (two_then_one, one_then_two):
        done, weights = checkpoint_weights(folder)
        assert done == epoch == 2
        for key in expected:
            numpy.testing.assert_allclose(weights[key], expected[key], rtol=1e-4, atol=1e-5, err_msg=key)
        lines = Path(folder, "log.jsonl").read_text().splitlines()
        assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
