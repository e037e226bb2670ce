"""The gradient-check suite's cases (``tgm gradcheck``, suite.py runs them): every differentiable op.

Each case is (name, function of tensors, list of input arrays).  Inputs are drawn
from a seeded generator and kept small, away from kinks (ReLU at 0, tied maxima),
so that central differences in float64 are exact to ~1e-8.  The ops of nn.functional
are looked up by name, one table per op family, so that a missing one is reported as
such, never silently skipped.  Graph, recurrent, generative, sampling and detection
rows are in cases_advanced.py.  The rows come in a fixed order: the inputs of a row are
the generator's next draws, so a new row goes at the end of its family's table (or on
its own generator, as grid_sample's and roi_align's) to leave the other rows' inputs alone.
"""

import numpy

from .inputs import beside, draws

__all__ = ["cases"]


def cases(seed=0):
    """All (name, fn, inputs) cases; fn is None where the op does not exist."""
    from .cases_advanced import detection_cases, generative_cases, recurrent_cases, sample_cases

    r, distinct, labels = draws(seed)
    return (
        _core_cases(r, distinct, labels)
        + _family_cases(r, distinct, labels)
        + recurrent_cases(r)
        + generative_cases(r)
        + sample_cases()
        + detection_cases()
        + _call_form_cases()
    )


def _core_cases(r, distinct, labels):
    import tinygrad_med as tm

    return [
        ("add (broadcast)", lambda a, b: a + b, [r(3, 4), r(4)]),
        ("mul (broadcast)", lambda a, b: a * b, [r(3, 1), r(1, 4)]),
        ("div", lambda a, b: a / b, [r(3, 4), r(3, 4, low=0.5, high=2.0)]),
        ("pow", lambda a, b: a**b, [r(3, 4, low=0.5, high=2.0), r(4)]),
        ("exp/log/sqrt", lambda a: (a.exp() + a.sqrt()).log(), [r(3, 4, low=0.1, high=2.0)]),
        ("abs/clamp", lambda a: a.abs() + a.clamp(-0.5, 0.5), [distinct(3, 4) - 0.5]),
        ("where", lambda a, b: tm.where(a > 0, a, b), [r(3, 4), r(3, 4)]),
        ("sum/mean", lambda a: a.sum(1) * a.mean(0, keepdim=True).sum(), [r(3, 4)]),
        ("max/min", lambda a: a.amax(1) + a.amin(0).sum(), [distinct(3, 4)]),
        ("var/std", lambda a: a.var(1) + a.std(0).sum(), [r(3, 4)]),
        ("logsumexp", lambda a: a.logsumexp(1), [r(3, 4)]),
        ("reshape/permute/expand", lambda a: a.reshape(2, 6).T.unsqueeze(0).expand(2, 6, 2), [r(3, 4)]),
        ("getitem (fancy)", lambda a: a[[0, 0, 2], 1:], [r(3, 4)]),
        ("cat/stack/split", lambda a: tm.stack(tm.cat([a, a * 2], 1).split(2, 1)[:2]), [r(3, 4)]),
        ("pad", lambda a: tm.ops.shape.pad(a, (1, 2)), [r(3, 4)]),
        ("matmul (batched)", tm.matmul, [r(2, 3, 4), r(4, 5)]),
        ("linear", tm.ops.matmul.linear, [r(5, 4), r(3, 4), r(3)]),
    ]


def _family_cases(r, distinct, labels):
    """Ops of the other families, looked up by name in nn.functional so that a missing one is reported."""
    import tinygrad_med.nn.functional as F

    from .cases_advanced import graph_specs

    specs = (
        _activation_loss_specs(r, distinct, labels)
        + _conv_specs(r, distinct, labels)
        + _pool_resample_specs(r, distinct, labels)
        + _norm_specs(r, distinct, labels)
        + graph_specs(r, distinct)
    )
    found = []
    for name, attr, build in specs:
        fn = getattr(F, attr, None)
        found.append((name, None, None) if fn is None else (name, *build(fn)))
    return found


def _activation_loss_specs(r, distinct, labels):
    """Activations, softmax and the losses: (row name, nn.functional name, build(f) -> (fn, inputs))."""
    return [
        ("sigmoid", "sigmoid", lambda f: (f, [r(3, 4)])),
        ("tanh", "tanh", lambda f: (f, [r(3, 4)])),
        ("relu", "relu", lambda f: (f, [distinct(3, 4) - 0.5])),
        ("leaky_relu", "leaky_relu", lambda f: (lambda x: f(x, 0.1), [distinct(3, 4) - 0.5])),
        ("elu", "elu", lambda f: (f, [distinct(3, 4) - 0.5])),
        ("maxout", "maxout", lambda f: (lambda x: f(x, 2, 1), [distinct(3, 4)])),
        ("softmax", "softmax", lambda f: (lambda x: f(x, 1), [r(3, 4)])),
        ("log_softmax", "log_softmax", lambda f: (lambda x: f(x, 1), [r(3, 4)])),
        (
            "cross_entropy",
            "cross_entropy",
            lambda f, t=labels(4, 3): (lambda x: f(x, beside(x, t), label_smoothing=0.1), [r(4, 3)]),
        ),
        (
            "cross_entropy (N,C,H,W)",
            "cross_entropy",
            lambda f, t=labels(18, 3).reshape(2, 3, 3): (lambda x: f(x, beside(x, t)), [r(2, 3, 3, 3)]),
        ),
        ("nll_loss", "nll_loss", lambda f, t=labels(4, 3): (lambda x: f(x, beside(x, t)), [r(4, 3)])),
        (
            "bce_with_logits",
            "binary_cross_entropy_with_logits",
            lambda f: (lambda x, t: f(x, t), [r(4, 3), r(4, 3, low=0.0, high=1.0)]),
        ),
        (
            "binary_cross_entropy",
            "binary_cross_entropy",
            lambda f: (lambda x: f(x, beside(x, numpy.full((4, 3), 0.3))), [r(4, 3, low=0.1, high=0.9)]),
        ),
        ("mse_loss", "mse_loss", lambda f: (f, [r(4, 3), r(4, 3)])),
        ("l1_loss", "l1_loss", lambda f: (f, [distinct(4, 3), r(4, 3, low=-1, high=-0.5)])),
        ("smooth_l1_loss", "smooth_l1_loss", lambda f: (f, [distinct(4, 3), r(4, 3, low=-1, high=-0.5)])),
        (
            "kl_div",
            "kl_div",
            lambda f: (lambda a, b: f(a, b, reduction="batchmean"), [r(4, 3), r(4, 3, low=0.1, high=1.0)]),
        ),
    ]


def _conv_specs(r, distinct, labels):
    """Convolutions and transposed convolutions (ops/conv.py, ops/conv_transpose.py)."""
    return [
        (
            "conv1d",
            "conv1d",
            lambda f: (lambda x, w, b: f(x, w, b, stride=2, padding=1, dilation=2), [r(2, 2, 9), r(3, 2, 3), r(3)]),
        ),
        (
            "conv2d",
            "conv2d",
            lambda f: (
                lambda x, w, b: f(x, w, b, stride=(2, 1), padding=1, groups=2),
                [r(2, 4, 5, 6), r(4, 2, 3, 2), r(4)],
            ),
        ),
        (
            "conv3d",
            "conv3d",
            lambda f: (lambda x, w: f(x, w, padding=1, dilation=(1, 2, 1)), [r(1, 2, 4, 5, 4), r(2, 2, 2, 3, 2)]),
        ),
        (
            "conv_transpose2d",
            "conv_transpose2d",
            lambda f: (
                lambda x, w, b: f(x, w, b, stride=2, padding=1, output_padding=1),
                [r(2, 3, 3, 4), r(3, 2, 3, 3), r(2)],
            ),
        ),
        (
            "conv_transpose3d",
            "conv_transpose3d",
            lambda f: (lambda x, w: f(x, w, stride=2), [r(1, 2, 2, 3, 2), r(2, 2, 2, 2, 2)]),
        ),
    ]


def _pool_resample_specs(r, distinct, labels):
    """Pooling, unpooling, interpolation and padding (ops/pool.py, adaptive_pool.py, resample.py): the
    lecture's forms, then the other pooling and resampling options (in this order: see the module docstring)."""
    return _pool_resample_lecture_specs(r, distinct) + _pool_option_specs(r, distinct) + _resample_option_specs(r)


def _pool_resample_lecture_specs(r, distinct):
    """2D/3D max and average pooling, global (adaptive) average pooling, bilinear and trilinear
    upsampling, reflection padding."""
    return [
        ("max_pool2d", "max_pool2d", lambda f: (lambda x: f(x, 2, stride=2, padding=1), [distinct(2, 2, 5, 5)])),
        ("max_pool3d", "max_pool3d", lambda f: (lambda x: f(x, 2), [distinct(1, 2, 4, 4, 4)])),
        (
            "avg_pool2d",
            "avg_pool2d",
            lambda f: (lambda x: f(x, 3, stride=2, padding=1, ceil_mode=True), [r(2, 2, 6, 5)]),
        ),
        ("adaptive_avg_pool2d", "adaptive_avg_pool2d", lambda f: (lambda x: f(x, (2, 3)), [r(2, 2, 5, 7)])),
        (
            "interpolate bilinear",
            "interpolate",
            lambda f: (lambda x: f(x, scale_factor=2, mode="bilinear", align_corners=False), [r(1, 2, 3, 4)]),
        ),
        (
            "interpolate trilinear",
            "interpolate",
            lambda f: (lambda x: f(x, size=(3, 4, 5), mode="trilinear", align_corners=True), [r(1, 1, 2, 3, 2)]),
        ),
        ("pad reflect", "pad", lambda f: (lambda x: f(x, (2, 1, 1, 2), mode="reflect"), [r(1, 2, 4, 5)])),
    ]


def _pool_option_specs(r, distinct):
    """1D max pooling with dilation and ceil_mode, count_include_pad=False, adaptive max pooling, max unpooling."""
    import tinygrad_med.nn.functional as F

    return [
        (
            "max_pool1d (dilation, ceil)",
            "max_pool1d",
            lambda f: (lambda x: f(x, 3, 2, 1, 2, True), [distinct(2, 2, 9)]),
        ),
        (
            "avg_pool3d (no pad count)",
            "avg_pool3d",
            lambda f: (lambda x: f(x, 2, 2, 1, True, False), [r(1, 2, 3, 4, 5)]),
        ),
        ("adaptive_max_pool2d", "adaptive_max_pool2d", lambda f: (lambda x: f(x, (3, 2)), [distinct(2, 2, 5, 7)])),
        (
            "max_unpool2d",
            "max_unpool2d",
            lambda f: (lambda x: f(*F.max_pool2d(x, 2, return_indices=True), 2), [distinct(1, 2, 4, 6)]),
        ),
    ]


def _resample_option_specs(r):
    """Nearest, linear, bicubic and antialiased interpolation; replicate and circular padding; negative pads."""
    return [
        ("interpolate nearest", "interpolate", lambda f: (lambda x: f(x, scale_factor=1.5), [r(1, 2, 3, 4)])),
        (
            "interpolate linear",
            "interpolate",
            lambda f: (lambda x: f(x, size=7, mode="linear", align_corners=True), [r(2, 2, 4)]),
        ),
        (
            "interpolate bicubic",
            "interpolate",
            lambda f: (lambda x: f(x, scale_factor=(1.5, 0.6), mode="bicubic"), [r(1, 2, 4, 5)]),
        ),
        (
            "interpolate bicubic (align)",
            "interpolate",
            lambda f: (lambda x: f(x, size=(5, 2), mode="bicubic", align_corners=True), [r(1, 2, 3, 4)]),
        ),
        (
            "pad replicate/circular",
            "pad",
            lambda f: (
                lambda x: f(f(x, (1, 2, 0, 1), mode="replicate"), (1, 1, 2, 0), mode="circular"),
                [r(1, 2, 4, 5)],
            ),
        ),
        (  # on its own generator (seed 3): the rows after this one keep their inputs
            "pad negative widths (crop)",
            "pad",
            lambda f: (
                lambda x: f(f(f(x, (-1, 2, 1, -2)), (2, -1, -1, 1), mode="reflect"), (-1, 1, 1, -1), mode="circular"),
                [draws(3)[0](1, 2, 4, 5)],
            ),
        ),
        (  # on its own generator (seed 4)
            "interpolate antialias (bilinear, bicubic)",
            "interpolate",
            lambda f: (
                lambda x: (
                    f(x, size=(3, 2), mode="bilinear", antialias=True).sum()
                    + f(x, scale_factor=0.6, mode="bicubic", antialias=True).sum()
                ),
                [draws(4)[0](1, 2, 6, 5)],
            ),
        ),
    ]


def _norm_specs(r, distinct, labels):
    """Normalisation, dropout and embedding (ops/norm.py, lrn.py, dropout.py, embedding.py)."""
    return [
        (
            "batch_norm (train)",
            "batch_norm",
            lambda f: (lambda x, g, b: f(x, None, None, g, b, training=True), [r(4, 3, 2, 2), r(3), r(3)]),
        ),
        ("layer_norm", "layer_norm", lambda f: (lambda x, g, b: f(x, (4,), g, b), [r(3, 4), r(4), r(4)])),
        ("group_norm", "group_norm", lambda f: (lambda x, g, b: f(x, 2, g, b), [r(2, 4, 3), r(4), r(4)])),
        ("instance_norm", "instance_norm", lambda f: (f, [r(2, 3, 5)])),
        ("local_response_norm", "local_response_norm", lambda f: (lambda x: f(x, 3, 0.5, 0.75, 1.0), [r(2, 5, 3)])),
        ("dropout (seeded)", "dropout", lambda f: (_seeded(lambda x: f(x, 0.3, True)), [r(4, 5)])),
        (
            "embedding (repeated ids)",
            "embedding",
            lambda f, ids=numpy.array([[1, 3, 1], [0, 4, 1]]): (lambda w: f(beside(w, ids), w), [r(5, 3)]),
        ),
    ]


def _seeded(fn):
    """Same random mask on every evaluation (gradcheck calls fn many times)."""
    import tinygrad_med as tm

    def wrapped(*args):
        tm.manual_seed(1234)
        return fn(*args)

    return wrapped


def _call_form_cases():
    """PyTorch's other call forms and ops (gelu tanh, prod, cumsum, norm, clamp with tensor bounds, add with alpha,
    var with correction), on their own generator so that the rows above keep their inputs. No input is near a kink:
    prod's inputs are away from 0, clamp's bounds away from x, norm's vector away from 0."""
    import tinygrad_med as tm
    import tinygrad_med.nn.functional as F

    r, distinct, _ = draws(2)
    return [
        ("gelu (tanh)", lambda a: F.gelu(a, approximate="tanh"), [r(3, 4, low=-3.0, high=3.0)]),
        ("prod/cumsum", lambda a: a.prod(1) + a.cumsum(1).sum(1), [r(3, 4, low=0.5, high=1.5)]),
        ("norm (2, 1, inf)", lambda a: tm.norm(a) + a.norm(1, dim=1).sum() + a.norm(float("inf")), [distinct(3, 4)]),
        (
            "clamp (tensor bounds)",
            lambda a: tm.clamp(a, min=tm.tensor(-0.5), max=tm.tensor(0.5)),
            [distinct(3, 4) - 0.5],
        ),
        ("add/sub (alpha)", lambda a, b: tm.add(a, b, alpha=2.5) - tm.sub(a, b, alpha=0.5), [r(3, 4), r(4)]),
        ("var (correction)", lambda a: a.var(1, correction=0) + a.std(0, correction=2).sum(), [r(4, 4)]),
        # 3x3 stride 1, 64 -> 64 channels inside winograd(): the CPU runs Winograd F(2x2, 3x3) (ops/conv_winograd.py)
        (
            "conv2d 3x3 64->64 (Winograd)",
            _winograd_conv2d,
            [r(1, 64, 3, 4), r(64, 64, 3, 3, low=-0.2, high=0.2), r(64)],
        ),
    ]


def _winograd_conv2d(x, w, b):
    """conv2d with Winograd switched on (tile_for keeps the choice for the backward)."""
    import tinygrad_med.nn.functional as F
    from tinygrad_med.ops.conv_winograd import winograd

    with winograd():
        return F.conv2d(x, w, b, padding=(1, 2))
