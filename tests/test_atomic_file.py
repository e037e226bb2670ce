"""tinygrad_med/atomic_file.py: the one atomic write of checkpoints, run logs, predictions and caches."""

import os

import numpy
import pytest

from tinygrad_med.atomic_file import is_temporary_of, write_atomically, write_text


def test_the_temporary_file_keeps_the_format_suffix_and_is_renamed_over_the_target(tmp_path):
    seen = []

    def write(temporary):
        seen.append(os.path.basename(temporary))
        numpy.savez(temporary, a=numpy.arange(3))  # savez appends .npz to a name without it

    target = tmp_path / "cache.npz"
    assert write_atomically(str(target), write) == str(target)
    assert is_temporary_of(seen[0], "cache.npz") and seen[0].endswith(".tmp.npz")
    assert os.listdir(tmp_path) == ["cache.npz"] and numpy.load(target)["a"].tolist() == [0, 1, 2]
    write_atomically(str(tmp_path / "mask.nii.gz"), lambda t: seen.append(os.path.basename(t)) or open(t, "w").close())
    assert seen[1].endswith(".tmp.nii.gz") and is_temporary_of(seen[1], "mask.nii.gz")


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary(tmp_path):
    target = tmp_path / "log.jsonl"
    write_text(str(target), "old\n")
    os.chmod(target, 0o640)

    def fail(temporary):
        with open(temporary, "w") as handle:
            handle.write("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_atomically(str(target), fail)
    assert os.listdir(tmp_path) == ["log.jsonl"] and target.read_text() == "old\n"
    write_text(str(target), "new\n")
    assert target.read_text() == "new\n" and os.stat(target).st_mode & 0o777 == 0o640  # permissions kept


def test_is_temporary_of_tells_other_files_apart():
    assert is_temporary_of(".checkpoint.npz.ab12.tmp.npz", "checkpoint.npz")
    assert not is_temporary_of(".checkpoint.npz.ab12.tmp.npz", "log.jsonl")
    assert not is_temporary_of("checkpoint.npz", "checkpoint.npz")
