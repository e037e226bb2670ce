"""Antialiased resizing (interpolate(..., antialias=True)): the interpolation kernel stretched over every
input pixel that an output pixel covers, as PyTorch (and PIL) do.

Lecture: "Semantic segmentation" (resampling feature maps) and "Data augmentation" (resizing images):
shrinking an image by plain bilinear interpolation reads only the 2 x 2 pixels nearest each output
point and skips the rest, so fine detail aliases; the antialiased filter averages all of them.

Along one axis of L inputs and O outputs, with s = L / O (or 1 / scale_factor; (L-1)/(O-1) with
align_corners) and the kernel k of support r (bilinear: the triangle 1 - |x|, r = 1; bicubic: Keys'
cubic with A = -0.5 as PIL, r = 2):

    centre_i = s (i + 1/2),   support R = r * max(s, 1)
    taps j in [max(int(centre_i - R + 1/2), 0), min(int(centre_i + R + 1/2), L))
    M[i, j] = k((j - centre_i + 1/2) / max(s, 1)),  each row then divided by its sum

so y = M_1 x M_2 ... (one matrix per axis, ops/resample.py::separable) and gx = the transposed matrices
applied to gy.  Upsampling (s < 1) keeps r: plain interpolation, renormalised at the borders.
Reference: PyTorch's aten/src/ATen/native/cpu/UpSampleKernel.cpp (_compute_indices_min_size_weights_aa).
"""

import numpy

__all__ = ["antialias_matrix"]

_SUPPORT = {"bilinear": 1.0, "bicubic": 2.0}
_AA_CUBIC_A = -0.5  # PIL's (and PyTorch's antialias) cubic parameter; plain bicubic uses -0.75


def antialias_matrix(n, o, scale_factor, mode, align_corners):
    """The (o, n) resampling matrix M of one axis (module docstring): y = M x along that axis.

    Args:
        n, o: input and output sizes.  scale_factor: the user's factor, or None (then n / o is used).
        mode: 'bilinear' or 'bicubic'.  align_corners: PyTorch's, which changes s only.
    """
    if align_corners:
        s = (n - 1) / (o - 1) if o > 1 else 0.0
    else:
        s = 1.0 / scale_factor if scale_factor else n / o
    stretch = max(s, 1.0)
    support = _SUPPORT[mode] * stretch
    M = numpy.zeros((o, n))
    for i in range(o):
        centre = s * (i + 0.5)
        low = max(int(centre - support + 0.5), 0)  # int(): truncation toward 0, as C's cast
        high = min(int(centre + support + 0.5), n)
        weights = _kernel(mode, (numpy.arange(low, high) - centre + 0.5) / stretch)
        total = weights.sum()
        M[i, low:high] = weights / total if total != 0 else weights
    return M


def _kernel(mode, d):
    """The interpolation kernel at distances d: the triangle, or Keys' cubic with A = -0.5."""
    d = numpy.abs(d)
    if mode == "bilinear":
        return numpy.maximum(0.0, 1.0 - d)
    a = _AA_CUBIC_A
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return numpy.where(d < 1, near, numpy.where(d < 2, far, 0.0))
