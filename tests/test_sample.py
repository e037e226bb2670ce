"""Tests of ops/sample.py (affine_grid, grid_sample), kernels/sample.cu and nn.SpatialTransformer.

(a) forward against naive per-point loops written from the formulas (unnormalise, pad by mirroring
    step by step, floor / round-half-even, sum over the corners);
(b) gradient checks in float64 for the input, the grid and theta, with sample points kept away from
    the kinks (integer and half-integer source positions: floor, rounding, clip and mirror points);
(c) CPU / emulated / cuda parity through the ``device`` fixture for both kernels, 2-D and 3-D;
(d) identity theta reproduces the input; hypothesis on affine_grid's shape and values; PyTorch
    cross-check when it is importable; bad input.
"""

import itertools
import math

import numpy
import pytest
from conftest import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.nn import functional as F
from tinygrad_med.nn.spatial import SpatialTransformer

MODES = ["bilinear", "nearest"]
PADDINGS = ["zeros", "border", "reflection"]


def rand(*shape, seed=0):
    return numpy.random.default_rng(seed).standard_normal(shape)


def t64(array, requires_grad=False):
    return tm.tensor(numpy.asarray(array, dtype=numpy.float64), requires_grad=requires_grad)


def shapes(nd):
    """(input shape, grid shape) of a tiny case."""
    return ((2, 2, 3, 4), (2, 3, 2, 2)) if nd == 2 else ((2, 2, 2, 3, 4), (2, 2, 2, 3, 3))


def grid_between_pixels(grid_shape, spatial, align_corners, seed=0, spread=1.5):
    """A grid whose source positions sit at fractions 0.15-0.35 or 0.65-0.85 between pixels, so that
    floor, round, clip and mirror points (integers and half-integers) are >= 0.15 pixels away."""
    rng = numpy.random.default_rng(seed)
    nd = grid_shape[-1]
    grid = numpy.empty(grid_shape)
    for a in range(nd):
        size = spatial[nd - 1 - a]  # component a = x, y, z runs along W, H, D
        base = rng.integers(-math.ceil(spread), size + math.ceil(spread), grid_shape[:-1])
        frac = rng.uniform(0.15, 0.35, grid_shape[:-1]) + 0.5 * rng.integers(0, 2, grid_shape[:-1])
        src = base + frac
        grid[..., a] = src * 2 / (size - 1) - 1 if align_corners else (2 * src + 1) / size - 1
    return grid


# ----------------------------------------------------------------------------- (a) forward vs loops


def naive_source(g, size, padding, align_corners):
    """Source position of the normalised g along an axis of size pixels, straight from the formula."""
    src = (g + 1) / 2 * (size - 1) if align_corners else ((g + 1) * size - 1) / 2
    if padding == "reflection":
        low, high = (0.0, size - 1.0) if align_corners else (-0.5, size - 0.5)
        if low == high:
            return 0.0
        while not low <= src <= high:  # mirror at the nearer bound until inside
            src = 2 * low - src if src < low else 2 * high - src
    if padding != "zeros":
        src = min(max(src, 0.0), size - 1.0)
    return src


def naive_grid_sample(x, grid, mode, padding, align_corners):
    """y[n, c, point] by looping over points and corners (2-D and 3-D alike)."""
    N, C, *spatial = x.shape
    nd = len(spatial)
    out = numpy.zeros((N, C) + grid.shape[1:-1])
    for n in range(N):
        for point in numpy.ndindex(*grid.shape[1:-1]):
            # per spatial axis (D, H, W order): source position from grid component nd-1-axis
            srcs = [naive_source(grid[(n, *point, nd - 1 - a)], spatial[a], padding, align_corners) for a in range(nd)]
            if mode == "nearest":
                taps = [[(round(s), 1.0)] for s in srcs]  # Python's round: half to even
            else:
                taps = [[(math.floor(s), math.floor(s) + 1 - s), (math.floor(s) + 1, s - math.floor(s))] for s in srcs]
            for corner in itertools.product(*taps):
                index = tuple(i for i, _ in corner)
                if all(0 <= i < L for i, L in zip(index, spatial, strict=True)):
                    out[(n, slice(None), *point)] += math.prod(w for _, w in corner) * x[(n, slice(None), *index)]
    return out


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_matches_loops(nd, mode, padding, align_corners):
    x_shape, grid_shape = shapes(nd)
    x = rand(*x_shape)
    grid = numpy.random.default_rng(1).uniform(-1.7, 1.7, grid_shape)  # inside, outside, far outside
    y = F.grid_sample(t64(x), t64(grid), mode, padding, align_corners)
    assert y.shape == x_shape[:2] + grid_shape[1:-1]
    assert_close(y, naive_grid_sample(x, grid, mode, padding, align_corners), 1e-12, 1e-12)


@pytest.mark.parametrize("nd", [2, 3])
def test_cpu_image_groups_and_empty_grids(nd, monkeypatch):
    """The CPU path computes the taps of a few images at a time (_image_groups): any grouping gives the same
    forward and gradients, and a grid with no points gives an empty output and zero gradients."""
    from tinygrad_med.ops import sample_fast

    x_shape, grid_shape = ((3, 2, 3, 4), (3, 3, 2, 2)) if nd == 2 else ((3, 2, 2, 3, 4), (3, 2, 2, 3, 3))
    x, grid = rand(*x_shape, seed=1), rand(*grid_shape, seed=2)

    def run():
        xt, gt = t64(x, requires_grad=True), t64(grid, requires_grad=True)
        y = F.grid_sample(xt, gt, padding_mode="reflection")
        (y * t64(rand(*y.shape, seed=3))).sum().backward()
        return y.numpy(), xt.grad.numpy(), gt.grad.numpy()

    whole = run()
    monkeypatch.setattr(sample_fast, "GROUP_POINTS", 1)  # one image per group
    for one, all_at_once in zip(run(), whole, strict=True):
        assert_close(one, all_at_once, 1e-12, 1e-12)
    empty = t64(numpy.zeros((3, *grid_shape[1:-2], 0, nd)), requires_grad=True)
    xt = t64(x, requires_grad=True)
    y = F.grid_sample(xt, empty)
    y.sum().backward()
    assert y.shape == (*x_shape[:2], *grid_shape[1:-2], 0) and not xt.grad.numpy().any()


def test_bilinear_by_hand_and_nearest_rounds_half_to_even():
    x = t64([[[[0.0, 1.0, 2.0, 3.0]]]])  # (1, 1, 1, 4); align_corners=True: src = (g + 1) * 1.5
    grid = t64([[[[-1.0, 0.0], [-1 / 3, 0.0], [0.0, 0.0], [2.0, 0.0]]]])  # src 0, 1, 1.5, 4.5
    assert_close(F.grid_sample(x, grid, align_corners=True), [[[[0.0, 1.0, 1.5, 0.0]]]], 1e-12, 1e-12)
    assert_close(F.grid_sample(x, grid, padding_mode="border", align_corners=True), [[[[0, 1, 1.5, 3]]]], 1e-12, 1e-12)
    # nearest: src 0.5 -> 0, 1.5 -> 2, 2.5 -> 2: ties go to the even pixel, as PyTorch's nearbyint
    ties = t64([[[[-0.5, 0.0], [0.0, 0.0], [0.5, 0.0]]]])  # align_corners=False: src = ((g + 1) * 4 - 1) / 2
    assert_close(F.grid_sample(x, ties, "nearest"), [[[[0.0, 2.0, 2.0]]]], 0, 0)


def test_reflection_mirrors_at_the_edges():
    x = t64(numpy.arange(3.0).reshape(1, 1, 1, 3))
    src = numpy.array([-1.0, -0.25, 3.5, 5.0, 7.25])  # align_corners=False: mirror at -0.5 and 2.5
    grid = numpy.stack([(2 * src + 1) / 3 - 1, numpy.zeros(5)], axis=-1).reshape(1, 1, 5, 2)
    y = F.grid_sample(x, t64(grid), padding_mode="reflection")
    assert_close(y, [[[[0.0, 0.0, 1.5, 0.0, 1.25]]]], 1e-12, 1e-12)  # -1 -> 0, 3.5 -> 1.5, 5 -> 0, 7.25 -> 1.25


# ----------------------------------------------------------------------------- (b) gradient checks


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("align_corners", [False, True])
def test_gradcheck_bilinear_input_and_grid(nd, padding, align_corners):
    x_shape, grid_shape = shapes(nd)
    grid = grid_between_pixels(grid_shape, x_shape[2:], align_corners)
    x, g = t64(rand(*x_shape), True), t64(grid, True)
    result = tm.gradcheck(lambda a, b: F.grid_sample(a, b, "bilinear", padding, align_corners), [x, g])
    assert result.passed, result.report()


@pytest.mark.parametrize("nd", [2, 3])
def test_gradcheck_nearest(nd):
    """Nearest: the input gets gy at the rounded pixel; the grid's gradient is 0 away from ties."""
    x_shape, grid_shape = shapes(nd)
    grid = grid_between_pixels(grid_shape, x_shape[2:], False)
    x, g = t64(rand(*x_shape), True), t64(grid, True)
    result = tm.gradcheck(lambda a, b: F.grid_sample(a, b, "nearest", "reflection"), [x, g])
    assert result.passed, result.report()
    F.grid_sample(x, g, "nearest").sum().backward()
    assert not g.grad.numpy().any()


@pytest.mark.parametrize("size", [(2, 1, 3, 4), (1, 2, 2, 3, 2)])
@pytest.mark.parametrize("align_corners", [False, True])
def test_gradcheck_affine_grid_through_the_sampler(size, align_corners):
    """d loss / d theta through affine_grid and grid_sample: the spatial transformer's chain."""
    nd = len(size) - 2
    theta = numpy.eye(nd, nd + 1)[None].repeat(size[0], 0) * 0.8 + rand(size[0], nd, nd + 1, seed=2) * 0.1
    x = rand(size[0], 2, *size[2:], seed=3)

    def warp(th, image):
        return F.grid_sample(
            image, F.affine_grid(th, (size[0], 2, *size[2:]), align_corners), align_corners=align_corners
        )

    result = tm.gradcheck(warp, [t64(theta, True), t64(x, True)])
    assert result.passed, result.report()
    assert tm.gradcheck(lambda th: F.affine_grid(th, size, align_corners), [t64(theta, True)]).passed


# ----------------------------------------------------------------------------- (c) parity


PARITY_CASES = [
    ("bilinear", "zeros", False),
    ("bilinear", "border", True),
    ("bilinear", "reflection", False),
    ("nearest", "zeros", True),
    ("nearest", "reflection", False),
]


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("mode, padding, align_corners", PARITY_CASES)
def test_grid_sample_parity(device, nd, mode, padding, align_corners):
    x_shape, grid_shape = shapes(nd)
    x = rand(*x_shape).astype(numpy.float32)
    grid = numpy.random.default_rng(4).uniform(-1.4, 1.4, grid_shape).astype(numpy.float32)
    gy = rand(*x_shape[:2], *grid_shape[1:-1], seed=5).astype(numpy.float32)

    def run(make):
        xt, gt = make(x, requires_grad=True), make(grid, requires_grad=True)
        y = F.grid_sample(xt, gt, mode, padding, align_corners)
        y.backward(make(gy))
        return y, xt.grad, gt.grad

    def on_cpu(array, requires_grad=False):
        return tm.tensor(array.copy(), requires_grad=requires_grad)

    for actual, expected in zip(run(device.tensor), device.reference(run, on_cpu), strict=True):
        assert actual.dtype == numpy.float32
        assert_close(actual, expected)


def test_grid_sample_parity_float64_3d(device):
    x, grid = rand(1, 3, 3, 2, 4), numpy.random.default_rng(6).uniform(-1.2, 1.2, (1, 2, 2, 3, 3))

    def run(make):
        xt, gt = make(x, requires_grad=True), make(grid, requires_grad=True)
        (F.grid_sample(xt, gt, padding_mode="border") ** 2).sum().backward()
        return xt.grad, gt.grad

    def on_cpu(array, requires_grad=False):
        return tm.tensor(array.copy(), requires_grad=requires_grad)

    for actual, expected in zip(run(device.tensor), device.reference(run, on_cpu), strict=True):
        assert_close(actual, expected, 1e-12, 1e-12)


@pytest.mark.parametrize("size", [(2, 3, 4, 5), (1, 2, 3, 2, 4)])
@pytest.mark.parametrize("align_corners", [False, True])
def test_identity_theta_reproduces_the_input(device, size, align_corners):
    nd = len(size) - 2
    x = device.tensor(rand(*size).astype(numpy.float32))
    theta = device.tensor(numpy.eye(nd, nd + 1, dtype=numpy.float32)[None].repeat(size[0], 0))
    y = F.grid_sample(x, F.affine_grid(theta, size, align_corners), align_corners=align_corners)
    assert_close(y, x, 1e-5, 1e-5)
    nearest = F.grid_sample(x, F.affine_grid(theta, size, align_corners), "nearest", align_corners=align_corners)
    assert_close(nearest, x, 0, 0)


@pytest.mark.parametrize("mode", MODES)
def test_non_finite_grid_points(device, mode):
    """nan / inf / huge coordinates: zeros padding reads 0 (PyTorch's CUDA kernel; its CPU kernel gives nan for
    bilinear); border and reflection clip nan to pixel 0 and inf to the last pixel, as PyTorch on both devices."""
    x = numpy.arange(12.0, dtype=numpy.float32).reshape(1, 1, 3, 4)
    grid = numpy.array([[[[numpy.nan, 0], [numpy.inf, 0], [-numpy.inf, 0], [1e20, 0]]]], dtype=numpy.float32)
    expected = {"zeros": [0, 0, 0, 0], "border": [4, 7, 4, 7], "reflection": [4, 4, 4, 4]}
    for padding, values in expected.items():
        xt, gt = device.tensor(x, requires_grad=True), device.tensor(grid, requires_grad=True)
        y = F.grid_sample(xt, gt, mode, padding)
        assert_close(y.reshape(-1), numpy.array(values, numpy.float32), 0, 0)
        y.sum().backward()
        assert numpy.isfinite(xt.grad.numpy()).all() and numpy.isfinite(gt.grad.numpy()).all()


# ----------------------------------------------------------------------------- (d) affine_grid


@settings(max_examples=20, deadline=None)
@given(nd=st.sampled_from([2, 3]), n=st.integers(1, 3), spatial=st.lists(st.integers(1, 5), min_size=3, max_size=3),
       align_corners=st.booleans(), seed=st.integers(0, 2**16))  # fmt: skip
def test_affine_grid_shape_and_values(nd, n, spatial, align_corners, seed):
    spatial = tuple(spatial[:nd])  # (H, W) or (D, H, W)
    theta = rand(n, nd, nd + 1, seed=seed)
    grid = F.affine_grid(t64(theta), (n, 2, *spatial), align_corners).numpy()
    assert grid.shape == (n, *spatial, nd) and grid.dtype == numpy.float64
    # normalised pixel centres along each axis, x first: linspace(-1, 1) scaled by (L-1)/L when not aligned
    lines = [pixel_centres(L, align_corners) for L in reversed(spatial)]
    for point in numpy.ndindex(*spatial):
        coords = [lines[a][point[nd - 1 - a]] for a in range(nd)] + [1.0]  # (x, y, [z,] 1)
        assert_close(grid[(slice(None), *point)], theta @ numpy.array(coords), 1e-12, 1e-12)
    identity = F.affine_grid(t64(numpy.eye(nd, nd + 1)[None]), (1, 1, *spatial), align_corners).numpy()
    assert numpy.abs(identity).max() <= 1.0
    for a in range(nd):  # the identity grid spans [-1, 1] (corner centres) or [-1 + 1/L, 1 - 1/L]
        L = spatial[nd - 1 - a]
        extreme = 0.0 if L == 1 else (1.0 if align_corners else 1 - 1 / L)
        assert math.isclose(identity[..., a].max(), extreme, abs_tol=1e-12)


def pixel_centres(L, align_corners):
    """Normalised coordinates of the L pixel centres along an axis."""
    if L == 1:
        return numpy.zeros(1)
    return numpy.arange(L) * 2 / (L - 1) - 1 if align_corners else (2 * numpy.arange(L) + 1) / L - 1


def test_affine_grid_float32_stays_float32():
    theta = tm.tensor(numpy.eye(2, 3, dtype=numpy.float32)[None])
    assert F.affine_grid(theta, (1, 1, 3, 3)).dtype == numpy.float32


# ----------------------------------------------------------------------------- PyTorch cross-check


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("align_corners", [False, True])
def test_matches_pytorch(nd, mode, padding, align_corners):
    torch = pytest.importorskip("torch")
    x_shape, grid_shape = ((2, 3, 4, 5), (2, 3, 4, 2)) if nd == 2 else ((2, 2, 3, 4, 5), (2, 2, 3, 4, 3))
    x, gy = rand(*x_shape), rand(*x_shape[:2], *grid_shape[1:-1], seed=7)
    grid = numpy.random.default_rng(8).uniform(-1.6, 1.6, grid_shape)
    grid.reshape(-1)[:6] = [-1.0, 1.0, 0.5, -0.5, 0.0, 2.0]  # edges and (for nearest) exact ties
    tx, tg = torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=True)
    expected = torch.nn.functional.grid_sample(tx, tg, mode, padding, align_corners)
    expected.backward(torch.tensor(gy))
    xt, gt = t64(x, True), t64(grid, True)
    y = F.grid_sample(xt, gt, mode, padding, align_corners)
    y.backward(t64(gy))
    assert_close(y, expected.detach().numpy(), 1e-10, 1e-12)
    assert_close(xt.grad, tx.grad.numpy(), 1e-10, 1e-12)
    assert_close(gt.grad, tg.grad.numpy(), 1e-10, 1e-12)


@pytest.mark.filterwarnings("ignore:Since version 1.3.0")  # PyTorch's note on unit-size grids
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 1, 3), (1, 2, 3, 1, 4)])
@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_matches_pytorch(size, align_corners):
    torch = pytest.importorskip("torch")
    nd = len(size) - 2
    theta = rand(size[0], nd, nd + 1, seed=9)
    expected = torch.nn.functional.affine_grid(torch.tensor(theta), size, align_corners=align_corners)
    assert_close(F.affine_grid(t64(theta), size, align_corners), expected.numpy(), 1e-12, 1e-12)


# ----------------------------------------------------------------------------- nn.SpatialTransformer


@pytest.mark.parametrize("spatial_dims, shape", [(2, (2, 3, 8, 6)), (3, (1, 2, 4, 6, 4))])
def test_spatial_transformer_starts_as_the_identity_and_learns(spatial_dims, shape):
    layer = SpatialTransformer(shape[1], spatial_dims)
    x = tm.tensor(rand(*shape).astype(numpy.float32))
    y = layer(x)
    assert y.shape == shape and y.dtype == numpy.float32
    assert_close(y, x, 1e-5, 1e-5)  # theta = identity, align_corners=False: exact pixel centres
    assert_close(layer.theta(x)[0], numpy.eye(spatial_dims, spatial_dims + 1), 0, 0)
    (y * tm.tensor(rand(*shape, seed=1).astype(numpy.float32))).sum().backward()
    assert numpy.abs(layer.head.bias.grad.numpy()).max() > 0  # the loss reaches theta
    assert numpy.abs(layer.head.weight.grad.numpy()).max() > 0  # and the localisation net's features


def test_spatial_transformer_output_size_and_custom_localization():
    loc = tm.nn.Sequential(tm.nn.Flatten(), tm.nn.Linear(1 * 5 * 5, 7), tm.nn.ReLU())
    layer = SpatialTransformer(1, output_size=(3, 4), localization=loc, features=7, padding_mode="border")
    assert layer(tm.tensor(rand(2, 1, 5, 5).astype(numpy.float32))).shape == (2, 1, 3, 4)
    with pytest.raises(ValueError, match="features"):
        SpatialTransformer(1, localization=loc)
    with pytest.raises(ShapeError, match=r"C = 1 \(x.shape=\(2, 3, 5, 5\)\)"):
        layer(tm.tensor(rand(2, 3, 5, 5).astype(numpy.float32)))


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs():
    x, theta = t64(rand(2, 1, 4, 4)), t64(rand(2, 2, 3))
    with pytest.raises(ShapeError, match=r"theta of shape \(N, 2, 3\).*theta.shape=\(2, 3, 4\)"):
        F.affine_grid(t64(rand(2, 3, 4)), (2, 1, 4, 4))
    with pytest.raises(ShapeError, match=r"N = size\[0\] = 3.*theta.shape=\(2, 2, 3\)"):
        F.affine_grid(theta, (3, 1, 4, 4))
    with pytest.raises(ShapeError, match=r"size must be .* got \(2, 4, 4\)"):
        F.affine_grid(theta, (2, 4, 4))
    with pytest.raises(ShapeError, match=r"grid \(N, OH, OW, 2\).*grid.shape=\(2, 3, 3, 3\)"):
        F.grid_sample(x, t64(rand(2, 3, 3, 3)))
    with pytest.raises(ShapeError, match=r"batch size N.*input.shape=\(2, 1, 4, 4\).*grid.shape=\(3, 3, 3, 2\)"):
        F.grid_sample(x, t64(rand(3, 3, 3, 2)))
    with pytest.raises(ShapeError, match=r"4-D or 5-D.*input.shape=\(1, 4, 4\)"):
        F.grid_sample(t64(rand(1, 4, 4)), t64(rand(1, 3, 2)))
    with pytest.raises(ValueError, match="mode 'bilinaer' is not supported"):
        F.grid_sample(x, t64(rand(2, 3, 3, 2)), mode="bilinaer")
    with pytest.raises(ValueError, match="padding_mode 'wrap'"):
        F.grid_sample(x, t64(rand(2, 3, 3, 2)), padding_mode="wrap")
    with pytest.raises(DTypeError, match="float64 and float32"):
        F.grid_sample(x, tm.tensor(rand(2, 3, 3, 2).astype(numpy.float32)))
    with pytest.raises(DTypeError, match="floating point"):
        F.affine_grid(tm.tensor(numpy.zeros((1, 2, 3), numpy.int64)), (1, 1, 2, 2))


# ----------------------------------------------------------------------------- data.transforms.RandomAffine


def test_random_affine_rotates_image_and_mask_like_rot90():
    from tinygrad_med.data.transforms import RandomAffine

    rng = numpy.random.default_rng(0)
    image, mask = rand(2, 5, 5).astype(numpy.float32), rng.integers(0, 3, (5, 5))
    turned, turned_mask = RandomAffine((90, 90))(image, mask, rng)  # counter-clockwise, as numpy.rot90
    assert turned.dtype == numpy.float32 and turned_mask.dtype == mask.dtype
    assert_close(turned, numpy.rot90(image, 1, axes=(-2, -1)), 1e-6, 1e-6)
    assert (turned_mask == numpy.rot90(mask)).all()
    same, same_mask = RandomAffine(0)(image, mask, rng)
    assert_close(same, image, 1e-6, 1e-6)
    assert (same_mask == mask).all()


def test_random_affine_3d_and_translation():
    from tinygrad_med.data.transforms import RandomAffine

    rng = numpy.random.default_rng(1)
    volume, labels = rand(1, 4, 4, 4), rng.integers(0, 4, (4, 4, 4))
    turned, turned_labels = RandomAffine((90, 90), spatial_dims=3)(volume, labels, rng)  # 90 degrees about each axis
    assert sorted(turned.ravel().round(9)) == sorted(volume.ravel().round(9))  # a permutation of the voxels
    assert sorted(turned_labels.ravel()) == sorted(labels.ravel())
    # translate only: the blob's centre of mass moves by the drawn shift (bilinear sampling keeps centroids)
    image = numpy.zeros((1, 16, 16))
    image[0, 7:9, 7:9] = 1.0
    shift = RandomAffine(0, translate=(0.25, 0.0))
    moved, _ = shift(image, None, numpy.random.default_rng(2))
    dx = -shift.theta((16, 16), numpy.random.default_rng(2))[0, 2] * 8  # theta's offset is -dx / (W / 2)
    assert abs(dx) > 0.5
    assert_close(moved.sum(axis=(0, 1)) @ numpy.arange(16) / moved.sum(), 7.5 + dx, 1e-9, 1e-9)
    assert_close(moved.sum(axis=(0, 2)) @ numpy.arange(16) / moved.sum(), 7.5, 1e-9, 1e-9)


def test_stn_classifier_starts_as_its_cnn_and_trains():
    from tinygrad_med.models.stn import STNClassifier

    model = STNClassifier(1, 3, width=4)
    x = tm.tensor(rand(4, 1, 8, 8).astype(numpy.float32))
    logits = model(x)
    assert logits.shape == (4, 3)
    assert_close(logits, model.classifier(x), 1e-5, 1e-5)  # the transformer starts as the identity
    optimizer = tm.optim.SGD(model.parameters(), lr=0.1)
    loss = F.cross_entropy(model(x), tm.tensor(numpy.array([0, 1, 2, 0])))
    loss.backward()
    assert numpy.abs(model.transformer.head.bias.grad.numpy()).max() > 0
    optimizer.step()
    assert numpy.abs(model.transformer.head.bias.numpy() - numpy.eye(2, 3).ravel()).max() > 0  # theta moved
