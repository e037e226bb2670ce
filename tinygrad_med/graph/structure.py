"""Graphs as sparse matrices: the CSR format, the Graph class and block-diagonal batching.

Lecture: "Graph convolutions: learning beyond images - Graph Laplacian matrix".

Convention (the one used everywhere in tinygrad_med): the adjacency A is a V x V matrix and
A[i, j] != 0 means that node j is a neighbour of node i, j in N(i): a graph convolution at node i
sums over row i.  An edge list ``edge_index`` (2, E) lists (source j, target i) pairs, as in
PyTorch Geometric, so row ``edge_index[1]`` and column ``edge_index[0]`` of A.  An undirected
graph lists both directions (A symmetric).  Edges are stored in CSR order (sorted by row i, then
column j), and per-edge data (weights, pseudo-coordinates u_ij) follow that order.
"""

import numpy

from ..errors import ShapeError, fmt

__all__ = ["CSR", "Graph", "batch_graphs", "coo_to_csr"]


class CSR:
    """A sparse matrix in compressed sparse row form (host arrays; device copies on demand).

    Row i holds the entries ``data[indptr[i]:indptr[i+1]]`` at columns ``indices[indptr[i]:indptr[i+1]]``.
    The transpose's structure (for the backward pass) and copies on a device are built once and cached.

    Attributes:
        indptr (rows + 1,), indices (nnz,), row (nnz,): int64; data (nnz,): float64; shape (rows, cols).
    """

    def __init__(self, indptr, indices, data, shape):
        self.indptr = numpy.ascontiguousarray(indptr, dtype=numpy.int64)
        self.indices = numpy.ascontiguousarray(indices, dtype=numpy.int64)
        self.data = numpy.ascontiguousarray(data, dtype=numpy.float64)
        self.shape = (int(shape[0]), int(shape[1]))
        # row[e] = i of entry e: the COO row index, used by the per-edge kernels
        self.row = numpy.repeat(numpy.arange(self.shape[0], dtype=numpy.int64), numpy.diff(self.indptr))
        self._transpose, self._scipy, self._device = None, {}, {}

    @classmethod
    def from_scipy(cls, matrix):
        """A CSR from any scipy.sparse matrix (duplicates summed, columns sorted within rows)."""
        m = matrix.tocsr(copy=True)
        m.sum_duplicates()
        m.sort_indices()
        return cls(m.indptr, m.indices, m.data, m.shape)

    @property
    def nnz(self):
        return self.data.size

    def __repr__(self):
        return f"CSR(shape={self.shape}, nnz={self.nnz})"

    def transpose_structure(self):
        """(CSR of A^T with A's data permuted, perm) with ``A^T.data == A.data[perm]``.

        Built once on the host (a stable sort of the entries by column) and cached: the backward
        pass of A @ X is A^T @ gY, a gather over the rows of A^T, so no atomics are needed.
        """
        if self._transpose is None:
            perm = numpy.lexsort((self.row, self.indices))  # by column j, then row i
            counts = numpy.bincount(self.indices, minlength=self.shape[1])
            indptr_t = numpy.concatenate([[0], numpy.cumsum(counts)])
            self._transpose = (CSR(indptr_t, self.row[perm], self.data[perm], self.shape[::-1]), perm)
        return self._transpose

    def scipy(self, values=None):
        """This matrix as scipy.sparse.csr_matrix, with ``values`` (nnz,) in place of data if given."""
        import scipy.sparse

        if values is None:
            values = self.data
        key = values.dtype.str
        if key not in self._scipy:  # int32 index copies once: scipy's kernels prefer them
            index_dtype = numpy.int32 if max(self.shape + (self.nnz,)) < 2**31 else numpy.int64
            self._scipy[key] = (self.indptr.astype(index_dtype), self.indices.astype(index_dtype))
        indptr, indices = self._scipy[key]
        matrix = scipy.sparse.csr_matrix(self.shape, dtype=values.dtype)
        matrix.data, matrix.indices, matrix.indptr = values, indices, indptr  # no copy, no re-check
        matrix.has_sorted_indices = True
        return matrix

    def device_arrays(self, xp):
        """(indptr, indices, row) as int64 arrays of the array module ``xp`` (cached per module)."""
        name = xp.__name__
        if name not in self._device:
            self._device[name] = tuple(xp.asarray(a) for a in (self.indptr, self.indices, self.row))
        return self._device[name]

    def to_dense(self):
        out = numpy.zeros(self.shape)
        numpy.add.at(out, (self.row, self.indices), self.data)
        return out


class Graph:
    """A graph: its adjacency A (CSR), optional pseudo-coordinates u_ij per edge and a batch index.

    Build one with ``Graph.from_dense``, ``from_scipy`` or ``from_edge_index``, or from a mesh with
    ``mesh_graph`` (tinygrad_med.graph.mesh); put several together with ``batch_graphs``.  Derived operators
    (the GCN propagation matrix, the scaled Laplacian, the eigendecomposition) are cached on the
    graph, so a layer applied every step computes them once.

    Attributes:
        adjacency: CSR (V, V), A[i, j] = weight of the edge j -> i.
        pseudo: numpy (E, D) pseudo-coordinates u_ij in CSR order, or None.
        batch: int64 (V,) the graph each node belongs to (all zeros for one graph).
        ptr: int64 (B + 1,) node ranges: graph b holds nodes ptr[b]:ptr[b+1].
    Args:
        adjacency, pseudo, batch: as the attributes (batch None: one graph);
        num_graphs: B, needed only when graphs without nodes end the batch (batch_graphs sets it).
    """

    def __init__(self, adjacency, pseudo=None, batch=None, num_graphs=None):
        if adjacency.shape[0] != adjacency.shape[1]:
            raise ShapeError(fmt("Graph", "the adjacency must be square (V, V)", A=(adjacency.shape, "(V, V)")))
        if not numpy.all(numpy.isfinite(adjacency.data)):
            raise ValueError(fmt("Graph", "edge weights must be finite", hint="drop NaN/inf weights first"))
        self.adjacency = adjacency
        self.pseudo = None if pseudo is None else numpy.asarray(pseudo, dtype=numpy.float64)
        if self.pseudo is not None and (self.pseudo.ndim != 2 or len(self.pseudo) != adjacency.nnz):
            raise ShapeError(
                fmt(
                    "Graph",
                    f"pseudo-coordinates need one row per edge ({adjacency.nnz} edges)",
                    pseudo=(self.pseudo.shape, "(E, D)"),
                )
            )
        V = adjacency.shape[0]
        self.batch = numpy.zeros(V, numpy.int64) if batch is None else numpy.asarray(batch, dtype=numpy.int64)
        if self.batch.shape != (V,) or (V and numpy.any(numpy.diff(self.batch) < 0)):
            raise ShapeError(
                fmt("Graph", f"batch must be a sorted node-to-graph index of length V={V}", batch=self.batch)
            )
        # num_graphs counts graphs without nodes at the end of a batch, which the index cannot show
        sizes = numpy.bincount(self.batch, minlength=num_graphs or (int(self.batch[-1]) + 1 if V else 0))
        self.ptr = numpy.concatenate([[0], numpy.cumsum(sizes)]).astype(numpy.int64)
        self.cache = {}  # derived operators, see tinygrad_med/graph/operators.py

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_dense(cls, A):
        """A graph from a dense (V, V) adjacency (numpy array or Tensor); zeros are non-edges."""
        A = numpy.asarray(A.numpy() if hasattr(A, "requires_grad") else A, dtype=numpy.float64)
        _check_square("Graph.from_dense", A)
        rows, cols = numpy.nonzero(A)
        return cls(coo_to_csr(rows, cols, A[rows, cols], A.shape[0])[0])

    @classmethod
    def from_scipy(cls, matrix):
        """A graph from a square scipy.sparse matrix (explicit zeros dropped, duplicates summed)."""
        _check_square("Graph.from_scipy", matrix)
        m = matrix.tocsr(copy=True)
        m.eliminate_zeros()
        return cls(CSR.from_scipy(m))

    @classmethod
    def from_edge_index(cls, edge_index, num_nodes=None, edge_weight=None, pseudo=None):
        """A graph from an edge list (2, E) of (source j, target i) pairs (PyTorch Geometric's layout).

        Args:
            edge_index: int array (2, E).
            num_nodes: V (default: largest index + 1).
            edge_weight: (E,) weights (default 1); duplicated edges are summed.
            pseudo: (E, D) pseudo-coordinates u_ij per listed edge; duplicates are then an error.
        """
        edge_index = numpy.asarray(edge_index.numpy() if hasattr(edge_index, "requires_grad") else edge_index)
        if edge_index.ndim != 2 or edge_index.shape[0] != 2:
            raise ShapeError(fmt("Graph.from_edge_index", "expected edge_index of shape (2, E)", edge_index=edge_index))
        V = int(edge_index.max()) + 1 if num_nodes is None and edge_index.size else int(num_nodes or 0)
        if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= V):
            raise ShapeError(fmt("Graph.from_edge_index", f"node indices must lie in [0, {V})", edge_index=edge_index))
        E = edge_index.shape[1]
        weight = numpy.ones(E) if edge_weight is None else numpy.asarray(edge_weight, dtype=numpy.float64)
        if weight.shape != (E,):
            raise ShapeError(
                fmt("Graph.from_edge_index", f"edge_weight needs one value per edge (E={E})", edge_weight=weight)
            )
        csr, order = coo_to_csr(edge_index[1], edge_index[0], weight, V, keep_duplicates=pseudo is not None)
        if pseudo is None:
            return cls(csr)
        if numpy.unique(edge_index[1] * max(V, 1) + edge_index[0]).size != E:
            raise ValueError(fmt("Graph.from_edge_index", "duplicated edges cannot carry pseudo-coordinates"))
        return cls(csr, pseudo=numpy.asarray(pseudo, dtype=numpy.float64)[order] if E else pseudo)

    # ------------------------------------------------------------------ properties
    @property
    def num_nodes(self):
        return self.adjacency.shape[0]

    @property
    def num_edges(self):
        return self.adjacency.nnz

    @property
    def num_graphs(self):
        return len(self.ptr) - 1

    @property
    def edge_index(self):
        """(2, E) int64: (source j, target i) of every stored edge, in CSR order."""
        return numpy.stack([self.adjacency.indices, self.adjacency.row])

    def degree(self):
        """D_ii = sum_j A_ij (weighted degree), float64 (V,)."""
        return numpy.bincount(self.adjacency.row, weights=self.adjacency.data, minlength=self.num_nodes)

    def to_dense(self):
        """The adjacency as a dense float64 (V, V) array."""
        return self.adjacency.to_dense()

    def __repr__(self):
        D = None if self.pseudo is None else self.pseudo.shape[1]
        return (
            f"Graph(num_nodes={self.num_nodes}, num_edges={self.num_edges}, num_graphs={self.num_graphs}, "
            f"pseudo_dim={D})"
        )

    def permute(self, perm):
        """The same graph with nodes relabelled: new node k is old node perm[k] (features: x[perm]).

        A'[k, l] = A[perm[k], perm[l]]; pseudo-coordinates travel with their edges.  A single graph
        only (a batch would no longer be sorted by graph).
        """
        perm = numpy.asarray(perm, dtype=numpy.int64)
        if sorted(perm.tolist()) != list(range(self.num_nodes)):
            raise ValueError(fmt("Graph.permute", f"perm must be a permutation of range({self.num_nodes})"))
        inverse = numpy.argsort(perm)
        a = self.adjacency
        csr, order = coo_to_csr(inverse[a.row], inverse[a.indices], a.data, self.num_nodes, keep_duplicates=True)
        return Graph(csr, pseudo=None if self.pseudo is None else self.pseudo[order])


def batch_graphs(graphs):
    """Put graphs of different sizes into one block-diagonal graph with a node-to-graph index.

    Forward:  A = diag(A_1, ..., A_B); node k of graph b becomes node ptr[b] + k; batch[ptr[b]:ptr[b+1]] = b.
    Shapes:   B graphs with V_b nodes and E_b edges -> one graph with sum V_b nodes, sum E_b edges.
              Stack node features to match with ``tm.cat([x_1, ..., x_B])``.

    Raises:
        ValueError if the list is empty or some graphs carry pseudo-coordinates and others do not.
    """
    graphs = list(graphs)
    if not graphs:
        raise ValueError(fmt("batch_graphs", "expected at least one graph"))
    if len({g.pseudo is None for g in graphs}) > 1:
        raise ValueError(fmt("batch_graphs", "either every graph or none may carry pseudo-coordinates"))
    sizes = [g.num_nodes for g in graphs]
    offsets = numpy.concatenate([[0], numpy.cumsum(sizes)]).astype(numpy.int64)
    nnz = numpy.concatenate([[0], numpy.cumsum([g.num_edges for g in graphs])]).astype(numpy.int64)
    # blocks stay sorted by row: concatenate each graph's indptr (shifted by the edges before it)
    indptr = numpy.concatenate([[0]] + [g.adjacency.indptr[1:] + nnz[b] for b, g in enumerate(graphs)])
    indices = numpy.concatenate([g.adjacency.indices + offsets[b] for b, g in enumerate(graphs)])
    data = numpy.concatenate([g.adjacency.data for g in graphs])
    pseudo = None if graphs[0].pseudo is None else numpy.concatenate([g.pseudo for g in graphs])
    batch = numpy.repeat(numpy.arange(len(graphs), dtype=numpy.int64), sizes)
    shape = (offsets[-1], offsets[-1])
    return Graph(CSR(indptr, indices, data, shape), pseudo=pseudo, batch=batch, num_graphs=len(graphs))


def _check_square(op, A):
    if len(A.shape) != 2 or A.shape[0] != A.shape[1]:
        raise ShapeError(
            fmt(
                op,
                "the adjacency must be a square matrix",
                A=(A.shape, "(V, V)"),
                hint="A[i, j] is the weight of the edge from node j to node i",
            )
        )


def coo_to_csr(rows, cols, data, V, keep_duplicates=False):
    """(CSR, order): entries sorted by (row, col); duplicates summed unless keep_duplicates.

    ``order`` maps CSR entries back to the input entries (for carrying per-edge data along).
    """
    rows, cols = numpy.asarray(rows, numpy.int64), numpy.asarray(cols, numpy.int64)
    order = numpy.lexsort((cols, rows))
    rows, cols, data = rows[order], cols[order], numpy.asarray(data, numpy.float64)[order]
    if not keep_duplicates and rows.size:
        first = numpy.concatenate([[True], (numpy.diff(rows) != 0) | (numpy.diff(cols) != 0)])
        starts = numpy.flatnonzero(first)
        data, rows, cols, order = numpy.add.reduceat(data, starts), rows[starts], cols[starts], order[starts]
    indptr = numpy.concatenate([[0], numpy.cumsum(numpy.bincount(rows, minlength=V))])
    return CSR(indptr, cols, data, (V, V)), order
