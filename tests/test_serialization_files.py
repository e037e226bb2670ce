"""tm.load on damaged and crafted files (every problem a CheckpointError naming the file), the training
checkpoint's required entries, and .safetensors weights that PyTorch reads and writes."""

import json
import os
import tempfile
import zipfile

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.errors import CheckpointError
from tinygrad_med.training.run_folder import load_checkpoint

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCRATCH = tempfile.mkdtemp(prefix="tgm-fuzz-")  # hypothesis examples reuse one folder (no function fixtures)


def small_model():
    return nn.Sequential(nn.Linear(4, 8), nn.Flatten(), nn.Linear(8, 3))


def good_bytes():
    path = os.path.join(SCRATCH, "good.npz")
    if not os.path.exists(path):
        tm.save({"model": small_model().state_dict(), "epoch": 4, "note": "x"}, path)
    with open(path, "rb") as file:
        return file.read()


def load_bytes(data, name="fuzz.npz"):
    path = os.path.join(SCRATCH, name)
    with open(path, "wb") as file:
        file.write(data)
    return tm.load(path)


def central_entry(data, name):
    """Offset of the central directory record of ``name`` (signature PK\\x01\\x02, name at +46)."""
    start = 0
    while True:
        start = data.index(b"PK\x01\x02", start)
        length = int.from_bytes(data[start + 28 : start + 30], "little")
        if data[start + 46 : start + 46 + length] == name.encode():
            return start
        start += 4


def patched(data, name, offset, value, width):
    """``data`` with the central directory field at ``offset`` of entry ``name`` set to ``value``."""
    data = bytearray(data)
    at = central_entry(data, name) + offset
    data[at : at + width] = value.to_bytes(width, "little")
    return bytes(data)


FLAGS, METHOD, COMPRESSED, UNCOMPRESSED = (8, 2), (10, 2), (20, 4), (24, 4)  # (offset, width) in the record
WEIGHT = "data/model/0.weight.npy"


@pytest.mark.parametrize(
    "field, value, message",
    [
        (FLAGS, 0x20, "compressed patched data \\(zip flag bit 5\\)"),  # NotImplementedError before
        (FLAGS, 0x01, "is encrypted"),  # RuntimeError before
        (METHOD, 14, "zip method 14"),  # LZMAError before
        (METHOD, 99, "zip method 99"),
        (UNCOMPRESSED, 2**32 - 1, "claims 4.3 GB uncompressed"),
        (COMPRESSED, 2**32 - 1, "claims 4.3 GB in a file of"),
    ],
)
def test_crafted_zip_headers_give_checkpoint_error_naming_file_and_entry(field, value, message):
    data = patched(good_bytes(), WEIGHT, *field[:1], value, field[1])
    with pytest.raises(CheckpointError, match=f"fuzz.npz.*'data/model/0.weight'.*{message}"):
        load_bytes(data)


def npy_header(shape, dtype="<f8"):
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    buffer = tempfile.SpooledTemporaryFile()
    numpy.lib.format.write_array_header_1_0(buffer, header)
    buffer.seek(0)
    return buffer.read()


def archive(entries):
    """An .npz (zip, stored) from {name: raw .npy bytes}."""
    path = os.path.join(SCRATCH, "crafted.npz")
    with zipfile.ZipFile(path, "w") as zf:
        for name, raw in entries.items():
            zf.writestr(name + ".npy", raw)
    with open(path, "rb") as file:
        return file.read()


def manifest_bytes(root_text):
    text = '{"format": "tinygrad_med.checkpoint", "version": 1, "root": ' + root_text + "}"
    raw = numpy.frombuffer(text.encode(), numpy.uint8)
    return npy_header(raw.shape, "|u1") + raw.tobytes()


def test_a_header_claiming_8_terabytes_is_refused_before_allocating():
    root = '{"t": "ndarray", "key": "data/x", "shape": [1099511627776], "dtype": "<f8"}'
    data = archive({"manifest": manifest_bytes(root), "data/x": npy_header((2**40,)) + b"\0" * 64})
    with pytest.raises(CheckpointError, match=r"'data/x' has a header saying shape \(1099511627776,\).*8.8 TB"):
        load_bytes(data)  # MemoryError before


def test_object_and_structured_arrays_are_refused_without_unpickling():
    root = '{"t": "ndarray", "key": "data/x", "shape": [1], "dtype": "|O"}'
    with pytest.raises(CheckpointError, match="dtype object.*pickle"):
        load_bytes(archive({"manifest": manifest_bytes(root), "data/x": npy_header((1,), "|O") + b"\x80\x04N."}))
    fields = [("a", "<i4")]
    with pytest.raises(CheckpointError, match="structured dtype"):
        load_bytes(archive({"manifest": manifest_bytes(root), "data/x": npy_header((1,), fields) + b"\0" * 4}))


UNBALANCED = b"{'descr': '<f8', 'fortran_order': False, 'shape': (3, "
UNBALANCED_NPY = b"\x93NUMPY\x01\x00\x77\x00" + UNBALANCED + b" " * (118 - len(UNBALANCED)) + b"\n"


def test_an_npy_header_with_an_open_bracket_is_refused():
    root = '{"t": "ndarray", "key": "data/x", "shape": [3], "dtype": "<f8"}'
    with pytest.raises(CheckpointError, match="'data/x' cannot be read \\(TokenError"):  # TokenError before
        load_bytes(archive({"manifest": manifest_bytes(root), "data/x": UNBALANCED_NPY + b"\0" * 24}))


def test_a_manifest_nested_990_deep_is_refused():
    root = '{"t": "list", "items": [' * 990 + '{"t": "value", "v": 1}' + "]}" * 990
    with pytest.raises(CheckpointError, match="fuzz.npz.*(nested deeper than 100|RecursionError)"):
        load_bytes(archive({"manifest": manifest_bytes(root)}))  # RecursionError before


def test_save_refuses_what_load_would_refuse_as_too_deep(tmp_path):
    deep = [1]
    for _ in range(99):
        deep = [deep]
    tm.save(deep, tmp_path / "deep.npz")  # 100 levels: written and read back
    assert str(tm.load(tmp_path / "deep.npz")) == str(deep)
    with pytest.raises(ValueError, match="nested deeper than 100 levels"):
        tm.save([deep], tmp_path / "deeper.npz")
    assert not (tmp_path / "deeper.npz").exists()


@pytest.mark.parametrize(
    "root, message",
    [
        ('{"t": "scalar", "dtype": "|O", "v": 1}', "scalar entry has dtype object"),
        ('{"t": "scalar", "dtype": "|u1", "v": 300}', "OverflowError"),
        ('{"t": "scalar", "dtype": "bogus", "v": 1}', "malformed manifest"),
        ('{"t": "value", "v": {"a": 1}}', "value entry holds a dict"),
        ('{"t": "dict", "items": [[[1], {"t": "value", "v": 1}]]}', "dict key \\[1\\]"),
        ('{"t": "ndarray", "key": "manifest", "shape": [3], "dtype": "|u1"}', "missing the array 'manifest'"),
        ('{"t": "list", "items": 5}', "malformed manifest"),
    ],
)
def test_crafted_manifest_entries_give_checkpoint_error(root, message):
    with pytest.raises(CheckpointError, match=f"fuzz.npz.*{message}"):
        load_bytes(archive({"manifest": manifest_bytes(root)}))


@FUZZ
@given(st.data())
def test_fuzz_byte_flips_load_or_give_checkpoint_error(data):
    raw = bytearray(good_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        load_bytes(bytes(raw))
    except CheckpointError as error:
        assert "fuzz.npz" in str(error)


@FUZZ
@given(st.floats(0.0, 0.999))
def test_fuzz_truncation_always_gives_checkpoint_error(keep):
    raw = good_bytes()
    with pytest.raises(CheckpointError, match="fuzz.npz"):
        load_bytes(raw[: int(len(raw) * keep)])


@FUZZ
@given(st.sampled_from([FLAGS, METHOD, COMPRESSED, UNCOMPRESSED]), st.integers(0, 2**16 - 1), st.booleans())
def test_fuzz_zip_header_fields_load_or_give_checkpoint_error(field, value, wide):
    value = value * 65537 if wide and field[1] == 4 else value
    try:
        load_bytes(patched(good_bytes(), WEIGHT, field[0], value, field[1]))
    except CheckpointError as error:
        assert "fuzz.npz" in str(error)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("tkvdshape") | st.text(), inner),
    max_leaves=12,
)


@FUZZ
@given(JSON, st.sampled_from(["value", "scalar", "dict", "odict", "list", "tuple", "tensor", "ndarray", None]))
def test_fuzz_manifests_load_or_give_checkpoint_error(node, kind):
    if kind is not None and isinstance(node, dict):
        node["t"] = kind
    text = json.dumps(node)
    try:
        load_bytes(archive({"manifest": manifest_bytes(text)}))
    except CheckpointError as error:
        assert "fuzz.npz" in str(error)


# --------------------------------------------------------------------------- training checkpoints


def trained_checkpoint(tmp_path):
    from tinygrad_med.training.loop import Trainer, make_config

    trainer = Trainer(make_config("mlp", "digits", epochs=1, batch_size=64, prefetch=0), tmp_path, progress=False)
    return trainer.state()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.pop("config"), "no 'config' entry"),  # KeyError before
        (lambda c: c.pop("epoch"), "no 'epoch' entry"),
        (lambda c: c.pop("rng"), "no 'rng' entry"),
        (lambda c: c["config"].pop("model"), "no 'config.model' entry"),
        (lambda c: c.update(epoch="3"), "'epoch' is a str"),
        (lambda c: c.update(rng=numpy.frombuffer(b"{'bit_generator':", numpy.uint8)), "'rng' entry is damaged"),
        (lambda c: c.update(rng=numpy.frombuffer(b"[1, 2]", numpy.uint8)), "'rng' entry is damaged"),
        (
            lambda c: c["config"].update(optimizer="lbfgs"),
            "its 'config' holds an unknown optimizer 'lbfgs'",
        ),  # KeyError on resume
        (
            lambda c: c["history"].append({"epoch": 1}),
            r"'history\[0\]' is not a dict of numbers",
        ),  # TypeError at the end
        (lambda c: c["partial"].update(total=None), "'partial' is not a dict of numbers"),  # TypeError mid-epoch
    ],
)
def test_a_training_checkpoint_missing_an_entry_gives_checkpoint_error(tmp_path, edit, message):
    checkpoint = trained_checkpoint(tmp_path)
    edit(checkpoint)
    path = tmp_path / "checkpoint.npz"
    tm.save(checkpoint, path)
    with pytest.raises(CheckpointError, match=f"checkpoint.npz is not a complete tgm train checkpoint.*{message}"):
        load_checkpoint(path)


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    from tinygrad_med.training.loop import Trainer, make_config

    config = make_config("mlp", "digits", epochs=1, batch_size=64, prefetch=0)
    return Trainer(config, tmp_path_factory.mktemp("run"), progress=False)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["scheduler"].update(base_lrs=numpy.zeros((2, 3))), "CosineAnnealingLR.load_state_dict: entries"),
        (lambda c: c["optimizer"]["param_groups"][0].update(betas=(1.0, 2.0)), "invalid beta parameter at index 0"),
        (lambda c: c["optimizer"]["param_groups"][0].update(lr=None), "options of another kind: lr=None"),
        (lambda c: c["optimizer"]["param_groups"].__setitem__(0, numpy.zeros(3)), "not a dict with 'params'"),
    ],
)
def test_optimizer_and_scheduler_states_of_another_kind_are_refused(trainer, tmp_path, edit, message):
    state = trainer.state()  # ZeroDivisionError, TypeError or IndexError in the first step before
    edit(state)
    tm.save(state, tmp_path / "checkpoint.npz")
    with pytest.raises(CheckpointError, match=f"does not fit model 'mlp'.*{message}"):
        trainer.load_state(load_checkpoint(tmp_path / "checkpoint.npz"), "checkpoint.npz")


def test_set_rng_state_refuses_a_damaged_state_and_keeps_the_generator():
    state = tm.random.get_rng_state()
    with pytest.raises(ValueError, match="set_rng_state: not a generator state.*SyntaxError"):
        tm.random.set_rng_state(numpy.frombuffer(b"{1:", numpy.uint8))
    assert numpy.array_equal(tm.random.get_rng_state(), state)


# --------------------------------------------------------------------------- safetensors


def test_safetensors_round_trip_keeps_names_dtypes_and_values(tmp_path):
    state = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).state_dict()
    tm.save(state, tmp_path / "model.safetensors")
    loaded = tm.load(tmp_path / "model.safetensors")
    assert sorted(loaded) == sorted(state)
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype and numpy.array_equal(loaded[key].numpy(), value.numpy())
    with pytest.raises(TypeError, match="a .safetensors file holds only str -> tensor"):
        tm.save({"model": state}, tmp_path / "nested.safetensors")
    assert not (tmp_path / "nested.safetensors").exists()


def twins():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 5)
    )
    return torch, ours, theirs


def test_weights_saved_here_load_into_the_pytorch_twin_and_back(tmp_path):
    torch, ours, theirs = twins()
    from safetensors.torch import load_file, save_file

    x = numpy.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(numpy.float32)
    ours(tm.tensor(x))  # training mode: the running statistics move away from (0, 1)
    ours.eval()
    tm.save(ours.state_dict(), tmp_path / "ours.safetensors")
    theirs.load_state_dict(load_file(str(tmp_path / "ours.safetensors")))
    theirs.eval()
    expected = ours(tm.tensor(x)).numpy()
    numpy.testing.assert_allclose(theirs(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        for parameter in theirs.parameters():
            parameter.mul_(0.5)
    save_file(theirs.state_dict(), str(tmp_path / "theirs.safetensors"))
    ours.load_state_dict(tm.load(tmp_path / "theirs.safetensors"))
    numpy.testing.assert_allclose(
        ours(tm.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-5
    )


def safetensors_bytes():
    path = os.path.join(SCRATCH, "good.safetensors")
    if not os.path.exists(path):
        tm.save(small_model().state_dict(), path)
    with open(path, "rb") as file:
        return file.read()


@FUZZ
@given(st.data())
def test_fuzz_corrupt_safetensors_load_or_give_checkpoint_error(data):
    raw = bytearray(safetensors_bytes())
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, min(len(raw), 200) - 1))] = data.draw(st.integers(0, 255))  # the header
    try:
        load_bytes(bytes(raw), "fuzz.safetensors")
    except CheckpointError as error:
        assert "fuzz.safetensors" in str(error)


def test_a_safetensors_header_claiming_huge_sizes_is_refused():
    header = json.dumps({"w": {"dtype": "F64", "shape": [2**40], "data_offsets": [0, 2**43]}}).encode()
    with pytest.raises(CheckpointError, match="fuzz.safetensors.*not a readable .safetensors"):
        load_bytes(len(header).to_bytes(8, "little") + header, "fuzz.safetensors")
    with pytest.raises(CheckpointError, match="fuzz.safetensors.*not a readable .safetensors"):
        load_bytes((2**60).to_bytes(8, "little") + b"{}", "fuzz.safetensors")


# --------------------------------------------------------------------------- tgm train --export


def test_train_exports_the_final_weights_where_asked_and_never_over_a_file(tmp_path, capsys):
    from tinygrad_med.cli import main
    from tinygrad_med.models import create_model

    train = ["train", "mlp", "--data", "digits", "--epochs", "1", "--quiet", "--out"]
    weights = tmp_path / "model.safetensors"
    assert main(train + [str(tmp_path / "run"), "--export", str(weights)]) == 0
    assert f"wrote {weights}: the final weights" in capsys.readouterr().out
    saved = tm.load(tmp_path / "run" / "checkpoint.npz")["model"]
    exported = tm.load(weights)
    assert sorted(exported) == sorted(saved) and all(
        numpy.array_equal(exported[k].numpy(), saved[k].numpy()) for k in saved
    )
    create_model("mlp", 1, 10).load_state_dict(exported)
    before = weights.read_bytes()
    assert main(train + [str(tmp_path / "again"), "--export", str(weights)]) == 2
    assert "model.safetensors exists; it is left as it is" in capsys.readouterr().err and weights.read_bytes() == before
    assert not (tmp_path / "again").exists()  # refused before the run folder
    for bad, message in (("model.pt", "names no weights format; use .safetensors or .npz"), ("", "is a directory")):
        assert main(train + [str(tmp_path / "other"), "--export", str(tmp_path / bad)]) == 2
        assert message in capsys.readouterr().err and not (tmp_path / "other").exists()
    assert main(train + [str(tmp_path / "again"), "--export", str(tmp_path / "model.npz")]) == 0
    assert sorted(tm.load(tmp_path / "model.npz")) == sorted(saved)
