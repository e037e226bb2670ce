"""Graph convolution and pooling layers: SpectralGraphConv, ChebConv, GCNConv, GaussianGraphConv,
AdaptiveGraphPool, and global pooling per graph.

Lecture: "Graph convolutions: learning beyond images".  Each layer owns its parameters and calls
one function of nn.functional (ops/graph_conv.py, ops/graph.py), passing the graph along:
``layer(x, graph)`` with x (V, F_in) node features and a tinygrad_med.graph.Graph (one graph or a
block-diagonal batch).  PyTorch has no graph layers; names and arguments follow PyTorch Geometric
(GCNConv, ChebConv, GMMConv's Gaussian kernels, dense_diff_pool) where it has the same thing.
"""

import math

from .. import factory
from ..errors import ShapeError, fmt
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = [
    "SpectralGraphConv",
    "ChebConv",
    "GCNConv",
    "GaussianGraphConv",
    "AdaptiveGraphPool",
    "GlobalAddPool",
    "GlobalMeanPool",
    "GlobalMaxPool",
]


class _GraphConv(Module):
    """weight of ``shape`` (fan-in = in_channels x taps) and bias (out_channels,), PyTorch's Linear init.

    Subclasses set their own attributes, then call ``self.reset_parameters()``.
    """

    def __init__(self, in_channels, out_channels, shape, taps, bias, device, dtype):
        super().__init__()
        if min(in_channels, out_channels, taps) < 1:
            raise ValueError(
                fmt(
                    type(self).__name__,
                    "sizes must be >= 1",
                    in_channels=in_channels,
                    out_channels=out_channels,
                    taps=taps,
                )
            )
        self.in_channels, self.out_channels, self.fan_in = in_channels, out_channels, in_channels * taps
        self.weight = Parameter(factory.empty(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(factory.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)

    def reset_parameters(self):
        """weight, bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as torch.nn.Linear."""
        bound = 1.0 / math.sqrt(self.fan_in)
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, bias={self.bias is not None}"


class SpectralGraphConv(_GraphConv):
    """Spectral graph convolution with a learned filter matrix per graph frequency (Bruna et al.).

    Lecture: "Graph convolutions - Spectral graph convolution" (x *_G g = U (U^T x . U^T g)).
    Forward:  z = U (theta . U^T x) + b, theta (num_nodes, out, in) (see F.spectral_conv)
    Shapes:   x (V, in_channels) with every graph of num_nodes nodes -> (V, out_channels)
    Reference: Bruna et al., arXiv:1312.6203.  The filter is tied to the graph size (one weight per
    eigenvalue), the limitation that Chebyshev filters remove.
    """

    def __init__(self, num_nodes, in_channels, out_channels, bias=True, device=None, dtype=None):
        super().__init__(in_channels, out_channels, (num_nodes, out_channels, in_channels), 1, bias, device, dtype)
        self.num_nodes = num_nodes
        self.reset_parameters()

    def forward(self, x, graph):
        return F.spectral_conv(x, graph, self.weight, self.bias)

    def extra_repr(self):
        return f"num_nodes={self.num_nodes}, " + super().extra_repr()


class ChebConv(_GraphConv):
    """Chebyshev graph convolution: z = sum_{k<K} T_k(L~) x W_k^T + b (Defferrard et al.).

    Lecture: "Graph convolutions - Spectral graph convolution" (a polynomial filter, K-localised).
    Shapes:   x (V, in_channels) -> (V, out_channels); weight (K, out_channels, in_channels)
    Reference: Defferrard et al., arXiv:1606.09375; PyTorch Geometric's ChebConv(in, out, K).
    """

    def __init__(self, in_channels, out_channels, K, bias=True, lambda_max=2.0, device=None, dtype=None):
        super().__init__(in_channels, out_channels, (K, out_channels, in_channels), K, bias, device, dtype)
        self.K, self.lambda_max = K, lambda_max
        self.reset_parameters()

    def forward(self, x, graph):
        return F.cheb_conv(x, graph, self.weight, self.bias, self.lambda_max)

    def extra_repr(self):
        return super().extra_repr() + f", K={self.K}"


class GCNConv(_GraphConv):
    """Graph convolutional layer z = D~^-1/2 (A + I) D~^-1/2 x W^T + b (Kipf & Welling).

    Lecture: "Graph convolutions".  Shapes: x (V, in_channels) -> (V, out_channels); weight (out, in).
    Reference: Kipf & Welling, arXiv:1609.02907; PyTorch Geometric's GCNConv(in, out).
    """

    def __init__(self, in_channels, out_channels, add_self_loops=True, bias=True, device=None, dtype=None):
        super().__init__(in_channels, out_channels, (out_channels, in_channels), 1, bias, device, dtype)
        self.add_self_loops = add_self_loops
        self.reset_parameters()

    def forward(self, x, graph):
        return F.gcn_conv(x, graph, self.weight, self.bias, self.add_self_loops)


class GaussianGraphConv(_GraphConv):
    """The slide's geometric graph convolution with K learned Gaussian kernels (MoNet).

    Lecture: "Graph convolutions - Geometric graph convolution".
    Forward:  z_ip = sum_{j in N(i)} sum_q sum_k w_pqk y_jq phi_ij(theta_k) + b_p,
              phi_ij(theta_k) = exp(-1/2 (u_ij - mu_k)^T Sigma_k^-1 (u_ij - mu_k)),  Sigma_k = diag(sigma_k^2)
    Shapes:   y (V, in_channels = M), the graph's pseudo-coordinates u (E, dim) -> z (V, out_channels = P);
              weight (P, M, K) = w_pqk, mu (K, dim), sigma (K, dim), bias (P,)
    Init:     weight, bias as Linear with fan-in M K; mu ~ U(-1, 1) (the pseudo-coordinates of
              tinygrad_med.graph.mesh_graph are in units of the mean edge length); sigma = 1.
    Reference: Monti et al., arXiv:1611.08402; PyTorch Geometric's GMMConv(in, out, dim, kernel_size),
    whose defaults differ from the slide: it averages over N(i) (aggr='mean') and adds a root weight
    for node i itself; here the sum over j in N(i) is the slide's and there is no separate self term.
    """

    def __init__(self, in_channels, out_channels, dim, kernel_size, bias=True, device=None, dtype=None):
        super().__init__(
            in_channels, out_channels, (out_channels, in_channels, kernel_size), kernel_size, bias, device, dtype
        )
        self.dim, self.kernel_size = dim, kernel_size
        self.mu = Parameter(factory.empty(kernel_size, dim, dtype=dtype, device=device))
        self.sigma = Parameter(factory.empty(kernel_size, dim, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        init.uniform_(self.mu, -1.0, 1.0)
        init.ones_(self.sigma)

    def forward(self, x, graph):
        if graph.pseudo is not None and graph.pseudo.shape[1] != self.dim:
            raise ShapeError(
                fmt(
                    "GaussianGraphConv",
                    f"the graph's pseudo-coordinates have dimension "
                    f"{graph.pseudo.shape[1]} but the layer was built with dim={self.dim}",
                )
            )
        return F.gaussian_graph_conv(x, graph, self.weight, self.mu, self.sigma, self.bias)

    def extra_repr(self):
        return super().extra_repr() + f", dim={self.dim}, kernel_size={self.kernel_size}"


class AdaptiveGraphPool(Module):
    """The slide's adaptive pooling: a GCN assigns nodes softly to num_clusters learned clusters (DiffPool).

    Lecture: "Graph convolutions - Cortical surface classification: adaptive pooling".
    Forward:  S = softmax(GCN(x)) (V, C);  per graph: X' = S^T z (z = x unless given), A' = S^T A S
    Returns:  (X' (B, C, F), A' (B, C, C), link_loss, entropy_loss): fixed-size output for graphs of
              any size; add the two losses (weighted) to the task loss as in the paper.
    Reference: Ying et al., arXiv:1806.08804.
    """

    def __init__(self, in_channels, num_clusters, device=None, dtype=None):
        super().__init__()
        self.num_clusters = num_clusters
        self.assign = GCNConv(in_channels, num_clusters, device=device, dtype=dtype)

    def forward(self, x, graph, z=None):
        return F.diff_pool(x if z is None else z, graph, self.assign(x, graph))

    def extra_repr(self):
        return f"num_clusters={self.num_clusters}"


class GlobalAddPool(Module):
    """y[b] = sum of the node features of graph b: ``layer(x, graph_or_batch)`` -> (B, F)."""

    def forward(self, x, batch):
        return F.global_add_pool(x, batch)


class GlobalMeanPool(Module):
    """y[b] = mean of the node features of graph b: ``layer(x, graph_or_batch)`` -> (B, F)."""

    def forward(self, x, batch):
        return F.global_mean_pool(x, batch)


class GlobalMaxPool(Module):
    """y[b, f] = max of feature f over the nodes of graph b: ``layer(x, graph_or_batch)`` -> (B, F)."""

    def forward(self, x, batch):
        return F.global_max_pool(x, batch)
