"""Arithmetic, reduction, shape and matmul ops: NumPy agreement, gradient checks, bad input."""

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.ops.matmul import linear
from tinygrad_med.ops.shape import pad

SETTINGS = settings(max_examples=20, deadline=None)


def t64(shape, low=-1.0, high=1.0, seed=0):
    data = numpy.random.default_rng(seed).uniform(low, high, shape)
    return tm.Tensor(data, requires_grad=True)


# --------------------------------------------------------------------------- arithmetic

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "maximum": tm.maximum,
    "minimum": tm.minimum,
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_gradcheck_with_broadcasting(name):
    a = t64((3, 1, 4), 0.5, 2.0, seed=1)
    b = t64((2, 1), 0.5, 2.0, seed=2)
    tm.gradcheck(BINARY[name], [a, b])


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "abs", "neg"])
def test_unary_ops_gradcheck(name):
    x = t64((2, 3), 0.2, 2.0)
    tm.gradcheck(getattr(tm, name), [x])


def test_clamp_and_where_gradcheck():
    x = tm.Tensor(numpy.array([-2.0, -0.3, 0.2, 0.7, 3.0]), requires_grad=True)
    tm.gradcheck(lambda v: v.clamp(-1.0, 1.0) * v, [x])
    y = t64((5,), seed=3)
    tm.gradcheck(lambda a, b: tm.where(a > 0, a * 2, b), [x, y])


def test_scalar_operands_on_both_sides_keep_float32():
    x = tm.tensor([1.0, 2.0])
    for y in (x + 1, 1 + x, x * 2.5, 2 - x, 1 / x, x**2, 2**x, -x):
        assert y.dtype == tm.float32
    numpy.testing.assert_allclose((2 - x).numpy(), [1.0, 0.0])
    numpy.testing.assert_allclose((2**x).numpy(), [2.0, 4.0])


def test_comparisons_give_bool_tensors_without_gradient():
    x = tm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = x > 1.5
    assert mask.dtype == tm.bool and not mask.requires_grad
    assert mask.tolist() == [False, True, True]
    assert (x == 2.0).tolist() == [False, True, False]


@given(
    shape_a=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    shape_b=st.lists(st.integers(1, 3), min_size=1, max_size=3),
)
@SETTINGS
def test_broadcast_gradient_property(shape_a, shape_b):
    try:
        numpy.broadcast_shapes(shape_a, shape_b)
    except ValueError:
        with pytest.raises(ShapeError, match="cannot be broadcast"):
            tm.ones(*shape_a) + tm.ones(*shape_b)
        return
    a, b = t64(tuple(shape_a), seed=1), t64(tuple(shape_b), seed=2)
    tm.gradcheck(lambda x, y: x * y + x, [a, b])


# --------------------------------------------------------------------------- reductions


@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    data=st.data(),
)
@SETTINGS
def test_reductions_match_numpy_and_gradcheck(shape, data):
    x = t64(tuple(shape), seed=len(shape))
    dim = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    keepdim = data.draw(st.booleans())
    xs = x.numpy()
    axis = dim
    numpy.testing.assert_allclose(x.sum(dim, keepdim).numpy(), xs.sum(axis=axis, keepdims=keepdim))
    numpy.testing.assert_allclose(x.mean(dim, keepdim).numpy(), xs.mean(axis=axis, keepdims=keepdim))
    numpy.testing.assert_allclose(x.amax(dim, keepdim).numpy(), xs.max(axis=axis, keepdims=keepdim))
    tm.gradcheck(lambda v: v.sum(dim, keepdim) * v.mean(dim, keepdim), [x])
    tm.gradcheck(lambda v: v.amax(dim, keepdim), [x])
    if dim is not None and shape[dim] > 1:
        numpy.testing.assert_allclose(x.var(dim, keepdim=keepdim).numpy(), xs.var(axis=axis, ddof=1, keepdims=keepdim))
        tm.gradcheck(lambda v: v.std(dim, keepdim=keepdim), [x])
        tm.gradcheck(lambda v: v.logsumexp(dim, keepdim), [x])


def test_max_over_dim_returns_values_and_indices_like_torch():
    x = tm.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    values, indices = x.max(dim=1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    assert indices.dtype == tm.int64
    assert x.max().item() == 7.0 and x.argmax().item() == 3


def test_max_gradient_splits_between_ties():
    x = tm.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    assert x.grad.tolist() == [0.0, 0.5, 0.5]


def test_var_unbiased_flag_and_correction():
    x = tm.tensor([1.0, 2.0, 4.0])
    assert x.var().item() == pytest.approx(numpy.var([1, 2, 4], ddof=1))
    assert x.var(unbiased=False).item() == pytest.approx(numpy.var([1, 2, 4]))
    assert x.var(correction=0).item() == pytest.approx(numpy.var([1, 2, 4]))


def test_reduction_dim_out_of_range_is_named():
    with pytest.raises(ShapeError, match=r"sum: dim 2 is out of range for a 2-D tensor \(x.shape=\(2, 3\)\)"):
        tm.ones(2, 3).sum(2)


def test_logsumexp_is_stable_at_large_values():
    x = tm.tensor([1000.0, 1000.0])
    assert x.logsumexp(0).item() == pytest.approx(1000.0 + numpy.log(2.0))


# --------------------------------------------------------------------------- shape ops


def test_shape_ops_gradcheck():
    x = t64((2, 3, 4))
    tm.gradcheck(lambda v: v.reshape(4, 6).T.flatten() * tm.arange(24, dtype=tm.float64), [x])
    tm.gradcheck(lambda v: v.permute(2, 0, 1).unsqueeze(1).squeeze(1).transpose(0, 2), [x])
    tm.gradcheck(lambda v: v[:, :1].expand(2, 5, 4), [x])
    tm.gradcheck(lambda v: v[1, ::2, [0, 0, 3]], [x])  # fancy index picks column 0 twice
    tm.gradcheck(lambda v: v[v > 0], [x])
    tm.gradcheck(lambda v: tm.cat([v, v * 2], dim=-1), [x])
    tm.gradcheck(lambda v: tm.stack([v, v.exp()], dim=1), [x])
    tm.gradcheck(lambda v: v.split([1, 2], dim=1)[1][..., :2] * v.chunk(2, dim=2)[0][:, :2], [x])
    tm.gradcheck(lambda v: pad(v, (1, 2, 0, 1), value=0.5), [x])


def test_fancy_index_gradient_accumulates_repeated_picks():
    x = tm.zeros(3, requires_grad=True)
    x[[0, 0, 2]].sum().backward()
    assert x.grad.tolist() == [2.0, 0.0, 1.0]


def test_split_and_chunk_sizes_follow_torch():
    x = tm.arange(10)
    assert [p.shape[0] for p in x.split(4)] == [4, 4, 2]
    assert [p.shape[0] for p in x.chunk(3)] == [4, 4, 2]
    with pytest.raises(ShapeError, match="do not add up"):
        x.split([3, 3])


def test_cat_with_mismatched_shapes_names_both():
    with pytest.raises(
        ShapeError, match=r"cat: tensor 1 does not match tensor 0 outside dim 1.*tensor1.shape=\(3, 4\)"
    ):
        tm.cat([tm.ones(2, 4), tm.ones(3, 4)], dim=1)


def test_reshape_errors_and_minus_one():
    x = tm.ones(2, 6)
    assert x.view(3, -1).shape == (3, 4)
    assert x.reshape((4, 3)).shape == (4, 3)
    with pytest.raises(ShapeError, match="cannot reshape 12 elements into \\(5, -1\\)"):
        x.reshape(5, -1)


def test_expand_rejects_non_singleton_dims():
    with pytest.raises(ShapeError, match="size 2 of dim 0 cannot expand to 3"):
        tm.ones(2, 1).expand(3, 4)


# --------------------------------------------------------------------------- matmul


@pytest.mark.parametrize(
    "shape_a,shape_b",
    [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)), ((5, 1, 2, 3), (4, 3, 2))],
)
def test_matmul_shapes_match_numpy_and_gradcheck(shape_a, shape_b):
    a, b = t64(shape_a, seed=1), t64(shape_b, seed=2)
    numpy.testing.assert_allclose((a @ b).numpy(), numpy.matmul(a.numpy(), b.numpy()))
    tm.gradcheck(tm.matmul, [a, b])


def test_matmul_inner_size_mismatch_names_layouts():
    with pytest.raises(ShapeError, match=r"inner sizes differ \(3 vs 4\).*a.shape=\(2, 3\) as \(..., M, K\)"):
        tm.ones(2, 3) @ tm.ones(4, 5)


def test_matmul_refuses_mixed_dtypes_and_multiplies_integers_as_pytorch():
    with pytest.raises(DTypeError, match="same dtype, got a int64, b float32"):
        tm.ones(2, 2, dtype=tm.int64) @ tm.ones(2, 2)
    with pytest.raises(DTypeError, match="float or integer operands, got bool"):
        tm.ones(2, 2, dtype=tm.bool) @ tm.ones(2, 2, dtype=tm.bool)
    assert (tm.ones(2, 2, dtype=tm.int64) @ tm.ones(2, 2, dtype=tm.int64)).numpy().tolist() == [[2, 2], [2, 2]]


def test_linear_gradcheck_and_shape_error():
    x, W, b = t64((2, 5, 3), seed=1), t64((4, 3), seed=2), t64((4,), seed=3)
    tm.gradcheck(linear, [x, W, b])
    with pytest.raises(ShapeError, match="x has 3 features but W expects 2"):
        linear(x, t64((4, 2)))
