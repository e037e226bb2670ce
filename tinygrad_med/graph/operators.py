"""The graph Laplacian and the operators built from it (cached per graph).

Lecture: "Graph convolutions: learning beyond images - Graph Laplacian matrix" and
"Spectral graph convolution".  With the adjacency A and the degrees D_ii = sum_j A_ij:

    L      = D - A                                     (combinatorial Laplacian)
    L_norm = I - D^-1/2 A D^-1/2 = U Lambda U^T        (normalised; eigenvalues in [0, 2])

and, for the graph convolutions in ops/graph_conv.py,

    gcn_operator       A_hat = D~^-1/2 (A + I) D~^-1/2, D~ the degrees of A + I (Kipf & Welling)
    scaled_laplacian   L~ = 2 L_norm / lambda_max - I  (Chebyshev filters; spectrum in [-1, 1])
    eigh               (Lambda, U) of L_norm, per graph of a batch (eigenvectors never mix graphs)

Isolated nodes (D_ii = 0): D^-1/2 is taken as 0 there, so row i of D^-1/2 A D^-1/2 is zero and
L_norm[i, i] = 1 (as in PyTorch Geometric; networkx writes 0 instead).
"""

import numpy
import scipy.sparse

from ..errors import ShapeError, fmt
from .structure import CSR, Graph

__all__ = ["laplacian", "gcn_operator", "scaled_laplacian", "eigh", "degree_pseudo_coordinates"]


def laplacian(A, normalized=True):
    """The graph Laplacian L = D - A, or L_norm = I - D^-1/2 A D^-1/2.

    Lecture: "Graph convolutions - Graph Laplacian matrix" (the slide's 4-node example is a test).
    Forward:  D_ii = sum_j A_ij;  L = D - A;  L_norm = I - D^-1/2 A D^-1/2, with D^-1/2_ii = 0 for
              isolated nodes (D_ii = 0), so that L_norm[i, i] = 1 there.
    Shapes:   A (V, V) -> L (V, V), of the same kind: a dense array (or Tensor) gives a dense numpy
              array, a scipy.sparse matrix or a Graph gives a scipy.sparse.csr_matrix.

    Args:
        A: dense (V, V) adjacency, a scipy.sparse matrix or a Graph.
        normalized: return L_norm instead of L.
    Raises:
        ShapeError if A is not square; ValueError if normalized and A has negative weights
        (D^-1/2 would be undefined).
    """
    if isinstance(A, Graph):
        A = A.adjacency.scipy()
    elif not scipy.sparse.issparse(A):
        A = numpy.asarray(A.numpy() if hasattr(A, "requires_grad") else A, dtype=numpy.float64)
    if len(A.shape) != 2 or A.shape[0] != A.shape[1]:
        raise ShapeError(fmt("laplacian", "the adjacency must be square", A=(A.shape, "(V, V)")))
    degree = numpy.asarray(A.sum(axis=1)).ravel()
    sparse = scipy.sparse.issparse(A)
    eye = scipy.sparse.identity(A.shape[0], format="csr") if sparse else numpy.eye(A.shape[0])
    if not normalized:
        D = scipy.sparse.diags(degree, format="csr") if sparse else numpy.diag(degree)
        return (D - A).tocsr() if sparse else D - A
    _check_non_negative("laplacian(normalized=True)", A)
    d = _inv_sqrt(degree)
    if sparse:
        scale = scipy.sparse.diags(d)
        return (eye - scale @ A @ scale).tocsr()
    return eye - d[:, None] * A * d[None, :]


def gcn_operator(graph, add_self_loops=True):
    """A_hat = D~^-1/2 (A + I) D~^-1/2 as a CSR (Kipf & Welling's renormalisation trick, cached).

    Reference: T. Kipf, M. Welling, "Semi-Supervised Classification with Graph Convolutional
    Networks", arXiv:1609.02907, eq. (8): the renormalised propagation matrix.
    Raises: ValueError if the graph has negative edge weights.
    """
    key = ("gcn", bool(add_self_loops))
    if key not in graph.cache:
        A = graph.adjacency.scipy()
        _check_non_negative("gcn_operator", A)
        if add_self_loops:
            A = A + scipy.sparse.identity(graph.num_nodes, format="csr")
        d = _inv_sqrt(numpy.asarray(A.sum(axis=1)).ravel())
        graph.cache[key] = CSR.from_scipy(scipy.sparse.diags(d) @ A @ scipy.sparse.diags(d))
    return graph.cache[key]


def scaled_laplacian(graph, lambda_max=2.0):
    """L~ = 2 L_norm / lambda_max - I as a CSR, the argument of the Chebyshev polynomials (cached).

    With lambda_max = 2 (the bound on L_norm's spectrum, the default as in PyTorch Geometric)
    L~ = -D^-1/2 A D^-1/2.  Reference: Defferrard et al., arXiv:1606.09375, section 2.1.
    """
    key = ("cheb", float(lambda_max))
    if key not in graph.cache:
        if not lambda_max > 0:
            raise ValueError(fmt("scaled_laplacian", f"lambda_max must be positive, got {lambda_max}"))
        L = laplacian(graph, normalized=True)
        scaled = (2.0 / lambda_max) * L - scipy.sparse.identity(graph.num_nodes, format="csr")
        scaled.eliminate_zeros()
        graph.cache[key] = CSR.from_scipy(scaled)
    return graph.cache[key]


def eigh(graph):
    """(Lambda, U) of L_norm = U Lambda U^T, one eigendecomposition per graph of the batch (cached).

    Lecture: "Spectral graph convolution": U's columns are the graph Fourier basis; U^T x is the
    graph Fourier transform of x.
    Returns:
        Lambda float64 (V,): graph b's eigenvalues, ascending, at ptr[b]:ptr[b+1];
        U float64 (V, V): block diagonal, U[ptr[b]:ptr[b+1], ptr[b]:ptr[b+1]] the eigenvectors of graph b.
    Raises:
        ValueError if the adjacency is not symmetric (L_norm must be for a real orthonormal basis).
    """
    if "eigh" not in graph.cache:
        L = laplacian(graph, normalized=True)
        if abs(L - L.T).max() > 1e-12 * max(1.0, abs(L).max()):
            raise ValueError(
                fmt(
                    "eigh",
                    "the graph must be undirected (A symmetric) for a spectral basis",
                    hint="symmetrise it, e.g. Graph.from_scipy(A + A.T)",
                )
            )
        V = graph.num_nodes
        lam, U = numpy.zeros(V), numpy.zeros((V, V))
        for b in range(graph.num_graphs):  # one dense eigh per graph: O(V_b^3), fine for teaching sizes
            lo, hi = graph.ptr[b], graph.ptr[b + 1]
            lam[lo:hi], U[lo:hi, lo:hi] = numpy.linalg.eigh(L[lo:hi, lo:hi].toarray())
        graph.cache["eigh"] = (lam, U)
    return graph.cache["eigh"]


def degree_pseudo_coordinates(graph):
    """MoNet's pseudo-coordinates for graphs without geometry: u_ij = (1/sqrt(deg i), 1/sqrt(deg j)).

    Reference: F. Monti et al., "Geometric deep learning on graphs and manifolds using mixture model
    CNNs", arXiv:1611.08402, section 4 (degrees of the unweighted graph; isolated nodes give 0).
    Returns: float64 (E, 2) in CSR order (pass to ``Graph(graph.adjacency, pseudo=...)``).
    """
    a = graph.adjacency
    d = _inv_sqrt(numpy.bincount(a.row, minlength=graph.num_nodes).astype(numpy.float64))
    return numpy.stack([d[a.row], d[a.indices]], axis=1)


def _inv_sqrt(degree):
    """D^-1/2 with 0 where the degree is 0 (isolated nodes)."""
    out = numpy.zeros_like(degree, dtype=numpy.float64)
    positive = degree > 0
    out[positive] = degree[positive] ** -0.5
    return out


def _check_non_negative(op, A):
    values = A.data if scipy.sparse.issparse(A) else A
    if values.size and values.min() < 0:
        raise ValueError(
            fmt(
                op,
                f"edge weights must be non-negative, found {int((values < 0).sum())} negative "
                f"(smallest {values.min():.4g})",
                A=(A.shape, "(V, V)"),
                hint="D^-1/2 needs non-negative degrees",
            )
        )
