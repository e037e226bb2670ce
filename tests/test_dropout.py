"""Tests of ops/dropout.py, kernels/dropout.cu and nn/dropout.py.

Philox4x32-10 against the Random123 known answers; the CPU (NumPy) and GPU (kernel) streams and
masks equal bit for bit; dropout's statistics (fraction dropped ~ p, mean preserved), inverted
scaling, channel masks, determinism from manual_seed, the backward regenerating the mask, the
p = 0 / p = 1 / eval edge cases, and bad input.
"""

import numpy
import pytest
from conftest import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med import backend, nn
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.nn import functional as F
from tinygrad_med.ops import dropout as ops

# Random123 kat_vectors, the three "philox4x32 10" lines: counter (4 words), key (2 words) -> output
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("counter, key, expected", PHILOX_KAT)
def test_philox_known_answers(counter, key, expected):
    assert tuple(int(w) for w in ops.philox4x32_10(counter, key)) == expected


def test_philox_stream_layout_and_vectorised_counters():
    # u_k is word k % 4 of the block with counter k // 4: seed 0, block 0 is the first known answer
    assert ops._philox_uint32_cpu(4, 0).tolist() == list(PHILOX_KAT[0][2])
    seed = 0xFEDCBA9876543210
    blocks = [ops.philox4x32_10((b, 0, 0, 0), (seed & 0xFFFFFFFF, seed >> 32)) for b in range(3)]
    numpy.testing.assert_array_equal(ops._philox_uint32_cpu(11, seed), numpy.concatenate(blocks)[:11])


def test_stream_uses_the_high_counter_word():
    """Counter k // 4 goes in as (low 32 bits, high 32 bits): block 2^32 + 5 differs from block 5."""
    key = (1234, 5678)
    low = ops.philox4x32_10((5, 0, 0, 0), key)
    high = ops.philox4x32_10((5, 1, 0, 0), key)
    assert [int(w) for w in low] != [int(w) for w in high]


@pytest.mark.parametrize("n, seed", [(1, 0), (13, 1), (4099, 2**63 + 12345), (1000, 2**64 - 1)])
def test_cpu_and_gpu_streams_equal_bit_for_bit(device, n, seed):
    if device.name == "cpu":
        pytest.skip("compares the kernel with the NumPy stream")
    gpu = backend.to_numpy(ops._philox_uint32_gpu(n, seed))
    numpy.testing.assert_array_equal(gpu, ops._philox_uint32_cpu(n, seed))


@pytest.mark.parametrize(
    "op, shape",
    [
        (F.dropout, (5, 7, 3)),
        (F.dropout1d, (3, 4, 5)),
        (F.dropout2d, (2, 5, 3, 4)),
        (F.dropout3d, (2, 3, 2, 3, 2)),
        (F.dropout3d, (4, 2, 3, 2)),
    ],
)
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_dropout_parity_exact(device, op, shape, dtype):
    x = numpy.random.default_rng(1).standard_normal(shape).astype(dtype)
    gy = numpy.random.default_rng(2).standard_normal(shape).astype(dtype)

    def run(make):
        tm.manual_seed(11)
        xt = make(x, requires_grad=True)
        y = op(xt, 0.4)
        y.backward(make(gy))
        return y, xt.grad

    def make_cpu(a, requires_grad=False):
        return tm.tensor(a.copy(), requires_grad=requires_grad)

    for got, expected in zip(run(device.tensor), device.reference(run, make_cpu), strict=True):
        assert_close(got, expected, rtol=0, atol=0)  # the same mask and the same products, bit for bit


@pytest.mark.parametrize("op, shape", [(F.dropout, (1030,)), (F.dropout, (3, 5)), (F.dropout2d, (3, 4, 5, 7))])
def test_dropout_kernels_looping_over_a_small_grid(device, monkeypatch, op, shape):
    """One block of 256 threads: dropout_fwd loops over Philox blocks (n not a multiple of 4 leaves a
    part block), dropout_channel_fwd carries (i // group, i % group) across grid-stride steps
    (stride 256 = 7 * 35 + 11 for group 35); the masks stay those of the CPU, bit for bit."""
    monkeypatch.setattr(backend, "MAX_BLOCKS", 1)
    x = numpy.random.default_rng(6).standard_normal(shape).astype(numpy.float32)

    def run(make):
        tm.manual_seed(12)
        return op(make(x), 0.5)

    assert_close(run(device.tensor), device.reference(lambda: run(tm.tensor)), rtol=0, atol=0)


# ----------------------------------------------------------------------------- semantics


def test_fraction_dropped_and_mean_preserved():
    p, n = 0.3, 200_000
    y = F.dropout(tm.ones(n), p).numpy()
    dropped = (y == 0).mean()
    assert abs(dropped - p) < 5 * (p * (1 - p) / n) ** 0.5  # 5 standard deviations: about 0.005
    assert abs(y.mean() - 1.0) < 0.01
    numpy.testing.assert_array_equal(numpy.unique(y), numpy.array([0, 1 / 0.7], dtype=numpy.float32))


def test_channel_dropout_drops_whole_channels():
    x = tm.ones(40, 50, 3, 3)
    y = F.dropout2d(x, 0.25).numpy()
    per_channel = y.reshape(40, 50, 9)
    assert (per_channel == per_channel[:, :, :1]).all()  # one decision per (n, c)
    assert abs((per_channel[:, :, 0] == 0).mean() - 0.25) < 0.05
    numpy.testing.assert_allclose(per_channel[per_channel != 0], 1 / 0.75)


def test_seeded_runs_repeat_and_calls_differ():
    x = tm.randn(1000)
    tm.manual_seed(5)
    first, second = F.dropout(x, 0.5).numpy(), F.dropout(x, 0.5).numpy()
    tm.manual_seed(5)
    numpy.testing.assert_array_equal(F.dropout(x, 0.5).numpy(), first)
    assert not numpy.array_equal(first, second)


def test_backward_regenerates_the_forward_mask():
    x = tm.tensor(numpy.random.default_rng(3).uniform(1, 2, (6, 50)), requires_grad=True)
    gy = numpy.random.default_rng(4).standard_normal((6, 50))
    y = F.dropout(x, 0.6)
    y.backward(tm.tensor(gy))
    keep = y.numpy() != 0
    numpy.testing.assert_allclose(x.grad.numpy(), gy * keep / 0.4, rtol=1e-15)


def test_gradcheck_with_a_fixed_seed():
    def fn(x):
        tm.manual_seed(21)  # the same mask in every evaluation of the finite differences
        return F.dropout2d(F.dropout(x, 0.3), 0.5)

    x = tm.tensor(numpy.random.default_rng(5).standard_normal((3, 4, 2, 2)), requires_grad=True)
    result = tm.gradcheck(fn, [x], atol=1e-7, rtol=1e-6)
    assert result.passed, result.report()


def test_edge_cases_eval_p0_p1():
    x = tm.tensor(numpy.random.default_rng(6).standard_normal((4, 5)), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout2d(tm.ones(2, 3, 4, 4), 0.9, training=False).numpy().min() == 1.0
    assert F.dropout(x, 0.0) is x
    y = F.dropout(x, 1.0)
    assert (y.numpy() == 0).all()
    y.sum().backward()
    assert (x.grad.numpy() == 0).all()


def test_modules_switch_with_train_and_eval():
    layer = nn.Dropout(0.5)
    x = tm.ones(100, 100)
    assert (layer(x).numpy() == 0).any()
    layer.eval()
    assert layer(x) is x
    layer.train()
    assert (nn.Dropout2d(0.5)(tm.ones(8, 16, 2, 2)).numpy() == 0).any()
    assert repr(nn.Dropout3d(0.2)) == "Dropout3d(p=0.2, inplace=False)"
    assert list(nn.Dropout(0.1).state_dict()) == []


def test_alpha_dropout_gradcheck():
    def fn(x):
        tm.manual_seed(4)
        return F.alpha_dropout(x, 0.3, training=True)

    x = tm.tensor(numpy.random.default_rng(8).standard_normal((4, 6)), requires_grad=True)
    result = tm.gradcheck(fn, [x], atol=1e-7, rtol=1e-6)
    assert result.passed, result.report()


def test_alpha_dropout_keeps_mean_and_variance():
    x = tm.randn(400_000)
    y = F.alpha_dropout(x, 0.2, training=True).numpy()
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1.0) < 0.01
    alpha = -1.0507009873554805 * 1.6732632423543772  # SELU's saturation value -scale * alpha
    a = ((1 - 0.2) * (1 + 0.2 * alpha**2)) ** -0.5
    b = -a * alpha * 0.2
    kept = numpy.isclose(y, a * x.numpy() + b, rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(y[~kept], a * alpha + b, rtol=1e-5)  # every dropped value is the same
    assert abs((~kept).mean() - 0.2) < 0.005
    assert F.alpha_dropout(x, 0.2, training=False) is x
    assert nn.AlphaDropout(0.2).eval()(x) is x


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 3000), p=st.floats(0.0, 1.0), seed=st.integers(0, 2**64 - 1))
def test_threshold_gives_drop_probability_p(n, p, seed):
    keep = ops._philox_uint32_cpu(n, seed) >= ops._threshold(p)
    if p == 0:
        assert keep.all()
    if p == 1:
        assert not keep.any()
    if n >= 1000 and 0 < p < 1:
        assert abs((~keep).mean() - p) < 6 * (p * (1 - p) / n) ** 0.5 + 1e-3


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_clear_errors():
    x = tm.ones(2, 3, 4, 4)
    for p in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            F.dropout(x, p)
    with pytest.raises(ValueError, match="between 0 and 1, but got 2"):
        nn.Dropout2d(2)
    with pytest.raises(ShapeError, match=r"dropout2d: expected a 3-D or 4-D input, got 1-D"):
        F.dropout2d(tm.ones(3))  # 2-D and 5-D still pass, with PyTorch's deprecation warning (test_op_edges.py)
    with pytest.raises(ShapeError, match=r"dropout3d: expected a 4-D or 5-D input, got 0-D .*x\.shape=\(\)"):
        F.dropout3d(tm.tensor(1.0))
    with pytest.raises(ShapeError, match="dropout1d: expected a 2-D or 3-D input, got 4-D"):
        F.dropout1d(x)
    with pytest.raises(DTypeError, match="int64"):
        F.dropout(tm.tensor(numpy.ones(3, numpy.int64)))
    with pytest.raises(ValueError, match="inplace=True is not supported"):
        F.dropout(x, 0.5, inplace=True)
