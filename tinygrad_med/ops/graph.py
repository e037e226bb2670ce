"""Graph ops with their own kernels: sparse aggregation, Gaussian edge weights, per-graph pooling.

Lecture: "Graph convolutions: learning beyond images".  Every graph convolution in
ops/graph_conv.py is dense matrix products plus one sparse aggregation (kernels/graph.cu):

    spmm             y_i = sum_{j in N(i)} a_ij x_j          (CSR sparse x dense, K edge channels)
    gaussian_kernel  phi_ij(theta_k) = exp(-1/2 (u_ij - mu_k)^T Sigma_k^-1 (u_ij - mu_k))
    global_add_pool / global_mean_pool / global_max_pool     (one row per graph of a batch)

The graph (tinygrad_med.graph) is host data without gradient; edge values may be a Tensor with
gradient (the Gaussian weights phi are).  CPU path: scipy.sparse (csr @ dense); GPU path: the
kernels, one thread per output element, the backward to x a gather over the cached CSR of A^T.
"""

import numpy

from .. import backend
from ..errors import DTypeError, ShapeError, fmt
from ..function import Function
from ..graph.structure import CSR, Graph
from ..tensor import Tensor

__all__ = [
    "spmm",
    "gaussian_kernel",
    "global_add_pool",
    "global_mean_pool",
    "global_max_pool",
    "SpMM",
    "GaussianKernel",
    "SegmentMax",
]

GRAPH_THREADS = 256  # threads per block of kernels/graph.cu::gaussian_kernel_bwd (= GRAPH_THREADS there)


def spmm(graph, x, edge_weight=None):
    """Sparse aggregation y = A x over the neighbours of every node (sparse x dense product).

    Lecture: "Graph convolutions - Geometric graph convolution" (the sum over j in N_i).
    Forward:  y[i, k, f] = sum_{j in N(i)} a_ijk x[j, f]    (K = 1 and edge_weight (E,): y = A x)
    Backward: gx = sum_k A_k^T gy[:, k, :]   (a gather over the rows of A^T, built once per graph)
              g_a[e=(i,j), k] = sum_f gy[i, k, f] x[j, f]   (only if edge_weight requires grad)
    Shapes:   x (V_in, F); edge_weight None, (E,) or (E, K) -> y (V_out, F), (V_out, F) or (V_out, K, F)
    Args:
        graph: a Graph (its adjacency) or a CSR operator (e.g. tinygrad_med.graph.gcn_operator(g)).
        x: node features, float32 or float64.
        edge_weight: values a_ij in CSR order (Tensor, may require grad), one or K per edge;
            None: the graph's own weights.
    Raises:
        ShapeError if x does not have one row per node or edge_weight not one row per edge;
        DTypeError if the dtypes differ or are not floating point.
    """
    csr = _as_csr("spmm", graph)
    check_nodes("spmm", x, csr.shape[1], "(V, F)")
    if edge_weight is None:
        values = graph_constant(csr.data, x, ("data", id(csr)), csr)
    else:
        values = edge_weight if isinstance(edge_weight, Tensor) else Tensor(edge_weight, dtype=x.dtype, device=x.device)
        if values.ndim not in (1, 2) or values.shape[0] != csr.nnz:
            raise ShapeError(
                fmt(
                    "spmm",
                    f"edge_weight needs one row per edge (E={csr.nnz})",
                    edge_weight=(values.shape, "(E,) or (E, K)"),
                )
            )
        if values.dtype != x.dtype:
            raise DTypeError(fmt("spmm", f"edge_weight has dtype {values.dtype} but x has {x.dtype}"))
    K = 1 if values.ndim == 1 else values.shape[1]
    y = SpMM.apply(values.reshape(csr.nnz, K), x, csr=csr)
    return y.reshape(csr.shape[0], x.shape[1]) if values.ndim == 1 else y


class SpMM(Function):
    """y[i, k, :] = sum_{e in row i} values[e, k] x[indices[e], :] for a CSR structure.

    Lecture:  "Graph convolutions - Spectral graph convolution"
    Forward:  y[i, k, :] = sum_{e in row i} values[e, k] x[indices[e], :]
    Backward: gx[j] = sum_{e: indices[e] = j} values[e, k] gy[row(e), k]; gvalues[e, k] = <gy[row(e), k],
              x[indices[e]]>
    Shapes:   values (E, K), x (V, F) -> y (rows, K, F), rows = len(indptr) - 1
    """

    def forward(self, values, x, csr):
        self.csr, self.values, self.x = csr, values, x
        self.gpu = backend.on_gpu(x)  # the one dispatch: kernels/graph.cu or scipy.sparse
        return (_spmm_fwd_gpu if self.gpu else _spmm_fwd_cpu)(self.csr, values, x)

    def backward(self, gy):
        gy = backend.get_xp(gy).ascontiguousarray(gy)
        gvalues = gx = None
        if self.needs_input_grad[1]:
            gx = (_spmm_bwd_x_gpu if self.gpu else _spmm_bwd_x_cpu)(self.csr, self.values, gy)
        if self.needs_input_grad[0]:
            gvalues = (_spmm_bwd_values_gpu if self.gpu else _spmm_bwd_values_cpu)(self.csr, gy, self.x)
        return gvalues, gx


def gaussian_kernel(pseudo, mu, sigma):
    """Gaussian edge weights of the geometric graph convolution, one per edge and kernel.

    Lecture: "Graph convolutions - Geometric graph convolution".
    Forward:  phi_ij(theta_k) = exp(-1/2 (u_ij - mu_k)^T Sigma_k^-1 (u_ij - mu_k)),  Sigma_k = diag(sigma_k^2)
    Backward: with r = gphi * phi:  g_mu[k,d] = sum_e r[e,k] (u[e,d] - mu[k,d]) / sigma[k,d]^2
                                    g_sigma[k,d] = sum_e r[e,k] (u[e,d] - mu[k,d])^2 / sigma[k,d]^3
              (no gradient to the pseudo-coordinates u: they are data)
    Shapes:   pseudo u (E, D), mu (K, D), sigma (K, D) -> phi (E, K)
    Reference: F. Monti et al., "Geometric deep learning on graphs and manifolds using mixture model
    CNNs" (MoNet), arXiv:1611.08402, eq. (11) with a diagonal covariance.
    Raises:   ShapeError if mu and sigma are not (K, D) with u's D; DTypeError on mixed dtypes.
    """
    for name, t in (("pseudo", pseudo), ("mu", mu), ("sigma", sigma)):
        if not isinstance(t, Tensor) or t.ndim != 2:
            raise ShapeError(fmt("gaussian_kernel", f"{name} must be a 2-D Tensor", **{name: t}))
        if t.dtype != pseudo.dtype:
            raise DTypeError(fmt("gaussian_kernel", f"{name} has dtype {t.dtype} but pseudo has {pseudo.dtype}"))
    if mu.shape != sigma.shape or mu.shape[1] != pseudo.shape[1]:
        raise ShapeError(
            fmt(
                "gaussian_kernel",
                "mu and sigma must both be (K, D) with the pseudo-coordinates' D",
                pseudo=(pseudo.shape, "(E, D)"),
                mu=(mu.shape, "(K, D)"),
                sigma=(sigma.shape, "(K, D)"),
            )
        )
    return GaussianKernel.apply(pseudo, mu, sigma)


class GaussianKernel(Function):
    """phi[e, k] = exp(-1/2 sum_d ((u[e,d] - mu[k,d]) / sigma[k,d])^2).

    Lecture:  "Graph convolutions - Geometric graph convolution"
    Forward:  phi[e, k] = exp(-1/2 sum_d ((u[e, d] - mu[k, d]) / sigma[k, d])^2)
    Backward: gmu[k, d] = sum_e gphi phi (u - mu) / sigma^2; gsigma[k, d] = sum_e gphi phi (u - mu)^2 / sigma^3
    Shapes:   u (E, dim), mu, sigma (K, dim) -> phi (E, K)
    """

    def forward(self, u, mu, sigma):
        xp = backend.get_xp(u)
        self.u, self.mu, self.sigma = (xp.ascontiguousarray(a) for a in (u, mu, sigma))
        self.gpu = backend.on_gpu(u)
        self.phi = (_gaussian_kernel_fwd_gpu if self.gpu else _gaussian_kernel_fwd_cpu)(self.u, self.mu, self.sigma)
        return self.phi

    def backward(self, gphi):
        bwd = _gaussian_kernel_bwd_gpu if self.gpu else _gaussian_kernel_bwd_cpu
        gmu, gsigma = bwd(self.u, self.mu, self.sigma, self.phi, backend.get_xp(gphi).ascontiguousarray(gphi))
        return None, gmu, gsigma


def global_add_pool(x, batch):
    """Sum of the node features of each graph in a batch (PyTorch Geometric's global_add_pool).

    Lecture: "Graph convolutions - Cortical surface classification" (graph-level outputs).
    Forward:  y[b] = sum_{v in graph b} x[v];  Backward: gx[v] = gy[batch[v]]  (spmm with a B x V matrix)
    Shapes:   x (V, F), batch a Graph (its batch index) or sorted int (V,) -> y (B, F)
    """
    return spmm(_pool_operator("global_add_pool", x, batch, mean=False), x)


def global_mean_pool(x, batch):
    """Mean of the node features of each graph: y[b] = (1/V_b) sum_{v in graph b} x[v].  See global_add_pool."""
    return spmm(_pool_operator("global_mean_pool", x, batch, mean=True), x)


def global_max_pool(x, batch):
    """Feature-wise maximum over the nodes of each graph (0 for a graph without nodes).

    Forward:  y[b, f] = max_{v in graph b} x[v, f];  argmax = the first such v
    Backward: gx[argmax[b, f], f] = gy[b, f], zero elsewhere
    Shapes:   x (V, F), batch a Graph or sorted int (V,) -> y (B, F)
    """
    ptr = _pool_ptr("global_max_pool", x, batch)
    return SegmentMax.apply(x, ptr=ptr)


class SegmentMax(Function):
    """y[b, f] = max of x[ptr[b]:ptr[b+1], f], with the argmax saved for backward.

    Lecture:  "Graph convolutions - Cortical surface classification [Gopinath et al., 2019]" (adaptive pooling)
    Forward:  y[b, f] = max_{i in [ptr[b], ptr[b+1])} x[i, f]
    Backward: gx[argmax[b, f], f] = gy[b, f], 0 elsewhere
    Shapes:   x (V, F), ptr (B + 1,) -> y (B, F)
    """

    def forward(self, x, ptr):
        self.x_shape, self.gpu = x.shape, backend.on_gpu(x)
        y, self.argmax = (_segment_max_fwd_gpu if self.gpu else _segment_max_fwd_cpu)(
            backend.get_xp(x).ascontiguousarray(x), ptr
        )
        return y

    def backward(self, gy):
        bwd = _segment_max_bwd_gpu if self.gpu else _segment_max_bwd_cpu
        return (bwd(self.argmax, backend.get_xp(gy).ascontiguousarray(gy), self.x_shape),)


# ----------------------------------------------------------------------------- validation and caches


def _as_csr(op, graph):
    if isinstance(graph, Graph):
        return graph.adjacency
    if isinstance(graph, CSR):
        return graph
    raise TypeError(fmt(op, f"expected a Graph or a CSR operator, got {type(graph).__name__}"))


def check_nodes(op, x, num_nodes, layout):
    if not isinstance(x, Tensor) or x.ndim != 2:
        raise ShapeError(fmt(op, "expected node features as a 2-D Tensor", x=(getattr(x, "shape", ()), layout)))
    if x.shape[0] != num_nodes:
        raise ShapeError(
            fmt(
                op,
                f"x has {x.shape[0]} rows but the graph has {num_nodes} nodes",
                x=(x.shape, layout),
                hint="one row of features per node",
            )
        )
    if x.dtype.kind != "f":
        raise DTypeError(fmt(op, f"x must be float32 or float64, got {x.dtype}"))


def graph_constant(array, like, key, holder):
    """``array`` as a Tensor of like's dtype on like's device, cached on ``holder`` (a Graph or CSR)."""
    xp = backend.get_xp(like.data)
    cache = holder.cache if isinstance(holder, Graph) else holder._device
    full_key = key + (xp.__name__, like.dtype.str)
    if full_key not in cache:
        cache[full_key] = Tensor._wrap(xp.ascontiguousarray(xp.asarray(array, dtype=like.dtype)))
    return cache[full_key]


def _pool_ptr(op, x, batch):
    """Node ranges ptr (B + 1,) from a Graph or a sorted node-to-graph index."""
    if isinstance(batch, Graph):
        ptr = batch.ptr
    else:
        index = numpy.asarray(batch.numpy() if isinstance(batch, Tensor) else batch, dtype=numpy.int64)
        if index.ndim != 1 or (index.size and (index.min() < 0 or numpy.any(numpy.diff(index) < 0))):
            raise ShapeError(fmt(op, "batch must be a sorted, non-negative node-to-graph index", batch=index))
        ptr = numpy.concatenate([[0], numpy.cumsum(numpy.bincount(index))]).astype(numpy.int64)
    check_nodes(op, x, int(ptr[-1]), "(V, F)")
    return ptr


def _pool_operator(op, x, batch, mean):
    """The B x V CSR whose row b holds graph b's nodes with weight 1 (or 1 / V_b), cached on a Graph."""
    ptr = _pool_ptr(op, x, batch)
    key = ("pool", mean)
    if isinstance(batch, Graph) and key in batch.cache:
        return batch.cache[key]
    sizes = numpy.diff(ptr)
    weights = numpy.repeat(1.0 / numpy.maximum(sizes, 1), sizes) if mean else numpy.ones(ptr[-1])
    csr = CSR(ptr, numpy.arange(ptr[-1]), weights, (len(sizes), ptr[-1]))
    if isinstance(batch, Graph):
        batch.cache[key] = csr
    return csr


# ----------------------------------------------------------------------------- spmm: CPU / GPU


def _spmm_fwd_cpu(csr, values, x):
    """y[:, k, :] = A_k @ x with scipy's csr @ dense (A_k: the structure with values[:, k])."""
    if values.shape[1] == 1:
        return (csr.scipy(values[:, 0]) @ x)[:, None, :]  # (V_out, F) -> (V_out, 1, F), a view
    return numpy.stack([csr.scipy(numpy.ascontiguousarray(values[:, k])) @ x for k in range(values.shape[1])], 1)


def _spmm_fwd_gpu(csr, values, x):
    xp = backend.get_xp(x)
    indptr, indices, _ = csr.device_arrays(xp)
    (V_out, _), (K, F) = csr.shape, (values.shape[1], x.shape[1])
    y = xp.empty((V_out, K, F), x.dtype)
    kernel = backend.load_kernel("graph", "spmm_fwd", x.dtype)
    kernel(
        *backend.grid_for(y.size, GRAPH_THREADS),
        (indptr, indices, xp.ascontiguousarray(values), xp.ascontiguousarray(x), y, V_out, K, F),
    )
    return y


def _spmm_bwd_x_cpu(csr, values, gy):
    """gx = sum_k A_k^T gy[:, k, :] with the cached CSR of A^T (values permuted into its order)."""
    csr_t, perm = csr.transpose_structure()
    values_t = values[perm]  # (E, K) in A^T's entry order
    gx = csr_t.scipy(numpy.ascontiguousarray(values_t[:, 0])) @ gy[:, 0, :]
    for k in range(1, values.shape[1]):
        gx += csr_t.scipy(numpy.ascontiguousarray(values_t[:, k])) @ gy[:, k, :]
    return gx


def _spmm_bwd_x_gpu(csr, values, gy):
    xp = backend.get_xp(gy)
    csr_t, perm = csr.transpose_structure()
    indptr_t, indices_t, _ = csr_t.device_arrays(xp)
    perm = _device_perm(csr, xp)
    V_in, (K, F) = csr.shape[1], gy.shape[1:]
    gx = xp.empty((V_in, F), gy.dtype)
    kernel = backend.load_kernel("graph", "spmm_bwd_x", gy.dtype)
    kernel(
        *backend.grid_for(gx.size, GRAPH_THREADS),
        (indptr_t, indices_t, perm, xp.ascontiguousarray(values), gy, gx, V_in, K, F),
    )
    return gx


def _spmm_bwd_values_cpu(csr, gy, x):
    """g_a[e, k] = <gy[row e, k, :], x[col e, :]> (the product A_k @ x sampled at the edges)."""
    return numpy.einsum("ekf,ef->ek", gy[csr.row], x[csr.indices])


def _spmm_bwd_values_gpu(csr, gy, x):
    xp = backend.get_xp(gy)
    _, indices, row = csr.device_arrays(xp)
    E, (K, F) = csr.nnz, gy.shape[1:]
    gvalues = xp.empty((E, K), gy.dtype)
    kernel = backend.load_kernel("graph", "spmm_bwd_values", gy.dtype)
    kernel(
        *backend.grid_for(gvalues.size, GRAPH_THREADS), (row, indices, gy, xp.ascontiguousarray(x), gvalues, E, K, F)
    )
    return gvalues


def _device_perm(csr, xp):
    key = ("perm", xp.__name__)
    if key not in csr._device:
        csr._device[key] = xp.asarray(csr.transpose_structure()[1])
    return csr._device[key]


# ----------------------------------------------------------------------------- Gaussian kernel: CPU / GPU


def _gaussian_kernel_fwd_cpu(u, mu, sigma):
    z = (u[:, None, :] - mu[None]) / sigma[None]  # (E, K, D): Sigma^-1/2 (u - mu)
    return numpy.exp(-0.5 * (z * z).sum(axis=2))


def _gaussian_kernel_fwd_gpu(u, mu, sigma):
    xp = backend.get_xp(u)
    (E, D), K = u.shape, mu.shape[0]
    phi = xp.empty((E, K), u.dtype)
    kernel = backend.load_kernel("graph", "gaussian_kernel_fwd", u.dtype)
    kernel(*backend.grid_for(phi.size, GRAPH_THREADS), (u, mu, sigma, phi, E, K, D))
    return phi


def _gaussian_kernel_bwd_cpu(u, mu, sigma, phi, gphi):
    r = gphi * phi  # (E, K): dL/dphi * dphi/d(exponent)
    diff = u[:, None, :] - mu[None]  # (E, K, D)
    gmu = numpy.einsum("ek,ekd->kd", r, diff) / sigma**2
    gsigma = numpy.einsum("ek,ekd->kd", r, diff * diff) / sigma**3
    return gmu, gsigma


def _gaussian_kernel_bwd_gpu(u, mu, sigma, phi, gphi):
    xp = backend.get_xp(u)
    (E, D), K = u.shape, mu.shape[0]
    gmu, gsigma = xp.empty_like(mu), xp.empty_like(sigma)
    kernel = backend.load_kernel("graph", "gaussian_kernel_bwd", u.dtype)
    kernel((K * D,), (GRAPH_THREADS,), (u, mu, sigma, phi, gphi, gmu, gsigma, E, K, D))
    return gmu, gsigma


# ----------------------------------------------------------------------------- segment max: CPU / GPU


def _segment_max_fwd_cpu(x, ptr):
    """Per-graph maximum with ufunc.reduceat on the non-empty graphs; argmax = the first maximum."""
    B, F = len(ptr) - 1, x.shape[1]
    y, argmax = numpy.zeros((B, F), x.dtype), numpy.full((B, F), -1, numpy.int64)
    full = numpy.flatnonzero(numpy.diff(ptr) > 0)
    if full.size:
        starts = ptr[full]
        y[full] = numpy.maximum.reduceat(x, starts, axis=0)
        owner = numpy.repeat(numpy.arange(B), numpy.diff(ptr))  # node -> graph
        node = numpy.arange(len(x))[:, None]
        candidates = numpy.where(x == y[owner], node, len(x))  # (V, F): node index where x hits the max
        argmax[full] = numpy.minimum.reduceat(candidates, starts, axis=0)
    return y, argmax


def _segment_max_fwd_gpu(x, ptr):
    xp = backend.get_xp(x)
    B, F = len(ptr) - 1, x.shape[1]
    y, argmax = xp.empty((B, F), x.dtype), xp.empty((B, F), xp.int64)
    kernel = backend.load_kernel("graph", "segment_max_fwd", x.dtype)
    kernel(*backend.grid_for(y.size, GRAPH_THREADS), (xp.asarray(ptr), x, y, argmax, B, F))
    return y, argmax


def _segment_max_bwd_cpu(argmax, gy, x_shape):
    gx = numpy.zeros(x_shape, gy.dtype)
    b, f = numpy.nonzero(argmax >= 0)
    gx[argmax[b, f], f] = gy[b, f]  # every node is in one graph: no index repeats
    return gx


def _segment_max_bwd_gpu(argmax, gy, x_shape):
    xp = backend.get_xp(gy)
    gx = xp.zeros(x_shape, gy.dtype)
    kernel = backend.load_kernel("graph", "segment_max_bwd", gy.dtype)
    kernel(*backend.grid_for(gy.size, GRAPH_THREADS), (argmax, gy, gx, gy.shape[0], gy.shape[1]))
    return gx
