"""Tests of tinygrad_med.graph (construction, Laplacian, batching, meshes), ops/graph_conv.py and nn/graph.py.

(a) the slide's 4-node example (A, D, L_norm) and loop references for every convolution;
(b) gradient checks in float64 of every layer's inputs and parameters, mu and sigma included;
(c) CPU / emulated / cuda parity of the layers through the ``device`` fixture;
(d) spectral and Chebyshev filtering agree for a polynomial filter; permutation equivariance of
    node outputs and invariance of graph-level pooling; fixed-size adaptive pooling;
(e) bad input (non-square adjacency, negative weights, wrong node counts) names the shapes.
"""

import math

import numpy
import pytest
import scipy.sparse
from conftest import assert_close

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.errors import ShapeError
from tinygrad_med.graph import (
    Graph,
    batch_graphs,
    eigh,
    gcn_operator,
    grid_mesh,
    icosphere,
    laplacian,
    mesh_graph,
    scaled_laplacian,
)
from tinygrad_med.nn import functional as F

SLIDE_A = numpy.array([[0, 1, 0, 0], [1, 0, 1, 1], [0, 1, 0, 1], [0, 1, 1, 0]], dtype=float)


def rng(seed=0):
    return numpy.random.default_rng(seed)


def t64(array, requires_grad=True):
    return tm.tensor(numpy.asarray(array, dtype=numpy.float64), requires_grad=requires_grad)


def weighted_graph(V, seed=0, density=0.5):
    """A random undirected graph with distinct positive weights (a simple spectrum: no repeated eigenvalues)."""
    r = rng(seed)
    A = numpy.triu((r.random((V, V)) < density) * (r.random((V, V)) + 0.5), 1)
    A = A + A.T
    A[numpy.arange(V - 1), numpy.arange(1, V)] = A[numpy.arange(1, V), numpy.arange(V - 1)] = 1.0  # connected
    return Graph.from_dense(A)


# ----------------------------------------------------------------------------- the slide's Laplacian


def test_slide_four_node_laplacian():
    g = Graph.from_dense(SLIDE_A)
    assert_close(numpy.diag(g.degree()), numpy.diag([1.0, 3.0, 2.0, 2.0]), 0, 0)  # the slide's D
    s3, s6 = 1 / math.sqrt(3), 1 / math.sqrt(6)
    L_norm = numpy.array([[1, -s3, 0, 0], [-s3, 1, -s6, -s6], [0, -s6, 1, -0.5], [0, -s6, -0.5, 1]])
    assert_close(laplacian(SLIDE_A), L_norm, 1e-15, 1e-15)
    assert_close(laplacian(scipy.sparse.csr_matrix(SLIDE_A)).toarray(), L_norm, 1e-15, 1e-15)
    assert_close(laplacian(g).toarray(), L_norm, 1e-15, 1e-15)
    assert_close(laplacian(SLIDE_A, normalized=False), numpy.diag([1.0, 3, 2, 2]) - SLIDE_A, 0, 0)


def test_laplacian_spectrum_and_isolated_nodes():
    A = numpy.zeros((5, 5))
    A[:4, :4] = SLIDE_A  # node 4 is isolated: D^-1/2 = 0 there, so L_norm[4, 4] = 1
    L = laplacian(A)
    assert L[4, 4] == 1 and not L[4, :4].any() and not L[:4, 4].any()
    lam, U = eigh(Graph.from_dense(A))
    assert lam.min() > -1e-12 and lam.max() <= 2 + 1e-12  # the normalised Laplacian's spectrum lies in [0, 2]
    assert_close(U @ numpy.diag(lam) @ U.T, L, 1e-12, 1e-12)
    assert_close(U.T @ U, numpy.eye(5), 1e-12, 1e-12)


def test_eigh_is_per_graph_in_a_batch():
    g = batch_graphs([Graph.from_dense(SLIDE_A), weighted_graph(3)])
    lam, U = eigh(g)
    assert not U[:4, 4:].any() and not U[4:, :4].any()  # block diagonal: no eigenvector mixes two graphs
    assert_close(lam[:4], numpy.linalg.eigvalsh(laplacian(SLIDE_A)), 1e-12, 1e-12)


# ----------------------------------------------------------------------------- construction and batching


def test_constructions_agree():
    edge_index = numpy.array([[1, 0, 2, 1, 3, 1, 3, 2], [0, 1, 1, 2, 1, 3, 2, 3]])  # (source j, target i)
    graphs = [
        Graph.from_dense(SLIDE_A),
        Graph.from_scipy(scipy.sparse.coo_matrix(SLIDE_A)),
        Graph.from_edge_index(edge_index),
        Graph.from_dense(tm.tensor(SLIDE_A)),
    ]
    for g in graphs:
        assert_close(g.to_dense(), SLIDE_A, 0, 0)
        assert g.num_nodes == 4 and g.num_edges == 8 and g.num_graphs == 1
    directed = Graph.from_edge_index(numpy.array([[0, 0], [1, 1]]), num_nodes=3, edge_weight=[2.0, 0.5])
    assert directed.to_dense()[1, 0] == 2.5 and directed.num_edges == 1  # duplicates summed; edge j=0 -> i=1


def test_batch_is_block_diagonal_with_a_node_index():
    g1, g2, g3 = Graph.from_dense(SLIDE_A), weighted_graph(3), weighted_graph(5, seed=1)
    b = batch_graphs([g1, g2, g3])
    expected = scipy.sparse.block_diag([g.to_dense() for g in (g1, g2, g3)]).toarray()
    assert_close(b.to_dense(), expected, 0, 0)
    assert b.batch.tolist() == [0] * 4 + [1] * 3 + [2] * 5 and b.ptr.tolist() == [0, 4, 7, 12]


def test_permute_relabels_nodes_and_carries_pseudo_coordinates():
    g = mesh_graph(*icosphere(0), pseudo="cartesian")
    perm = rng(0).permutation(g.num_nodes)
    gp = g.permute(perm)
    assert_close(gp.to_dense(), g.to_dense()[perm][:, perm], 0, 0)
    original = {(i, j): u for i, j, u in zip(g.adjacency.row, g.adjacency.indices, g.pseudo, strict=True)}
    for k, l, u in zip(gp.adjacency.row, gp.adjacency.indices, gp.pseudo, strict=True):
        assert_close(u, original[(perm[k], perm[l])], 0, 0)


# ----------------------------------------------------------------------------- meshes


def test_icosphere_mesh_graph():
    vertices, faces = icosphere(2)
    g = mesh_graph(vertices, faces)
    assert g.num_nodes == 10 * 4**2 + 2 and g.num_edges == 3 * len(faces)  # each side in 2 faces, 2 directions
    degrees = numpy.bincount(numpy.diff(g.adjacency.indptr))
    assert degrees[5] == 12 and degrees[6] == g.num_nodes - 12  # 12 pentagon vertices, the rest hexagons
    assert_close(g.to_dense(), g.to_dense().T, 0, 0)


def test_pseudo_coordinates_on_a_flat_grid():
    """On the z = 0 grid the local frame is (x, y): u_ij = (v_j - v_i)[:2] / h, polar = (|.|, atan2)."""
    vertices, faces = grid_mesh(3, 4)
    i, j = mesh_graph(vertices, faces).adjacency.row, mesh_graph(vertices, faces).adjacency.indices
    delta = vertices[j] - vertices[i]
    h = numpy.linalg.norm(delta, axis=1).mean()
    assert_close(mesh_graph(vertices, faces, "cartesian").pseudo, delta / h, 1e-12, 1e-12)
    assert_close(mesh_graph(vertices, faces, "local").pseudo, delta[:, :2] / h, 1e-12, 1e-12)
    polar = mesh_graph(vertices, faces, "polar").pseudo
    assert_close(polar[:, 0], numpy.hypot(delta[:, 0], delta[:, 1]) / h, 1e-12, 1e-12)
    assert_close(polar[:, 1], numpy.arctan2(delta[:, 1], delta[:, 0]), 1e-12, 1e-12)


# ----------------------------------------------------------------------------- spectral = Chebyshev


@pytest.mark.parametrize("lambda_max", [2.0, None])
def test_polynomial_filter_spectrally_and_by_chebyshev_recursion(lambda_max):
    """g(L) x for g(lambda) = sum_k theta_k T_k(2 lambda / lambda_max - 1): U g(Lambda) U^T x = Chebyshev recursion."""
    g = weighted_graph(8)
    lam, _ = eigh(g)
    lambda_max = lam.max() if lambda_max is None else lambda_max
    theta = numpy.array([0.5, -1.0, 0.7, 0.25])  # degree K - 1 = 3
    response = numpy.polynomial.chebyshev.chebval(2 * lam / lambda_max - 1, theta)  # g(lambda_v), (V,)
    x = t64(rng(1).standard_normal((8, 3)), False)
    spectral = F.spectral_conv(x, g, t64(response, False))
    weight = t64(theta[:, None, None] * numpy.eye(3), False)  # W_k = theta_k I
    assert_close(F.cheb_conv(x, g, weight, lambda_max=lambda_max), spectral, 1e-11, 1e-11)


def test_gcn_is_the_renormalised_propagation():
    g = weighted_graph(6)
    A_tilde = g.to_dense() + numpy.eye(6)
    d = A_tilde.sum(1) ** -0.5
    x, W, b = rng(0).standard_normal((6, 3)), rng(1).standard_normal((4, 3)), rng(2).standard_normal(4)
    expected = d[:, None] * A_tilde * d[None] @ x @ W.T + b
    assert_close(F.gcn_conv(t64(x), g, t64(W), t64(b)), expected, 1e-12, 1e-12)
    assert_close(gcn_operator(g).to_dense(), d[:, None] * A_tilde * d[None], 1e-15, 1e-15)


def test_gaussian_graph_conv_matches_the_slide_formula():
    """z_ip = sum_{j in N(i)} sum_q sum_k w_pqk y_jq phi_ij(theta_k) + b_p, loop by loop."""
    g = mesh_graph(*icosphere(0), pseudo="polar")
    P, M, K = 3, 2, 4
    y, w, b = rng(0).standard_normal((12, M)), rng(1).standard_normal((P, M, K)), rng(2).standard_normal(P)
    mu, sigma = rng(3).standard_normal((K, 2)), rng(4).random((K, 2)) + 0.5
    z = numpy.zeros((12, P))
    for i in range(12):
        for e in range(g.adjacency.indptr[i], g.adjacency.indptr[i + 1]):
            j, u = g.adjacency.indices[e], g.pseudo[e]
            phi = numpy.exp(-0.5 * (((u - mu) / sigma) ** 2).sum(1))  # (K,): phi_ij(theta_k)
            z[i] += numpy.einsum("pqk,q,k->p", w, y[j], phi)
    z += b
    assert_close(F.gaussian_graph_conv(t64(y), g, t64(w), t64(mu), t64(sigma), t64(b)), z, 1e-12, 1e-12)


# ----------------------------------------------------------------------------- gradient checks of every layer


def _layer_cases():
    g = mesh_graph(*icosphere(0), pseudo="local")
    r = rng(7)
    x = t64(r.standard_normal((12, 3)))
    return (
        g,
        x,
        {
            "GCNConv": (
                lambda x, W, b: F.gcn_conv(x, g, W, b),
                [x, t64(r.standard_normal((4, 3))), t64(r.standard_normal(4))],
            ),
            "ChebConv": (
                lambda x, W, b: F.cheb_conv(x, g, W, b),
                [x, t64(r.standard_normal((3, 4, 3))), t64(r.standard_normal(4))],
            ),
            "SpectralGraphConv": (
                lambda x, W, b: F.spectral_conv(x, g, W, b),
                [x, t64(r.standard_normal((12, 4, 3))), t64(r.standard_normal(4))],
            ),
            "spectral filter (n,)": (lambda x, W: F.spectral_conv(x, g, W), [x, t64(r.standard_normal(12))]),
            "GaussianGraphConv": (
                lambda x, W, mu, sigma, b: F.gaussian_graph_conv(x, g, W, mu, sigma, b),
                [
                    x,
                    t64(r.standard_normal((4, 3, 5))),
                    t64(r.standard_normal((5, 2))),
                    t64(r.random((5, 2)) + 0.5),
                    t64(r.standard_normal(4)),
                ],
            ),
            "AdaptiveGraphPool": (
                lambda x, s: F.diff_pool(x, batch_graphs([g, g]), s),
                [t64(r.standard_normal((24, 3))), t64(r.standard_normal((24, 4)))],
            ),
            "dense_diff_pool": (
                lambda x, a, s: F.dense_diff_pool(x, a, s),
                [t64(r.standard_normal((2, 5, 3))), t64(r.random((2, 5, 5))), t64(r.standard_normal((2, 5, 4)))],
            ),
        },
    )


@pytest.mark.parametrize("name", list(_layer_cases()[2]))
def test_layer_gradcheck(name):
    fn, inputs = _layer_cases()[2][name]
    result = tm.gradcheck(fn, inputs, atol=1e-7, rtol=1e-5)
    assert result.passed, result.report()


def test_modules_call_their_functional_form():
    g, x, _ = _layer_cases()
    tm.manual_seed(0)
    layers = [
        nn.GCNConv(3, 4, dtype=tm.float64),
        nn.ChebConv(3, 4, K=3, dtype=tm.float64),
        nn.SpectralGraphConv(12, 3, 4, dtype=tm.float64),
        nn.GaussianGraphConv(3, 4, dim=2, kernel_size=5, dtype=tm.float64),
    ]
    expected = [
        F.gcn_conv(x, g, layers[0].weight, layers[0].bias),
        F.cheb_conv(x, g, layers[1].weight, layers[1].bias),
        F.spectral_conv(x, g, layers[2].weight, layers[2].bias),
        F.gaussian_graph_conv(x, g, layers[3].weight, layers[3].mu, layers[3].sigma, layers[3].bias),
    ]
    for layer, z in zip(layers, expected, strict=True):
        assert_close(layer(x, g), z, 0, 0)
    out = layers[3](x, g)
    out.sum().backward()
    assert all(p.grad is not None for p in layers[3].parameters())  # w, b, mu and sigma all learn
    assert [n for n, _ in layers[3].named_parameters()] == ["weight", "bias", "mu", "sigma"]


# ----------------------------------------------------------------------------- parity of the layers


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_layer_parity(device, dtype):
    g = mesh_graph(*icosphere(0), pseudo="local")
    r = rng(3)
    arrays = [
        r.standard_normal((12, 3)),
        r.standard_normal((4, 3, 5)),
        r.standard_normal((5, 2)),
        r.random((5, 2)) + 0.5,
        r.standard_normal((3, 4, 3)),
    ]

    def run(dev):
        x, W, mu, sigma, C = (dev.tensor(a, True, dtype) for a in arrays)
        z = F.gaussian_graph_conv(x, g, W, mu, sigma) + F.cheb_conv(x, g, C) + F.gcn_conv(x, g, C[0])
        pooled = F.diff_pool(z, g, z[:, :2])[0]
        (pooled * pooled).sum().backward()
        return z, pooled, x.grad, W.grad, mu.grad, sigma.grad, C.grad

    tol = (2e-4, 1e-4) if dtype == numpy.float32 else (1e-10, 1e-10)
    for ours, expected in zip(run(device), device.reference(run, device), strict=True):
        assert_close(ours, expected, *tol)


# ----------------------------------------------------------------------------- equivariance and invariance


def test_node_outputs_are_permutation_equivariant():
    """Permuting the nodes (and the graph with them) permutes every layer's output the same way."""
    g = weighted_graph(9, seed=2)  # distinct eigenvalues: the spectral basis is unique up to signs
    g = Graph(g.adjacency, pseudo=rng(0).standard_normal((g.num_edges, 2)))
    perm = rng(1).permutation(9)
    gp, x = g.permute(perm), rng(2).standard_normal((9, 3))
    tm.manual_seed(0)
    layers = [
        nn.GCNConv(3, 4, dtype=tm.float64),
        nn.ChebConv(3, 4, K=4, dtype=tm.float64),
        nn.GaussianGraphConv(3, 4, dim=2, kernel_size=3, dtype=tm.float64),
    ]
    for layer in layers:
        assert_close(layer(t64(x[perm], False), gp), layer(t64(x, False), g).numpy()[perm], 1e-10, 1e-10)
    spectral = nn.SpectralGraphConv(9, 3, 4, dtype=tm.float64)
    assert_close(spectral(t64(x[perm], False), gp), spectral(t64(x, False), g).numpy()[perm], 1e-9, 1e-9)


def test_graph_level_pooling_is_permutation_invariant():
    g = weighted_graph(10, seed=3)
    perm = rng(1).permutation(10)
    x = rng(2).standard_normal((10, 3))
    for pool in (F.global_add_pool, F.global_mean_pool, F.global_max_pool):
        assert_close(pool(t64(x[perm], False), g.permute(perm)), pool(t64(x, False), g), 1e-12, 1e-12)
    tm.manual_seed(0)
    adaptive = nn.AdaptiveGraphPool(3, num_clusters=4, dtype=tm.float64)
    for a, b in zip(adaptive(t64(x[perm], False), g.permute(perm)), adaptive(t64(x, False), g), strict=True):
        assert_close(a, b, 1e-12, 1e-12)


def test_adaptive_pooling_has_a_fixed_size_output_for_any_graph_size():
    graphs = [mesh_graph(*icosphere(0), pseudo=None), Graph.from_dense(SLIDE_A), mesh_graph(*icosphere(1), pseudo=None)]
    batch = batch_graphs(graphs)
    pool = nn.AdaptiveGraphPool(3, num_clusters=5)
    x_pool, adj_pool, link_loss, entropy_loss = pool(tm.randn(batch.num_nodes, 3), batch)
    assert x_pool.shape == (3, 5, 3) and adj_pool.shape == (3, 5, 5)
    assert link_loss.shape == () and entropy_loss.shape == ()
    assert 0 <= float(entropy_loss) <= math.log(5) + 1e-6
    # the soft assignment keeps the total edge weight of each graph: sum of S^T A S = sum of A
    assert_close(adj_pool.numpy().sum((1, 2)), [g.adjacency.data.sum() for g in graphs], 1e-4, 1e-4)


# ----------------------------------------------------------------------------- learning with pseudo-coordinates


def test_gaussian_conv_learns_a_directional_derivative_that_gcn_cannot():
    """z_i = y_east - y_west on a grid: the Gaussians in u_ij tell east from west, GCN's isotropic sum cannot."""
    from tinygrad_med import optim

    side = 8
    g = mesh_graph(*grid_mesh(side, side), pseudo="local")
    grid = rng(0).standard_normal((side, side))  # y, row = grid y, column = grid x
    target, mask = numpy.zeros_like(grid), numpy.zeros_like(grid)
    target[:, 1:-1], mask[:, 1:-1] = grid[:, 2:] - grid[:, :-2], 1  # central difference along x, interior
    y, t, m = (t64(a.reshape(-1, 1), False) for a in (grid, target, mask))

    def train(layer, steps=300):
        opt = optim.Adam(layer.parameters(), lr=0.05)
        for _ in range(steps):
            opt.zero_grad()
            loss = (((layer(y, g) - t) * m) ** 2).sum() / m.sum()
            loss.backward()
            opt.step()
        return float(loss)

    tm.manual_seed(0)
    variance = float(((t * m) ** 2).sum() / m.sum())
    assert train(nn.GaussianGraphConv(1, 1, dim=2, kernel_size=4, dtype=tm.float64)) < 1e-3 * variance
    assert train(nn.GCNConv(1, 1, dtype=tm.float64)) > 0.9 * variance


def test_fsaverage5_cortical_mesh():
    pytest.importorskip("nilearn")
    pytest.importorskip("nibabel")
    from tinygrad_med.graph import fsaverage5

    vertices, faces, sulc = fsaverage5("left", "pial", "sulc")
    g = mesh_graph(vertices, faces)
    assert g.num_nodes == 10242 and len(faces) == 20480 and sulc.shape == (10242,)
    assert g.num_nodes - g.num_edges // 2 + len(faces) == 2  # Euler characteristic of a closed surface
    z = nn.GaussianGraphConv(1, 4, dim=2, kernel_size=3)(tm.tensor(sulc[:, None], dtype=tm.float32), g)
    assert z.shape == (10242, 4) and numpy.isfinite(z.numpy()).all()


# ----------------------------------------------------------------------------- bad input


def test_bad_input_errors_name_the_shapes():
    with pytest.raises(ShapeError, match=r"square.*A.shape=\(3, 4\)"):
        Graph.from_dense(numpy.ones((3, 4)))
    with pytest.raises(ShapeError, match=r"square.*A.shape=\(3, 4\)"):
        laplacian(numpy.ones((3, 4)))
    with pytest.raises(ShapeError, match=r"square.*\(2, 5\)"):
        Graph.from_scipy(scipy.sparse.csr_matrix(numpy.ones((2, 5))))
    negative = SLIDE_A.copy()
    negative[0, 1] = -1.0
    with pytest.raises(ValueError, match=r"non-negative, found 1 negative.*A.shape=\(4, 4\)"):
        laplacian(negative)
    with pytest.raises(ValueError, match="gcn_operator: edge weights must be non-negative"):
        F.gcn_conv(tm.randn(4, 2), Graph.from_dense(negative), tm.randn(3, 2))
    g = Graph.from_dense(SLIDE_A)
    for call in (
        lambda x: F.gcn_conv(x, g, tm.randn(3, 2)),
        lambda x: nn.ChebConv(2, 3, K=2)(x, g),
        lambda x: nn.SpectralGraphConv(4, 2, 3)(x, g),
    ):
        with pytest.raises(ShapeError, match=r"x has 5 rows but the graph has 4 nodes.*x.shape=\(5, 2\)"):
            call(tm.randn(5, 2))
    with pytest.raises(ShapeError, match=r"every graph must have n=5 nodes"):
        nn.SpectralGraphConv(5, 2, 3)(tm.randn(4, 2), g)
    with pytest.raises(ValueError, match="carries no pseudo-coordinates"):
        nn.GaussianGraphConv(2, 3, dim=2, kernel_size=4)(tm.randn(4, 2), g)
    with pytest.raises(ShapeError, match=r"weight must be \(P, M=2, K=4\)"):
        F.gaussian_graph_conv(
            tm.randn(12, 2), mesh_graph(*icosphere(0)), tm.randn(3, 4, 2), tm.randn(4, 2), tm.ones(4, 2)
        )
    with pytest.raises(ShapeError, match=r"face indices must lie in \[0, 3\)"):
        mesh_graph(numpy.zeros((3, 3)), numpy.array([[0, 1, 3]]))
    with pytest.raises(ValueError, match="undirected"):
        eigh(Graph.from_edge_index(numpy.array([[0, 1, 2], [1, 2, 0]])))  # a directed 3-cycle
    with pytest.raises(ValueError, match="lambda_max must be positive"):
        scaled_laplacian(g, 0.0)


def test_every_public_graph_name_has_a_docstring():
    from tinygrad_med import graph
    from tinygrad_med.nn import graph as nn_graph
    from tinygrad_med.ops import graph as ops_graph
    from tinygrad_med.ops import graph_conv

    for namespace in (graph, ops_graph, graph_conv, nn_graph):
        for name in namespace.__all__:
            assert getattr(namespace, name).__doc__, f"{namespace.__name__}.{name} has no docstring"
    assert tm.graph is graph and nn.GCNConv is nn_graph.GCNConv and F.spmm is ops_graph.spmm
