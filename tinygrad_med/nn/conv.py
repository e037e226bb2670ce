"""Convolution layers with torch.nn's names, parameters, shapes and default initialisation.

Lecture: "Convolutional neural networks - Convolution" (a layer of F filters, each a
C x KH x KW kernel, "Convolution dimension" for 1D/3D) and "Semantic segmentation"
(transposed convolution).  Each layer owns ``weight`` and ``bias`` and calls
nn.functional.conv{1,2,3}d / conv_transpose{1,2,3}d (ops/conv.py, ops/conv_transpose.py),
where the forward and backward stand side by side.  A state_dict maps one to one onto
PyTorch's: weight (F, C/groups, *K) or, transposed, (C, F/groups, *K), and bias (F,).
"""

from .. import factory
from ..errors import ShapeError, fmt
from ..ops.int_args import check_int, int_tuple
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """What Conv and ConvTranspose layers share: arguments, parameters, initialisation, repr."""

    d = 2
    transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 padding_mode, output_padding=0, device=None, dtype=None):  # fmt: skip
        super().__init__()
        name, d = type(self).__name__, self.d
        check_int(name, "groups", groups, minimum=1)
        if in_channels % groups or out_channels % groups:
            raise ShapeError(fmt(name, f"in_channels={in_channels} and out_channels={out_channels} must be "
                                 f"divisible by groups={groups}"))  # fmt: skip
        if padding_mode not in _PADDING_MODES:
            raise ValueError(fmt(name, f"padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}"))
        if self.transposed and padding_mode != "zeros":
            raise ValueError(fmt(name, "only padding_mode='zeros' is supported, as in PyTorch"))
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = int_tuple(name, "kernel_size", kernel_size, d, minimum=1, repeat_single=False)
        self.stride = int_tuple(name, "stride", stride, d, minimum=1, repeat_single=False)
        self.dilation = int_tuple(name, "dilation", dilation, d, minimum=1, repeat_single=False)
        self.output_padding = int_tuple(name, "output_padding", output_padding, d, minimum=0, repeat_single=False)
        if isinstance(padding, str):
            if padding not in ("same", "valid") or self.transposed:
                allowed = "an int or a tuple" if self.transposed else "an int, a tuple, 'same' or 'valid'"
                raise ValueError(fmt(name, f"padding must be {allowed}, got {padding!r}"))
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(fmt(name, f"padding='same' is not supported for strided convolutions "
                                     f"(stride={self.stride})"))  # fmt: skip
            self.padding = padding
        else:
            self.padding = int_tuple(name, "padding", padding, d, minimum=0, repeat_single=False)
        self.padding_mode = padding_mode
        shape = (in_channels, out_channels // groups) if self.transposed else (out_channels, in_channels // groups)
        self.weight = Parameter(factory.empty(*shape, *self.kernel_size, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(factory.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default: weight ~ kaiming_uniform_(a=sqrt(5)), bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        init.default_layer_init_(self.weight, self.bias)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.d:
            text += f", padding={self.padding}"  # PyTorch prints padding=same unquoted
        if self.dilation != (1,) * self.d:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self.d:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode!r}"
        return text


class _Conv(_ConvNd):
    """Conv1d/2d/3d: y = conv(x, weight, bias), optionally after reflect/replicate/circular padding."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):  # fmt: skip
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device=device, dtype=dtype)  # fmt: skip

    def forward(self, x):
        conv = (F.conv1d, F.conv2d, F.conv3d)[self.d - 1]
        if self.padding_mode == "zeros" or self.padding == "valid":
            return conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if self.padding == "same":
            total = [dl * (k - 1) for dl, k in zip(self.dilation, self.kernel_size, strict=True)]
            pairs = [(t // 2, t - t // 2) for t in total]  # the odd element at the end, as PyTorch
        else:
            pairs = [(p, p) for p in self.padding]
        widths = [w for pair in reversed(pairs) for w in pair]  # F.pad order: last dim first
        x = F.pad(x, widths, mode=self.padding_mode)
        return conv(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class _ConvTranspose(_ConvNd):
    """ConvTranspose1d/2d/3d: y = conv_transpose(x, weight, bias); forward may ask for an output_size."""

    transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):  # fmt: skip
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, device=device, dtype=dtype)  # fmt: skip

    def forward(self, x, output_size=None):
        conv_t = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[self.d - 1]
        extra = self.output_padding if output_size is None else self._output_padding(x, output_size)
        return conv_t(x, self.weight, self.bias, self.stride, self.padding, extra, self.groups, self.dilation)

    def _output_padding(self, x, output_size):
        """The output_padding that gives ``output_size`` (the spatial sizes, optionally after N and C)."""
        size = tuple(output_size)[-self.d :]
        if len(size) != self.d:
            raise ValueError(f"{type(self).__name__}: output_size must have {self.d} spatial sizes, got {output_size}")
        extra = []
        for i, want in enumerate(size):
            low = (x.shape[-self.d + i] - 1) * self.stride[i] - 2 * self.padding[i]
            low += self.dilation[i] * (self.kernel_size[i] - 1) + 1
            if not low <= want < low + self.stride[i]:  # PyTorch allows up to stride - 1 extra
                raise ValueError(f"{type(self).__name__}: requested output size {size} is not reachable; dim {i} "
                                 f"must be in [{low}, {low + self.stride[i] - 1}]")  # fmt: skip
            extra.append(want - low)
        return tuple(extra)


class Conv1d(_Conv):
    """1D convolution layer (torch.nn.Conv1d): x (N, C_in, W) -> (N, C_out, OW).

    Lecture: "Convolutional neural networks - Convolution dimension".
    Forward:  y = conv1d(x, weight, bias, stride, padding, dilation, groups)
    Backward: through ops/conv.py::ConvNd (gx = col2im(W^T gy), gW = gy col^T, gb = sum gy)
    Shapes:   weight (C_out, C_in/groups, K), bias (C_out,); OW = floor((W + 2P - dil*(K-1) - 1)/S) + 1
    Init:     weight ~ kaiming_uniform_(a=sqrt(5)); bias ~ U(+-1/sqrt(fan_in)), fan_in = C_in/groups * K
    Raises:   ShapeError (a ValueError) if groups does not divide the channels or kernel_size, stride, dilation
              is below 1 or padding below 0; DTypeError (a TypeError) for a float or bool size; ValueError
              if padding_mode is unknown (ops/int_args.py words these).
    """

    d = 1


class Conv2d(_Conv):
    """2D convolution layer (torch.nn.Conv2d): x (N, C_in, H, W) -> (N, C_out, OH, OW).

    Lecture: "Convolutional neural networks - Convolution", "Convolution padding", "Convolution stride".
    Forward:  y = conv2d(x, weight, bias, stride, padding, dilation, groups)
    Backward: through ops/conv.py::ConvNd (gx = col2im(W^T gy), gW = gy col^T, gb = sum gy)
    Shapes:   weight (C_out, C_in/groups, KH, KW), bias (C_out,); OH = floor((H + 2P - dil*(KH-1) - 1)/S) + 1
    Init:     weight ~ kaiming_uniform_(a=sqrt(5)); bias ~ U(+-1/sqrt(fan_in)), fan_in = C_in/groups * KH * KW
    Raises:   ShapeError (a ValueError) if groups does not divide the channels or kernel_size, stride, dilation
              is below 1 or padding below 0; DTypeError (a TypeError) for a float or bool size; ValueError
              if padding_mode is unknown (ops/int_args.py words these).
    """

    d = 2


class Conv3d(_Conv):
    """3D convolution layer (torch.nn.Conv3d): x (N, C_in, D, H, W) -> (N, C_out, OD, OH, OW).

    Lecture: "Convolutional neural networks - Convolution dimension" (3D CNN for Alzheimer's, V-Net).
    Forward:  y = conv3d(x, weight, bias, stride, padding, dilation, groups)
    Backward: through ops/conv.py::ConvNd (gx = col2im(W^T gy), gW = gy col^T, gb = sum gy)
    Shapes:   weight (C_out, C_in/groups, KD, KH, KW), bias (C_out,); each O as in Conv2d
    Init:     weight ~ kaiming_uniform_(a=sqrt(5)); bias ~ U(+-1/sqrt(fan_in)), fan_in = C_in/groups * KD*KH*KW
    Raises:   ShapeError (a ValueError) if groups does not divide the channels or kernel_size, stride, dilation
              is below 1 or padding below 0; DTypeError (a TypeError) for a float or bool size; ValueError
              if padding_mode is unknown (ops/int_args.py words these).
    """

    d = 3


class ConvTranspose1d(_ConvTranspose):
    """1D transposed convolution layer (torch.nn.ConvTranspose1d): x (N, C_in, W) -> (N, C_out, OW).

    Lecture: "Semantic segmentation" (transposed convolution).
    Forward:  y = conv_transpose1d(x, weight, bias, stride, padding, output_padding, groups, dilation)
    Backward: through ops/conv_transpose.py::ConvTransposeNd (gx = W im2col(gy))
    Shapes:   weight (C_in, C_out/groups, K), bias (C_out,); OW = (W-1)*S - 2P + dil*(K-1) + output_padding + 1
    Init:     as PyTorch: kaiming_uniform_(a=sqrt(5)); bias bound 1/sqrt(fan_in), fan_in = C_out/groups * K
    Raises:   ShapeError / DTypeError on bad sizes as Conv2d (output_padding must be >= 0 too);
              ValueError if padding_mode is not 'zeros'.
    """

    d = 1


class ConvTranspose2d(_ConvTranspose):
    """2D transposed convolution layer (torch.nn.ConvTranspose2d): the up-convolution of FCN and U-Net.

    Lecture: "Semantic segmentation" (transposed convolution, U-Net).
    Forward:  y = conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation)
    Backward: through ops/conv_transpose.py::ConvTransposeNd (gx = W im2col(gy))
    Shapes:   x (N, C_in, H, W) -> (N, C_out, OH, OW), OH = (H-1)*S - 2P + dil*(KH-1) + output_padding + 1;
              weight (C_in, C_out/groups, KH, KW), bias (C_out,)
    Init:     as PyTorch: kaiming_uniform_(a=sqrt(5)); bias bound 1/sqrt(fan_in), fan_in = C_out/groups * KH*KW
    Raises:   ShapeError / DTypeError on bad sizes as Conv2d (output_padding must be >= 0 too);
              ValueError if padding_mode is not 'zeros'.
    """

    d = 2


class ConvTranspose3d(_ConvTranspose):
    """3D transposed convolution layer (torch.nn.ConvTranspose3d): the up-convolution of V-Net.

    Lecture: "Semantic segmentation" (transposed convolution; V-Net).
    Forward:  y = conv_transpose3d(x, weight, bias, stride, padding, output_padding, groups, dilation)
    Backward: through ops/conv_transpose.py::ConvTransposeNd (gx = W im2col(gy))
    Shapes:   x (N, C_in, D, H, W) -> (N, C_out, OD, OH, OW), each O as in ConvTranspose2d;
              weight (C_in, C_out/groups, KD, KH, KW), bias (C_out,)
    Init:     as PyTorch: kaiming_uniform_(a=sqrt(5)); bias bound 1/sqrt(fan_in), fan_in = C_out/groups * KD*KH*KW
    Raises:   ShapeError / DTypeError on bad sizes as Conv2d (output_padding must be >= 0 too);
              ValueError if padding_mode is not 'zeros'.
    """

    d = 3
