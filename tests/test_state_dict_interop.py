"""load_state_dict takes array-likes from other libraries as they are (nn/array_like.py): torch tensors
(contiguous or not, requires_grad, float16, bfloat16, int64 counters) and any object with __dlpack__."""

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.errors import CheckpointError, DTypeError
from tinygrad_med.nn.array_like import as_array


def _small():
    return nn.Sequential(nn.Conv2d(2, 3, 3, bias=False), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(12, 4))


class _DLPackOnly:
    """A CuPy-like array that offers DLPack and nothing else (no shape, dtype or __array__)."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def test_a_torch_module_state_dict_loads_as_it_is_and_gives_the_same_outputs():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, bias=False), torch.nn.BatchNorm2d(3),
                                    torch.nn.Flatten(), torch.nn.Linear(12, 4))  # fmt: skip
    reference.train()(torch.randn(5, 2, 4, 4))  # running statistics and num_batches_tracked move off their defaults
    for p in reference.parameters():  # trained-looking weights that require grad
        p.data.add_(0.1 * torch.randn_like(p))
    ours = _small()
    assert ours.load_state_dict(reference.state_dict(keep_vars=True)) == ([], [])  # Parameters, requires_grad
    assert int(ours[1].num_batches_tracked.item()) == 1 and ours[1].num_batches_tracked.dtype == numpy.int64
    x = numpy.random.default_rng(1).standard_normal((2, 2, 4, 4)).astype(numpy.float32)
    with torch.no_grad():
        expected = reference.eval()(torch.from_numpy(x)).numpy()
    numpy.testing.assert_allclose(ours.eval()(tm.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_non_contiguous_half_and_bfloat16_torch_tensors():
    torch = pytest.importorskip("torch")
    layer = nn.Linear(3, 4)
    weight = torch.arange(12.0).reshape(3, 4).t()  # (4, 3), strides (1, 4): not contiguous
    assert not weight.is_contiguous()
    layer.load_state_dict({"weight": weight, "bias": torch.tensor([0.5, 1.5, -2.0, 3.25]).half()})
    numpy.testing.assert_array_equal(layer.weight.numpy(), weight.numpy())
    assert layer.bias.dtype == numpy.float32 and layer.bias.numpy().tolist() == [0.5, 1.5, -2.0, 3.25]
    bf16 = torch.tensor([1.0, 2.0**-20, 3.140625, -7.5]).bfloat16()  # each exactly representable in bfloat16
    layer.load_state_dict({"weight": weight, "bias": bf16})
    assert layer.bias.numpy().tolist() == bf16.float().tolist() == [1.0, 2.0**-20, 3.140625, -7.5]
    double = nn.Linear(3, 4).double()
    double.load_state_dict({"weight": weight.half(), "bias": bf16})  # the destination's dtype wins
    assert double.weight.dtype == numpy.float64 and double.weight.numpy()[3, 2] == 11.0


def test_an_object_with_only_dlpack_loads_without_torch():
    source = numpy.arange(12, dtype=numpy.float64).reshape(4, 3)
    array = as_array(_DLPackOnly(source[:, ::-1]))  # strided view through the protocol
    numpy.testing.assert_array_equal(array, source[:, ::-1])
    layer = nn.Linear(3, 4)
    layer.load_state_dict({"weight": _DLPackOnly(source.T.copy().T), "bias": _DLPackOnly(numpy.ones(4))})
    numpy.testing.assert_array_equal(layer.weight.numpy(), source.astype(numpy.float32))
    assert layer.bias.numpy().tolist() == [1.0] * 4


def test_refusals_name_the_key_and_change_nothing():
    torch = pytest.importorskip("torch")
    layer = nn.Linear(3, 4)
    before = layer.weight.numpy().copy()
    with pytest.raises(CheckpointError, match=r"size mismatch for 'weight'.*\(3, 4\).*\(4, 3\)"):
        layer.load_state_dict({"weight": torch.zeros(3, 4), "bias": torch.zeros(4)})
    with pytest.raises(CheckpointError, match="'bias' has dtype complex64"):
        layer.load_state_dict({"weight": torch.zeros(4, 3), "bias": torch.zeros(4, dtype=torch.complex64)})
    numpy.testing.assert_array_equal(layer.weight.numpy(), before)

    class BFloat16WithoutFloat:
        dtype = "bfloat16"

    with pytest.raises(DTypeError, match="value for 'bias' is bfloat16, which has no NumPy dtype"):
        layer.load_state_dict({"weight": numpy.zeros((4, 3)), "bias": BFloat16WithoutFloat()})
    numpy.testing.assert_array_equal(layer.weight.numpy(), before)
