"""``tgm predict``'s files: the input checked (one clear message per problem), the output written exactly where
asked (or refused with the supported formats), masks as one channel of class ids, nothing overwritten unasked."""

import os

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tinygrad_med.cli import main
from tinygrad_med.errors import DataError
from tinygrad_med.training import predict_io
from tinygrad_med.training.loop import Trainer, make_config
from tinygrad_med.training.predict_io import read_image, write_mask


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """An untrained 2D U-Net's run folder (checkpoint only): enough to predict from."""
    folder = tmp_path_factory.mktemp("run")
    Trainer(
        make_config("unet", "phantoms", epochs=1, batch_size=8, prefetch=0), folder, progress=False
    ).save_checkpoint()
    return str(folder)


def image_file(tmp_path, name="image.npy", shape=(30, 42)):
    image = numpy.random.default_rng(0).random(shape).astype(numpy.float32)
    numpy.save(tmp_path / name, image)
    return tmp_path / name


def predict(capsys, *argv):
    capsys.readouterr()
    code = main(["predict", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_output_equal_to_input_is_refused_and_the_input_kept(run, tmp_path, capsys):
    path = image_file(tmp_path)
    before = path.read_bytes()
    code, _, err = predict(capsys, run, "--input", path, "--output", path)
    assert code == 2 and "is the input image; it would be overwritten" in err and path.read_bytes() == before
    code, _, err = predict(capsys, run, "--input", path, "--output", tmp_path / "." / "image.npy")
    assert code == 2 and path.read_bytes() == before


def test_an_unsupported_suffix_or_a_directory_is_refused_with_the_formats(run, tmp_path, capsys):
    code, _, err = predict(capsys, run, "--output", tmp_path / "m.jpg")
    assert code == 2 and "a labels prediction is written as .png, .npy, .nii, .nii.gz, .tif, .tiff" in err
    assert os.listdir(tmp_path) == []  # m.jpg.npy before
    (tmp_path / "folder").mkdir()
    code, _, err = predict(capsys, run, "--output", tmp_path / "folder")
    assert code == 2 and "is a directory" in err and not (tmp_path / "folder.npy").exists()
    code, _, err = predict(capsys, run, "--output", tmp_path / "nowhere" / "m.png")
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["mask.png", "mask.npy", "mask.tif", "mask.nii.gz", "mask.NPY"])
def test_a_mask_is_one_channel_of_class_ids_written_where_asked(run, tmp_path, capsys, name):
    code, out, _ = predict(capsys, run, "--input", image_file(tmp_path), "--output", tmp_path / name)
    assert code == 0 and out.startswith(f"wrote {tmp_path / name}: class ids") and "(uint8, one channel)" in out
    assert sorted(os.listdir(tmp_path)) == sorted(["image.npy", name])  # nothing else, no temporary left
    if name.endswith(".png"):
        picture = Image.open(tmp_path / name)
        assert picture.mode == "L"  # RGBA with 0/255 in three channels before
        labels = numpy.asarray(picture)
    elif name.endswith(".tif"):
        labels = __import__("tifffile").imread(tmp_path / name)
    elif name.endswith(".gz"):
        labels = numpy.asarray(__import__("nibabel").load(tmp_path / name).dataobj)
    else:
        labels = numpy.load(tmp_path / name)
    assert labels.shape == (30, 42) and labels.dtype == numpy.uint8 and set(numpy.unique(labels)) <= {0, 1, 2}


def test_past_256_classes_a_mask_is_uint16(tmp_path):
    labels = numpy.arange(300 * 4).reshape(30, 40) % 300
    for name in ("big.png", "big.npy"):
        assert write_mask(labels, str(tmp_path / name), 300) == numpy.uint16
    assert numpy.array_equal(numpy.asarray(Image.open(tmp_path / "big.png")), labels)
    assert numpy.load(tmp_path / "big.npy").dtype == numpy.uint16


def test_the_default_output_is_not_overwritten(run, tmp_path, capsys):
    default = os.path.join(run, "prediction.png")
    code, out, _ = predict(capsys, run)
    assert code == 0 and f"wrote {default}" in out
    os.utime(default, (0, 0))
    code, _, err = predict(capsys, run)
    assert code == 2 and "exists and was not named with --output" in err and os.stat(default).st_mtime == 0
    os.remove(default)


def test_a_failed_write_keeps_the_previous_output(run, tmp_path, capsys, monkeypatch):
    target = tmp_path / "mask.png"
    target.write_bytes(b"previous")

    def broken(self, path, *args, **kwargs):
        open(path, "wb").write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken)
    assert main(["predict", run, "--output", str(target)]) == 2  # one line on stderr, no traceback
    assert "disk full" in capsys.readouterr().err
    assert target.read_bytes() == b"previous" and os.listdir(tmp_path) == ["mask.png"]


def test_one_nan_pixel_is_left_out_of_the_scaling(tmp_path):
    image = numpy.random.default_rng(1).random((20, 20))
    clean, _ = read_image(str(image_file_from(tmp_path, "clean.npy", image)), 2)
    image[3, 4] = numpy.nan
    scaled, skipped = read_image(str(image_file_from(tmp_path, "nan.npy", image)), 2)
    assert skipped == 1 and numpy.isfinite(scaled).all() and scaled[0, 3, 4] == 0.0  # all NaN before
    others = numpy.ones((20, 20), bool)
    others[3, 4] = False
    numpy.testing.assert_allclose(scaled[0][others], clean[0][others], atol=0.02)
    with pytest.raises(DataError, match="has no finite pixel"):
        read_image(str(image_file_from(tmp_path, "void.npy", numpy.full((4, 4), numpy.inf))), 2)


def test_predict_reports_the_non_finite_pixels(run, tmp_path, capsys):
    image = numpy.random.default_rng(2).random((16, 16))
    image[0, 0] = numpy.nan
    code, out, _ = predict(
        capsys, run, "--input", image_file_from(tmp_path, "x.npy", image), "--output", tmp_path / "m.npy"
    )
    assert code == 0 and "1 NaN/infinite input pixels were left out" in out


def image_file_from(tmp_path, name, array):
    numpy.save(tmp_path / name, array)
    return tmp_path / name


def bad_inputs(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(numpy.zeros((8, 8), numpy.uint8)).save(good)
    (tmp_path / "corrupt.png").write_bytes(good.read_bytes()[:40])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "noise.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(64)))
    numpy.save(tmp_path / "empty.npy", numpy.zeros((0, 5)))
    (tmp_path / "notes.txt").write_text("an image")
    numpy.save(tmp_path / "table.npy", numpy.zeros((4, 4), dtype=[("a", "<f4"), ("b", "<i4")]))
    numpy.save(tmp_path / "words.npy", numpy.array([["a", "b"], ["c", "d"]]))
    numpy.save(tmp_path / "cut.npy", numpy.zeros((64, 64)))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:500])
    (tmp_path / "folder.png").mkdir()
    text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (3, "
    (tmp_path / "open.npy").write_bytes(b"\x93NUMPY\x01\x00\x77\x00" + text + b" " * (118 - len(text)) + b"\n")


@pytest.mark.parametrize(
    "name, message",
    [
        ("corrupt.png", "cannot be read as .png"),
        ("empty.png", r"is empty \(0 bytes\)"),
        ("noise.png", "cannot be read as .png"),
        ("empty.npy", r"holds an empty image \(shape \(0, 5\)\)"),
        ("notes.txt", "is not an image format tgm predict reads; it reads .npy, .png"),
        ("table.npy", "holds a structured array"),
        ("words.npy", "has dtype <U1; an image holds numbers"),
        ("cut.npy", r"is truncated: its header says shape \(64, 64\)"),
        ("folder.png", "is a directory"),
        ("open.npy", r"cannot be read as .npy \(TokenError"),
    ],
)
def test_bad_inputs_give_one_clear_message(tmp_path, name, message):
    bad_inputs(tmp_path)
    with pytest.raises(DataError, match=f"tgm predict: --input .*{name} {message}"):
        read_image(str(tmp_path / name), 2)


def test_a_bad_input_is_one_line_from_the_cli(run, tmp_path, capsys):
    bad_inputs(tmp_path)
    code, _, err = predict(capsys, run, "--input", tmp_path / "corrupt.png", "--output", tmp_path / "m.png")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "corrupt.png cannot be read" in err


def test_an_image_too_large_for_memory_says_the_size_needed(tmp_path, monkeypatch):
    header = tmp_path / "huge.npy"
    with open(header, "wb") as file:
        numpy.lib.format.write_array_header_1_0(file, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)})
    monkeypatch.setattr(predict_io, "free_memory", lambda: 16 * 10**9)
    with pytest.raises(
        DataError,
        match=r"huge.npy has shape \(1000000, 1000000\): predicting needs about 24.0 TB of memory, and 16.0 GB is free",
    ):
        read_image(str(header), 2)  # MemoryError (or a silent attempt) before
    monkeypatch.setattr(predict_io, "free_memory", lambda: 1000)
    with pytest.raises(DataError, match=r"needs about 9.6 kB of memory, and 1.0 kB is free"):
        read_image(str(image_file(tmp_path, "small.npy", (20, 20))), 2)


def test_an_overlay_is_a_second_file_and_the_mask_stays_class_ids(run, tmp_path, capsys):
    mask, overlay = tmp_path / "mask.png", tmp_path / "look.png"
    code, out, _ = predict(capsys, run, "--input", image_file(tmp_path), "--output", mask, "--overlay", overlay)
    assert code == 0 and f"wrote {overlay}: the mask over the image" in out
    picture, labels = Image.open(overlay), numpy.asarray(Image.open(mask))
    assert picture.mode == "RGB" and picture.size == (42, 30) and labels.shape == (30, 42)
    for bad, message in (
        (mask, "is --output"),
        (tmp_path / "image.npy", "is the input image"),
        (tmp_path / "o.jpg", "as .png"),
    ):
        code, _, err = predict(capsys, run, "--input", tmp_path / "image.npy", "--output", mask, "--overlay", bad)
        assert code == 2 and message in err


@pytest.fixture(scope="module")
def run3d(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run3d")
    config = make_config("unet3d", "phantoms3d", epochs=1, batch_size=2, prefetch=0)
    Trainer(config, folder, progress=False).save_checkpoint()
    return str(folder)


def test_a_3d_model_predicts_a_3d_input_and_keeps_its_nifti_affine(run3d, tmp_path, capsys):
    nibabel = pytest.importorskip("nibabel")
    volume = numpy.random.default_rng(3).random((12, 16, 20)).astype(numpy.float32)
    affine = numpy.diag([2.0, 3.0, 4.0, 1.0])
    nibabel.save(nibabel.Nifti1Image(volume, affine), tmp_path / "scan.nii.gz")
    code, out, err = predict(capsys, run3d, "--input", tmp_path / "scan.nii.gz", "--output", tmp_path / "seg.nii.gz")
    assert code == 0, err
    saved = nibabel.load(tmp_path / "seg.nii.gz")
    assert (
        saved.shape == (12, 16, 20)
        and numpy.array_equal(saved.affine, affine)
        and saved.get_data_dtype() == numpy.uint8
    )
    code, _, err = predict(capsys, run3d, "--input", tmp_path / "scan.nii.gz", "--output", tmp_path / "seg.png")
    assert code == 2 and "a PNG holds a 2D picture; this model predicts 3D labels" in err


def valid_files(folder):
    """One small valid image per input format, as bytes."""
    import nibabel
    import tifffile

    image = (numpy.random.default_rng(4).random((12, 10)) * 200).astype(numpy.uint8)
    Image.fromarray(image).save(folder / "a.png")
    numpy.save(folder / "a.npy", image)
    tifffile.imwrite(folder / "a.tif", image)
    nibabel.save(nibabel.Nifti1Image(image.astype(numpy.float32), numpy.eye(4)), folder / "a.nii")
    return {name: (folder / name).read_bytes() for name in ("a.png", "a.npy", "a.tif", "a.nii")}


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    pytest.importorskip("nibabel")
    pytest.importorskip("tifffile")
    return valid_files(tmp_path_factory.mktemp("valid"))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["a.png", "a.npy", "a.tif", "a.nii"]), st.data())
def test_fuzz_damaged_inputs_read_or_give_data_error(originals, tmp_path, name, data):
    raw = bytearray(originals[name])
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, min(len(raw), 400) - 1))] = data.draw(st.integers(0, 255))  # the headers
    (tmp_path / name).write_bytes(bytes(raw))
    try:
        image, _ = read_image(str(tmp_path / name), 2)
        assert image.dtype == numpy.float32 and image.ndim == 3 and numpy.isfinite(image).all()
    except DataError as error:
        assert name in str(error)
