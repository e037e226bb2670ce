"""The gradient-check suite's cases for the lecture's chapters after the CNN ones: graph convolution, recurrent
nets, generative models (KL terms), the spatial transformer's sampler and detection (RoI align/pool).

Same layout as cases.py, which gathers these tables into ``cases()`` in a fixed order:
graph_specs are looked up in nn.functional with the other families; the rest call their ops module.
"""

import numpy

from ..tensor import Tensor
from .inputs import beside, draws

__all__ = ["graph_specs", "recurrent_cases", "generative_cases", "sample_cases", "detection_cases"]


def graph_specs(r, distinct):
    """Graph ops (ops/graph.py, ops/graph_conv.py) on the 12-node icosahedron mesh, a batch of two for pooling."""
    from .. import nn
    from ..graph import batch_graphs, icosphere, mesh_graph

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


def recurrent_cases(r):
    """ops/rnn.py: the fused LSTM/GRU gate kernels, an LSTM cell unrolled over 3 steps, whole layers (BPTT)."""
    from ..ops import rnn

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
    from ..ops import rnn

    h = c = x[:, :2] * 0.0
    for _ in range(3):  # the same weights at every step: gradients through time
        h, c = rnn.lstm_cell(x, (h, c), W_ih, W_hh)
    return h


def generative_cases(r):
    """ops/kl.py: the VAE's and the Probabilistic U-Net's KL terms, reparameterisation and ELBO."""
    from ..ops import kl

    eps = r(3, 2)  # a fixed eps: the sample is then a differentiable function of mu and logvar
    return [
        ("kl_normal", kl.kl_normal, [r(3, 2), r(3, 2)]),
        ("kl_normal_normal", kl.kl_normal_normal, [r(3, 2), r(3, 2), r(3, 2), r(3, 2)]),
        ("reparameterize (fixed eps)", lambda m, v: kl.reparameterize(m, v, beside(m, eps)), [r(3, 2), r(3, 2)]),
        (
            "vae_loss",
            lambda x_hat, m, v: kl.vae_loss(x_hat, beside(m, numpy.full((3, 4), 0.3)), m, v, beta=0.5),
            [r(3, 4, low=0.1, high=0.9), r(3, 2), r(3, 2)],
        ),
    ]


def sample_cases():
    """grid_sample / affine_grid (ops/sample.py), on their own generator so that the other rows keep their inputs.
    Random grid points lie a.s. away from the kinks (integer source positions, clip and mirror points)."""
    import tinygrad_med.nn.functional as F

    r, _, _ = draws(1)
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
        (
            "grid_sample bicubic (zeros)",
            lambda x, g: F.grid_sample(x, g, mode="bicubic"),
            [r(1, 2, 3, 4), r(1, 3, 2, 2, low=-1.3, high=1.3)],
        ),
        (
            "grid_sample bicubic (reflection, align)",
            lambda x, g: F.grid_sample(x, g, mode="bicubic", padding_mode="reflection", align_corners=True),
            [r(1, 2, 3, 4), r(1, 3, 2, 2, low=-1.3, high=1.3)],
        ),
        (
            "grid_sample bicubic (border)",
            lambda x, g: F.grid_sample(x, g, mode="bicubic", padding_mode="border"),
            [r(1, 2, 3, 4), r(1, 3, 2, 2, low=-1.3, high=1.3)],
        ),
    ]


def detection_cases():
    """roi_align / roi_pool (ops/detection.py) on their own generator.  roi_align is linear in the input (no kinks;
    the boxes are not differentiated); roi_pool gets values without ties.  RoIs hang over the border and one
    lies outside both images (empty bins)."""
    from ..ops import detection

    _, distinct, _ = draws(2)
    rois = numpy.array([[0, 0.3, 0.6, 4.7, 3.9], [1, -1.5, 1.2, 3.3, 6.8], [1, 3.1, -0.7, 8.4, 4.4], [0, 20, 1, 30, 3]])
    return [
        (
            "roi_align (adaptive)",
            lambda x: detection.roi_align(x, beside(x, rois), (2, 3), 0.8, sampling_ratio=-1),
            [distinct(2, 2, 5, 6)],
        ),
        (
            "roi_align (aligned, 2x2)",
            lambda x: detection.roi_align(x, beside(x, rois), 2, 1.0, sampling_ratio=2, aligned=True),
            [distinct(2, 2, 5, 6)],
        ),
        ("roi_pool", lambda x: detection.roi_pool(x, beside(x, rois), (3, 2), 0.8), [distinct(2, 2, 5, 6)]),
    ]
