"""Tests of ops/graph.py (spmm, gaussian_kernel, global pooling) and kernels/graph.cu.

(a) forward against loops written from the slide's formulas (sum over j in N(i), phi_ij(theta_k));
(b) gradient checks in float64 of every differentiable input (x, edge values, mu, sigma);
(c) CPU / emulated / cuda parity through the ``device`` fixture, forward and backward, and the
    reduction kernel (gaussian_kernel_bwd) bit for bit in both thread orders;
(d) properties (hypothesis): spmm equals the dense product and its backward is the adjoint;
(e) bad input names the shapes.
"""

import numpy
import pytest
import scipy.sparse
from conftest import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med import backend
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.graph import Graph, batch_graphs, icosphere, mesh_graph
from tinygrad_med.nn import functional as F


def rng(seed=0):
    return numpy.random.default_rng(seed)


def random_graph(V, density=0.3, seed=0, weighted=True):
    """A random directed graph with positive weights (and pseudo-coordinates u_ij in 2-D)."""
    r = rng(seed)
    A = (r.random((V, V)) < density) * (r.random((V, V)) + 0.5 if weighted else 1.0)
    numpy.fill_diagonal(A, 0)
    g = Graph.from_dense(A)
    return Graph(g.adjacency, pseudo=r.standard_normal((g.num_edges, 2)))


def plain(V, seed=0):
    """random_graph without pseudo-coordinates (batch_graphs wants all or none to carry them)."""
    return Graph(random_graph(V, seed=seed).adjacency)


def t64(array, requires_grad=True):
    return tm.tensor(numpy.asarray(array, dtype=numpy.float64), requires_grad=requires_grad)


# ----------------------------------------------------------------------------- naive references (the slide)


def spmm_reference(A, x):
    """y_i = sum_{j in N(i)} a_ij x_j, N(i) = {j : a_ij != 0}, node by node."""
    y = numpy.zeros((A.shape[0], x.shape[1]))
    for i in range(A.shape[0]):
        for j in numpy.flatnonzero(A[i]):
            y[i] += A[i, j] * x[j]
    return y


def gaussian_reference(u, mu, sigma):
    """phi_ij(theta_k) = exp(-1/2 (u_ij - mu_k)^T Sigma_k^-1 (u_ij - mu_k)) with Sigma_k = diag(sigma_k^2)."""
    phi = numpy.zeros((len(u), len(mu)))
    for e in range(len(u)):
        for k in range(len(mu)):
            d = u[e] - mu[k]
            phi[e, k] = numpy.exp(-0.5 * d @ numpy.linalg.inv(numpy.diag(sigma[k] ** 2)) @ d)
    return phi


def test_spmm_matches_the_neighbour_sum():
    g = random_graph(7)
    x = rng(1).standard_normal((7, 3))
    assert_close(F.spmm(g, t64(x)), spmm_reference(g.to_dense(), x), 1e-12, 1e-12)


def test_spmm_with_k_edge_channels_is_k_products():
    g = random_graph(6, seed=2)
    x, w = rng(3).standard_normal((6, 4)), rng(4).standard_normal((g.num_edges, 3))
    y = F.spmm(g, t64(x), t64(w)).numpy()  # (V, K, F)
    for k in range(3):
        A_k = Graph(g.adjacency).adjacency.scipy(w[:, k]).toarray()
        assert_close(y[:, k], spmm_reference(A_k, x), 1e-12, 1e-12)


def test_gaussian_kernel_matches_the_slide_formula():
    u, mu, sigma = rng(0).standard_normal((9, 2)), rng(1).standard_normal((4, 2)), rng(2).random((4, 2)) + 0.3
    phi = F.gaussian_kernel(t64(u, False), t64(mu), t64(sigma))
    assert_close(phi, gaussian_reference(u, mu, sigma), 1e-12, 1e-12)


def test_global_pools_match_loops():
    g = batch_graphs([random_graph(3), random_graph(5, seed=1), random_graph(4, seed=2)])
    x = rng(0).standard_normal((12, 3))
    sums = numpy.stack([x[g.ptr[b] : g.ptr[b + 1]].sum(0) for b in range(3)])
    maxs = numpy.stack([x[g.ptr[b] : g.ptr[b + 1]].max(0) for b in range(3)])
    assert_close(F.global_add_pool(t64(x), g), sums, 1e-12, 1e-12)
    assert_close(F.global_mean_pool(t64(x), g), sums / numpy.diff(g.ptr)[:, None], 1e-12, 1e-12)
    assert_close(F.global_max_pool(t64(x), g.batch), maxs, 1e-12, 1e-12)  # a plain index works too


def test_global_max_pool_ties_and_empty_graphs():
    empty = Graph.from_dense(numpy.zeros((0, 0)))
    g = batch_graphs([plain(3), empty, plain(2, seed=1), empty])  # empty graphs inside and at the end
    x = t64([[1.0, 2.0], [1.0, 0.0], [0.0, 2.0], [5.0, -1.0], [4.0, -1.0]])
    y = F.global_max_pool(x, g)
    assert_close(y, [[1.0, 2.0], [0.0, 0.0], [5.0, -1.0], [0.0, 0.0]], 0, 0)  # an empty graph pools to 0
    y.sum().backward()  # ties: the gradient goes to the first maximum only
    assert_close(x.grad, [[1, 1], [0, 0], [0, 0], [1, 1], [0, 0]], 0, 0)


# ----------------------------------------------------------------------------- gradient checks (float64)


@pytest.mark.parametrize("channels", [None, 1, 3])
def test_spmm_gradcheck_x_and_edge_values(channels):
    g = random_graph(6, seed=5)
    shape = (g.num_edges,) if channels is None else (g.num_edges, channels)
    x, w = t64(rng(0).standard_normal((6, 3))), t64(rng(1).random(shape) + 0.1)
    assert tm.gradcheck(lambda x, w: F.spmm(g, x, w), [x, w], atol=1e-7, rtol=1e-5)


def test_gaussian_kernel_gradcheck_mu_and_sigma():
    u = t64(rng(0).standard_normal((15, 3)), False)
    mu, sigma = t64(rng(1).standard_normal((4, 3))), t64(rng(2).random((4, 3)) + 0.5)
    assert tm.gradcheck(lambda mu, sigma: F.gaussian_kernel(u, mu, sigma), [mu, sigma], atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("pool", ["global_add_pool", "global_mean_pool", "global_max_pool"])
def test_global_pool_gradcheck(pool):
    g = batch_graphs([random_graph(4), random_graph(3, seed=1)])
    x = t64(rng(0).standard_normal((7, 3)))  # continuous values: no ties for the max
    assert tm.gradcheck(lambda x: getattr(F, pool)(x, g), [x], atol=1e-7, rtol=1e-5)


# ----------------------------------------------------------------------------- CPU / emulated / cuda parity


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("channels", [1, 3])
def test_spmm_parity(device, dtype, channels):
    g = random_graph(9, seed=3)
    x, w, gy = (
        rng(0).standard_normal((9, 5)),
        rng(1).random((g.num_edges, channels)),
        rng(2).standard_normal((9, channels, 5)),
    )

    def run(dev):
        xt, wt = dev.tensor(x, True, dtype), dev.tensor(w, True, dtype)
        y = F.spmm(g, xt, wt)
        y.backward(dev.tensor(gy, dtype=dtype))
        return y, xt.grad, wt.grad

    tol = (1e-5, 1e-5) if dtype == numpy.float32 else (1e-12, 1e-12)
    for ours, expected in zip(run(device), device.reference(run, device), strict=True):
        assert_close(ours, expected, *tol)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_gaussian_kernel_parity(device, dtype):
    u, mu, sigma = rng(0).standard_normal((40, 2)), rng(1).standard_normal((5, 2)), rng(2).random((5, 2)) + 0.5
    gphi = rng(3).standard_normal((40, 5))

    def run(dev):
        mut, st_ = dev.tensor(mu, True, dtype), dev.tensor(sigma, True, dtype)
        phi = F.gaussian_kernel(dev.tensor(u, dtype=dtype), mut, st_)
        phi.backward(dev.tensor(gphi, dtype=dtype))
        return phi, mut.grad, st_.grad

    tol = (1e-4, 1e-5) if dtype == numpy.float32 else (1e-11, 1e-12)
    for ours, expected in zip(run(device), device.reference(run, device), strict=True):
        assert_close(ours, expected, *tol)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_global_pool_parity(device, dtype):
    g = batch_graphs([plain(4), Graph.from_dense(numpy.zeros((0, 0))), plain(5, seed=1)])
    x, gy = rng(0).standard_normal((9, 3)), rng(1).standard_normal((3, 3))
    for pool in (F.global_add_pool, F.global_mean_pool, F.global_max_pool):

        def run(dev, pool=pool):
            xt = dev.tensor(x, True, dtype)
            y = pool(xt, g)
            y.backward(dev.tensor(gy, dtype=dtype))
            return y, xt.grad

        for ours, expected in zip(run(device), device.reference(run, device), strict=True):
            assert_close(ours, expected, 1e-6, 1e-6)


def test_gaussian_kernel_bwd_is_race_free_in_both_thread_orders():
    """gaussian_kernel_bwd sums over edges with a shared-memory tree: the order of threads must not matter."""
    from tinygrad_med.kernelcheck import emulator

    u, mu, sigma = rng(0).standard_normal((700, 3)), rng(1).standard_normal((4, 3)), rng(2).random((4, 3)) + 0.5
    results = []
    for order in ("forward", "reverse"):
        with backend.use_emulator(), emulator.thread_order(order):
            mut, st_ = t64(mu), t64(sigma)
            F.gaussian_kernel(t64(u, False), mut, st_).sum().backward()
            results.append((mut.grad.numpy(), st_.grad.numpy()))
    for a, b in zip(*results, strict=True):
        numpy.testing.assert_array_equal(a, b)


def test_spmm_backward_gathers_over_the_transpose():
    """The cached CSR of A^T holds A's entries permuted: A^T.data == A.data[perm]."""
    g = random_graph(8, seed=4)
    csr_t, perm = g.adjacency.transpose_structure()
    assert_close(csr_t.to_dense(), g.to_dense().T, 0, 0)
    assert_close(csr_t.data, g.adjacency.data[perm], 0, 0)


# ----------------------------------------------------------------------------- properties


@settings(max_examples=20, deadline=None)
@given(V=st.integers(1, 9), F_=st.integers(1, 4), density=st.floats(0.0, 1.0), seed=st.integers(0, 1000))
def test_spmm_is_the_dense_product_and_backward_its_adjoint(V, F_, density, seed):
    A = scipy.sparse.random(V, V, density=density, random_state=seed, format="csr")
    g = Graph.from_scipy(A)
    x, gy = rng(seed).standard_normal((V, F_)), rng(seed + 1).standard_normal((V, F_))
    xt = t64(x)
    y = F.spmm(g, xt)
    assert_close(y, A.toarray() @ x, 1e-12, 1e-12)
    y.backward(t64(gy, False))
    numpy.testing.assert_allclose((y.numpy() * gy).sum(), (x * xt.grad.numpy()).sum(), atol=1e-10)  # <Ax,g>=<x,A^T g>


# ----------------------------------------------------------------------------- bad input


def test_bad_input_names_the_shapes():
    g = mesh_graph(*icosphere(0))  # 12 nodes
    with pytest.raises(ShapeError, match=r"x has 5 rows but the graph has 12 nodes.*x.shape=\(5, 3\)"):
        F.spmm(g, tm.randn(5, 3))
    with pytest.raises(ShapeError, match=r"edge_weight needs one row per edge \(E=60\).*\(7,\)"):
        F.spmm(g, tm.randn(12, 3), tm.randn(7))
    with pytest.raises(DTypeError, match="float64 but x has float32"):
        F.spmm(g, tm.randn(12, 3), tm.randn(60, dtype=tm.float64))
    with pytest.raises(ShapeError, match=r"mu.shape=\(4, 3\)"):
        F.gaussian_kernel(tm.randn(60, 2), tm.randn(4, 3), tm.randn(4, 3))
    with pytest.raises(ShapeError, match="sorted, non-negative node-to-graph index"):
        F.global_add_pool(tm.randn(3, 2), numpy.array([1, 0, 0]))
    with pytest.raises(ShapeError, match="x has 4 rows but the graph has 3 nodes"):
        F.global_max_pool(tm.randn(4, 2), numpy.array([0, 0, 1]))
    with pytest.raises(TypeError, match="expected a Graph or a CSR operator"):
        F.spmm(numpy.eye(3), tm.randn(3, 2))


def test_gradcheck_on_every_device(device):
    """The float64 gradient check again on the kernels' path (emulated here, the GPU when there is one)."""
    g = mesh_graph(*icosphere(0), pseudo="local")
    r = rng(5)
    inputs = [
        device.tensor(a, True, numpy.float64)
        for a in (
            r.standard_normal((12, 2)),
            r.standard_normal((2, 2, 3)),
            r.standard_normal((3, 2)),
            r.random((3, 2)) + 0.5,
        )
    ]

    def fn(x, W, mu, sigma):
        z = F.gaussian_graph_conv(x, g, W, mu, sigma)  # spmm with K edge channels + gaussian_kernel
        return F.global_max_pool(z, g) + F.global_mean_pool(z, g)

    result = tm.gradcheck(fn, inputs, atol=1e-7, rtol=1e-5)
    assert result.passed, result.report()
