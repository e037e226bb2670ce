"""Checkpoints: ``tm.save(obj, path)`` and ``tm.load(path)`` as .npz files (or .safetensors weights), never pickle.

Lecture: none (training machinery).  PyTorch's torch.save pickles, so loading a
file can run code; here a checkpoint is a plain NumPy .npz (a zip of .npy
arrays) plus a JSON manifest stored as a uint8 array under the key "manifest".

    obj = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}
    tm.save(obj, "ckpt.npz")       # arrays: "data/model/fc.weight", ..., plus "manifest"
    obj = tm.load("ckpt.npz")      # the same nested structure, tensors as Tensors

The manifest is a tree that mirrors ``obj``: dicts (str or int keys), lists,
tuples, Python numbers/strings/None/bools inline, and for every Tensor or array
the npz key, shape and dtype it was saved with.  Saving writes a temporary file
beside ``path``, fsyncs it and renames it over ``path`` (os.replace is atomic),
so a crash mid-save leaves the previous checkpoint whole.  Loading checks every
array against the manifest and raises CheckpointError naming the file, the key
and the shapes; it only reads the file.  Every entry is read through tinygrad_med/npz_reader.py,
which checks the zip entry and the .npy header before allocating, so anything wrong with the file
(encrypted or oddly compressed entries, a header claiming terabytes, a manifest nested a thousand
levels deep) is a CheckpointError naming the file.

A path ending in .safetensors holds a flat {name: tensor} dict (a state_dict) in the format of the
``safetensors`` package: ``tm.save(model.state_dict(), "model.safetensors")`` is read by PyTorch's
``safetensors.torch.load_file``, and a file PyTorch wrote that way loads here with ``tm.load``.
"""

import json
import os
from collections import OrderedDict

import numpy

from . import backend
from .atomic_file import write_atomically
from .errors import CheckpointError, fmt
from .npz_reader import open_npz
from .tensor import Tensor

__all__ = ["save", "load", "check_weights_path", "WEIGHT_FORMATS"]

FORMAT, VERSION = "tinygrad_med.checkpoint", 1
MANIFEST_KEY, DATA_PREFIX, SEP = "manifest", "data/", "/"
WEIGHT_FORMATS = (".safetensors", ".npz")
MAX_DEPTH = 100  # nesting levels save writes and load reads (a deeper manifest is damaged or crafted)


def save(obj, path):
    """Write ``obj`` to ``path`` as an .npz checkpoint, atomically.

    Args:
        obj: a Tensor, a numpy array, or nested dicts (str/int keys) / lists / tuples of
            Tensors, numpy arrays, numpy scalars, Python numbers, strings, bools and None
            (e.g. {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}).
        path: file name (str or os.PathLike); written as given, no suffix is added.
    Raises:
        TypeError naming the key path of a value that cannot be stored without pickle, ValueError
        for nesting deeper than MAX_DEPTH (100) levels (the file is not touched then).
    """
    path = os.fspath(path)
    if path.lower().endswith(".safetensors"):
        _save_safetensors(obj, path)
        return
    arrays = {}
    manifest = {"format": FORMAT, "version": VERSION, "root": _encode(obj, [], arrays)}
    arrays[MANIFEST_KEY] = numpy.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=numpy.uint8)
    write_atomically(path, _binary(lambda file: numpy.savez(file, allow_pickle=False, **arrays)))


def load(path, map_location=None):
    """Read a checkpoint written by ``save`` and rebuild the nested structure.

    Args:
        path: file name (str or os.PathLike).
        map_location: device for the tensors ('cpu' or 'cuda'); default 'cpu'.
    Returns:
        The saved object: Tensors come back as (non-grad) Tensors, numpy arrays as numpy
        arrays, OrderedDicts (state_dicts) as OrderedDicts.
    Raises:
        FileNotFoundError if ``path`` does not exist.
        CheckpointError naming the file (and the key and shapes, where one is at fault) if
        the file is not an .npz, is truncated, has no manifest, lacks an array the manifest
        names, or holds an array of another shape or dtype than the manifest records.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no checkpoint at {path!r}")
    device = backend.normalize_device(map_location)
    if path.lower().endswith(".safetensors"):
        return _load_safetensors(path, device)
    with open_npz(path, CheckpointError, "load") as npz:
        manifest = _read_manifest(npz, path)
        try:
            return _decode(manifest["root"], npz, path, device, 0)
        except CheckpointError:
            raise
        except _MANIFEST_ERRORS as error:  # a hand-edited or damaged manifest
            raise _corrupt(path, f"malformed manifest ({type(error).__name__}: {error})") from error


def check_weights_path(path, overwrite=False):
    """Refuse a path that weights (a state_dict) should not be written to, before any work is done.

    Raises:
        ValueError naming the path: a suffix other than .safetensors or .npz, a directory, a folder
        that does not exist; FileExistsError for an existing file unless ``overwrite``.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(
            fmt("export", f"{path} is a directory; name a file such as {os.path.join(path, 'model.safetensors')}")
        )
    if not path.lower().endswith(WEIGHT_FORMATS):
        raise ValueError(fmt("export", f"{path} names no weights format; use {' or '.join(WEIGHT_FORMATS)}"))
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise ValueError(fmt("export", f"the folder of {path} does not exist"))
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(
            fmt("export", f"{path} exists; it is left as it is", hint="pass --overwrite to replace it, or another path")
        )


# ----------------------------------------------------------------------------- save helpers


def _encode(value, keys, arrays):
    """The manifest node for ``value``; arrays go into ``arrays`` under their key path."""
    if len(keys) > MAX_DEPTH:
        raise ValueError(
            fmt("save", f"{_where(keys[:3])}/... is nested deeper than {MAX_DEPTH} levels; load refuses that")
        )
    if isinstance(value, (Tensor, numpy.ndarray)) or backend.is_gpu_array(value):
        return _encode_array(value, keys, arrays)
    if isinstance(value, numpy.generic) and value.dtype.kind in "biuf":
        return {"t": "scalar", "dtype": value.dtype.str, "v": value.item()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"t": "value", "v": value}
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise TypeError(
                    fmt(
                        "save",
                        f"key {k!r} in {_where(keys)} is a {type(k).__name__}; only str and int keys can be stored",
                    )
                )
            items.append([k, _encode(v, keys + [k], arrays)])
        return {"t": "odict" if isinstance(value, OrderedDict) else "dict", "items": items}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, keys + [i], arrays) for i, v in enumerate(value)]
        return {"t": "tuple" if isinstance(value, tuple) else "list", "items": items}
    hint = "save its state_dict() instead" if hasattr(value, "state_dict") else None
    raise TypeError(
        fmt(
            "save",
            f"{_where(keys)} is a {type(value).__name__}; a checkpoint holds only tensors, "
            "arrays, numbers, strings, None and dicts/lists/tuples of them (no pickle)",
            hint=hint,
        )
    )


def _encode_array(value, keys, arrays):
    array = backend.to_numpy(value.data if isinstance(value, Tensor) else value)
    if array.dtype.hasobject or array.dtype.kind == "V":
        raise TypeError(fmt("save", f"{_where(keys)} has dtype {array.dtype}, which cannot be stored without pickle"))
    key = DATA_PREFIX + SEP.join(str(k) for k in keys)
    while key in arrays:  # two paths that join to the same text ({"a/b": x} vs {"a": {"b": y}})
        key += "'"
    arrays[key] = array
    kind = "tensor" if isinstance(value, Tensor) else "ndarray"
    return {"t": kind, "key": key, "shape": list(array.shape), "dtype": array.dtype.str}


def _binary(write):
    """A writer for write_atomically from ``write(file)`` on the temporary file opened in binary mode."""

    def to_path(temporary):
        with open(temporary, "wb") as file:
            write(file)

    return to_path


def _where(keys):
    return "the object" if not keys else "key " + repr(SEP.join(str(k) for k in keys))


# ----------------------------------------------------------------------------- load helpers

_MANIFEST_ERRORS = (KeyError, TypeError, IndexError, AttributeError, ValueError, OverflowError, RecursionError)


def _corrupt(path, problem):
    return CheckpointError(fmt("load", f"{path!r}: {problem}"))


def _read_manifest(npz, path):
    if MANIFEST_KEY not in npz.files:
        raise _corrupt(
            path, f"no {MANIFEST_KEY!r} entry; it was not written by tm.save (arrays found: {npz.files[:5]})"
        )
    raw = npz.read(MANIFEST_KEY)
    if raw.dtype != numpy.uint8 or raw.ndim != 1:
        raise _corrupt(
            path, f"the manifest is a {raw.dtype} array of shape {raw.shape}, not the uint8 text tm.save writes"
        )
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise _corrupt(path, f"corrupt manifest ({type(error).__name__}: {error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "root" not in manifest:
        raise _corrupt(path, "the manifest is in an unknown format")
    if manifest.get("version") != VERSION:
        raise _corrupt(path, f"format version {manifest.get('version')}; this tinygrad_med reads version {VERSION}")
    return manifest


def _decode(node, npz, path, device, depth):
    if depth > MAX_DEPTH:
        raise _corrupt(path, f"the manifest is nested deeper than {MAX_DEPTH} levels")
    kind = node.get("t") if isinstance(node, dict) else None
    if kind in ("tensor", "ndarray"):
        array = _decoded_array(node, npz, path)
        return Tensor._wrap(backend.to_device(array, device)) if kind == "tensor" else array
    if kind == "scalar":
        dtype = numpy.dtype(node["dtype"])
        if dtype.kind not in "biuf" or not isinstance(node["v"], (bool, int, float)):
            raise _corrupt(path, f"a scalar entry has dtype {dtype} and value {node['v']!r}; tm.save writes numbers")
        return dtype.type(node["v"])
    if kind == "value":
        if node["v"] is not None and not isinstance(node["v"], (bool, int, float, str)):
            raise _corrupt(path, f"a value entry holds a {type(node['v']).__name__}; tm.save writes plain values")
        return node["v"]
    if kind in ("dict", "odict"):
        pairs = []
        for key, child in node["items"]:
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise _corrupt(path, f"the manifest has a dict key {key!r}; tm.save writes str and int keys")
            pairs.append((key, _decode(child, npz, path, device, depth + 1)))
        return OrderedDict(pairs) if kind == "odict" else dict(pairs)
    if kind in ("list", "tuple"):
        items = [_decode(child, npz, path, device, depth + 1) for child in node["items"]]
        return tuple(items) if kind == "tuple" else items
    raise _corrupt(path, f"the manifest has an entry of unknown type {kind!r}")


def _decoded_array(node, npz, path):
    key = node["key"]
    if not isinstance(key, str) or key == MANIFEST_KEY or key not in npz.files:
        raise _corrupt(path, f"missing the array {key!r} that its manifest lists")
    array = npz.read(key)
    expected_shape, expected_dtype = tuple(node["shape"]), numpy.dtype(node["dtype"])
    if tuple(array.shape) != expected_shape or array.dtype != expected_dtype:
        raise _corrupt(
            path,
            f"array {key!r} has shape {tuple(array.shape)} and dtype {array.dtype}, but the manifest "
            f"records shape {expected_shape} and dtype {expected_dtype}",
        )
    return array


# ----------------------------------------------------------------------------- safetensors


def _save_safetensors(obj, path):
    """A flat {name: tensor} dict (a state_dict) as a .safetensors file, the format PyTorch's
    ``safetensors.torch.load_file`` reads; nothing else fits the format (no nesting, no Python values)."""
    if not hasattr(obj, "items"):
        raise TypeError(
            fmt("save", f"a .safetensors file holds a dict of tensors (a state_dict), not a {type(obj).__name__}")
        )
    tensors = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not (isinstance(value, (Tensor, numpy.ndarray)) or backend.is_gpu_array(value)):
            raise TypeError(
                fmt(
                    "save",
                    f"key {key!r} holds a {type(value).__name__}; a .safetensors file holds only str -> tensor",
                    hint="save model.state_dict(), or use an .npz path for a whole checkpoint",
                )
            )
        array = backend.to_numpy(value.data if isinstance(value, Tensor) else value)
        if array.dtype.hasobject or array.dtype.kind not in "biuf":
            raise TypeError(fmt("save", f"key {key!r} has dtype {array.dtype}, which .safetensors cannot hold"))
        tensors[key] = numpy.array(array, order="C", copy=not array.flags.c_contiguous)  # 0-d stays 0-d
    from safetensors.numpy import save as safetensors_bytes

    data = safetensors_bytes(tensors, metadata={"format": "np", "writer": "tinygrad_med"})
    write_atomically(path, _binary(lambda file: file.write(data)))


def _load_safetensors(path, device):
    """{name: Tensor} in the file's order; every problem the reader finds becomes a CheckpointError."""
    if os.path.isdir(path) or os.path.getsize(path) < 8:
        raise _corrupt(path, "is a directory or shorter than the 8-byte safetensors header")
    from safetensors.numpy import load_file

    try:
        arrays = load_file(path)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as error:  # SafetensorError, and pyo3's PanicException (a BaseException) on odd input
        hint = (
            "; NumPy has no bfloat16: save it as float32 in PyTorch (model.float())" if "bfloat16" in str(error) else ""
        )
        raise _corrupt(path, f"not a readable .safetensors file ({type(error).__name__}: {error}){hint}") from error
    return OrderedDict((key, Tensor._wrap(backend.to_device(array, device))) for key, array in arrays.items())
