"""F.pad with negative widths: PyTorch crops (constant, replicate and circular cut first; reflect and
replicate pad the whole input, then cut), with gradients; too large a crop is refused."""

import numpy
import pytest
from conftest import assert_close, forward_backward

import tinygrad_med as tm
from tinygrad_med.errors import ShapeError
from tinygrad_med.nn import functional as F

X = numpy.random.default_rng(0).standard_normal((1, 2, 6, 7))
CASES = [  # (pad, mode) on X (4-D) -- PyTorch takes 2 or 4 widths for reflect/replicate/circular here
    ((-1, -1), "constant"),
    ((-1, 2, 1, -3), "constant"),
    ((-7, 0), "constant"),
    ((-1, 3, 0, 0, -1, 0), "constant"),
    ((-1, 2, 1, -2), "reflect"),
    ((-3, 3, 0, 0), "reflect"),
    ((-1, -1, -2, -2), "reflect"),
    ((-1, 2, 1, -2), "replicate"),
    ((-6, 2, 0, 0), "replicate"),
    ((-1, 2, 1, -2), "circular"),
    ((2, -3, -1, -1), "circular"),
    ((-7, 0, 0, 0), "circular"),
]


def _ours(x, pad, mode):
    return F.pad(x, pad, mode=mode, value=1.5) if mode == "constant" else F.pad(x, pad, mode=mode)


def test_constant_negative_pad_is_a_crop_then_a_pad():
    y = F.pad(tm.tensor(X), (-1, 2, 1, -3), value=1.5).numpy()
    expected = numpy.pad(X[:, :, :-3, 1:], [(0, 0), (0, 0), (1, 0), (0, 2)], constant_values=1.5)
    numpy.testing.assert_array_equal(y, expected)


def test_reflect_crops_after_padding_the_whole_input():
    """(-3, 3) along the width: reflect by 3 on the right of the full row, then cut 3 on the left."""
    y = F.pad(tm.tensor(X), (-3, 3, 0, 0), mode="reflect").numpy()
    numpy.testing.assert_array_equal(y, numpy.pad(X, [(0, 0), (0, 0), (0, 0), (0, 3)], mode="reflect")[..., 3:])


@pytest.mark.parametrize("pad, mode", CASES, ids=str)
def test_negative_pad_gradient_and_device(device, pad, mode):
    x = device.tensor(X, requires_grad=True)
    y = _ours(x, pad, mode)
    gy = numpy.random.default_rng(1).standard_normal(y.shape)
    y.backward(device.tensor(gy))
    ey, egx = device.reference(lambda: forward_backward(lambda t: _ours(t, pad, mode), X, gy))
    assert_close(y, ey, rtol=0, atol=0)
    assert_close(x.grad, egx, rtol=0, atol=0)
    if device.name == "cpu":
        tm.gradcheck(lambda t: _ours(t, pad, mode), [tm.tensor(X, requires_grad=True)])


@pytest.mark.parametrize(
    "pad, mode, match",
    [
        ((-8, 0), "constant", r"constant padding \(-8, 0\) leaves -1 elements of dim 3 \(size 7\)"),
        ((8, -8), "constant", r"leaves -1 elements"),
        ((-4, -3, 0, 0), "reflect", r"reflect padding \(-4, -3\) leaves 0 elements.*at least 1"),
        ((-7, 0, 0, 0), "replicate", r"replicate padding \(-7, 0\) leaves 0 elements"),
        ((-8, 0, 0, 0), "circular", r"circular padding \(-8, 0\) leaves -1 elements"),
        ((-3, 5, 0, 0), "circular", r"circular padding \(0, 5\) of dim 3 \(size 4\) must be at most 4"),
        ((-7, 7, 0, 0), "reflect", r"reflect padding \(0, 7\) of dim 3 \(size 7\) must be at most 6"),
    ],
)
def test_too_large_crops_are_refused(pad, mode, match):
    with pytest.raises(ShapeError, match=match):
        _ours(tm.tensor(X), pad, mode)


@pytest.mark.parametrize("pad, mode", CASES, ids=str)
def test_matches_torch(pad, mode):
    torch = pytest.importorskip("torch")
    x_t = torch.tensor(X, requires_grad=True)
    kwargs = {"value": 1.5} if mode == "constant" else {}
    y_t = torch.nn.functional.pad(x_t, pad, mode=mode, **kwargs)
    gy = numpy.random.default_rng(1).standard_normal(tuple(y_t.shape))
    y_t.backward(torch.tensor(gy))
    x = tm.tensor(X, requires_grad=True)
    y = _ours(x, pad, mode)
    y.backward(tm.tensor(gy))
    numpy.testing.assert_allclose(y.numpy(), y_t.detach().numpy())
    numpy.testing.assert_allclose(x.grad.numpy(), x_t.grad.numpy())
