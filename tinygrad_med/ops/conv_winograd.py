"""Winograd minimal filtering: a CPU path of conv2d 3x3, stride 1, dilation 1, one group (inside winograd()).

Lecture: "Convolutional neural networks - Convolution" (the 3x3 kernel slid over the 5x5 feature map).
Reference: A. Lavin and S. Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016,
arXiv:1509.09308 (F(2x2, 3x3) and F(4x4, 3x3), their section 4 and Figure 1's matrices).

The slide's convolution computes each output from the 3x3 window below it: 9 products per output
and channel, which im2col (ops/conv.py) turns into one GEMM of F x 9C x (N * OH * OW).
Winograd computes a whole m x m tile of outputs from its (m+2) x (m+2) input tile with
alpha^2 = (m+2)^2 products instead of 9 m^2 (16/4 = 4 per output for m = 2, 36/16 = 2.25 for m = 4):

    Y = A^T [ (G g G^T) * (B^T d B) ] A        (* elementwise; g the 3x3 kernel, d the input tile)

Derivation in 1D, F(m, r) with alpha = m + r - 1 (the 2D form nests it along rows and columns).
The correlation y_i = sum_k g_k d_{i+k} (i < m, k < r) is the transpose, in the data, of the
polynomial product c(x) = h(x) w(x) of an m-term h and the r-term w = g: c = T(g) h and y = T(g)^T d.
Toom-Cook computes the product by evaluating both factors at alpha points p_0 .. p_{alpha-2} and
"infinity" (the leading coefficient), multiplying the values, and interpolating c back:

    c = V^-1 [ (E_r g) * (E_m h) ],   E_k[j, i] = p_j^i (row "infinity": e_{k-1}),  V = E_alpha

so T(g) = V^-1 diag(E_r g) E_m, and transposing, y = E_m^T [ (E_r g) * (V^-T d) ], i.e.

    A^T = E_m^T:  A^T[i, j] = p_j^i, and column "infinity" e_{m-1}
    G   = E_r with row j divided by N_j = prod_{l != j} (p_j - p_l)         (row "infinity": e_{r-1})
    B^T = V^-T with row j times N_j: the coefficients of prod_{l != j} (x - p_l)  (row "infinity":
          the coefficients of M(x) = prod_l (x - p_l))

because column j of V^-1 holds the Lagrange polynomial L_j(x) = prod_{l != j} (x - p_l) / N_j
(the polynomial of degree alpha - 2 that is 1 at p_j and 0 at the other points) and column
"infinity" holds M(x) (0 at every point, leading coefficient 1).  transform_matrices(points, m)
builds the three from the points; tests/test_winograd.py rebuilds them and checks they equal
the constants below and that F(m, 3) is exact in rational arithmetic.  With Lavin's points
(0, 1, -1, 2, -2) this gives his F(4x4, 3x3) matrices entry for entry; for F(2x2, 3x3)
(points 0, 1, -1) his rows 0 and "infinity" carry the opposite sign (in B^T and G, and B^T and A^T).

Float32 error (benchmarks/results/winograd-error-2026-12-07.json: the largest |z - z64| / max |z64| of y, gx
and gW against a float64 im2col, on the U-Net's 3x3 layers at batch 4 and on 16x64x32x32 -> 64), as a multiple
of float32 im2col's own error (1.3e-7 to 6.4e-7):

    F(2x2, 3x3), points 0, 1, -1:             y 0.4-1.4x, gx 0.4-1.9x, gW 1.0-2.2x
    F(4x4, 3x3), points 0, 1, -1, 2, -1/2:    y 2.4-14x,  gx 2.4-12x,  gW 5-9x
    F(4x4, 3x3), Lavin's 0, 1, -1, 2, -2:     y 8-37x,    gx 9-37x,    gW 13-22x

The transforms' larger entries (4, 5 in B^T; 1/24 in G; 8 in A^T for Lavin's points) cost digits; moving the
points closer to 0 (-1/2 for -2) keeps about 3x more.  We accept what stays within about 2.5x of float32
im2col in all three of y, gx and gW: F(2x2, 3x3), on every layer size measured.  F(4x4, 3x3) is built and
tested but not dispatched (tile_for): even with the better points its gradients lose 5-12x.

What runs where (all on the CPU, never inside ``tm.reference_mode()``, which keeps im2col):
- forward: y = winograd_conv(x, W, pads, m), one GEMM batch (alpha^2, F, C) @ (alpha^2, C, tiles);
- gx: for stride 1, gx is the convolution of gy (padded by 2 - P) with the flipped, transposed kernel
  (ops/conv_cpu.py::adjoint_geometry), which is again winograd_conv;
- gW: the adjoint of the forward's product: gU = gM @ V^T per transform position (gM = A gY A^T,
  V the forward's B^T d B, kept), gW = G^T gU G.
Tile transforms are batched matrix products over all tiles at once: every 1D transform is one
(alpha, alpha) @ (alpha, everything else) GEMM; there is no Python loop over pixels or tiles.
Not part of the math: the intermediate arrays come from and go back to ops/conv_cpu.py's spare_buffers
(fresh 10-20 MB arrays cost ~10 ms of page faults per step on 16x64x32x32), BLAS runs on one thread
and the alpha^2 position products are shared out to parallel threads (per_position).

Speed, fwd + bwd: by CPU time on one thread (benchmarks/results/winograd-2026-12-07.json, 2 cores shared
with other jobs) F(2x2, 3x3) paid on wide layers only; by wall time with default threads on the quiet
machine (benchmarks/bench_winograd_dispatch.py) it took 1.17-1.76x im2col's time at every width tried.
So the library runs it only inside ``winograd()`` (tile_for), on wide layers: C F / (C + F) >= 32.
"""

import contextlib
import fractions
import math

import numpy
from numpy.lib.stride_tricks import as_strided

from ..cpu_threads import one_blas_thread
from . import conv_cpu
from .conv_cpu import spare_buffers

__all__ = [
    "transform_matrices",
    "matrices",
    "POINTS",
    "LAVIN_POINTS_F4",
    "MATRICES",
    "tile_for",
    "winograd_conv",
    "conv_forward",
    "conv_backward",
    "per_position",
]

# Interpolation points (finite ones; "infinity" is always the last).  F(2x2, 3x3): Lavin and Gray's.
# F(4x4, 3x3): 2 and -1/2 in place of their 2 and -2, which keeps 3x more digits in float32 (module docstring).
POINTS = {2: (0, 1, -1), 4: (0, 1, -1, 2, fractions.Fraction(-1, 2))}
LAVIN_POINTS_F4 = (0, 1, -1, 2, -2)  # Lavin and Gray's F(4x4, 3x3), kept for comparison (tests, benchmarks)


def transform_matrices(points, m, r=3):
    """(B^T, G, A^T) of F(m, r) from alpha - 1 = m + r - 2 finite interpolation points (plus infinity).

    Lecture: "Convolutional neural networks - Convolution".
    Forward:  B^T[j] = coefficients of prod_{l != j} (x - p_l), B^T[inf] = those of prod_l (x - p_l);
              G[j, k] = p_j^k / prod_{l != j} (p_j - p_l), G[inf] = e_{r-1};
              A^T[i, j] = p_j^i, A^T[:, inf] = e_{m-1}   (see the module docstring)
    Shapes:   B^T (alpha, alpha), G (alpha, r), A^T (m, alpha) as lists of Fractions (exact).
    """
    p = [fractions.Fraction(v) for v in points]
    alpha = m + r - 1
    assert len(p) == alpha - 1, "F(m, r) needs m + r - 2 finite points"

    def coefficients(roots):  # prod (x - root), lowest power first, padded to alpha terms
        c = [fractions.Fraction(1)]
        for root in roots:
            c = [(c[i - 1] if i else 0) - root * (c[i] if i < len(c) else 0) for i in range(len(c) + 1)]
        return c + [fractions.Fraction(0)] * (alpha - len(c))

    others = [[q for i, q in enumerate(p) if i != j] for j in range(alpha - 1)]
    norms = [math.prod((pj - q for q in rest), start=fractions.Fraction(1)) for pj, rest in zip(p, others)]
    BT = [coefficients(rest) for rest in others] + [coefficients(p)]
    G = [[pj**k / n for k in range(r)] for pj, n in zip(p, norms)] + [[0] * (r - 1) + [1]]
    AT = [[pj**i for pj in p] + [1 if i == m - 1 else 0] for i in range(m)]
    return BT, G, AT


def matrices(points, m):
    """transform_matrices(points, m) as float64 arrays (B^T, G, A^T)."""
    return tuple(numpy.array([[float(v) for v in row] for row in M]) for M in transform_matrices(points, m))


# (B^T, G, A^T) per output tile size m, in float64; winograd_conv casts them to the input's dtype.
MATRICES = {m: matrices(points, m) for m, points in POINTS.items()}


# ----------------------------------------------------------------------------- which convolutions take it


def tile_for(x, W, geometry, groups):
    """The output tile size m (2 or 4) that this convolution runs with, or None for the im2col fast path.

    Taken only inside ``winograd()`` (off by default), for a convolution that ``applies`` to, with channels
    wide enough: C F / (C + F) >= 32 (64 -> 64 and wider).  Per tile, Winograd saves GEMM work ~ C F (4
    products per output instead of 9) and adds transform work ~ C + F (memory passes over the tiles).
    Measured by CPU time on one thread while other jobs held the 2 cores (benchmarks/results/
    winograd-2026-12-07.json), F(2x2, 3x3) took 0.85-0.97x im2col's time on 64 -> 64 and 16x64x32x32 -> 64;
    but on the quiet 2-core machine with default threads, fwd+bwd, it took 1.17-1.76x im2col's wall time at
    every width tried (64 -> 64 at 32x32 batch 4 and 16, 128 -> 128 at 32 and 64, 256 -> 256 at 16;
    benchmarks/results/winograd-quiet-2026-12-07.json): the transforms are memory passes that im2col's one
    large threaded GEMM does not pay.  So the library does not take it by itself; the tile is F(2x2, 3x3),
    the one within the accepted float32 error (module docstring).
    """
    C, F = x.shape[1], W.shape[0]
    wide = C * F >= _MIN_HARMONIC * (C + F)
    return 2 if _ON[0] and applies(x, geometry, groups) and wide else None


def applies(x, geometry, groups):
    """Whether Winograd F(m x m, 3x3) computes this convolution and its gradients: a CPU float32/float64
    conv2d with a 3x3 kernel, stride 1, dilation 1, one group, padding 0..2 per side (so that gx is again
    a stride-1 convolution) and a non-empty batch."""
    return (
        len(geometry.K) == 2
        and geometry.K == (3, 3)
        and geometry.S == (1, 1)
        and geometry.dil == (1, 1)
        and groups == 1
        and all(0 <= p <= 2 for pair in geometry.P for p in pair)
        and x.dtype in (numpy.float32, numpy.float64)
        and x.size > 0
    )


_MIN_HARMONIC = 32  # C F / (C + F): the GEMM work Winograd saves per tile over the transforms' work it adds
_ON = [False]  # inside winograd(): the wide 3x3 stride-1 convolutions run Winograd (tile_for)


@contextlib.contextmanager
def winograd(on=True):
    """Context manager: conv2d 3x3 stride 1 on wide channels runs Winograd F(2x2, 3x3) on the CPU inside it.

    Off by default (tile_for says why).  The choice is made in the forward and kept for its backward, so
    ``with winograd(): y = F.conv2d(x, w, padding=1)`` then ``y.sum().backward()`` runs both by Winograd.
    """
    previous, _ON[0] = _ON[0], bool(on)
    try:
        yield
    finally:
        _ON[0] = previous


# ----------------------------------------------------------------------------- the fast path


def conv_forward(ctx, x, W, b):
    """ConvNd.forward's y on the CPU: Winograd where tile_for takes the shape, else ops/conv_cpu.py's path.

    Keeps on ctx what conv_backward needs: ctx.tile (m or None) and ctx.V, the transformed input."""
    ctx.tile = tile_for(x, W, ctx.geometry, ctx.groups)
    if ctx.tile is None:
        return conv_cpu.conv_forward(ctx, x, W, b)
    y, ctx.V = winograd_conv(x, W, ctx.geometry.P, ctx.tile)
    if b is not None:
        y += b.reshape(-1, 1, 1)
    return y


def conv_backward(ctx, gy):
    """ConvNd.backward's (gx, gW, gb): gx by Winograd on the flipped kernel, gW by the adjoint product.

    ctx.V goes back to the spare buffers afterwards; a second backward (retain_graph) transforms x again."""
    if ctx.tile is None:
        return conv_cpu.conv_backward(ctx, gy)
    W, geometry, m = ctx.W, ctx.geometry, ctx.tile
    gx = gW = gb = None
    if ctx.needs_input_grad[0]:  # gx = conv(gy, W flipped and transposed, padding 2 - P)
        adjoint = conv_cpu.adjoint_geometry(geometry)
        gx, V_gy = winograd_conv(gy, conv_cpu.flipped_transposed(W, 1), adjoint.P, m)  # gx (N, C, H, W)
        spare_buffers.put(V_gy.base)
    if ctx.needs_input_grad[1]:
        V = ctx.V if ctx.V is not None else _input_transform(ctx.x, MATRICES[m][0].astype(gy.dtype), m, *_pads(ctx))
        gW = _weight_grad(gy, V, m).astype(W.dtype, copy=False)
    if ctx.V is not None:
        spare_buffers.put(ctx.V.base)
        ctx.V = None
    if len(ctx.needs_input_grad) > 2:
        gb = gy.sum(axis=(0, 2, 3))
    return gx, gW, gb


def winograd_conv(x, W, pads, m):
    """y = conv2d(x, W, padding=pads) (3x3, stride 1) by F(m x m, 3 x 3), and V = B^T d B of every tile.

    Forward:  U = G W G^T, V = B^T d B per tile, M = U @ V per position (a GEMM over channels),
              y tile = A^T M A
    Shapes:   x (N, C, H, W), W (F, C, 3, 3), pads ((top, bottom), (left, right)) -> y (N, F, OH, OW),
              OH = H + top + bottom - 2; V (alpha^2, C, N * TH * TW), TH = ceil(OH / m) tiles per column
    """
    BT, G, AT = (M.astype(x.dtype) for M in MATRICES[m])
    N, F = x.shape[0], W.shape[0]
    (top, bottom), (left, right) = pads
    OH, OW = x.shape[2] + top + bottom - 2, x.shape[3] + left + right - 2
    TH, TW = -(-OH // m), -(-OW // m)
    with one_blas_thread():
        V = _input_transform(x, BT, m, (top, TH * m + 2 - x.shape[2] - top), (left, TW * m + 2 - x.shape[3] - left))
        U = _kernel_transform(W, G)  # (alpha^2, F, C)
        M = per_position(U, V)  # one GEMM per transform position: (alpha^2, F, C) @ (alpha^2, C, N*TH*TW)
        Y = _output_transform(M, AT)  # (m, m, F * N*TH*TW), Y[q, p] = output (p, q) of each tile
        spare_buffers.put(M)
    y = Y.reshape(m, m, F, N, TH, TW).transpose(3, 2, 4, 1, 5, 0).reshape(N, F, TH * m, TW * m)
    y = numpy.ascontiguousarray(y[:, :, :OH, :OW])
    spare_buffers.put(Y)
    return y, V


def _pads(ctx):
    """The (rows, columns) padding of x that winograd_conv gave _input_transform in the forward."""
    m, geometry = ctx.tile, ctx.geometry
    (top, bottom), (left, right) = geometry.P
    TH, TW = -(-geometry.O[0] // m), -(-geometry.O[1] // m)
    return (top, TH * m + 2 - geometry.I[0] - top), (left, TW * m + 2 - geometry.I[1] - left)


def _kernel_transform(W, G):
    """U[(b, a), f, c] = (G W[f, c] G^T)[a, b]: the position order of _input_transform's V."""
    alpha = G.shape[0]
    U = numpy.einsum("ak,fckl,bl->bafc", G, W, G, optimize=True)  # (alpha, alpha, F, C)
    return numpy.ascontiguousarray(U).reshape(alpha * alpha, W.shape[0], W.shape[1])


def _input_transform(x, BT, m, rows_pad, cols_pad):
    """V[(b, a), c, (n, th, tw)] = (B^T d B)[a, b] for the tile d at rows m*th.., columns m*tw.. of the padded x.

    Two GEMMs (B^T along the rows of every tile, then along the columns), each on a copy of the
    overlapping windows laid out with the window offset first.  Shapes: x (N, C, H, W) ->
    V (alpha^2, C, N * TH * TW), a view of a buffer that the caller may hand back to spare_buffers.
    """
    alpha, (N, C, H, W) = BT.shape[0], x.shape
    xp = spare_buffers.take((N, C, H + sum(rows_pad), W + sum(cols_pad)), x.dtype)  # (N, C, TH*m + 2, TW*m + 2)
    _pad_into(xp, x, rows_pad[0], cols_pad[0])
    TH, TW, Wp = (xp.shape[2] - 2) // m, (xp.shape[3] - 2) // m, xp.shape[3]
    sN, sC, sH, sW = xp.strides
    rows = _copy(as_strided(xp, (alpha, C, N, TH, Wp), (sH, sC, sN, m * sH, sW), writeable=False))  # [i, c, n, th, w]
    spare_buffers.put(xp)
    R = _product(BT, rows.reshape(alpha, -1))  # (alpha_a, C*N*TH*Wp): B^T along the rows
    spare_buffers.put(rows)
    s = R.itemsize
    cols = _copy(  # [j, a, c, n, th, tw] = R[a, c, n, th, m*tw + j]
        as_strided(R, (alpha, alpha, C, N, TH, TW), (s, R.strides[0], N * TH * Wp * s, TH * Wp * s, Wp * s, m * s))
    )
    spare_buffers.put(R)
    V = _product(BT, cols.reshape(alpha, -1))  # (alpha_b, alpha_a * C*N*TH*TW)
    spare_buffers.put(cols)
    return V.reshape(alpha * alpha, C, N * TH * TW)


def _output_transform(M, AT):
    """Y[q, p] = sum_{a, b} A^T[p, a] A^T[q, b] M[(b, a)]: (alpha^2, F, T) -> (m, m, F * T), two GEMMs."""
    m, alpha = AT.shape
    Z = _product(AT, M.reshape(alpha, -1))  # (m_q, alpha_a * F * T): A^T along the columns of every tile
    Y = spare_buffers.take((m, m, Z.shape[1] // alpha), M.dtype)
    numpy.matmul(AT, Z.reshape(m, alpha, -1), out=Y)  # A^T along the rows
    spare_buffers.put(Z)
    return Y


def _weight_grad(gy, V, m):
    """gW = G^T gU G with gU = gM @ V^T per position, gM = A gY A^T: the adjoint of winograd_conv in W.

    Shapes: gy (N, F, OH, OW), V (alpha^2, C, T) -> gW (F, C, 3, 3).
    """
    BT, G, AT = (M.astype(gy.dtype) for M in MATRICES[m])
    alpha, (N, F, OH, OW) = G.shape[0], gy.shape
    TH, TW = -(-OH // m), -(-OW // m)
    gy_p = spare_buffers.take((N, F, TH * m, TW * m), gy.dtype)
    _pad_into(gy_p, gy, 0, 0)
    gY = _copy(gy_p.reshape(N, F, TH, m, TW, m).transpose(5, 3, 1, 0, 2, 4))  # (m_q, m_p, F, N, TH, TW)
    spare_buffers.put(gy_p)
    with one_blas_thread():
        gZ = _product(AT.T, gY.reshape(m, -1))  # (alpha_b, m_p * F*T): A along the columns
        spare_buffers.put(gY)
        gM = spare_buffers.take((alpha, alpha, F * N * TH * TW), gy.dtype)
        numpy.matmul(AT.T, gZ.reshape(alpha, m, -1), out=gM)  # (alpha_b, alpha_a, F*T): A along the rows
        spare_buffers.put(gZ)
        gU = per_position(gM.reshape(alpha * alpha, F, -1), V.swapaxes(1, 2))  # (alpha^2, F, C): one GEMM each
        spare_buffers.put(gM)
    gU = gU.reshape(alpha, alpha, F, -1)  # [b, a, f, c]
    return numpy.einsum("ak,bafc,bl->fckl", G, gU, G, optimize=True)


def _pad_into(out, x, top, left):
    """out = x zero-padded: x at rows top.., columns left.. of out (N, C, *, *), zeros around it."""
    H, W = x.shape[2:]
    out[:, :, :top] = 0
    out[:, :, top + H :] = 0
    out[:, :, top : top + H, :left] = 0
    out[:, :, top : top + H, left + W :] = 0
    out[:, :, top : top + H, left : left + W] = x


def _copy(view):
    """A contiguous copy of ``view`` in a spare buffer."""
    out = spare_buffers.take(view.shape, view.dtype)
    numpy.copyto(out, view)
    return out


def _product(A, B):
    """A @ B (2-D) into a spare buffer."""
    out = spare_buffers.take((A.shape[0], B.shape[1]), numpy.result_type(A, B))
    return numpy.matmul(A, B, out=out)


def per_position(A, B):
    """numpy.matmul(A, B) over the transform positions (axis 0), the positions shared out to parallel threads.

    Not part of the math: each thread's products run on one BLAS thread (one_blas_thread holds BLAS there),
    so that the alpha^2 products wait for the other core once, not once per product.  Measured on 2 cores
    under load (load average ~20): BLAS's own two threads made F(2x2, 3x3) on 4x16x128x128 take ~1 s a
    step, 16 products each waiting for the second thread.  A (P, a, b), B (P, b, c) -> (P, a, c).
    """
    out = spare_buffers.take((A.shape[0], A.shape[1], B.shape[2]), numpy.result_type(A, B))
    workers = min(conv_cpu.worker_count(), A.shape[0])
    bounds = [A.shape[0] * i // workers for i in range(workers + 1)]

    def part(k):
        numpy.matmul(A[bounds[k] : bounds[k + 1]], B[bounds[k] : bounds[k + 1]], out=out[bounds[k] : bounds[k + 1]])

    if workers <= 1:
        part(0)
    else:
        list(conv_cpu.thread_pool().map(part, range(workers)))
    return out
