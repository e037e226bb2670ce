"""Reading .npz archives from untrusted files: every member checked before a byte is allocated, no pickle.

Lecture: none (file handling for checkpoints and datasets).  ``numpy.load`` trusts the file: a zip entry
compressed with an unsupported method raises NotImplementedError, an encrypted one RuntimeError, a
.npy header claiming an 8 TB shape MemoryError, random bytes are "pickled data".  Here the archive is
opened with zipfile, and for every array the .npy header is read first (numpy.lib.format) and its
shape x itemsize held against the size the zip entry really has; only then is the buffer allocated.
Every problem becomes the caller's error class (CheckpointError for tm.load, DataError for data
files) with a message naming the file, the entry and what is wrong.

    with open_npz(path, CheckpointError, "load") as archive:
        archive.files              # ['manifest', 'data/model/fc.weight', ...]
        archive.read("manifest")   # a numpy array, or the caller's error
"""

import lzma
import os
import struct
import tokenize
import zipfile
import zlib

import numpy
import numpy.lib.format as npy_format

from .errors import fmt

__all__ = ["open_npz", "NpzArchive", "READ_ERRORS", "describe_bytes"]

# What zipfile and numpy.lib.format raise on damaged input (MemoryError: a header's absurd claim).
READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    MemoryError,
    RecursionError,
    SyntaxError,
    tokenize.TokenError,  # numpy.lib.format parses the .npy header as Python literals
    struct.error,
    zlib.error,
    lzma.LZMAError,
)
_DEFLATE_RATIO = 1032  # deflate's largest expansion: one compressed byte never stands for more than this


def describe_bytes(count):
    """A byte count for messages: '812 bytes', '3.1 MB', '8.8 TB'."""
    value, unit = float(count), "bytes"
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            break
        value /= 1000
    return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def open_npz(path, error, op):
    """Open ``path`` as an .npz archive, or raise ``error`` naming the file and the problem.

    Args:
        path: file name.
        error: the exception class to raise (CheckpointError, DataError).
        op: the name the messages start with ("load", "MedMNIST").
    Returns:
        an NpzArchive (use it as a context manager).
    Raises:
        FileNotFoundError for a missing path; ``error`` for a directory, an empty file, a single .npy,
        bytes that are not a zip archive, or a damaged zip directory.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(fmt(op, f"no file {path!r}"))
    if os.path.isdir(path):
        raise error(fmt(op, f"{path!r} is a directory, not an .npz file"))
    with open(path, "rb") as file:
        start = file.read(8)
    if not start:
        raise error(fmt(op, f"{path!r} is empty (0 bytes)"))
    if start.startswith(npy_format.MAGIC_PREFIX):
        raise error(fmt(op, f"{path!r} holds a single .npy array, not an .npz archive of named arrays"))
    if not start.startswith(b"PK"):
        problem = f"is not a readable .npz archive: not a zip file, it starts with the bytes {start!r}"
        raise error(fmt(op, f"{path!r} {problem}"))
    try:
        archive = zipfile.ZipFile(path)
    except READ_ERRORS as cause:
        raise error(fmt(op, f"{path!r} is not a readable .npz archive ({type(cause).__name__}: {cause})")) from cause
    return NpzArchive(archive, path, error, op)


class NpzArchive:
    """An open .npz archive whose arrays are read one at a time, each checked against its zip entry."""

    def __init__(self, archive, path, error, op):
        self.archive, self.path, self.error, self.op = archive, path, error, op
        self.size = os.path.getsize(path)
        self.entries = {}
        for info in archive.infolist():
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if key in self.entries:
                self.close()
                raise self._problem(f"holds the entry {key!r} twice")
            self.entries[key] = info
        self.files = list(self.entries)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Close the zip file."""
        self.archive.close()

    def _problem(self, problem, key=None):
        where = f"{self.path!r}: " + (f"entry {key!r} " if key is not None else "")
        return self.error(fmt(self.op, where + problem))

    def read(self, key):
        """The array stored under ``key``, after its zip entry and .npy header were checked.

        Raises:
            the archive's error class for a missing, encrypted, oddly compressed, truncated or
            inconsistent entry, an object (pickled) or structured dtype, or a size past memory.
        """
        if key not in self.entries:
            raise self._problem(f"has no entry {key!r}")
        info = self.entries[key]
        self._check_entry(info, key)
        try:
            with self.archive.open(info) as member:
                shape, order, dtype, header_size = self._header(member, key)
                return self._data(member, info, key, shape, order, dtype, header_size)
        except READ_ERRORS as cause:
            if isinstance(cause, self.error):
                raise
            raise self._problem(f"cannot be read ({type(cause).__name__}: {cause})", key) from cause

    def _check_entry(self, info, key):
        if info.flag_bits & 0x41:  # bit 0: encrypted, bit 6: strong encryption
            raise self._problem("is encrypted; tinygrad_med reads only plain archives", key)
        if info.flag_bits & 0x20:  # bit 5: compressed patched data
            raise self._problem("holds compressed patched data (zip flag bit 5), which zipfile cannot read", key)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise self._problem(
                f"is compressed with zip method {info.compress_type}; only stored and deflate entries are read", key
            )
        if info.compress_size > self.size:
            raise self._problem(f"claims {describe_bytes(info.compress_size)} in a file of {self.size} bytes", key)
        most = info.compress_size if info.compress_type == zipfile.ZIP_STORED else info.compress_size * _DEFLATE_RATIO
        if info.file_size > most:
            raise self._problem(
                f"claims {describe_bytes(info.file_size)} uncompressed from {describe_bytes(info.compress_size)}", key
            )

    def _header(self, member, key):
        version = npy_format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(member)
        else:
            raise self._problem(f"is .npy format version {version}; versions 1.0 and 2.0 are read", key)
        if dtype.hasobject:
            raise self._problem("holds Python objects (dtype object); they would need pickle, which is never used", key)
        if dtype.fields is not None or dtype.kind == "V":
            raise self._problem(f"has the structured dtype {dtype}; only plain numeric arrays are read", key)
        return shape, "F" if fortran else "C", dtype, member.tell()

    def _data(self, member, info, key, shape, order, dtype, header_size):
        count = 1
        for size in shape:
            count *= size
        needed = count * dtype.itemsize
        if needed != info.file_size - header_size:
            raise self._problem(
                f"has a header saying shape {shape} of {dtype} ({describe_bytes(needed)}) but the entry holds "
                f"{describe_bytes(max(info.file_size - header_size, 0))}",
                key,
            )
        try:
            buffer = bytearray(needed)
        except MemoryError as cause:
            raise self._problem(f"needs {describe_bytes(needed)} of memory, more than is free", key) from cause
        if member.readinto(buffer) != needed or member.read(1):
            raise self._problem(f"is truncated or longer than its header (shape {shape} of {dtype})", key)
        return numpy.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)
