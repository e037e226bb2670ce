"""Augmentations for 2D and 3D images that keep the image and its mask aligned.

Lecture: "HANDLING SPATIAL VARIANCE - Data augmentation" (flips, rotations, crops, intensity changes and noise make new
training samples that keep their labels).

Every transform is called as ``image, mask = t(image, mask, rng)``:

- ``image`` is (C, H, W) or (C, D, H, W); ``mask`` is the label map (H, W) / (D, H, W), a
  one-hot (K, H, W) / (K, D, H, W), or None. The last ``spatial_dims`` axes of both are spatial.
- ``rng`` is a numpy Generator (``Dataset.rng(index)`` gives a per-sample one), so that a sample
  depends only on the seed, the epoch and its index.

Spatial transforms move image and mask with the same indices; intensity transforms touch the
image only.
"""

import numpy

from ..errors import ShapeError, fmt
from ..function import no_grad
from ..nn import functional as F
from ..tensor import Tensor

__all__ = [
    "Compose",
    "RandomFlip",
    "RandomRot90",
    "RandomCrop",
    "CenterCrop",
    "RandomIntensityScale",
    "RandomNoise",
    "RandomAffine",
]


def _spatial_axes(array, spatial_dims):
    return tuple(range(array.ndim - spatial_dims, array.ndim))


def _check(name, image, mask, spatial_dims):
    if image.ndim < spatial_dims:
        raise ShapeError(fmt(name, f"image needs at least {spatial_dims} spatial dims", image=image))
    if mask is not None and mask.shape[-spatial_dims:] != image.shape[-spatial_dims:]:
        raise ShapeError(fmt(name, "image and mask differ in their spatial size", image=image, mask=mask))


class Compose:
    """Apply transforms in order (torchvision.transforms.Compose), threading one ``rng``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, image, mask=None, rng=None):
        rng = rng if rng is not None else numpy.random.default_rng()
        for transform in self.transforms:
            image, mask = transform(image, mask, rng)
        return image, mask


class RandomFlip:
    """Mirror along each spatial axis independently with probability ``p``.

    Args:
        p: flip probability per axis.
        spatial_dims: 2 for (…, H, W), 3 for (…, D, H, W).
    """

    def __init__(self, p=0.5, spatial_dims=2):
        self.p, self.spatial_dims = float(p), int(spatial_dims)

    def __call__(self, image, mask=None, rng=None):
        _check("RandomFlip", image, mask, self.spatial_dims)
        for k in range(self.spatial_dims):
            if rng.random() < self.p:
                image = numpy.flip(image, axis=image.ndim - self.spatial_dims + k)
                if mask is not None:
                    mask = numpy.flip(mask, axis=mask.ndim - self.spatial_dims + k)
        return numpy.ascontiguousarray(image), None if mask is None else numpy.ascontiguousarray(mask)


class RandomRot90:
    """Rotate by a random multiple of 90 degrees in the plane of two spatial axes.

    Args:
        plane: two spatial axes counted from the end, e.g. (-2, -1) for H-W. They must have the
            same size unless the caller accepts non-square outputs.
    """

    def __init__(self, plane=(-2, -1)):
        self.plane = tuple(int(a) for a in plane)

    def __call__(self, image, mask=None, rng=None):
        _check("RandomRot90", image, mask, -min(self.plane))
        k = int(rng.integers(4))
        image = numpy.rot90(image, k, axes=self.plane)
        mask = None if mask is None else numpy.rot90(mask, k, axes=self.plane)
        return numpy.ascontiguousarray(image), None if mask is None else numpy.ascontiguousarray(mask)


def _crop(array, starts, size):
    index = (Ellipsis,) + tuple(slice(s, s + n) for s, n in zip(starts, size, strict=False))
    return array[index]


class RandomCrop:
    """Cut a window of ``size`` (one int per spatial axis) at a random position.

    Raises:
        ShapeError if the window is larger than the image.
    """

    def __init__(self, size):
        self.size = tuple(int(s) for s in size)

    def starts(self, shape, rng):
        spatial = shape[-len(self.size) :]
        if any(n > s for n, s in zip(self.size, spatial, strict=False)):
            raise ShapeError(fmt(type(self).__name__, f"crop {self.size} is larger than the image {spatial}"))
        return [int(rng.integers(s - n + 1)) for n, s in zip(self.size, spatial, strict=False)]

    def __call__(self, image, mask=None, rng=None):
        _check(type(self).__name__, image, mask, len(self.size))
        starts = self.starts(image.shape, rng)
        return _crop(image, starts, self.size), None if mask is None else _crop(mask, starts, self.size)


class CenterCrop(RandomCrop):
    """Cut the central window of ``size`` (no randomness)."""

    def starts(self, shape, rng):
        spatial = shape[-len(self.size) :]
        if any(n > s for n, s in zip(self.size, spatial, strict=False)):
            raise ShapeError(fmt("CenterCrop", f"crop {self.size} is larger than the image {spatial}"))
        return [(s - n) // 2 for n, s in zip(self.size, spatial, strict=False)]


class RandomIntensityScale:
    """image <- image * a + b with a ~ U(scale), b ~ U(shift); the mask is untouched."""

    def __init__(self, scale=(0.9, 1.1), shift=(-0.1, 0.1)):
        self.scale, self.shift = tuple(scale), tuple(shift)

    def __call__(self, image, mask=None, rng=None):
        a, b = rng.uniform(*self.scale), rng.uniform(*self.shift)
        return (image * a + b).astype(image.dtype, copy=False), mask


class RandomNoise:
    """image <- image + N(0, std^2) noise, drawn per pixel; the mask is untouched."""

    def __init__(self, std=0.05):
        self.std = float(std)

    def __call__(self, image, mask=None, rng=None):
        noise = rng.normal(0.0, self.std, image.shape)
        return (image + noise).astype(image.dtype, copy=False), mask


class RandomAffine:
    """Random rotation, scaling and translation, sampled with affine_grid + grid_sample (torchvision's RandomAffine).

    Lecture: "HANDLING SPATIAL VARIANCE - Data augmentation" (small transformations of the original images), done
    with the spatial transformer's sampler (ops/sample.py): the image is read bilinearly, the mask with nearest
    sampling so that labels stay labels; points that fall outside read 0 (padding_mode='zeros') or the border.
    Forward:  content rotated counter-clockwise by angle ~ U(degrees) (2-D; 3-D: one angle per axis, applied
              z, y, x), scaled by s ~ U(scale), shifted by t_a ~ U(-translate_a, translate_a) * size_a pixels.
              Sampling reads y(u) = x(R^-1 (u - t) / s) about the image centre, in pixel units (so non-square
              images are not sheared), i.e. theta = D^-1 [A | -A t] D with A = R^-1 / s, D = diag(size / 2).
    Args:
        degrees: max |angle| in degrees, or a (min, max) range.
        translate: None, or the max shift as a fraction of the size, one float or one per axis (x, y[, z]).
        scale: None, or a (min, max) range of the zoom factor.
        spatial_dims: 2 for (C, H, W) images, 3 for (C, D, H, W).
        padding_mode: 'zeros' or 'border' (grid_sample's; the mask always uses zeros: background).
    """

    def __init__(self, degrees, translate=None, scale=None, spatial_dims=2, padding_mode="zeros"):
        self.degrees = (-float(degrees), float(degrees)) if numpy.ndim(degrees) == 0 else tuple(map(float, degrees))
        self.translate = None if translate is None else numpy.broadcast_to(translate, (spatial_dims,)).astype(float)
        self.scale, self.spatial_dims, self.padding_mode = scale, int(spatial_dims), padding_mode

    def theta(self, spatial, rng):
        """The (d, d + 1) matrix of one draw for an image of spatial size (D,) H, W (normalised coordinates)."""
        d = self.spatial_dims
        angles = numpy.radians(rng.uniform(*self.degrees, size=1 if d == 2 else 3))
        s = rng.uniform(*self.scale) if self.scale is not None else 1.0
        half = numpy.array(spatial[::-1], dtype=float) / 2  # pixels per normalised unit along x, y[, z]
        shift = numpy.zeros(d) if self.translate is None else rng.uniform(-1, 1, d) * self.translate * 2 * half
        inverse = _rotation(angles, d).T / s  # output pixel offset -> input pixel offset
        return numpy.concatenate([inverse * half[None, :] / half[:, None], (-inverse @ shift / half)[:, None]], 1)

    def __call__(self, image, mask=None, rng=None):
        _check("RandomAffine", image, mask, self.spatial_dims)
        theta = self.theta(image.shape[-self.spatial_dims :], rng)
        image = _warp(image, theta, "bilinear", self.padding_mode)
        return image, None if mask is None else _warp(mask, theta, "nearest", "zeros")


def _warp(array, theta, mode, padding_mode):
    """array (..., *spatial) read at affine_grid(theta) by grid_sample; integer labels sampled as floats, rounded."""
    spatial = array.shape[-theta.shape[0] :]
    work = array if array.dtype.kind == "f" else array.astype(numpy.float32)
    batch = work.reshape(1, -1, *spatial)  # (1, C or K or 1, *spatial)
    with no_grad():
        grid = F.affine_grid(Tensor(theta[None].astype(work.dtype)), batch.shape)
        out = F.grid_sample(Tensor(batch), grid, mode, padding_mode).numpy().reshape(array.shape)
    return out if array.dtype.kind == "f" else numpy.rint(out).astype(array.dtype)


def _rotation(angles, d):
    """Counter-clockwise as displayed (x right, y down): 2-D one angle; 3-D about x, y, z in turn (z first)."""
    if d == 2:
        c, s = numpy.cos(angles[0]), numpy.sin(angles[0])
        return numpy.array([[c, s], [-s, c]])
    rotation = numpy.eye(3)
    for axis, angle in zip((2, 1, 0), angles[::-1], strict=True):  # about z (the x-y plane), then y, then x
        i, j = [a for a in range(3) if a != axis]
        plane = numpy.eye(3)
        plane[[i, i, j, j], [i, j, i, j]] = numpy.cos(angle), numpy.sin(angle), -numpy.sin(angle), numpy.cos(angle)
        rotation = plane @ rotation
    return rotation
