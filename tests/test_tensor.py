"""Tensor construction, dtypes, devices, factories, seeding and conversions."""

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med import backend
from tinygrad_med.errors import DeviceError, ShapeError


def test_python_data_defaults_to_float32_and_int64():
    assert tm.tensor([1.0, 2.0]).dtype == tm.float32
    assert tm.tensor([1, 2]).dtype == tm.int64
    assert tm.tensor(numpy.zeros(2)).dtype == tm.float64  # numpy arrays keep their dtype
    assert tm.zeros(2, 3).dtype == tm.float32
    assert tm.randn(2, dtype=tm.float64).dtype == tm.float64


def test_tensor_copies_but_from_numpy_shares():
    a = numpy.zeros(3, dtype=numpy.float32)
    t, s = tm.tensor(a), tm.from_numpy(a)
    a[0] = 5
    assert t.tolist()[0] == 0.0 and s.tolist()[0] == 5.0


def test_factories_shapes_and_values():
    assert tm.zeros((2, 3)).shape == (2, 3)
    assert tm.ones(2, 3).numpy().sum() == 6
    assert tm.full((2,), 7.0).tolist() == [7.0, 7.0]
    assert tm.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert tm.arange(0, 1, 0.25).dtype == tm.float32
    assert tm.eye(3).numpy().trace() == 3
    x = tm.randn(4, 5)
    assert tm.zeros_like(x).shape == (4, 5) and tm.ones_like(x).dtype == x.dtype
    assert tm.rand_like(x).numpy().min() >= 0


def test_manual_seed_makes_runs_repeat():
    tm.manual_seed(123)
    a = tm.randn(5).numpy()
    tm.manual_seed(123)
    b = tm.randn(5).numpy()
    numpy.testing.assert_array_equal(a, b)
    assert not numpy.array_equal(a, tm.randn(5).numpy())


def test_rng_state_round_trip():
    state = tm.random.get_rng_state()
    a = tm.rand(3).numpy()
    tm.random.set_rng_state(state)
    numpy.testing.assert_array_equal(a, tm.rand(3).numpy())


def test_item_numpy_and_repr():
    x = tm.tensor([[1.5]])
    assert x.item() == 1.5 and isinstance(x.item(), float)
    with pytest.raises(ShapeError, match="one-element"):
        tm.ones(2).item()
    assert "requires_grad=True" in repr(tm.ones(2, requires_grad=True))
    assert "grad_fn=<Mul>" in repr(tm.ones(2, requires_grad=True) * 2)
    assert "dtype=float64" in repr(tm.ones(2, dtype=tm.float64))


def test_to_dtype_keeps_gradient():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(tm.float64) * 3
    assert y.dtype == tm.float64
    y.sum().backward()
    assert x.grad.dtype == tm.float32 and x.grad.tolist() == [3.0, 3.0]


def test_inplace_on_tensor_requiring_grad_needs_no_grad():
    x = tm.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        x.zero_()
    with tm.no_grad():
        x.zero_()
        x[1] = 4.0
    assert x.tolist() == [0.0, 4.0, 0.0]


def test_unknown_device_is_named():
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        tm.zeros(2, device="tpu")


@pytest.mark.skipif(backend.cuda_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_says_why():
    with pytest.raises(DeviceError, match="CuPy is not installed|no CUDA device"):
        tm.zeros(2, device="cuda")
    with pytest.raises(DeviceError, match="CuPy|CUDA"):
        tm.ones(2).to("cuda")


@pytest.mark.gpu
def test_cuda_round_trip_and_gradient():
    if not backend.cuda_available():
        pytest.skip(backend.cuda_unavailable_reason())
    x = tm.randn(3, 4, requires_grad=True)
    y = (x.to("cuda") * 2).sum()
    assert y.device == "cuda"
    y.backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [[2.0] * 4] * 3
    tm.manual_seed(5)
    a = tm.randn(4, device="cuda").numpy()
    tm.manual_seed(5)
    numpy.testing.assert_array_equal(a, tm.randn(4, device="cuda").numpy())


def test_public_names_have_docstrings():
    import inspect

    missing = []
    for module in (tm.ops.arithmetic, tm.ops.reduce, tm.ops.shape, tm.ops.matmul):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) and not (obj.__doc__ or "").strip():
                missing.append(f"{module.__name__}.{name}")
    assert not missing, f"public functions without a docstring: {missing}"


def test_iteration_numpy_conversion_and_index_errors_follow_pytorch():
    t = tm.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    rows = list(t)  # dim 0, each a differentiable t[i]
    assert [r.shape for r in rows] == [(2,), (2,)]
    sum(r.sum() * (i + 1) for i, r in enumerate(rows)).backward()
    numpy.testing.assert_array_equal(t.grad.numpy(), [[1, 1], [2, 2]])
    array = numpy.asarray(t)  # __array__: a host array, not an object array built element by element
    assert array.dtype == numpy.float32 and array.shape == (2, 2)
    assert numpy.asarray(t, dtype=numpy.float64).dtype == numpy.float64
    copied = numpy.array(t)  # copy=True: a write into it leaves the tensor alone
    copied[0, 0] = 9
    assert t[0, 0].item() == 1.0
    with pytest.raises(IndexError, match=r"index 5 is out of bounds"):  # also a ShapeError naming the shape
        t[5]
    with pytest.raises(TypeError, match="0-d"):
        iter(tm.tensor(1.0))
