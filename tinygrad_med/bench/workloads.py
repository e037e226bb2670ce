"""What ``tgm bench`` measures: one Workload per op (or model step), at three sizes per device.

Each workload gives its inputs, the tinygrad_med call, the same call in PyTorch (for
the comparison, when torch is importable) and its minimum cost: the FLOPs it must do
and the bytes it must move through memory (each input read once, each output written
once, float32).  The forward+backward cost counts the backward's own reads and writes
(gy, the saved inputs, the gradients); for products it is three times the forward.
"""

from dataclasses import dataclass, field

import numpy

__all__ = ["Workload", "WORKLOADS", "families", "QUICK"]

F32 = 4  # bytes per element


@dataclass
class Workload:
    """One benchmarked op.

    Attributes:
        name, family: how the row is labelled and selected (``--ops family``).
        sizes: {'small'|'medium'|'large': params}; ``gpu_large`` replaces 'large' on the GPU.
        inputs: params, rng -> list of (float64 array, requires_grad) or ('int', array).
        run: (tm, *tensors) -> output tensor (a scalar for losses).
        torch_run: (torch, *tensors) -> output, or None.
        cost: params -> (flops_fwd, bytes_fwd, flops_fb, bytes_fb).
        backward: False for ops timed forward only.
    """

    name: str
    family: str
    sizes: dict
    inputs: object
    run: object
    cost: object
    torch_run: object = None
    gpu_large: dict = field(default=None)
    backward: bool = True

    def params(self, size, device):
        if size == "large" and device == "cuda" and self.gpu_large is not None:
            return self.gpu_large
        return self.sizes[size]


def _r(rng, *shape):
    return rng.standard_normal(shape)


# ----------------------------------------------------------------------------- products and elementwise


def _matmul_cost(p):
    n = p["n"]
    return 2 * n**3, 3 * n * n * F32, 6 * n**3, 9 * n * n * F32


def _elementwise(name, torch_name, fwd_bytes=2, fb_bytes=5):
    return Workload(
        name,
        "elementwise",
        sizes={"small": {"n": 2**16}, "medium": {"n": 2**20}, "large": {"n": 2**24}},
        gpu_large={"n": 2**28},
        inputs=lambda p, rng: [(_r(rng, p["n"]), True)],
        run=lambda tm, x: getattr(tm.nn.functional, name)(x),
        torch_run=lambda torch, x: getattr(torch.nn.functional, torch_name)(x),
        cost=lambda p: (p["n"], fwd_bytes * p["n"] * F32, 3 * p["n"], fb_bytes * p["n"] * F32),
    )


def _nchw(p):
    return p["N"], p["C"], p["H"], p["W"]


_IMAGE_SIZES = {
    "small": {"N": 2, "C": 16, "H": 32, "W": 32},
    "medium": {"N": 16, "C": 64, "H": 32, "W": 32},
    "large": {"N": 32, "C": 64, "H": 64, "W": 64},
}
_IMAGE_GPU_LARGE = {"N": 128, "C": 128, "H": 128, "W": 128}


def _image_bytes(p, factor):
    return factor * int(numpy.prod(_nchw(p))) * F32


# ----------------------------------------------------------------------------- convolutions


def _conv_cost(p, dims, groups=1, transposed=False):
    spatial = p["H"] ** dims if dims > 1 else p["H"]
    kernel = p["K"] ** dims
    out = spatial // (p.get("S", 1) ** dims) if not transposed else spatial * p.get("S", 1) ** dims
    per_out = 2 * (p["C"] // groups) * kernel
    flops = p["N"] * p["F"] * (out if not transposed else spatial) * per_out
    moved = (p["N"] * p["C"] * spatial + p["F"] * p["C"] // groups * kernel + p["N"] * p["F"] * out) * F32
    return flops, moved, 3 * flops, 3 * moved


def _conv(name, dims, groups=1, dilation=1, stride=1, transposed=False, sizes=None, gpu_large=None):
    fn = f"conv_transpose{dims}d" if transposed else f"conv{dims}d"
    pad = dilation * (3 - 1) // 2 if not transposed else 0

    def inputs(p, rng):
        shape_x = (p["N"], p["C"]) + (p["H"],) * dims
        if transposed:
            shape_w = (p["C"], p["F"] // groups) + (p["K"],) * dims
        else:
            shape_w = (p["F"], p["C"] // groups) + (p["K"],) * dims
        return [(_r(rng, *shape_x), True), (_r(rng, *shape_w) * 0.1, True)]

    def run(lib, x, w):
        options = {"stride": stride, "padding": pad, "groups": groups, "dilation": dilation}
        return getattr(lib.nn.functional, fn)(x, w, **options)

    return Workload(
        name,
        "conv",
        sizes=sizes,
        gpu_large=gpu_large,
        inputs=inputs,
        run=run,
        torch_run=run,
        cost=lambda p: _conv_cost({**p, "S": stride}, dims, groups, transposed),
    )


_CONV2D = {
    "small": {"N": 2, "C": 16, "H": 32, "F": 16, "K": 3},
    "medium": {"N": 16, "C": 64, "H": 32, "F": 64, "K": 3},  # the W1
    "large": {"N": 32, "C": 64, "H": 64, "F": 64, "K": 3},
}
_CONV2D_GPU = {"N": 64, "C": 128, "H": 128, "F": 128, "K": 3}
_CONV3D = {
    "small": {"N": 1, "C": 4, "H": 8, "F": 4, "K": 3},
    "medium": {"N": 2, "C": 16, "H": 32, "F": 16, "K": 3},  # the W3
    "large": {"N": 2, "C": 32, "H": 48, "F": 32, "K": 3},
}
_CONV1D = {
    "small": {"N": 4, "C": 16, "H": 256, "F": 16, "K": 3},
    "medium": {"N": 16, "C": 64, "H": 1024, "F": 64, "K": 3},
    "large": {"N": 32, "C": 128, "H": 4096, "F": 128, "K": 3},
}


# ----------------------------------------------------------------------------- memory-bound image ops


def _image_op(name, family, run, torch_run, fwd_factor, fb_factor, extra_inputs=None):
    def inputs(p, rng):
        items = [(_r(rng, *_nchw(p)), True)]
        return items + (extra_inputs(p, rng) if extra_inputs else [])

    return Workload(
        name,
        family,
        sizes=_IMAGE_SIZES,
        gpu_large=_IMAGE_GPU_LARGE,
        inputs=inputs,
        run=run,
        torch_run=torch_run,
        cost=lambda p: (0, _image_bytes(p, fwd_factor), 0, _image_bytes(p, fb_factor)),
    )


def _rotation_grid(p, degrees=10.0, scale=0.9):
    """affine_grid of a small rotation and zoom, (N, H, W, 2): the spatial transformer's typical grid."""
    angle = numpy.radians(degrees)
    theta = scale * numpy.array([[numpy.cos(angle), -numpy.sin(angle)], [numpy.sin(angle), numpy.cos(angle)]])
    ys, xs = ((2 * numpy.arange(n) + 1) / n - 1 for n in (p["H"], p["W"]))  # pixel centres, align_corners=False
    points = numpy.stack(numpy.meshgrid(xs, ys, indexing="xy"), axis=-1)  # (H, W, 2) as (x, y)
    return numpy.broadcast_to(points @ theta.T, (p["N"], p["H"], p["W"], 2)).copy()


def _bn_params(p, rng):
    return [(numpy.ones(p["C"]), True), (numpy.zeros(p["C"]), True)]


def _batch_norm(lib, x, gamma, beta):
    return lib.nn.functional.batch_norm(x, None, None, gamma, beta, training=True)


def _cross_entropy_inputs(p, rng):
    return [(_r(rng, p["N"], p["C"]), True), ("int", rng.integers(0, p["C"], p["N"]))]


def _adam_inputs(p, rng):
    return [(_r(rng, p["n"]), True)]


_MESHES = {}


def _roi_boxes(p, rng, per_image=16):
    """(K, 5) RoIs (batch index, x1, y1, x2, y2): per_image boxes of 1/8 to 1/2 of the image side, inside it."""
    N, H, W = p["N"], p["H"], p["W"]
    K = N * per_image
    size = rng.uniform(0.125, 0.5, (K, 2)) * (W, H)
    corner = rng.uniform(0, 1, (K, 2)) * ((W, H) - size)
    return numpy.concatenate([numpy.repeat(numpy.arange(N), per_image)[:, None], corner, corner + size], axis=1)


def _roi_align_cost(p, per_image=16, bins=49, samples=4):
    """Bytes of roi_align with 2x2 samples a bin: each output reads 4 taps of 4 samples (mostly cached: counted
    once), so the floor is the output written and the pixels the boxes cover read once; the backward adds gy
    read and the input gradient written (zeroed, then scatter-added)."""
    N, C, H, W = _nchw(p)
    outputs = N * per_image * C * bins
    flops = outputs * samples * 4 * 2  # 4 taps a sample, multiply-add
    return flops, (outputs + N * C * H * W) * F32, 3 * flops, (2 * outputs + 3 * N * C * H * W) * F32


def _mesh(num_nodes):
    """The grid mesh graph with num_nodes = side^2 vertices (built once per size): about 6 edges per vertex."""
    if num_nodes not in _MESHES:
        from ..graph import grid_mesh, mesh_graph

        side = int(round(num_nodes**0.5))
        _MESHES[num_nodes] = mesh_graph(*grid_mesh(side, side), pseudo=None)
    return _MESHES[num_nodes]


def _spmm_cost(p):
    """2 E F flops; x read and y written once, CSR read (int64 index + value per edge); backward: A^T and perm."""
    V, F = p["side"] ** 2, p["F"]
    E = 6 * V  # interior vertices of the triangulated grid have 6 neighbours
    fwd = 2 * V * F * F32 + E * (8 + F32) + V * 8
    return 2 * E * F, fwd, 4 * E * F, 2 * fwd + E * 8


WORKLOADS = [
    Workload(
        "matmul (cuBLAS/BLAS)",
        "matmul",
        sizes={"small": {"n": 256}, "medium": {"n": 1024}, "large": {"n": 2048}},
        gpu_large={"n": 4096},
        inputs=lambda p, rng: [(_r(rng, p["n"], p["n"]), True), (_r(rng, p["n"], p["n"]), True)],
        run=lambda tm, a, b: a @ b,
        torch_run=lambda torch, a, b: a @ b,
        cost=_matmul_cost,
    ),
    Workload(
        "gemm_tiled (ours)",
        "matmul",
        sizes={"small": {"n": 256}, "medium": {"n": 1024}, "large": {"n": 2048}},
        gpu_large={"n": 4096},
        inputs=lambda p, rng: [(_r(rng, p["n"], p["n"]), False), (_r(rng, p["n"], p["n"]), False)],
        run=lambda tm, a, b: _tiled(a, b),
        cost=_matmul_cost,
        backward=False,
    ),
    _elementwise("relu", "relu"),
    _elementwise("sigmoid", "sigmoid"),
    _elementwise("tanh", "tanh"),
    Workload(
        "cross_entropy",
        "loss",
        sizes={"small": {"N": 64, "C": 10}, "medium": {"N": 1024, "C": 100}, "large": {"N": 8192, "C": 1000}},
        gpu_large={"N": 65536, "C": 1000},
        inputs=_cross_entropy_inputs,
        run=lambda tm, x, t: tm.nn.functional.cross_entropy(x, t),
        torch_run=lambda torch, x, t: torch.nn.functional.cross_entropy(x, t),
        cost=lambda p: (5 * p["N"] * p["C"], p["N"] * p["C"] * F32, 8 * p["N"] * p["C"], 3 * p["N"] * p["C"] * F32),
    ),
    _conv("conv2d 3x3", 2, sizes=_CONV2D, gpu_large=_CONV2D_GPU),
    _conv("conv2d 3x3 dilated 2", 2, dilation=2, sizes=_CONV2D, gpu_large=_CONV2D_GPU),
    _conv("conv2d 3x3 groups 8", 2, groups=8, sizes=_CONV2D, gpu_large=_CONV2D_GPU),
    _conv("conv_transpose2d 3x3 s2", 2, stride=2, transposed=True, sizes=_CONV2D, gpu_large=_CONV2D_GPU),
    _conv("conv1d k3", 1, sizes=_CONV1D),
    _conv("conv3d 3x3x3", 3, sizes=_CONV3D, gpu_large={"N": 4, "C": 32, "H": 64, "F": 32, "K": 3}),
    _image_op(
        "max_pool2d 2x2",
        "pool",
        lambda lib, x: lib.nn.functional.max_pool2d(x, 2),
        lambda torch, x: torch.nn.functional.max_pool2d(x, 2),
        1.25,
        2.75,
    ),
    _image_op(
        "avg_pool2d 2x2",
        "pool",
        lambda lib, x: lib.nn.functional.avg_pool2d(x, 2),
        lambda torch, x: torch.nn.functional.avg_pool2d(x, 2),
        1.25,
        2.5,
    ),
    _image_op("batch_norm (train)", "norm", _batch_norm, _batch_norm, 3, 7, extra_inputs=_bn_params),
    _image_op(
        "dropout p=0.5",
        "dropout",
        lambda lib, x: lib.nn.functional.dropout(x, 0.5, True),
        lambda torch, x: torch.nn.functional.dropout(x, 0.5, True),
        2,
        4,
    ),
    _image_op(
        "interpolate bilinear x2",
        "resample",
        lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
        lambda torch, x: torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
        5,
        10,
    ),
    _image_op(
        "grid_sample bilinear (rotation)",
        "sample",
        lambda lib, x, grid: lib.nn.functional.grid_sample(x, grid, align_corners=False),
        lambda torch, x, grid: torch.nn.functional.grid_sample(x, grid, align_corners=False),
        2.5,  # x gathered (4 taps, mostly cached) + y written + the grid
        6,  # + gy read, x re-read for d/dgrid, gx zeroed and scatter-added
        extra_inputs=lambda p, rng: [(_rotation_grid(p), True)],
    ),
    _image_op(
        "interpolate bicubic x2",
        "resample",
        lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False),
        lambda torch, x: torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False),
        5,
        10,
    ),
    Workload(
        "roi_align 7x7 (ours)",
        "detection",
        sizes=_IMAGE_SIZES,
        gpu_large=_IMAGE_GPU_LARGE,
        inputs=lambda p, rng: [(_r(rng, *_nchw(p)), True), (_roi_boxes(p, rng), False)],
        run=lambda tm, x, boxes: tm.ops.detection.roi_align(x, boxes, 7, sampling_ratio=2, aligned=True),
        cost=_roi_align_cost,
    ),
    Workload(
        "spmm mesh (ours)",
        "graph",
        sizes={"small": {"side": 64, "F": 64}, "medium": {"side": 128, "F": 64}, "large": {"side": 317, "F": 64}},
        gpu_large={"side": 1000, "F": 64},
        inputs=lambda p, rng: [(_r(rng, p["side"] ** 2, p["F"]), True)],
        run=lambda tm, x: tm.nn.functional.spmm(_mesh(x.shape[0]), x),
        cost=_spmm_cost,
    ),
    Workload(
        "adam step",
        "optim",
        sizes={"small": {"n": 2**16}, "medium": {"n": 2**20}, "large": {"n": 2**24}},
        gpu_large={"n": 2**28},
        inputs=_adam_inputs,
        run=None,
        cost=lambda p: (12 * p["n"], 7 * p["n"] * F32, 12 * p["n"], 7 * p["n"] * F32),
        backward=False,
    ),
]


# ``tgm bench --quick``: one workload or more of every op family (so each has its row, its plot and its
# point on the roofline) at the small size only, 3 timed runs after 1 warm-up; the slow model steps and the
# variants that repeat a family's kernel are left out. Good for the pictures, not for a claim.
QUICK = {
    "sizes": ["small"],
    "repeat": 3,
    "warmup": 1,
    "skip": (
        "small CNN step (1x32x32)",
        "U-Net 16-32-64 step",
        "LSTM 128->256 step",
        "conv2d 3x3 dilated 2",
        "interpolate bicubic x2",
    ),
}


def families():
    """The family names ``--ops`` accepts."""
    return sorted({w.family for w in WORKLOADS} | {"model"})


def _tiled(a, b):
    from ..ops.gemm import tiled_matmul

    return tiled_matmul(a, b)
