"""tgm train under faults: a second run into the same folder, SIGKILL inside the checkpoint save, a full
disk, an --overwrite whose new run fails, NaN and Inf. Nothing of the previous run is lost, the log agrees
with the checkpoint, and every failure is one line on stderr with exit status 2.

Faults are real where they can be: child processes are killed with SIGKILL at a named point of the save
(a hook installed in the child before it runs ``tgm``), two ``tgm train`` processes race for one folder.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy
import pytest

from tinygrad_med import atomic_file, autograd, serialization
from tinygrad_med.cli import main
from tinygrad_med.data import digits
from tinygrad_med.training.run_folder import load_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = ["train", "mlp", "--data", "digits", "--batch-size", "256", "--lr", "3e-3", "--quiet"]  # 5 steps an epoch
NO_PICTURES = """
    from tinygrad_med.training import loop as train
    train.Trainer.draw_curves = train.Trainer.draw_predictions = lambda *args: None  # matplotlib is slow
"""

KILL_IN_SAVE = """
    import os, signal, numpy
    _savez, _replace, _saves = numpy.savez, os.replace, []
    def _die_at(point, file=None):
        if point == os.environ["KILL_POINT"] and len(_saves) == int(os.environ["KILL_AT_SAVE"]):
            if file is not None:  # mid-write: a partial temporary file
                file.write(b"PK" + bytes(20_000))
                file.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    def savez(file, *args, **kwargs):
        _saves.append(file)
        _die_at("mid-write", file)
        return _savez(file, *args, **kwargs)
    def replace(source, target, *args, **kwargs):  # the temporary file complete; the rename, then the log line
        named = os.path.basename(source).startswith(".checkpoint.npz.")
        _die_at("before-rename" if named else "")
        result = _replace(source, target, *args, **kwargs)
        _die_at("after-rename" if named else "")
        return result
    numpy.savez, os.replace = savez, replace
"""
HOLD_THE_LOCK = """
    import os, time
    from tinygrad_med.training import loop as train
    def train_epoch(self, on_step=None):  # the folder is locked by now: say so, then wait to be killed
        open(os.environ["READY"], "w").close()
        time.sleep(60)
    train.Trainer.train_epoch = train_epoch
"""

WAIT_IN_START_UP = """
    import os, time
    from tinygrad_med.training import loop as train
    def __init__(self, *args, **kwargs):  # the folder is locked, the data not loaded yet
        open(os.environ["READY"], "w").close()
        time.sleep(60)
    train.Trainer.__init__ = __init__
"""


def _child(folder, hook, argv, **env):
    """A ``tgm`` process with ``hook`` run first (in the child only), in ``folder``."""
    script = (
        textwrap.dedent(NO_PICTURES + hook)
        + f"\nimport sys\nfrom tinygrad_med.cli import main\nsys.exit(main({argv!r}))\n"
    )
    variables = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), **env)
    return subprocess.Popen(
        [sys.executable, "-c", script], cwd=folder, env=variables, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.fixture(autouse=True)
def _no_pictures(monkeypatch):
    from tinygrad_med.training import loop as train

    monkeypatch.setattr(train.Trainer, "draw_curves", lambda self: None)
    monkeypatch.setattr(train.Trainer, "draw_predictions", lambda self, result: None)


def _wait_for(path, process):
    deadline = time.monotonic() + 30
    while not os.path.exists(path) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.path.exists(path), process.communicate()[1]


def _epochs(out):
    with open(os.path.join(out, "log.jsonl"), encoding="utf-8") as handle:
        return [json.loads(line)["epoch"] for line in handle]


def _leftovers(out):
    return sorted(name for name in os.listdir(out) if ".tmp" in name or name.startswith(".replaced"))


def _one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_second_run_into_a_locked_folder_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path, capsys):
    out, ready = str(tmp_path / "run"), str(tmp_path / "ready")
    holder = _child(tmp_path, HOLD_THE_LOCK, TRAIN + ["--out", out, "--epochs", "1"], READY=ready)
    try:
        _wait_for(ready, holder)
        second = _child(tmp_path, "", ["train", "cnn", "--out", out, "--epochs", "1", "--overwrite", "--quiet"])
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2 and err.decode().count("\n") == 1, err
        assert f"{out} is in use by pid {holder.pid} on host" in err.decode()
        assert sorted(os.listdir(out)) == [".lock"]  # the refused run wrote nothing
    finally:
        holder.kill()
        holder.communicate()
    assert main(TRAIN + ["--out", out, "--epochs", "1"]) == 0
    assert f"took over the lock of pid {holder.pid} on host" in capsys.readouterr().err
    assert _epochs(out) == [1] and sorted(os.listdir(out)) == ["checkpoint.npz", "log.jsonl", "summary.json"]


@pytest.mark.parametrize("point", ["mid-write", "before-rename", "after-rename"])
def test_sigkill_inside_the_save_loses_nothing_and_resume_leaves_a_log_that_agrees(tmp_path, capsys, point):
    out = str(tmp_path / "run")
    argv = TRAIN + ["--out", out, "--epochs", "2"]
    child = _child(tmp_path, KILL_IN_SAVE, argv, KILL_AT_SAVE="2", KILL_POINT=point)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    saved = 2 if point == "after-rename" else 1  # the previous checkpoint, whole, until the rename
    assert load_checkpoint(os.path.join(out, "checkpoint.npz"))["epoch"] == saved
    temporary = [name for name in os.listdir(out) if name.startswith(".checkpoint.npz.")]
    assert len(temporary) == (0 if point == "after-rename" else 1)
    assert _epochs(out) == [1]  # the log line is written after the checkpoint
    assert main(argv + ["--resume"]) == 0
    err = capsys.readouterr().err
    assert ("removed .checkpoint.npz." in err) == (point != "after-rename")
    rewritten = "log.jsonl rewritten from the checkpoint (it held epochs [1], the checkpoint 2)"
    assert (rewritten in err) == (point == "after-rename")  # else the log agreed and was left alone
    assert _epochs(out) == [1, 2] and _leftovers(out) == []


def test_a_log_line_the_checkpoint_never_saw_is_dropped_on_resume(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(TRAIN + ["--out", out, "--epochs", "1"]) == 0
    with open(os.path.join(out, "log.jsonl"), "a", encoding="utf-8") as log:  # as the log-first order left it
        log.write(json.dumps({"epoch": 2}) + "\n" + '{"epoch": 3, "train_lo')
    assert main(TRAIN + ["--out", out, "--epochs", "2", "--resume"]) == 0
    assert "log.jsonl rewritten from the checkpoint (it held epochs [1, 2, '?'], the checkpoint 1)" in (
        capsys.readouterr().err
    )
    assert _epochs(out) == [1, 2]


def test_an_overwrite_killed_before_its_first_checkpoint_gives_the_previous_run_back(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(TRAIN + ["--out", out, "--epochs", "1"]) == 0
    before = open(os.path.join(out, "checkpoint.npz"), "rb").read()
    argv = TRAIN + ["--out", out, "--epochs", "2", "--overwrite"]
    child = _child(tmp_path, KILL_IN_SAVE, argv, KILL_AT_SAVE="1", KILL_POINT="before-rename")
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL and not os.path.exists(os.path.join(out, "checkpoint.npz"))
    assert main(TRAIN + ["--out", out, "--epochs", "2", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "the previous run in" in err and "was kept" in err and "resuming" not in err
    assert _epochs(out) == [1, 2] and _leftovers(out) == []
    assert load_checkpoint(os.path.join(out, "checkpoint.npz"))["history"][0] == json.loads(
        open(os.path.join(out, "log.jsonl")).readline()
    )
    assert before != open(os.path.join(out, "checkpoint.npz"), "rb").read()  # epoch 2 was added to the old run


@pytest.mark.parametrize("fault", ["full disk", "read-only"])
def test_a_failed_save_keeps_the_previous_checkpoint_and_says_so(tmp_path, monkeypatch, capsys, fault):
    out = str(tmp_path / "run")
    saves, savez, mkstemp = [], numpy.savez, atomic_file.tempfile.mkstemp

    def full_disk(file, **arrays):  # half of the file written, then ENOSPC
        saves.append(1)
        if len(saves) == 2:
            file.write(b"\0" * 5000)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return savez(file, **arrays)

    def read_only(*args, **kwargs):
        saves.append(1)
        if len(saves) == 2:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return mkstemp(*args, **kwargs)

    if fault == "full disk":
        monkeypatch.setattr(serialization.numpy, "savez", full_disk)
    else:
        monkeypatch.setattr(atomic_file.tempfile, "mkstemp", read_only)
    assert main(TRAIN + ["--out", out, "--epochs", "2"]) == 2
    err = _one_line(capsys)
    assert os.strerror(errno.ENOSPC if fault == "full disk" else errno.EROFS) in err, err
    assert "checkpoint.npz" in err and "the previous checkpoint was kept as it was" in err
    assert load_checkpoint(os.path.join(out, "checkpoint.npz"))["epoch"] == 1 and _epochs(out) == [1]
    assert _leftovers(out) == [] and ".lock" not in os.listdir(out)
    monkeypatch.undo()
    assert main(TRAIN + ["--out", out, "--epochs", "2", "--resume"]) == 0 and _epochs(out) == [1, 2]


def test_nan_in_the_data_stops_at_the_step_keeps_the_finite_checkpoint_and_names_the_op(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")
    assert main(TRAIN + ["--out", out, "--epochs", "1"]) == 0
    before = open(os.path.join(out, "checkpoint.npz"), "rb").read()
    images, labels = digits.load_digits()
    images = images.copy()
    images[:, 0, 3, 3] = numpy.nan  # every image: the first step of the next epoch meets it
    monkeypatch.setattr(digits, "load_digits", lambda: (images, labels))
    assert main(TRAIN + ["--out", out, "--epochs", "2", "--resume"]) == 2
    err = _one_line(capsys)
    assert "the loss is nan at epoch 2, step 1 of 5" in err and "the batch's inputs hold NaN or Inf" in err
    assert f"{out}/checkpoint.npz was kept as it was" in err
    assert open(os.path.join(out, "checkpoint.npz"), "rb").read() == before and _epochs(out) == [1]

    class Anomaly:  # what autograd.detect_anomaly reports, where autograd has it
        def __enter__(self):
            return self

        def __exit__(self, *error):
            raise RuntimeError("Linear backward returned NaN")

    monkeypatch.setattr(autograd, "detect_anomaly", Anomaly, raising=False)
    assert main(TRAIN + ["--out", out, "--epochs", "2", "--resume"]) == 2
    assert "at epoch 2, step 1 of 5 in Linear backward returned NaN; stopped" in _one_line(capsys)


def test_a_diverging_overwrite_stops_at_the_first_inf_and_gives_the_previous_run_back(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(TRAIN + ["--out", out, "--epochs", "1"]) == 0
    before = {name: open(os.path.join(out, name), "rb").read() for name in os.listdir(out)}
    assert main(TRAIN + ["--out", out, "--epochs", "1", "--overwrite", "--lr", "1e30"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "was kept (the run that was to replace it wrote no checkpoint)" in err[0]
    assert "at epoch 1, step 2 of 5" in err[1] and "no checkpoint was written; lower --lr (it is 1e+30)" in err[1]
    assert {name: open(os.path.join(out, name), "rb").read() for name in os.listdir(out)} == before


def test_an_overwrite_refused_for_its_device_or_data_leaves_the_previous_run(tmp_path, monkeypatch, capsys):
    from tinygrad_med import backend

    out = str(tmp_path / "run")
    assert main(TRAIN + ["--out", out, "--epochs", "1"]) == 0
    before = {name: open(os.path.join(out, name), "rb").read() for name in os.listdir(out)}
    monkeypatch.setattr(backend, "cuda_unavailable_reason", lambda: "CuPy is not installed")
    assert main(TRAIN + ["--out", out, "--overwrite", "--device", "cuda"]) == 2
    assert "tgm train: --device cuda is not available: CuPy is not installed" in _one_line(capsys)
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    bad = ["train", "cnn", "--data", "medmnist", "--data-path", str(tmp_path / "bad.npz"), "--out", out]
    assert main(bad + ["--overwrite", "--quiet"]) == 2
    assert _one_line(capsys).startswith("tgm train: ")  # the wording is the data loader's
    assert {name: open(os.path.join(out, name), "rb").read() for name in os.listdir(out)} == before


def test_ctrl_c_during_start_up_is_one_line_exit_130_and_leaves_no_folder(tmp_path):
    out, ready = str(tmp_path / "run"), str(tmp_path / "ready")
    child = _child(tmp_path, WAIT_IN_START_UP, TRAIN + ["--out", out], READY=ready)
    _wait_for(ready, child)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130 and err.decode() == "tgm train: interrupted (Ctrl-C)\n"
    assert not os.path.exists(out)  # the lock released, the folder it had made removed
