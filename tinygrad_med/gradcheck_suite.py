"""The gradient-check suite behind ``tgm gradcheck``: every differentiable op, on every device.

Each case is (name, function of tensors, list of input arrays).  Inputs are drawn
from a seeded generator and kept small, away from kinks (ReLU at 0, tied maxima),
so that central differences in float64 are exact to ~1e-8.  Families whose module
is missing are reported as such, never silently skipped.
"""

import time

import numpy

from . import backend
from .gradcheck import gradcheck
from .tensor import Tensor

__all__ = ["cases", "run_suite", "available_devices"]


def _inputs(seed):
    rng = numpy.random.default_rng(seed)

    def r(*shape, low=-1.0, high=1.0):
        return rng.uniform(low, high, shape)

    def distinct(*shape):
        """Values with no ties (max pooling, maxout): a shuffled ramp."""
        return rng.permutation(int(numpy.prod(shape))).reshape(shape) / numpy.prod(shape) + 0.01

    def labels(n, classes):
        return rng.integers(0, classes, n)

    return r, distinct, labels


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
    """Ops of the other families, looked up by name so that a missing one is reported."""
    import tinygrad_med.nn.functional as F

    specs = [
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
            lambda f, t=labels(4, 3): (lambda x: f(x, _beside(x, t), label_smoothing=0.1), [r(4, 3)]),
        ),
        (
            "cross_entropy (N,C,H,W)",
            "cross_entropy",
            lambda f, t=labels(18, 3).reshape(2, 3, 3): (lambda x: f(x, _beside(x, t)), [r(2, 3, 3, 3)]),
        ),
        ("nll_loss", "nll_loss", lambda f, t=labels(4, 3): (lambda x: f(x, _beside(x, t)), [r(4, 3)])),
        (
            "bce_with_logits",
            "binary_cross_entropy_with_logits",
            lambda f: (lambda x, t: f(x, t), [r(4, 3), r(4, 3, low=0.0, high=1.0)]),
        ),
        (
            "binary_cross_entropy",
            "binary_cross_entropy",
            lambda f: (lambda x: f(x, _beside(x, numpy.full((4, 3), 0.3))), [r(4, 3, low=0.1, high=0.9)]),
        ),
        ("mse_loss", "mse_loss", lambda f: (f, [r(4, 3), r(4, 3)])),
        ("l1_loss", "l1_loss", lambda f: (f, [distinct(4, 3), r(4, 3, low=-1, high=-0.5)])),
        ("smooth_l1_loss", "smooth_l1_loss", lambda f: (f, [distinct(4, 3), r(4, 3, low=-1, high=-0.5)])),
        (
            "kl_div",
            "kl_div",
            lambda f: (lambda a, b: f(a, b, reduction="batchmean"), [r(4, 3), r(4, 3, low=0.1, high=1.0)]),
        ),
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
            lambda f, ids=numpy.array([[1, 3, 1], [0, 4, 1]]): (lambda w: f(_beside(w, ids), w), [r(5, 3)]),
        ),
    ] + _graph_specs(r, distinct)
    found = []
    for name, attr, build in specs:
        fn = getattr(F, attr, None)
        found.append((name, None, None) if fn is None else (name, *build(fn)))
    return found


def _graph_specs(r, distinct):
    """Graph ops (ops/graph.py, ops/graph_conv.py) on the 12-node icosahedron mesh, a batch of two for pooling."""
    from . import nn
    from .graph import batch_graphs, icosphere, mesh_graph

    g = mesh_graph(*icosphere(0), pseudo="local")  # 12 nodes, 60 directed edges, u_ij in 2-D
    pair = batch_graphs([g, mesh_graph(*icosphere(0), pseudo="polar")])
    u = g.pseudo

    def kernel(f):
        return lambda mu, sigma: f(Tensor(u, device=mu.device), mu, sigma)

    return [
        ("spmm (3 edge channels)", "spmm", lambda f: (lambda x, w: f(g, x, w), [r(12, 2), r(60, 3, low=0.1)])),
        ("gaussian_kernel (mu, sigma)", "gaussian_kernel", lambda f: (kernel(f), [r(3, 2), r(3, 2, low=0.5)])),
        ("gcn_conv", "gcn_conv", lambda f: (lambda x, w, b: f(x, g, w, b), [r(12, 3), r(2, 3), r(2)])),
        ("cheb_conv (K=3)", "cheb_conv", lambda f: (lambda x, w: f(x, g, w), [r(12, 3), r(3, 2, 3)])),
        ("spectral_conv", "spectral_conv", lambda f: (lambda x, w: f(x, g, w), [r(12, 2), r(12, 3, 2)])),
        (
            "gaussian_graph_conv",
            "gaussian_graph_conv",
            lambda f: (
                lambda x, w, mu, sigma, b: f(x, g, w, mu, sigma, b),
                [r(12, 2), r(3, 2, 4), r(4, 2), r(4, 2, low=0.5), r(3)],
            ),
        ),
        (
            "global_max/mean_pool",
            "global_max_pool",
            lambda f: (lambda x: f(x, pair) + nn.functional.global_mean_pool(x, pair), [distinct(24, 3)]),
        ),
        ("diff_pool", "diff_pool", lambda f: (lambda x, s: f(x, pair, s)[:3], [r(24, 3), r(24, 4)])),
    ]


def _beside(x, array):
    """A constant (labels, targets) on the same device as the input x."""
    return Tensor(array, device=x.device)


def _seeded(fn):
    """Same random mask on every evaluation (gradcheck calls fn many times)."""
    import tinygrad_med as tm

    def wrapped(*args):
        tm.manual_seed(1234)
        return fn(*args)

    return wrapped


def _recurrent_cases(r):
    from .ops import rnn

    return [
        ("lstm_gates (fused)", rnn.lstm_gates, [r(3, 8), r(3, 2)]),
        ("gru_gates (fused)", rnn.gru_gates, [r(3, 6), r(3, 6), r(3, 2)]),
        ("lstm_cell (3 steps)", _three_lstm_steps, [r(2, 3), r(8, 3), r(8, 2)]),
        ("lstm_layer (BPTT, 3 steps)", rnn.lstm_layer, [r(3, 2, 3), r(2, 2), r(2, 2), r(8, 3), r(8, 2), r(8), r(8)]),
        (
            "lstm_layer reverse",
            lambda *t: rnn.lstm_layer(*t, reverse=True),
            [r(3, 2, 3), r(2, 2), r(2, 2), r(8, 3), r(8, 2), r(8), r(8)],
        ),
        (
            "rnn_cell relu",
            lambda x, w, u: rnn.rnn_cell(x, x[:, :2] * 0.5, w, u, nonlinearity="relu"),
            [r(2, 3), r(2, 3), r(2, 2)],
        ),
    ]


def _three_lstm_steps(x, W_ih, W_hh):
    from .ops import rnn

    h = c = x[:, :2] * 0.0
    for _ in range(3):  # the same weights at every step: gradients through time
        h, c = rnn.lstm_cell(x, (h, c), W_ih, W_hh)
    return h


def _generative_cases(r):
    """ops/kl.py: the VAE's and the Probabilistic U-Net's KL terms, reparameterisation and ELBO."""
    from .ops import kl

    eps = r(3, 2)  # a fixed eps: the sample is then a differentiable function of mu and logvar
    return [
        ("kl_normal", kl.kl_normal, [r(3, 2), r(3, 2)]),
        ("kl_normal_normal", kl.kl_normal_normal, [r(3, 2), r(3, 2), r(3, 2), r(3, 2)]),
        ("reparameterize (fixed eps)", lambda m, v: kl.reparameterize(m, v, _beside(m, eps)), [r(3, 2), r(3, 2)]),
        (
            "vae_loss",
            lambda x_hat, m, v: kl.vae_loss(x_hat, _beside(m, numpy.full((3, 4), 0.3)), m, v, beta=0.5),
            [r(3, 4, low=0.1, high=0.9), r(3, 2), r(3, 2)],
        ),
    ]


def _sample_cases():
    """grid_sample / affine_grid (ops/sample.py), on their own generator so that the other rows keep their inputs.
    Random grid points lie a.s. away from the kinks (integer source positions, clip and mirror points)."""
    import tinygrad_med.nn.functional as F

    r, _, _ = _inputs(1)
    theta = numpy.eye(2, 3) * 0.8 + r(2, 2, 3, low=-0.1, high=0.1)
    return [
        (
            "grid_sample bilinear (border)",
            lambda x, g: F.grid_sample(x, g, padding_mode="border"),
            [r(2, 2, 3, 4), r(2, 3, 2, 2, low=-1.2, high=1.2)],
        ),
        (
            "grid_sample trilinear (reflection)",
            lambda x, g: F.grid_sample(x, g, padding_mode="reflection", align_corners=True),
            [r(1, 2, 2, 3, 3), r(1, 2, 2, 2, 3, low=-1.3, high=1.3)],
        ),
        (
            "grid_sample nearest",
            lambda x, g: F.grid_sample(x, g, mode="nearest"),
            [r(2, 2, 3, 4), r(2, 3, 2, 2, low=-1.2, high=1.2)],
        ),
        (
            "affine_grid + grid_sample (theta)",
            lambda th, x: F.grid_sample(x, F.affine_grid(th, (2, 2, 3, 4)), padding_mode="reflection"),
            [theta, r(2, 2, 3, 4)],
        ),
    ]


def _detection_cases():
    """roi_align / roi_pool (ops/detection.py) on their own generator.  roi_align is linear in the input (no kinks;
    the boxes are not differentiated); roi_pool gets values without ties.  RoIs hang over the border and one
    lies outside both images (empty bins)."""
    from .ops import detection

    _, distinct, _ = _inputs(2)
    rois = numpy.array([[0, 0.3, 0.6, 4.7, 3.9], [1, -1.5, 1.2, 3.3, 6.8], [1, 3.1, -0.7, 8.4, 4.4], [0, 20, 1, 30, 3]])
    return [
        (
            "roi_align (adaptive)",
            lambda x: detection.roi_align(x, _beside(x, rois), (2, 3), 0.8, sampling_ratio=-1),
            [distinct(2, 2, 5, 6)],
        ),
        (
            "roi_align (aligned, 2x2)",
            lambda x: detection.roi_align(x, _beside(x, rois), 2, 1.0, sampling_ratio=2, aligned=True),
            [distinct(2, 2, 5, 6)],
        ),
        ("roi_pool", lambda x: detection.roi_pool(x, _beside(x, rois), (3, 2), 0.8), [distinct(2, 2, 5, 6)]),
    ]


def cases(seed=0):
    """All (name, fn, inputs) cases; fn is None where the op does not exist."""
    r, distinct, labels = _inputs(seed)
    return (
        _core_cases(r, distinct, labels)
        + _family_cases(r, distinct, labels)
        + _recurrent_cases(r)
        + _generative_cases(r)
        + _sample_cases()
        + _detection_cases()
    )


def available_devices():
    """'cpu', 'emulated' (the CUDA kernels run on the CPU; needs g++) and 'cuda' if present."""
    import shutil

    devices = ["cpu"]
    if shutil.which("g++"):
        devices.append("emulated")
    if backend.cuda_available():
        devices.append("cuda")
    return devices


def run_suite(devices, only=None, progress=None):
    """Run every case on every device.

    Returns:
        list of dict rows: op, device, max_abs_err, max_rel_err, status ('pass', 'FAIL',
        'missing', 'error: ...') and seconds.
    """
    rows = []
    for device in devices:
        for name, fn, arrays in cases():
            if only and not any(word in name for word in only):
                continue
            rows.append(_run_case(name, fn, arrays, device))
            if progress:
                progress(rows[-1])
    return rows


def _run_case(name, fn, arrays, device):
    row = {"op": name, "device": device, "max_abs_err": None, "max_rel_err": None, "seconds": 0.0}
    if fn is None:
        row["status"] = "missing"
        return row
    start = time.perf_counter()
    try:
        with backend.use_emulator(device == "emulated"):
            target = "cuda" if device == "cuda" else "cpu"
            inputs = [Tensor(a.astype(numpy.float64), requires_grad=True, device=target) for a in arrays]
            result = gradcheck(fn, inputs, raise_exception=False, max_elements=512)
        row.update(
            max_abs_err=result.max_abs_err, max_rel_err=result.max_rel_err, status="pass" if result.passed else "FAIL"
        )
    except Exception as error:  # report and go on: the table must show every op
        row["status"] = f"error: {type(error).__name__}: {str(error)[:120]}"
    row["seconds"] = time.perf_counter() - start
    return row
