"""interpolate(..., antialias=True) (ops/resample_aa.py): the stretched bilinear / bicubic filter of PyTorch."""

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med.nn import functional as F
from tinygrad_med.ops.resample_aa import antialias_matrix

X = numpy.random.default_rng(0).standard_normal((2, 3, 9, 11))
CASES = [  # (size or None, scale_factor or None, mode, align_corners)
    ((4, 5), None, "bilinear", False),
    ((3, 7), None, "bicubic", False),
    (None, 0.37, "bilinear", False),
    (None, (0.5, 0.3), "bicubic", False),
    ((4, 5), None, "bilinear", True),
    ((5, 2), None, "bicubic", True),
    ((14, 20), None, "bilinear", False),  # upsampling: plain interpolation renormalised at the borders
    ((13, 6), None, "bicubic", False),  # up along H, down along W
]


def _ours(x, size, scale, mode, align):
    return F.interpolate(x, size=size, scale_factor=scale, mode=mode, align_corners=align, antialias=True)


@pytest.mark.parametrize("n, o", [(9, 4), (11, 3), (5, 12), (7, 7)])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_rows_sum_to_one(n, o, mode):
    numpy.testing.assert_allclose(antialias_matrix(n, o, None, mode, False).sum(axis=1), 1.0)


def test_downsampling_reads_every_input():
    """Shrinking 9 -> 3 with the triangle: each output spreads over 4 or more inputs, not 2 (no aliasing)."""
    M = antialias_matrix(9, 3, None, "bilinear", False)
    assert (M > 0).sum(axis=1).min() >= 4 and (M > 0).any(axis=0).all()


@pytest.mark.parametrize("size, scale, mode, align", CASES, ids=str)
def test_gradcheck_and_device(device, size, scale, mode, align):
    x = device.tensor(X[:1, :2, :6, :7], requires_grad=True)
    y = _ours(x, size, scale, mode, align)
    y.sum().backward()

    def reference():
        t = tm.tensor(X[:1, :2, :6, :7], requires_grad=True)
        out = _ours(t, size, scale, mode, align)
        out.sum().backward()
        return out, t.grad

    expected, expected_gx = device.reference(reference)
    numpy.testing.assert_allclose(device.numpy(y), expected.numpy(), rtol=1e-12)
    numpy.testing.assert_allclose(device.numpy(x.grad), expected_gx.numpy(), rtol=1e-12)
    if device.name == "cpu":
        tm.gradcheck(lambda t: _ours(t, size, scale, mode, align), [tm.tensor(X[:1, :2, :6, :7], requires_grad=True)])


def test_antialias_needs_bilinear_or_bicubic_on_4d():
    with pytest.raises(ValueError, match="antialias=True needs mode 'bilinear' or 'bicubic' and a 4-D input"):
        F.interpolate(tm.tensor(X), size=3, mode="nearest", antialias=True)
    with pytest.raises(ValueError, match="antialias=True needs"):
        F.interpolate(tm.tensor(X[0]), size=3, mode="linear", antialias=True)


@pytest.mark.parametrize("size, scale, mode, align", CASES, ids=str)
def test_matches_torch(size, scale, mode, align):
    torch = pytest.importorskip("torch")
    xt = torch.tensor(X, requires_grad=True)
    yt = torch.nn.functional.interpolate(
        xt, size=size, scale_factor=scale, mode=mode, align_corners=align, antialias=True
    )
    gy = numpy.random.default_rng(1).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(gy))
    x = tm.tensor(X, requires_grad=True)
    y = _ours(x, size, scale, mode, align)
    y.backward(tm.tensor(gy))
    numpy.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    numpy.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
