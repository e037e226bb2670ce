"""Tests for tinygrad_med/nn/receptive_field.py::receptive_field (lecture: "Receptive field of a neuron",
"Dilated convolution (a trous)", VGG's "two 3x3 convolutions see as much as one 5x5").

Besides the slide's claims, the computed field is checked against the real thing: the
bounding box of the input pixels whose gradient reaches one output neuron.
"""

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.nn.receptive_field import receptive_field


class WindowLayer(nn.Module):
    """Any module exposing torch.nn's pooling attributes counts (as MaxPool2d / AvgPool2d do)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode


def test_two_stacked_3x3_convolutions_see_5x5_with_fewer_parameters():
    C = 16
    two = nn.Sequential(nn.Conv2d(C, C, 3), nn.ReLU(), nn.Conv2d(C, C, 3))
    one = nn.Conv2d(C, C, 5)
    rows_two, rows_one = receptive_field(two, (32, 32)), receptive_field(one, (32, 32))
    assert [r.receptive_field for r in rows_two] == [(1, 1), (3, 3), (5, 5)]
    assert rows_one[-1].receptive_field == (5, 5) and rows_one[-1].output_size == rows_two[-1].output_size == (28, 28)
    weights = lambda m: sum(p.numel() for name, p in m.named_parameters() if name.endswith("weight"))  # noqa: E731
    assert weights(two) == 2 * 9 * C * C < weights(one) == 25 * C * C  # "with much less parameters"


def test_dilation_inflates_the_kernel_and_grows_the_field_exponentially():
    assert receptive_field(nn.Conv2d(1, 1, 3, dilation=2), 16)[-1].receptive_field == (5, 5)
    stack = nn.Sequential(*(nn.Conv2d(1, 1, 3, dilation=d, padding=d) for d in (1, 2, 4, 8)))
    rows = receptive_field(stack, (64, 64))
    assert [r.receptive_field[0] for r in rows] == [1, 3, 7, 15, 31]  # 2^(l+1) - 1 with 4 layers of 9 weights
    assert all(r.jump == (1, 1) and r.output_size == (64, 64) for r in rows)


def test_pooling_and_stride_multiply_the_jump_and_nested_sequentials_are_walked():
    block = nn.Sequential(nn.Conv2d(3, 8, 3), WindowLayer(2))
    model = nn.Sequential(block, nn.Sequential(nn.Conv2d(8, 8, 3, stride=2)))
    rows = receptive_field(model, (3, 32, 32))  # a leading C is ignored
    assert [r.name for r in rows] == ["input", "0.0", "0.1", "1.0"]
    assert [r.output_size for r in rows] == [(32, 32), (30, 30), (15, 15), (7, 7)]
    assert [r.receptive_field for r in rows] == [(1, 1), (3, 3), (4, 4), (8, 8)]
    assert [r.jump for r in rows] == [(1, 1), (1, 1), (2, 2), (4, 4)]
    assert "receptive field" in str(rows) and "8x8" in str(rows)


def test_ceil_mode_and_non_square_windows():
    rows = receptive_field(nn.Sequential(nn.Conv2d(1, 1, (3, 1)), WindowLayer((2, 3), ceil_mode=True)), (9, 7))
    assert rows[1].output_size == (7, 7) and rows[2].output_size == (4, 3)
    assert rows[2].receptive_field == (4, 3) and rows[2].jump == (2, 3)


def test_real_pool_modules_when_present():
    pool = getattr(nn, "MaxPool2d", None)
    if pool is None:
        pytest.skip("nn.MaxPool2d is not written yet")
    rows = receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), pool(2)), (8, 8))
    assert rows[-1].receptive_field == (4, 4) and rows[-1].jump == (2, 2) and rows[-1].output_size == (4, 4)


def test_transposed_convolution_divides_the_jump():
    model = nn.Sequential(nn.Conv1d(1, 1, 3, stride=2, padding=1), nn.ConvTranspose1d(1, 1, 2, stride=2))
    rows = receptive_field(model, 16)
    assert rows[1].output_size == (8,) and rows[2].output_size == (16,)
    assert rows[2].jump == (1,) and rows[2].receptive_field == (4,)


@pytest.mark.parametrize(
    "layers",
    [
        [(3, 1, 0, 1), (3, 1, 0, 1)],
        [(3, 2, 1, 1), (3, 1, 1, 2), (2, 2, 0, 1)],
        [(5, 1, 2, 1), (3, 3, 0, 1), (3, 1, 0, 3)],
        [(1, 2, 0, 1), (3, 1, 1, 1)],
    ],
)
def test_field_is_the_support_of_the_gradient(layers):
    """Backpropagate one output neuron through all-ones kernels: its input support spans the computed field."""
    model = nn.Sequential(*(nn.Conv1d(1, 1, k, stride=s, padding=p, dilation=d, bias=False) for k, s, p, d in layers))
    for conv in model:
        conv.weight.data[...] = 1.0
    n = 64
    row = receptive_field(model, n)[-1]
    x = tm.zeros(1, 1, n, requires_grad=True)
    y = model(x)
    assert y.shape[-1] == row.output_size[0]
    o = y.shape[-1] // 2  # an interior neuron, so no part of its field falls in the padding
    one_hot = numpy.zeros(y.shape, numpy.float32)
    one_hot[..., o] = 1
    y.backward(tm.tensor(one_hot))
    support = numpy.flatnonzero(x.grad.numpy()[0, 0])
    assert support[-1] - support[0] + 1 == row.receptive_field[0]
    assert (support[0] + support[-1]) / 2 + 0.5 == pytest.approx(row.start[0] + o * row.jump[0])


def test_bad_input():
    with pytest.raises(ValueError, match="no layer with a kernel_size"):
        receptive_field(nn.Sequential(nn.ReLU()), (8, 8))
    with pytest.raises(ValueError, match="output size"):
        receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)), (4, 4))
    with pytest.raises(ValueError, match="2 spatial sizes"):
        receptive_field(nn.Conv2d(1, 1, 3), (8,))
