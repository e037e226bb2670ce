"""Weight initialisation, with torch.nn.init's names, formulas and defaults.

Lecture: the slides do not cover initialisation; every formula here is PyTorch's
(torch/nn/init.py), which follows the two papers named below.

Each function fills a tensor IN PLACE under ``no_grad`` and returns it.  Random
draws come from ``tinygrad_med.random.generator(device)``, so ``tm.manual_seed``
makes them repeat.

    fan_in  = W.shape[1] * prod(W.shape[2:])   (input channels x kernel size)
    fan_out = W.shape[0] * prod(W.shape[2:])   (filters x kernel size)
"""

import math

from .. import backend
from ..errors import ShapeError, fmt
from ..function import no_grad

__all__ = [
    "default_layer_init_",
    "calculate_gain",
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "zeros_",
    "ones_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
]

_LINEAR_GAIN = (
    "linear",
    "identity",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (torch.nn.init.calculate_gain).

    Forward:  linear/conv/sigmoid 1, tanh 5/3, relu sqrt(2),
              leaky_relu sqrt(2 / (1 + slope^2)) with slope = param (default 0.01), selu 3/4.
    Raises:   ValueError for an unknown nonlinearity or a non-numeric slope.
    """
    if nonlinearity in _LINEAR_GAIN:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
        f"{', '.join(_LINEAR_GAIN + ('tanh', 'relu', 'leaky_relu', 'selu'))}"
    )


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a Linear (out, in) or conv (F, C, *kernel) weight.

    Shapes:   W (out_features, in_features) or (F, C/groups, KH, KW, ...) -> two ints
    Raises:   ShapeError for fewer than 2 dims.
    """
    if tensor.ndim < 2:
        raise ShapeError(
            fmt(
                "init",
                "fan in and fan out can not be computed for a tensor with fewer than 2 dimensions",
                tensor=tensor,
            )
        )
    receptive_field = math.prod(tensor.shape[2:])  # KH * KW * ... (1 for a Linear weight)
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode {mode!r} not supported, please use one of 'fan_in', 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with draws from U(a, b)."""
    with no_grad():
        return tensor.uniform_(a, b)


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with draws from N(mean, std^2)."""
    with no_grad():
        return tensor.normal_(mean, std)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Fill with draws from N(mean, std^2) truncated to [a, b] (torch.nn.init.trunc_normal_).

    Forward:  PyTorch's inverse-CDF method: u ~ U(2 Phi((a - mean)/std) - 1, 2 Phi((b - mean)/std) - 1),
              x = mean + std * sqrt(2) * erfinv(u), clipped to [a, b] against rounding;
              Phi(z) = (1 + erf(z / sqrt(2))) / 2.  Note a, b are values, not multiples of std.
    """
    from scipy.special import erfinv

    def phi(z):
        return (1.0 + math.erf(z / math.sqrt(2.0))) / 2.0

    low, high = phi((a - mean) / std), phi((b - mean) / std)
    with no_grad():
        tensor.uniform_(2 * low - 1, 2 * high - 1)
        values = erfinv(backend.to_numpy(tensor.data).astype("float64")) * (std * math.sqrt(2.0)) + mean
        tensor.data[...] = backend.to_device(values.clip(a, b), tensor.device).astype(tensor.dtype)
    return tensor


def constant_(tensor, val):
    """Fill with the value ``val``."""
    with no_grad():
        return tensor.fill_(val)


def zeros_(tensor):
    """Fill with zeros."""
    return constant_(tensor, 0.0)


def ones_(tensor):
    """Fill with ones."""
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0):
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).

    Forward:  std = gain * sqrt(2 / (fan_in + fan_out)),  a = sqrt(3) * std
    Reference: Glorot & Bengio, "Understanding the difficulty of training deep feedforward
               neural networks", AISTATS 2010.
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    if tensor.numel() == 0:
        return tensor
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).

    Reference: Glorot & Bengio, AISTATS 2010.
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    if tensor.numel() == 0:
        return tensor
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """He uniform: U(-bound, bound) with bound = gain * sqrt(3 / fan).

    Forward:  gain = calculate_gain(nonlinearity, a),  std = gain / sqrt(fan),  bound = sqrt(3) * std
              fan = fan_in (keeps the forward variance) or fan_out (keeps the backward variance).
    Reference: He et al., "Delving Deep into Rectifiers", arXiv:1502.01852.
    """
    fan = _calculate_correct_fan(tensor, mode)
    if tensor.numel() == 0:
        return tensor  # nothing to fill (PyTorch warns and returns too)
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """He normal: N(0, std^2) with std = gain / sqrt(fan).

    Reference: He et al., "Delving Deep into Rectifiers", arXiv:1502.01852.
    """
    fan = _calculate_correct_fan(tensor, mode)
    if tensor.numel() == 0:
        return tensor  # nothing to fill (PyTorch warns and returns too)
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def default_layer_init_(weight, bias=None):
    """PyTorch's default for Linear and Conv layers: weight ~ kaiming_uniform_(a=sqrt(5)),
    bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); in place, returns nothing."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
