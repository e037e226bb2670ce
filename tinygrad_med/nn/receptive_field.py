"""Receptive-field calculator: how much of the input each layer of a CNN sees.

Lecture: "Convolutional neural networks - Receptive field of a neuron" (and "(revisited)":
the receptive field grows with depth), "Dilated convolution (a trous)", and VGG's key idea
"cascading two 3x3 convolutions gives the same receptive field as a 5x5 convolution".

Per spatial dim, a layer with kernel K, stride S, padding P (low side) and dilation dil maps
(receptive field r, jump j, start s, size n) of its input to those of its output:

    K_eff = dil*(K - 1) + 1                    the dilated kernel's span
    n'    = floor((n + 2P - K_eff) / S) + 1    (ceil for pooling with ceil_mode)
    r'    = r + (K_eff - 1) * j                each extra tap reaches j input pixels further
    j'    = j * S                              neighbouring outputs are S input steps apart
    s'    = s + ((K_eff - 1)/2 - P) * j        centre of the first output's field, in input pixels

starting from r = 1, j = 1, s = 0.5 (pixel centres at 0.5, 1.5, ...) on the input.  A transposed
convolution is a stride-1 convolution of the zero-stuffed input, so it divides the jump instead:
j' = j / S, r' = r + (K_eff - 1) * j', s' = s + (P - (K_eff - 1)/2) * j'.

Reference: Araujo, Norris and Sim, "Computing Receptive Fields of Convolutional Neural Networks",
Distill 2019 (doi:10.23915/distill.00021).
"""

import math
from collections import namedtuple

__all__ = ["receptive_field", "LayerField", "ReceptiveFieldTable"]

LayerField = namedtuple("LayerField", "name kind kernel stride padding dilation output_size receptive_field jump start")
LayerField.__doc__ = (
    """One row of the table: the layer and, per spatial dim, its output's size, field, jump and start."""
)


class ReceptiveFieldTable(list):
    """A list of LayerField rows (input first) that prints as a table."""

    def __str__(self):
        header = ("layer", "kind", "kernel", "stride", "pad", "dil", "output", "receptive field", "jump", "start")
        rows = [header] + [tuple(_fmt(v) for v in row) for row in self]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def receptive_field(model, input_size):
    """Each conv/pool layer's receptive field, jump and output size, for an input of ``input_size``.

    Lecture: "Receptive field of a neuron", "Dilated convolution (a trous)", VGG (two 3x3 = one 5x5).
    Forward:  r' = r + (dil*(K-1)) * j,  j' = j * S,  n' = floor((n + 2P - dil*(K-1) - 1) / S) + 1  (per dim)
    Shapes:   input_size: the spatial sizes (H, W), optionally preceded by C or (N, C); an int for all dims
    Args:
        model: a Module.  Every leaf exposing ``kernel_size`` (Conv*, ConvTranspose*, MaxPool*, AvgPool*,
            or any module with kernel_size/stride/padding[/dilation/ceil_mode] as in torch.nn) is a row,
            in registration order (which is the forward order of a Sequential, nested ones included).
            Other layers (activations, normalisation, dropout) do not change the field and are skipped.
            Branches (Inception, ResNet shortcuts) are not modelled: the rows follow one path.
    Returns:
        ReceptiveFieldTable: a list of LayerField (the input first), each with per-dim tuples.
    Raises:
        ValueError if the model has no conv/pool layer or an output size drops below 1.
    """
    layers = [(name, m) for name, m in model.named_modules(remove_duplicate=False) if _is_window_layer(m)]
    if not layers:
        raise ValueError(f"receptive_field: {type(model).__name__} has no layer with a kernel_size (conv or pool)")
    d = len(_ntuple(layers[0][1].kernel_size, _kernel_dims(layers[0][1])))
    size = _ntuple(input_size, d) if isinstance(input_size, int) else tuple(input_size)[-d:]
    if len(size) != d:
        raise ValueError(f"receptive_field: input_size {input_size!r} must give {d} spatial sizes")
    field, jump, start = (1,) * d, (1,) * d, (0.5,) * d
    table = ReceptiveFieldTable([LayerField("input", "input", "", "", "", "", size, field, jump, start)])
    for name, layer in layers:
        K, S, P, dil = _window(layer, d)
        span = tuple(dl * (k - 1) + 1 for k, dl in zip(K, dil, strict=True))
        if getattr(layer, "transposed", False):
            extra = _ntuple(getattr(layer, "output_padding", 0), d)
            size = tuple((n - 1) * s - 2 * p + e + sp for n, s, p, e, sp in zip(size, S, P, extra, span, strict=True))
            jump = tuple(j / s for j, s in zip(jump, S, strict=True))
            start = tuple(st + (p - (k - 1) / 2) * j for st, k, p, j in zip(start, span, P, jump, strict=True))
        else:
            size = tuple(
                _out(n, k, s, p, getattr(layer, "ceil_mode", False))
                for n, k, s, p in zip(size, span, S, P, strict=True)
            )
            start = tuple(st + ((k - 1) / 2 - p) * j for st, k, p, j in zip(start, span, P, jump, strict=True))
        field = tuple(r + (k - 1) * j for r, k, j in zip(field, span, jump, strict=True))
        if not getattr(layer, "transposed", False):
            jump = tuple(j * s for j, s in zip(jump, S, strict=True))
        if any(n < 1 for n in size):
            raise ValueError(f"receptive_field: layer {name!r} ({type(layer).__name__}) has output size {size}")
        table.append(LayerField(name, type(layer).__name__, K, S, P, dil, size, _clean(field), _clean(jump), start))
    return table


def _is_window_layer(module):
    return hasattr(module, "kernel_size") and not any(True for _ in module.children())


def _kernel_dims(layer):
    """Spatial dims of a layer: from a tuple kernel_size, else from the name (MaxPool2d -> 2)."""
    if not isinstance(layer.kernel_size, int):
        return len(layer.kernel_size)
    digits = [c for c in type(layer).__name__ if c.isdigit()]
    return int(digits[-1]) if digits else 2


def _window(layer, d):
    """(K, S, P_low, dil) per spatial dim; stride None means the kernel size (pooling's default)."""
    K = _ntuple(layer.kernel_size, d)
    stride = getattr(layer, "stride", None)
    S = K if stride is None or stride == () else _ntuple(stride, d)
    dil = _ntuple(getattr(layer, "dilation", 1), d)
    padding = getattr(layer, "padding", 0)
    if padding == "same":
        P = tuple(dl * (k - 1) // 2 for k, dl in zip(K, dil, strict=True))
    else:
        P = (0,) * d if padding == "valid" else _ntuple(padding, d)
    return K, S, P, dil


def _out(n, span, s, p, ceil_mode):
    """PyTorch's output size; with ceil_mode the last window must still start inside the (left-padded) input."""
    if not ceil_mode:
        return (n + 2 * p - span) // s + 1
    out = math.ceil((n + 2 * p - span) / s) + 1
    return out - 1 if (out - 1) * s >= n + p else out


def _ntuple(value, d):
    return (value,) * d if isinstance(value, int) else tuple(value)


def _clean(values):
    return tuple(int(v) if float(v).is_integer() else v for v in values)


def _fmt(value):
    if isinstance(value, tuple):
        return "x".join(_fmt(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)
