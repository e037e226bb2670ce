"""PyTorch's call forms and edge cases, checked against the values PyTorch gives (written out, so the
file runs without torch; tests/test_conformance_torch.py compares with torch itself where it is installed).

Factories: randint(high, size) / randint(low, high, size), sizes as ints, tuple, list or size=;
dtype inference of full and arange.  var/std: the boolean in dim's place is `unbiased`.  0-d tensors
take dim 0 and -1.  Empty tensors: mean nan, sum 0, the max of nothing refused.
"""

import math

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med.errors import DTypeError, ShapeError

# --------------------------------------------------------------------------- factories


@pytest.mark.parametrize(
    "call, shape",
    [
        (lambda: tm.randint(10, (3,)), (3,)),
        (lambda: tm.randint(10, ()), ()),
        (lambda: tm.randint(3, 10, (2, 2)), (2, 2)),
        (lambda: tm.randint(10, size=(4,)), (4,)),
        (lambda: tm.randint(high=10, size=[2]), (2,)),
        (lambda: tm.randint(low=3, high=10, size=(5,)), (5,)),
    ],
)
def test_randint_reads_high_size_and_low_high_size_as_torch(call, shape):
    tm.manual_seed(0)
    y = call()
    assert y.shape == shape and y.dtype == tm.int64
    assert 0 <= y.numpy().min() and y.numpy().max() < 10


def test_randint_draws_cover_the_range_and_refuse_what_torch_refuses():
    tm.manual_seed(1)
    values = tm.randint(3, 6, (400,)).numpy()
    assert set(values.tolist()) == {3, 4, 5}
    assert tm.randint(2, (3,), dtype=tm.float32).dtype == tm.float32
    with pytest.raises(ValueError, match="randint: expects low to be less than high, but got low=10 >= high=3"):
        tm.randint(10, 3, (2,))
    with pytest.raises(TypeError, match="randint: size must be given as a tuple"):
        tm.randint(10, 3)
    with pytest.raises(TypeError, match="randint: high must be an int"):
        tm.randint(2.5, (2,))
    with pytest.raises(ShapeError, match="randint: sizes must be non-negative"):
        tm.randint(10, (-1,))


@pytest.mark.parametrize("factory", [tm.zeros, tm.ones, tm.empty, tm.rand, tm.randn])
@pytest.mark.parametrize("args, kwargs", [((2, 3), {}), (((2, 3),), {}), (([2, 3],), {}), ((), {"size": (2, 3)})])
def test_factories_read_every_size_form(factory, args, kwargs):
    assert factory(*args, **kwargs).shape == (2, 3)
    assert factory(*args, **kwargs, dtype=tm.float64).dtype == tm.float64


def test_factory_sizes_refused_as_torch_refuses_them():
    assert tm.zeros(()).shape == () and tm.zeros([]).shape == ()
    assert tm.zeros(numpy.int64(2), tm.tensor(3)).shape == (2, 3)
    with pytest.raises(TypeError, match="zeros: size must be an int"):
        tm.zeros(2.0)
    with pytest.raises(ShapeError, match="ones: sizes must be non-negative"):
        tm.ones(2, -1)
    with pytest.raises(TypeError, match="multiple values for argument 'size'"):
        tm.zeros(2, size=(2,))
    with pytest.raises(DTypeError, match="rand: .*int64 is not a float dtype"):
        tm.rand(2, dtype=tm.int64)


@pytest.mark.parametrize(
    "value, dtype",
    [(3.0, tm.float32), (3, tm.int64), (True, tm.bool), (numpy.int32(2), tm.int64), (tm.tensor(3.0), tm.float32)],
)
def test_full_infers_the_dtype_from_the_fill_value(value, dtype):
    y = tm.full((2,), value)
    assert y.dtype == dtype and y.tolist() == [value.item() if isinstance(value, tm.Tensor) else value] * 2
    assert tm.full((2,), value, dtype=tm.float64).dtype == tm.float64


def test_arange_forms_and_refusals():
    assert tm.arange(5).tolist() == [0, 1, 2, 3, 4] and tm.arange(5).dtype == tm.int64
    assert tm.arange(1, 5, 2).tolist() == [1, 3]
    assert tm.arange(end=3).tolist() == [0, 1, 2] and tm.arange(start=1, end=3).tolist() == [1, 2]
    assert tm.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75] and tm.arange(5.0).dtype == tm.float32
    assert tm.arange(0, 1, 0.1).shape == (10,) and tm.arange(5, 1, -1).tolist() == [5, 4, 3, 2]
    assert tm.arange(tm.tensor(3)).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="step must be nonzero"):
        tm.arange(1, 5, 0)
    with pytest.raises(ValueError, match="inconsistent with step sign"):
        tm.arange(5, 1)


def test_linspace_eye_and_like_factories():
    assert tm.linspace(0, 1, steps=5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert tm.linspace(tm.tensor(0.0), tm.tensor(1.0), 3).tolist() == [0.0, 0.5, 1.0]
    assert tm.linspace(0, 10, 4, dtype=tm.int64).tolist() == [0, 3, 6, 10]
    assert tm.linspace(0, 1, 1).tolist() == [0.0] and tm.linspace(0, 1, 0).shape == (0,)
    with pytest.raises(ShapeError, match="linspace: start must be a number or a 0-d tensor"):
        tm.linspace(tm.tensor([0.0]), 1, 3)
    with pytest.raises(ValueError, match="number of steps must be non-negative"):
        tm.linspace(0, 1, -1)
    assert tm.eye(2, 3).tolist() == [[1, 0, 0], [0, 1, 0]] and tm.eye(0).shape == (0, 0)
    ints = tm.ones(2, dtype=tm.int64)
    assert tm.full_like(ints, 2.7).tolist() == [2, 2] and tm.zeros_like(ints).dtype == tm.int64
    assert tm.empty_like(ints).shape == (2,) and tm.randint_like(tm.ones(3), 2, 5).dtype == tm.float32
    with pytest.raises(DTypeError):
        tm.rand_like(ints)


# --------------------------------------------------------------------------- var / std


X5 = [1.0, 2.0, 4.0, 8.0, 3.0]  # mean 3.6; sum of squared deviations 29.2


@pytest.mark.parametrize(
    "call, expected",
    [
        (lambda x: x.var(), 7.3),
        (lambda x: x.var(False), 5.84),
        (lambda x: tm.var(x, True), 7.3),
        (lambda x: tm.var(x, 0, False), 5.84),
        (lambda x: tm.var(x, unbiased=False), 5.84),
        (lambda x: tm.var(x, dim=0, unbiased=False), 5.84),
        (lambda x: tm.var(x, 0, keepdim=True, correction=0), [5.84]),
        (lambda x: tm.var(x, 0, False, True), [5.84]),
        (lambda x: tm.var(x, correction=2), 29.2 / 3),
        (lambda x: tm.var(x, (0,)), 7.3),
        (lambda x: tm.var(x, ()), 7.3),
        (lambda x: tm.std(x, True), math.sqrt(7.3)),
        (lambda x: x.std(False), math.sqrt(5.84)),
        (lambda x: tm.var_mean(x, unbiased=False)[0], 5.84),
        (lambda x: tm.std_mean(x, 0)[1], 3.6),
    ],
)
def test_var_and_std_take_unbiased_positionally_and_correction_by_keyword(call, expected):
    x = tm.tensor(X5, dtype=tm.float64)
    numpy.testing.assert_allclose(call(x).numpy(), expected, rtol=1e-12)


def test_var_refuses_what_torch_refuses():
    x = tm.tensor(X5)
    with pytest.raises(TypeError, match="unbiased or correction, not both"):
        tm.var(x, 0, unbiased=False, correction=0)
    with pytest.raises(TypeError, match="unbiased must be a bool"):
        tm.var(x, 0, 1)
    with pytest.raises(DTypeError, match="var: input dtype must be a floating point dtype"):
        tm.var(tm.tensor([1, 2]))


# --------------------------------------------------------------------------- 0-d tensors and empty tensors


@pytest.mark.parametrize("dim", [0, -1])
def test_zero_dim_tensors_take_dim_0_and_minus_1(dim):
    s = tm.tensor(3.0, requires_grad=True)
    for y in [s.sum(dim), s.mean(dim), s.prod(dim), s.amax(dim), s.amin(dim), s.logsumexp(dim), s.cumsum(dim)]:
        assert y.shape == () and y.item() == 3.0
    values, indices = s.max(dim)
    assert values.shape == indices.shape == () and (values.item(), indices.item()) == (3.0, 0)
    assert s.argmax(dim, keepdim=True).shape == () and s.argmin(dim=dim).shape == ()
    assert s.transpose(dim, 0).shape == () and s.squeeze(dim).shape == () and s.unsqueeze(dim).shape == (1,)
    assert s.flatten().shape == (1,) and math.isnan(s.var(dim).item())
    (s.sum(dim) + s.max(dim).values * 2).backward()
    assert s.grad.item() == 3.0
    with pytest.raises(ShapeError, match="dim 1 is out of range for a 0-D tensor"):
        s.sum(1)


def test_empty_tensors_mean_nan_sum_zero_max_refused():
    e = tm.zeros(0, 3)
    assert math.isnan(e.mean().item()) and e.sum().item() == 0.0 and e.prod().item() == 1.0
    assert numpy.isnan(e.mean(0).numpy()).all() and e.mean(1).shape == (0,)
    assert e.amax(1).shape == (0,) and e.max(1).indices.shape == (0,) and e.argmax(1).shape == (0,)
    numpy.testing.assert_array_equal(e.logsumexp(0).numpy(), [-numpy.inf] * 3)
    with pytest.raises(ShapeError, match="amax: expected reduction dim to be specified"):
        e.amax()
    with pytest.raises(ShapeError, match="max: expected reduction dim 0 to have non-zero size"):
        e.max(0)
    with pytest.raises(ShapeError, match="argmax: expected reduction dim to be specified"):
        e.argmax()
    with pytest.raises(DTypeError, match="mean: input dtype must be a floating point dtype"):
        tm.tensor([1, 2]).mean()


def test_max_along_a_dim_is_a_named_tuple_whose_gradient_goes_to_the_index():
    x = tm.tensor([[1.0, 5.0, 5.0], [7.0, 0.0, 3.0]], requires_grad=True)
    result = tm.max(x, 1)
    assert result.values.tolist() == [5.0, 7.0] and result.indices.tolist() == [1, 0]
    result.values.sum().backward()
    assert x.grad.tolist() == [[0, 1, 0], [1, 0, 0]]  # the tie goes to the returned index only
    x.grad = None
    tm.max(x).backward()  # without dim: the gradient is shared between ties (PyTorch's rule)
    assert x.grad.tolist() == [[0, 0, 0], [1, 0, 0]]
    assert tm.max(x, tm.tensor([[2.0, 2, 9], [0, 0, 0]])).tolist() == [[2, 5, 9], [7, 0, 3]]
    assert tm.min(x, 0, keepdim=True).indices.shape == (1, 3) and x.min(dim=1).values.tolist() == [1.0, 0.0]


def test_prod_gradient_is_exact_with_zero_factors():
    x = tm.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 4.0]], dtype=tm.float64, requires_grad=True)
    x.prod(1).sum().backward()
    assert x.grad.tolist() == [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0]]
    tm.gradcheck(
        lambda v: v.prod(0), [tm.tensor(numpy.random.default_rng(0).uniform(0.5, 2, (3, 4)), requires_grad=True)]
    )
    tm.gradcheck(
        lambda v: v.cumsum(1), [tm.tensor(numpy.random.default_rng(1).normal(size=(2, 3)), requires_grad=True)]
    )
    assert tm.tensor([True, True, False]).sum().dtype == tm.int64 and tm.cumsum(tm.tensor([1, 2]), 0).tolist() == [1, 3]


# --------------------------------------------------------------------------- arithmetic call forms and dtypes


def test_add_and_sub_take_alpha_in_function_and_method_form():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    other = tm.tensor([10.0, 20.0], requires_grad=True)
    assert tm.add(x, other, alpha=2).tolist() == [21.0, 42.0] and x.add(other, alpha=2).tolist() == [21.0, 42.0]
    assert tm.sub(x, other, alpha=3).tolist() == [-29.0, -58.0] and x.sub(1, alpha=2).tolist() == [-1.0, 0.0]
    tm.sub(x, other, alpha=3).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0] and other.grad.tolist() == [-3.0, -3.0]
    with pytest.raises(DTypeError, match="alpha must not be a floating point number for integer inputs"):
        tm.add(tm.tensor([1]), 2, alpha=1.5)
    with pytest.raises(DTypeError, match="sub: subtraction of bool tensors"):
        tm.tensor([True]) - 1


def test_div_rounding_modes_and_true_division_of_integers():
    i = tm.tensor([7, -7, 3])
    assert (i / 2).dtype == tm.float32 and (i / 2).tolist() == [3.5, -3.5, 1.5]
    assert tm.div(i, 2, rounding_mode="trunc").tolist() == [3, -3, 1] and (i // 2).tolist() == [3, -4, 1]
    assert i.div(2, rounding_mode="floor").dtype == tm.int64
    x = tm.tensor([7.0, -7.0], requires_grad=True)
    y = tm.div(x, 2, rounding_mode="floor")
    assert y.tolist() == [3.0, -4.0] and tm.div(x, 2, rounding_mode="trunc").tolist() == [3.0, -3.0]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]  # a step function: zero gradient, as PyTorch
    with pytest.raises(ValueError, match="div: integer division by zero"):
        tm.div(i, 0, rounding_mode="floor")
    with pytest.raises(ValueError, match="rounding_mode must be None, 'trunc' or 'floor'"):
        tm.div(x, 2, rounding_mode="round")


@pytest.mark.parametrize(
    "call, dtype",
    [
        (lambda: tm.tensor([1, 2]) * 2.5, tm.float32),
        (lambda: tm.tensor([1.0]) + tm.tensor(2.0, dtype=tm.float64), tm.float32),  # a 0-d tensor does not widen
        (lambda: tm.tensor([1], dtype=tm.int32) + tm.tensor(2.0, dtype=tm.float64), tm.float64),
        (lambda: tm.tensor([1], dtype=tm.int32) + 2, tm.int32),
        (lambda: tm.tensor([True]) * 2.5, tm.float32),
        (lambda: tm.exp(tm.tensor([1])), tm.float32),
        (lambda: tm.tensor([2]) ** -1.0, tm.float32),
    ],
)
def test_mixed_dtypes_promote_as_in_pytorch(call, dtype):
    assert call().dtype == dtype


def test_clamp_with_tensor_bounds_and_its_gradient():
    x = tm.tensor([1.0, -2.0, 4.0, 8.0], requires_grad=True)
    lo = tm.tensor([0.0, 0.0, 5.0, 0.0], requires_grad=True)
    hi = tm.tensor([2.0, 2.0, 9.0, 3.0], requires_grad=True)
    y = tm.clamp(x, lo, hi)
    assert y.tolist() == [1.0, 0.0, 5.0, 3.0] and x.clip(max=hi).tolist() == [1.0, -2.0, 4.0, 3.0]
    (y * tm.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert x.grad.tolist() == [1, 0, 0, 0] and lo.grad.tolist() == [0, 2, 3, 0] and hi.grad.tolist() == [0, 0, 0, 4]
    assert tm.clamp(tm.tensor([1, 5]), min=2.5).tolist() == [2.5, 5.0]
    with pytest.raises(ValueError, match="clamp: at least one of min and max must not be None"):
        tm.clamp(x)


def test_maximum_splits_ties_and_propagates_nan():
    a, b = tm.tensor([1.0, 2.0, 3.0], requires_grad=True), tm.tensor([2.0, 2.0, 1.0], requires_grad=True)
    tm.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.0, 0.5, 1.0] and b.grad.tolist() == [1.0, 0.5, 0.0]
    assert numpy.isnan(tm.maximum(tm.tensor([1.0, numpy.nan]), tm.tensor([numpy.nan, 1.0])).numpy()).all()


def test_to_clone_and_fill_forms():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    assert x.to(tm.float64).dtype == tm.float64 and x.to("cpu", tm.float64).dtype == tm.float64
    assert (
        x.to(tm.float64, non_blocking=True).dtype == tm.float64 and x.to(device="cpu", dtype=tm.int64).dtype == tm.int64
    )
    assert x.to(tm.tensor([1])).dtype == tm.int64 and x.to(tm.float32) is x and x.to(tm.float32, copy=True) is not x
    c = x.clone()
    assert c is not x and c.data is not x.data and c.requires_grad
    (c * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    f = tm.fill(x, 7)
    assert f.tolist() == [7.0, 7.0] and tm.fill(tm.tensor([1, 2]), 3.7).tolist() == [3, 3]
    with pytest.raises(ShapeError, match="fill: only a 0-d value tensor"):
        tm.fill(x, tm.tensor([1.0]))


@pytest.mark.parametrize("module", [False, True])
def test_gelu_tanh_matches_pytorch_values_and_gradients(module):
    x = tm.tensor([-3.0, -1.0, 0.0, 0.5, 2.0], dtype=tm.float64, requires_grad=True)
    y = tm.nn.GELU(approximate="tanh")(x) if module else tm.nn.functional.gelu(x, approximate="tanh")
    y.sum().backward()
    # torch.nn.functional.gelu(x, approximate='tanh') and its gradient, torch 2.13
    expected_y = [-0.0036373920817729943, -0.15880800939172324, 0.0, 0.34571400982514394, 1.954597694087775]
    expected_g = [-0.011584166630969648, -0.08296408384578252, 0.5, 0.8673699035346424, 1.0860992566236183]
    numpy.testing.assert_allclose(y.numpy(), expected_y, rtol=1e-12, atol=1e-15)
    numpy.testing.assert_allclose(x.grad.numpy(), expected_g, rtol=1e-12, atol=1e-15)
    tm.gradcheck(
        lambda v: tm.nn.functional.gelu(v, approximate="tanh"),
        [tm.tensor(numpy.linspace(-4, 4, 9), requires_grad=True)],
    )


def test_norm_forms_and_gradient_at_zero():
    x = tm.tensor([[3.0, -4.0], [0.0, 0.0]], dtype=tm.float64, requires_grad=True)
    assert tm.norm(x).item() == 5.0 and x.norm(dim=1).tolist() == [5.0, 0.0]
    assert tm.norm(x, 1, 0).tolist() == [3.0, 4.0] and tm.norm(x, float("inf"), 1).tolist() == [4.0, 0.0]
    assert tm.norm(x, 0).item() == 2.0 and tm.norm(tm.tensor(3.0), dim=0).item() == 3.0
    x.norm(dim=1).sum().backward()
    numpy.testing.assert_allclose(
        x.grad.numpy(), [[0.6, -0.8], [0.0, 0.0]], rtol=1e-15
    )  # 0 where the norm is 0 (not 0/0)
    with pytest.raises(ShapeError, match="cannot compute the inf norm of an empty tensor"):
        tm.norm(tm.zeros(0), float("inf"))
    with pytest.raises(DTypeError, match="norm: input dtype must be a floating point dtype"):
        tm.norm(tm.tensor([1, 2]))
