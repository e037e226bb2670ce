"""The files ``tgm predict`` reads and writes: one checked input image, and outputs written where asked.

Lecture: none (the command line around tinygrad_med/training/loop.py).

Reading (``read_image``): .npy, .png/.jpg/.bmp (Pillow), .tif/.tiff (tifffile), .nii/.nii.gz (nibabel).
A directory, an empty or damaged file, a structured or non-numeric array, an empty array, an image too
large for the free memory (the message gives the size needed): each one DataError naming the file.
Intensities are scaled by their 1st and 99.8th percentiles, as the training data, over the finite
pixels only (a NaN pixel no longer turns the whole image into NaN); non-finite pixels become 0.

Writing (``plan_outputs`` first, then ``write_mask`` / ``write_image``): the output is written exactly
where asked (numpy.save's appended ".npy" is avoided) in a format its suffix names, or refused with
the formats that are supported; never the input itself, never a directory, never a file that exists
unless the user named it. A label mask is what segmentation tools read: one channel of class ids,
uint8 (uint16 past 256 classes); a picture to look at is a second file (``--overlay``, RGB PNG).
Files are written to a temporary name and renamed (atomic).
"""

import os

import numpy
import numpy.lib.format as npy_format

from ..atomic_file import write_atomically, write_text
from ..errors import DataError, fmt
from ..npz_reader import READ_ERRORS, describe_bytes

__all__ = [
    "FORMATS",
    "check_output",
    "plan_outputs",
    "write_overlay",
    "check_unnamed",
    "read_image",
    "write_mask",
    "write_image",
    "write_text",
    "write_atomically",
    "pad",
]

# what each kind of prediction may be written as (suffixes); 'labels' in 2D may also be .png
FORMATS = {
    "labels": (".png", ".npy", ".nii", ".nii.gz", ".tif", ".tiff"),
    "image": (".png", ".npy"),
    "detections": (".png", ".npy"),
    "caption": (".txt", ".json"),
    "overlay": (".png",),
    "vertex labels": (".npy",),  # a graph run's held-out hemisphere: one class id per vertex
    "graph classes": (".json",),  # a graph classification run's held-out graphs
}
INPUTS = (".npy", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".nii", ".nii.gz")
# what the third-party readers (Pillow, tifffile, nibabel) raise on damaged files, found by fuzzing
_IMAGE_ERRORS = READ_ERRORS + (LookupError, ArithmeticError, TypeError, AttributeError)


def suffix(path):
    """The format suffix of ``path``, lower case ('.nii.gz' counts as one)."""
    lower = path.lower()
    return ".nii.gz" if lower.endswith(".nii.gz") else os.path.splitext(lower)[1]


def plan_outputs(output, overlay, input_path, kind, folder, spatial_dims):
    """The paths ``tgm predict`` writes: --output (default: prediction.png/.npy/.json in ``folder``) and
    --overlay (or None), each checked by ``check_output`` before the model runs.

    Raises:
        DataError as ``check_output``; for --overlay with a prediction that is not a mask.
    """
    default = {"caption": ".json"}.get(kind, ".png" if spatial_dims == 2 else ".npy")
    avoid = [(input_path, "the input image")]
    output = check_output(output or os.path.join(folder, "prediction" + default), kind, output is not None,
                          spatial_dims, avoid)  # fmt: skip
    if overlay is None:
        return output, None
    if kind != "labels":
        raise DataError(fmt("tgm predict", f"--overlay draws a mask over its image; this model predicts {kind}"))
    return output, check_output(overlay, "overlay", True, 2, avoid + [(output, "--output")], flag="--overlay")


def check_output(output, kind, named, spatial_dims=2, avoid=(), flag="--output"):
    """Refuse an output path ``tgm predict`` must not write; return it as given.

    Args:
        output: the path. named: whether the user gave it (``flag``) or it is the default.
        kind: the objective's ``prediction`` ('labels', 'image', 'detections', 'caption') or 'overlay'.
        avoid: (path, what) pairs it must not be (the input image); a None path is skipped.
    Raises:
        DataError naming the path: one to avoid, a directory, a missing folder, a suffix that names no
        supported format (the message lists them), a 3D mask as PNG, or an existing default file.
    """
    formats = FORMATS[kind]
    if os.path.isdir(output):
        raise DataError(fmt("tgm predict", f"{flag} {output} is a directory; name a file such as "
                            f"{os.path.join(output, 'prediction' + formats[0])}"))  # fmt: skip
    for path, what in avoid:
        if path is not None and _same_file(output, path):
            raise DataError(fmt("tgm predict", f"{flag} {output} is {what}; it would be overwritten"))
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise DataError(fmt("tgm predict", f"the folder of {flag} {output} does not exist ({folder})"))
    if suffix(output) not in formats:
        raise DataError(fmt("tgm predict", f"cannot write {output}: a {kind} prediction is written as "
                            + ", ".join(formats), hint=f"end {flag} with one of these"))  # fmt: skip
    if suffix(output) == ".png" and spatial_dims != 2 and kind in ("labels", "image"):
        others = ", ".join(f for f in formats if f != ".png")
        raise DataError(fmt("tgm predict", f"a PNG holds a 2D picture; this model predicts {spatial_dims}D {kind}",
                            hint=f"write {others}"))  # fmt: skip
    if not named:
        check_unnamed(output)
    return output


def _same_file(one, other):
    if os.path.abspath(one) == os.path.abspath(other):
        return True
    return os.path.exists(one) and os.path.exists(other) and os.path.samefile(one, other)


def check_unnamed(path):
    """Refuse to write ``path``, a file the user did not name (a default output, a JSON beside one), if it exists."""
    if os.path.exists(path):
        raise DataError(fmt("tgm predict", f"{path} exists and was not named with --output; it is left as it is",
                            hint="pass --output FILE to choose where to write"))  # fmt: skip


def save_npy(array):
    """A writer for write_atomically: ``array`` as .npy at the path it is given (no pickle)."""

    def write(path):
        with open(path, "wb") as file:  # numpy.save(path) would append ".npy" to any other name
            npy_format.write_array(file, array, allow_pickle=False)

    return write


def write_mask(labels, output, num_classes, reference=None):
    """Write class ids (H, W) or (D, H, W) as one channel, uint8 (uint16 past 256 classes); returns the dtype.

    Formats by suffix: .png (2D), .tif/.tiff, .nii/.nii.gz (the affine of a NIfTI ``reference``), .npy.
    """
    dtype = numpy.uint8 if num_classes <= 256 else numpy.uint16
    labels = numpy.asarray(labels).astype(dtype)
    kind = suffix(output)
    if kind == ".png":
        from PIL import Image

        write_atomically(output, lambda path: Image.fromarray(labels).save(path, format="PNG"))
    elif kind in (".tif", ".tiff"):
        import tifffile

        write_atomically(output, lambda path: tifffile.imwrite(path, labels))
    elif kind in (".nii", ".nii.gz"):
        import nibabel

        nifti = reference is not None and suffix(reference) in (".nii", ".nii.gz")
        affine = nibabel.load(reference).affine if nifti else numpy.eye(4)
        write_atomically(output, lambda path: nibabel.save(nibabel.Nifti1Image(labels, affine), path))
    else:
        write_atomically(output, save_npy(labels))
    return numpy.dtype(dtype)


def write_image(image, output):
    """A reconstruction (C, H, W) in [0, 1]: a one-channel 8-bit PNG of its first channel, or float32 .npy."""
    if suffix(output) == ".png":
        from PIL import Image

        grey = (numpy.clip(numpy.asarray(image[0], numpy.float64), 0, 1) * 255).round().astype(numpy.uint8)
        write_atomically(output, lambda path: Image.fromarray(grey).save(path, format="PNG"))
    else:
        write_atomically(output, save_npy(numpy.asarray(image, dtype=numpy.float32)))


def write_overlay(image, labels, output, num_classes):
    """A picture to look at (not a mask): the image in grey with each class k > 0 blended in its colour
    (matplotlib's 'autumn', as predictions.png), 8-bit RGB PNG; 3D: the middle slice."""
    from matplotlib import colormaps
    from PIL import Image

    image, labels = numpy.asarray(image[0], numpy.float64), numpy.asarray(labels)
    if labels.ndim == 3:  # (D, H, W): the middle slice
        image, labels = image[len(image) // 2], labels[len(labels) // 2]
    grey = numpy.repeat(numpy.clip(image, 0, 1)[..., None], 3, axis=-1)
    colours = colormaps["autumn"](numpy.linspace(0, 1, max(num_classes - 1, 1)))[:, :3]
    blended = numpy.where((labels > 0)[..., None], 0.55 * grey + 0.45 * colours[numpy.maximum(labels - 1, 0)], grey)
    picture = (blended * 255).round().astype(numpy.uint8)
    write_atomically(output, lambda path: Image.fromarray(picture).save(path, format="PNG"))


def pad(image, multiple):
    """Zero-pad (C, *S) at the end of each spatial axis up to a multiple (the U-Net's 2**depth)."""
    widths = [(0, 0)] + [(0, -s % multiple) for s in image.shape[1:]]
    return numpy.pad(image, widths).astype(numpy.float32)


def free_memory():
    """Bytes of memory available now (Linux: MemAvailable), or None where it cannot be told."""
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _refuse(path, problem, hint=None):
    return DataError(fmt("tgm predict", f"--input {path} {problem}", hint=hint))


def _check_size(path, shape):
    """Refuse a shape whose float64 working copies (about 3 of them) do not fit in the free memory."""
    count = int(numpy.prod(shape, dtype=object)) if len(shape) else 1
    if count == 0:
        raise _refuse(path, f"holds an empty image (shape {tuple(shape)})")
    needed, free = 3 * 8 * count, free_memory()
    if free is not None and needed > free:
        raise _refuse(path, f"has shape {tuple(shape)}: predicting needs about {describe_bytes(needed)} of memory, "
                      f"and {describe_bytes(free)} is free")  # fmt: skip


def read_image(path, spatial_dims):
    """(1, *S) float32 scaled by the 1st/99.8th percentiles of the finite pixels, as the training data.

    Returns:
        (image, count of non-finite pixels, which were set to 0).
    Raises:
        FileNotFoundError for a missing file; DataError naming the file and the problem otherwise.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(fmt("tgm predict", f"no file {path}"))
    if os.path.isdir(path):
        raise _refuse(path, "is a directory; give one image file")
    if suffix(path) not in INPUTS:
        raise _refuse(path, "is not an image format tgm predict reads; it reads " + ", ".join(INPUTS))
    if os.path.getsize(path) == 0:
        raise _refuse(path, "is empty (0 bytes)")
    try:
        image = _read_pixels(path)
    except DataError:
        raise
    except _IMAGE_ERRORS as error:
        raise _refuse(path, f"cannot be read as {suffix(path)} ({type(error).__name__}: {error})") from error
    if image.dtype.kind not in "buif":
        raise _refuse(path, f"has dtype {image.dtype}; an image holds numbers")
    if image.ndim != spatial_dims:
        raise _refuse(path, f"has shape {image.shape}; the model takes {spatial_dims}-D images")
    return _normalise(path, image)


def _normalise(path, image):
    image = numpy.asarray(image, dtype=numpy.float64)
    finite = numpy.isfinite(image)
    if not finite.any():
        raise _refuse(path, "has no finite pixel (all NaN or infinite)")
    low, high = numpy.percentile(image[finite], [1.0, 99.8])
    scaled = numpy.where(finite, (image - low) / max(high - low, 1e-12), 0.0)
    return scaled.astype(numpy.float32)[None], int((~finite).sum())


def _read_pixels(path):
    kind = suffix(path)
    if kind == ".npy":
        with open(path, "rb") as file:
            version = npy_format.read_magic(file)
            read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            shape, _, dtype = read_header(file)
            if dtype.hasobject or dtype.fields is not None:
                raise _refuse(path, f"holds a {'structured' if dtype.fields else 'object'} array ({dtype}); "
                              "an image is a plain numeric array")  # fmt: skip
            _check_size(path, shape)
            data_bytes = os.path.getsize(path) - file.tell()
        if data_bytes != int(numpy.prod(shape, dtype=object)) * dtype.itemsize:
            raise _refuse(path, f"is truncated: its header says shape {shape} of {dtype}, it holds {data_bytes} bytes")
        return numpy.load(path, allow_pickle=False)
    if kind in (".nii", ".nii.gz"):
        import nibabel
        from nibabel.filebasedimages import ImageFileError
        from nibabel.spatialimages import HeaderDataError

        try:
            volume = nibabel.load(path)
            _check_size(path, volume.shape)
            return volume.get_fdata()
        except (ImageFileError, HeaderDataError) as error:
            raise _refuse(path, f"is not a readable NIfTI file ({type(error).__name__}: {error})") from error
    if kind in (".tif", ".tiff"):
        import tifffile

        with tifffile.TiffFile(path) as tiff:
            _check_size(path, tiff.series[0].shape)
            return tiff.asarray()
    return _read_picture(path)


def _read_picture(path):
    """PNG/JPEG/BMP through Pillow: grey as it is, colour as the mean of R, G and B."""
    from PIL import Image

    try:
        opened = Image.open(path)
    except Image.DecompressionBombError as error:
        raise _refuse(path, f"is too large to decode safely ({error})") from error
    with opened as picture:
        _check_size(path, (picture.height, picture.width, len(picture.getbands())))
        if picture.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
            picture = picture.convert("RGB")
        pixels = numpy.asarray(picture)
    return pixels[..., :3].astype(numpy.float64).mean(axis=-1) if pixels.ndim == 3 else pixels
