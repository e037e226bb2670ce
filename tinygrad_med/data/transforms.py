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

__all__ = ["Compose", "RandomFlip", "RandomRot90", "RandomCrop", "CenterCrop", "RandomIntensityScale", "RandomNoise"]


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
