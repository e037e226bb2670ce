"""grid_sample(mode='bicubic'): Keys' cubic convolution (A = -0.75) over 4 x 4 taps, PyTorch's padding
modes applied to each tap, gradients for the input and the grid; CPU reference vs kernels/sample.cu."""

import numpy
import pytest
from conftest import Device, assert_close

import tinygrad_med as tm
from tinygrad_med.errors import ShapeError
from tinygrad_med.nn import functional as F

OPTIONS = [(pm, ac) for pm in ("zeros", "border", "reflection") for ac in (False, True)]


def _inputs(seed, dtype=numpy.float64, N=2, C=2, H=4, W=5, OH=3, OW=2, reach=1.4):
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    grid = rng.uniform(-reach, reach, (N, OH, OW, 2)).astype(dtype)  # a.s. no integer source position
    gy = rng.standard_normal((N, C, OH, OW)).astype(dtype)
    return x, grid, gy


def _run(device, x, grid, gy, padding_mode, align_corners):
    xt, gt = device.tensor(x, requires_grad=True), device.tensor(grid, requires_grad=True)
    y = F.grid_sample(xt, gt, mode="bicubic", padding_mode=padding_mode, align_corners=align_corners)
    y.backward(device.tensor(gy))
    return y, xt.grad, gt.grad


@pytest.mark.parametrize("padding_mode, align_corners", OPTIONS)
def test_bicubic_gradcheck_float64(padding_mode, align_corners):
    x, grid, _ = _inputs(1, N=1, H=3, W=4, OH=2, OW=3)

    def f(a, g):
        return F.grid_sample(a, g, mode="bicubic", padding_mode=padding_mode, align_corners=align_corners)

    tm.gradcheck(f, [tm.tensor(x, requires_grad=True), tm.tensor(grid, requires_grad=True)])


@pytest.mark.parametrize("padding_mode, align_corners", OPTIONS)
def test_bicubic_kernel_matches_cpu(device, padding_mode, align_corners):
    x, grid, gy = _inputs(2, numpy.float32)
    got = _run(device, x, grid, gy, padding_mode, align_corners)
    expected = device.reference(lambda: _run(Device("cpu"), x, grid, gy, padding_mode, align_corners))
    for a, b in zip(got, expected, strict=True):
        assert_close(a, b, rtol=1e-4, atol=2e-5)


def test_bicubic_at_pixel_centres_is_the_identity():
    """An interpolating kernel: W(0) = 1 and W(+-1) = W(+-2) = 0, so sampling at the pixel centres
    (the identity grid) gives the input back, whatever the padding."""
    x = numpy.random.default_rng(3).standard_normal((1, 2, 4, 5))
    theta = tm.tensor(numpy.eye(2, 3)[None])
    for align in (False, True):
        grid = F.affine_grid(theta, (1, 2, 4, 5), align_corners=align)
        y = F.grid_sample(tm.tensor(x), grid, mode="bicubic", padding_mode="border", align_corners=align)
        numpy.testing.assert_allclose(y.numpy(), x, atol=1e-12)


def test_bicubic_of_a_constant_with_border_padding_is_constant_with_no_grid_gradient():
    """The weights sum to 1 (and their slopes to 0): a constant image stays constant, the grid learns nothing."""
    _, grid, _ = _inputs(4)
    x = tm.full((2, 2, 4, 5), 2.5, dtype=tm.float64)
    g = tm.tensor(grid, requires_grad=True)
    y = F.grid_sample(x, g, mode="bicubic", padding_mode="border")
    numpy.testing.assert_allclose(y.numpy(), 2.5, rtol=1e-12)
    y.sum().backward()
    numpy.testing.assert_allclose(g.grad.numpy(), 0.0, atol=1e-12)


def test_bicubic_needs_a_4d_input():
    x, grid = tm.zeros(1, 1, 2, 3, 4), tm.zeros(1, 2, 2, 2, 3)
    with pytest.raises(ShapeError, match=r"mode 'bicubic' needs a 4-D input"):
        F.grid_sample(x, grid, mode="bicubic")


@pytest.mark.parametrize("padding_mode, align_corners", OPTIONS)
def test_bicubic_matches_torch(padding_mode, align_corners):
    torch = pytest.importorskip("torch")
    x, grid, gy = _inputs(5, reach=2.2)  # also far outside the image: several taps padded
    xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=True)
    yt = torch.nn.functional.grid_sample(xt, gt, "bicubic", padding_mode, align_corners)
    yt.backward(torch.tensor(gy))
    y, gx, g_grid = _run(type("cpu", (), {"tensor": staticmethod(tm.tensor)}), x, grid, gy, padding_mode, align_corners)
    numpy.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    numpy.testing.assert_allclose(gx.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    numpy.testing.assert_allclose(g_grid.numpy(), gt.grad.numpy(), rtol=1e-10, atol=1e-12)
