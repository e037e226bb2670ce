"""Graph convolutions and graph pooling, composed of dense products and the sparse ops of ops/graph.py.

Lecture: "Graph convolutions: learning beyond images".  Four ways to convolve on a graph, from the
slides' spectral definition to its fast and its geometric successors:

    spectral_conv        z = U (theta . U^T x) + b          the slide: x *_G g = U (U^T x . U^T g)
    cheb_conv            z = sum_k T_k(L~) x W_k^T + b       K-localised polynomial of the Laplacian
    gcn_conv             z = A_hat x W^T + b                 first-order, renormalised (Kipf & Welling)
    gaussian_graph_conv  z_ip = sum_j sum_q sum_k w_pqk y_jq phi_ij(theta_k) + b_p   (the slide; MoNet)

and the slide's adaptive pooling (diff_pool: S = softmax(s), S^T Z, S^T A S).  Every function here
is built from differentiable ops (matmul, spmm, gaussian_kernel, ...), so autograd derives the
backward pass from theirs; the sparse parts run on kernels/graph.cu on the GPU.
"""

import numpy

from .. import factory
from ..errors import ShapeError, fmt
from ..graph import operators as graph_operators
from ..graph.structure import Graph
from .graph import check_nodes, gaussian_kernel, global_add_pool, graph_constant, spmm
from .matmul import linear
from .reduce import logsumexp

__all__ = ["spectral_conv", "cheb_conv", "gcn_conv", "gaussian_graph_conv", "diff_pool", "dense_diff_pool"]


def spectral_conv(x, graph, weight, bias=None):
    """Spectral graph convolution with a learned filter per graph frequency (Bruna et al.).

    Lecture: "Graph convolutions - Spectral graph convolution".
    Forward:  L_norm = U Lambda U^T (cached per graph);  x_hat = U^T x (graph Fourier transform);
              z_hat[v] = theta[v] x_hat[v]  (weight (n,): the slide's U^T g, the same for every channel;
              weight (n, F_out, F_in): a matrix per frequency);  z = U z_hat + b
    Backward: through the products: g_theta[v] = gz_hat[v] x_hat[v]^T, gx = U (theta^T . U^T gz)
    Shapes:   x (V, F_in), weight (n,) or (n, F_out, F_in), bias (F_out,) -> z (V, F_out);
              n = nodes per graph: every graph of a batch must have n nodes (the filter is indexed by
              the eigenvalue's rank, ascending).  Where an eigenvalue repeats (symmetric meshes such
              as the icosphere), eigh picks an arbitrary basis of its eigenspace, so a filter that is not
              constant over the eigenspace depends on that choice (and is not permutation equivariant);
              a filter that is a function of the eigenvalue (cheb_conv) never does.
    Reference: J. Bruna et al., "Spectral Networks and Locally Connected Networks on Graphs",
    arXiv:1312.6203, section 4.1.
    Raises:   ShapeError if x has the wrong node count, the graphs are not all of size n, or the
              weight's feature sizes do not match x.
    """
    graph = _as_graph("spectral_conv", graph)
    check_nodes("spectral_conv", x, graph.num_nodes, "(V, F_in)")
    if weight.ndim not in (1, 3) or (weight.ndim == 3 and weight.shape[2] != x.shape[1]):
        raise ShapeError(
            fmt(
                "spectral_conv",
                f"weight must be (n,) or (n, F_out, F_in={x.shape[1]})",
                weight=weight,
                x=(x.shape, "(V, F_in)"),
            )
        )
    n, B = weight.shape[0], graph.num_graphs
    if graph.num_nodes != n * B or (graph.ptr[1:] - graph.ptr[:-1] != n).any():
        raise ShapeError(
            fmt(
                "spectral_conv",
                f"every graph must have n={n} nodes (the filter's length)",
                weight=weight,
                hint=f"the batch has graphs of sizes {sorted(set(graph.ptr[1:] - graph.ptr[:-1]))}",
            )
        )
    _, U = graph_operators.eigh(graph)
    U = graph_constant(U, x, ("U",), graph)  # (V, V), block diagonal over the batch
    x_hat = U.transpose(0, 1) @ x  # (V, F_in): graph Fourier transform
    theta = weight if B == 1 else weight.unsqueeze(0).expand(B, *weight.shape).reshape(n * B, *weight.shape[1:])
    z_hat = x_hat * theta.unsqueeze(1) if weight.ndim == 1 else (theta @ x_hat.unsqueeze(2)).squeeze(2)
    z = U @ z_hat  # (V, F_out): inverse graph Fourier transform
    return z if bias is None else z + bias


def cheb_conv(x, graph, weight, bias=None, lambda_max=2.0):
    """Chebyshev spectral graph convolution: a K-localised polynomial filter, no eigendecomposition.

    Lecture: "Graph convolutions - Spectral graph convolution" (a filter g(Lambda) that is a polynomial
    of degree K-1 is U g(Lambda) U^T = g(L): K-1 sparse products instead of U).
    Forward:  L~ = 2 L_norm / lambda_max - I;  T_0 = x, T_1 = L~ x, T_k = 2 L~ T_{k-1} - T_{k-2};
              z = sum_{k<K} T_k W_k^T + b
    Backward: through spmm (L~^T = L~) and the products.
    Shapes:   x (V, F_in), weight (K, F_out, F_in), bias (F_out,) -> z (V, F_out)
    Reference: M. Defferrard, X. Bresson, P. Vandergheynst, "Convolutional Neural Networks on Graphs
    with Fast Localized Spectral Filtering", arXiv:1606.09375, eq. (4)-(5).
    Raises:   ShapeError on wrong node count or weight shape; ValueError on negative edge weights.
    """
    graph = _as_graph("cheb_conv", graph)
    check_nodes("cheb_conv", x, graph.num_nodes, "(V, F_in)")
    if weight.ndim != 3 or weight.shape[2] != x.shape[1]:
        raise ShapeError(
            fmt("cheb_conv", f"weight must be (K, F_out, F_in={x.shape[1]})", weight=weight, x=(x.shape, "(V, F_in)"))
        )
    L = graph_operators.scaled_laplacian(graph, lambda_max)
    T_prev, T = None, x
    z = linear(x, weight[0])
    for k in range(1, weight.shape[0]):
        T_prev, T = T, (spmm(L, T) if T_prev is None else 2 * spmm(L, T) - T_prev)  # T_k = 2 L~ T_{k-1} - T_{k-2}
        z = z + linear(T, weight[k])
    return z if bias is None else z + bias


def gcn_conv(x, graph, weight, bias=None, add_self_loops=True):
    """Graph convolutional network layer (Kipf & Welling): z = D~^-1/2 (A + I) D~^-1/2 x W^T + b.

    Lecture: "Graph convolutions" (the first-order, K = 2 Chebyshev filter with one weight).
    Forward:  A_hat = D~^-1/2 (A + I) D~^-1/2 (cached per graph);  z = A_hat (x W^T) + b
              (x W^T first: the sparse product then runs on F_out <= F_in columns, as in the paper)
    Backward: gx = (A_hat^T gz) W, gW = (A_hat^T gz)^T x, gb = sum gz
    Shapes:   x (V, F_in), weight (F_out, F_in), bias (F_out,) -> z (V, F_out)
    Reference: T. Kipf, M. Welling, arXiv:1609.02907, eq. (8).
    Raises:   ShapeError on wrong node count or weight shape; ValueError on negative edge weights.
    """
    graph = _as_graph("gcn_conv", graph)
    check_nodes("gcn_conv", x, graph.num_nodes, "(V, F_in)")
    z = spmm(graph_operators.gcn_operator(graph, add_self_loops), linear(x, weight))
    return z if bias is None else z + bias


def gaussian_graph_conv(x, graph, weight, mu, sigma, bias=None):
    """Geometric graph convolution with Gaussian kernels on the pseudo-coordinates, as on the slide.

    Lecture: "Graph convolutions - Geometric graph convolution".
    Forward:  phi_ij(theta_k) = exp(-1/2 (u_ij - mu_k)^T Sigma_k^-1 (u_ij - mu_k)),  Sigma_k = diag(sigma_k^2)
              h[i, k, q] = sum_{j in N(i)} phi_ij(theta_k) y_jq           (spmm with K edge channels)
              z_ip = sum_q sum_k w_pqk h[i, k, q] + b_p
                   = sum_{j in N(i)} sum_q sum_k w_pqk y_jq phi_ij(theta_k) + b_p
    Backward: autograd through the product, spmm (to y and to phi) and gaussian_kernel (to mu, sigma).
    Shapes:   x = y (V, M), weight w (P, M, K), mu and sigma (K, D), bias (P,) -> z (V, P);
              the graph's pseudo-coordinates u are (E, D).
    Reference: F. Monti et al. (MoNet), arXiv:1611.08402, eq. (9)-(11).
    Raises:   ShapeError on wrong node count or weight shape; ValueError if the graph has no
              pseudo-coordinates.
    """
    graph = _as_graph("gaussian_graph_conv", graph)
    check_nodes("gaussian_graph_conv", x, graph.num_nodes, "(V, M)")
    if graph.pseudo is None:
        raise ValueError(
            fmt(
                "gaussian_graph_conv",
                "the graph carries no pseudo-coordinates u_ij",
                hint="build it with graph.mesh_graph or pass pseudo= to Graph",
            )
        )
    K = mu.shape[0]
    if weight.ndim != 3 or weight.shape[1:] != (x.shape[1], K):
        raise ShapeError(
            fmt(
                "gaussian_graph_conv",
                f"weight must be (P, M={x.shape[1]}, K={K}) (w_pqk)",
                weight=weight,
                mu=(mu.shape, "(K, D)"),
            )
        )
    phi = gaussian_kernel(graph_constant(graph.pseudo, x, ("pseudo",), graph), mu, sigma)  # (E, K)
    h = spmm(graph, x, phi)  # (V, K, M)
    V, M, P = x.shape[0], x.shape[1], weight.shape[0]
    z = h.reshape(V, K * M) @ weight.permute(2, 1, 0).reshape(K * M, P)  # sum over k and q
    return z if bias is None else z + bias


def diff_pool(x, graph, s):
    """Adaptive (soft-cluster) pooling of a batch of graphs of any size to C clusters each (DiffPool).

    Lecture: "Graph convolutions - Cortical surface classification: adaptive pooling" (soft grouping
    of nodes into learned clusters; fixed-size output, whatever the input size).
    Forward:  S = softmax(s) over clusters (row i: node i's soft assignment);  per graph b:
              X' = S_b^T Z_b   (cluster c sums the features of its nodes, weighted by S_ic; dividing
                                by the column sums of S would give the slide's per-cluster average)
              A' = S_b^T A_b S_b
              link_loss = ||A - S S^T||_F / sum_b V_b^2 (over all graphs);  entropy_loss = mean_i H(S_i)
    Backward: autograd through softmax, spmm and the per-graph sums (global_add_pool).
    Shapes:   x = Z (V, F), s (V, C) -> X' (B, C, F), A' (B, C, C), two scalars
    Reference: R. Ying et al., "Hierarchical Graph Representation Learning with Differentiable
    Pooling", arXiv:1806.08804, eq. (3)-(4) and section 3.3 (auxiliary losses).
    Raises:   ShapeError if x or s do not have one row per node.
    """
    graph = _as_graph("diff_pool", graph)
    check_nodes("diff_pool", x, graph.num_nodes, "(V, F)")
    check_nodes("diff_pool", s, graph.num_nodes, "(V, C)")
    V, F, C, B = x.shape[0], x.shape[1], s.shape[1], graph.num_graphs
    log_S = s - logsumexp(s, 1, keepdim=True)
    S = log_S.exp()  # (V, C), rows sum to 1
    x_pool = global_add_pool((S.unsqueeze(2) * x.unsqueeze(1)).reshape(V, C * F), graph).reshape(B, C, F)
    AS = spmm(graph, S)  # (V, C): A_b S_b for every graph at once (A is block diagonal)
    adj_pool = global_add_pool((S.unsqueeze(2) * AS.unsqueeze(1)).reshape(V, C * C), graph).reshape(B, C, C)
    StS = global_add_pool((S.unsqueeze(2) * S.unsqueeze(1)).reshape(V, C * C), graph)  # (B, C*C)
    # ||A - S S^T||^2 = ||A||^2 - 2 tr(S^T A S) + ||S^T S||^2, summed over the graphs
    eye = factory.eye(C, dtype=x.dtype, device=x.device)
    square = float((graph.adjacency.data**2).sum()) - 2 * (adj_pool * eye).sum() + (StS * StS).sum()
    link_loss = square.clamp(min=0).sqrt() / float((numpy.diff(graph.ptr) ** 2).sum())
    entropy_loss = -(S * log_S).sum(1).mean()
    return x_pool, adj_pool, link_loss, entropy_loss


def dense_diff_pool(x, adj, s):
    """DiffPool on dense, equal-sized graphs (B, n, ...): the second and later levels of a hierarchy.

    Forward:  S = softmax(s, -1);  X' = S^T X;  A' = S^T A S;  link_loss = ||A - S S^T||_F / (B n^2);
              entropy_loss = mean over nodes of -sum_c S log S        (as PyTorch Geometric's dense_diff_pool)
    Shapes:   x (B, n, F), adj (B, n, n), s (B, n, C) -> (B, C, F), (B, C, C), scalar, scalar
    Reference: Ying et al., arXiv:1806.08804.
    Raises:   ShapeError on inconsistent shapes.
    """
    if x.ndim != 3 or adj.shape != (x.shape[0], x.shape[1], x.shape[1]) or s.shape[:2] != x.shape[:2]:
        raise ShapeError(fmt("dense_diff_pool", "expected x (B, n, F), adj (B, n, n), s (B, n, C)", x=x, adj=adj, s=s))
    log_S = s - logsumexp(s, -1, keepdim=True)
    S = log_S.exp()
    St = S.transpose(1, 2)
    link = adj - S @ St
    link_loss = (link * link).sum().sqrt() / float(adj.numel())
    entropy_loss = -(S * log_S).sum(-1).mean()
    return St @ x, St @ adj @ S, link_loss, entropy_loss


def _as_graph(op, graph):
    if not isinstance(graph, Graph):
        raise TypeError(fmt(op, f"expected a Graph, got {type(graph).__name__}"))
    return graph
