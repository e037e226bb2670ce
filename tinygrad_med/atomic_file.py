"""Atomic file writes: a reader (or a crash) never sees half a file.

Checkpoints (serialization.py), the run log (training/run_folder.py), predictions (training/predict_io.py)
and on-disk caches (data/cortex.py) are all written the same way: to a hidden temporary file in the same
folder, flushed to disk, then renamed over the target (os.replace is atomic on one file system).  A
failure part-way removes the temporary file and leaves the target as it was.

    write_atomically(path, write)   write(temporary_path) fills the file; returns path
    write_text(path, text)          the same for a UTF-8 text
    is_temporary_of(name, target)   whether a file name is a temporary of target's, left by a killed write
"""

import os
import tempfile

__all__ = ["write_atomically", "write_text", "is_temporary_of"]

_COMPRESSED = (".gz", ".bz2", ".xz")  # ".nii.gz" keeps both parts: writers pick a format by the whole suffix


def write_atomically(path, write):
    """Call ``write(temporary)`` on a hidden file beside ``path``, then rename it over ``path``.

    The temporary file ends in path's suffix (writers such as numpy.savez, PIL or nibabel choose the format
    by the name), is fsynced, and gets path's permissions if path exists, else 0o666 minus the umask
    (mkstemp makes 0o600).  After the rename the folder is fsynced too, where the platform allows, so
    the rename itself survives a power cut.  Returns ``path``.
    """
    folder, name = os.path.split(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp" + _suffix(name))
    os.close(handle)
    try:
        write(temporary)
        _fsync(temporary, os.O_RDONLY)
        os.chmod(temporary, _file_mode(path))
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    _fsync(folder, os.O_RDONLY, best_effort=True)  # the rename; not possible on every platform (Windows)
    return path


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""

    def write(temporary):
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)

    write_atomically(path, write)


def is_temporary_of(name, target):
    """Whether the file ``name`` is a temporary file of write_atomically(``.../target``): ``.TARGET.*.tmp[suffix]``.

    A write killed before its rename leaves one behind (training/run_folder.py removes them on resume).
    """
    return name.startswith(f".{target}.") and name.endswith(".tmp" + _suffix(target))


def _suffix(name):
    """The format suffix of a file name: ".npz", ".png", "" -- and ".nii.gz" whole (a compressed format)."""
    stem, suffix = os.path.splitext(name)
    return os.path.splitext(stem)[1] + suffix if suffix.lower() in _COMPRESSED else suffix


def _file_mode(path):
    """An existing file's permissions; else the usual 0o666 minus the umask."""
    if os.path.exists(path):
        return os.stat(path).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync(path, flags, best_effort=False):
    try:
        descriptor = os.open(path, flags)
    except OSError:
        if best_effort:
            return
        raise
    try:
        os.fsync(descriptor)
    except OSError:
        if not best_effort:
            raise
    finally:
        os.close(descriptor)
