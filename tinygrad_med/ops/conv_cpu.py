"""The fast CPU path of convolution (ops/conv.py): one batched product for 1x1, chunks, threads, reused buffers.

Lecture: "Convolutional neural networks - Convolution".  Nothing here changes the math of the
reference in conv.py (im2col + one GEMM per group, col2im for the adjoint; a test holds the two
equal); it only decides how the CPU runs it.  ConvNd reaches this module in one line, and never
inside ``tm.reference_mode()``:

- a 1x1 kernel with stride 1 and no padding skips im2col (x already is the column matrix);
- a large layer goes chunk by chunk of output positions so that its column block stays in cache
  (goes_by_chunks, _chunks, over_chunks), with gx by the flipped-kernel convolution where that is one
  (adjoint_geometry, flipped_transposed); sums over chunks are added in chunk order (in_chunk_order);
- without groups and with 8 channels or more, a chunk's product runs pixel-major: y^T = im2row(x) @
  W_rows, the transpose of im2col's product, which BLAS runs faster on these shapes (pixel_major,
  ops/conv_rows.py, which copies only the rows of one offset of the kernel's first dim);
- every product runs with BLAS on one thread, split over our own workers (columns_product,
  contracted_product, over_chunks): BLAS's threads would keep spinning beside them;
- im2col and col2im copy by blocks of channels in parallel threads (by_channel_blocks);
- the column buffer of one training step is reused by the next (spare_buffers, empty_cache), and each
  worker copies and multiplies in its own scratch buffers (conv_rows.scratch).

The GPU takes none of these paths: it runs the reference with kernels/conv.cu's im2col and col2im.
"""

import math
import threading

import numpy

from .. import backend
from ..cpu_threads import ThreadpoolController, one_blas_thread, split_over_workers, thread_pool, worker_count
from .conv_index import batch_first, by_group, channels_first, column_shape, offset_slices, patches
from .conv_rows import conv_rows_into, empty_scratch, weight_grad_part, weight_rows

__all__ = ["conv_forward", "conv_backward", "im2col", "col2im", "empty_cache", "thread_pool", "worker_count"]


# ----------------------------------------------------------------------------- the convolution, fast


def conv_forward(ctx, x, W, b):
    """ConvNd.forward's y, fast: 1x1 as one batched product, a large layer by chunks, else im2col into a
    reused buffer.  Keeps on ctx what conv_backward needs: ctx.col, the column matrix (or None)."""
    return _forward(ctx, x, W, b)


def conv_backward(ctx, gy):
    """ConvNd.backward's (gx, gW, gb), fast; the column buffer goes back to spare_buffers afterwards."""
    return _backward(ctx, gy)


def _forward(ctx, x, W, b):
    geometry, groups, N, F = ctx.geometry, ctx.groups, x.shape[0], W.shape[0]
    ctx.col = None
    if _is_pointwise(geometry) and x.size:  # x (N, C, *I) already is the column matrix, per sample
        x_g = x.reshape(N, groups, -1, math.prod(geometry.I))  # (N, g, C/g, O)
        y = columns_product(W.reshape(groups, F // groups, -1), x_g).reshape(N, F, *geometry.O)
    elif goes_by_chunks(x, geometry, groups):
        y = conv_by_chunks(x, W, geometry, groups)
    else:
        y, ctx.col = _conv_by_im2col(x, W, geometry, groups)
    if b is not None:
        y += b.reshape((F,) + (1,) * len(geometry.O))
    return y


def _backward(ctx, gy):
    x, W, geometry, groups = ctx.x, ctx.W, ctx.geometry, ctx.groups
    want_gx, want_gW = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    with_b = len(ctx.needs_input_grad) > 2
    if _is_pointwise(geometry) and x.size:
        return (*_pointwise_backward(ctx, gy, want_gx, want_gW), _bias_grad(gy) if with_b else None)
    if ctx.col is None and goes_by_chunks(x, geometry, groups):
        return (*_chunked_backward(ctx, gy, want_gx, want_gW), _bias_grad(gy) if with_b else None)
    gy_t = channels_first(gy, groups)  # (g, F/g, N * prod O)
    gx, gW, gb = None, None, gy_t.sum(axis=-1).reshape(-1) if with_b else None  # sums along contiguous rows
    if not (want_gW or want_gx):
        return gx, gW, gb
    col = ctx.col if ctx.col is not None else im2col(x, geometry)
    if want_gW:
        gW = _weight_grad(col, gy_t).reshape(W.shape)
    if want_gx:  # gcol = W^T gy is written over the column buffer, which gW no longer needs
        gx = _transpose_by_col2im(gy_t, W, geometry, x.shape, out=col)
        ctx.col = None  # overwritten: a second backward (retain_graph) recomputes it
        spare_buffers.put(col)  # and the next forward's im2col of this shape may write into it
    return gx, gW, gb


def _bias_grad(gy):
    """gb = sum of gy over the batch and the output positions, per filter."""
    return gy.sum(axis=(0, *range(2, gy.ndim)))


def _pointwise_backward(ctx, gy, want_gx, want_gW):
    """1x1 case: gW = sum_n gy[n] x[n]^T, gx = W^T gy, batched over N and the groups."""
    groups, N, F = ctx.groups, gy.shape[0], gy.shape[1]
    gy_g = gy.reshape(N, groups, F // groups, -1)  # (N, g, F/g, O)
    x_g = ctx.x.reshape(N, groups, -1, gy_g.shape[-1])  # (N, g, C/g, O)
    W_g = ctx.W.reshape(groups, F // groups, -1)  # (g, F/g, C/g)
    gW = contracted_product(gy_g, x_g.swapaxes(-1, -2)).sum(axis=0).reshape(ctx.W.shape) if want_gW else None
    gx = columns_product(W_g.swapaxes(-1, -2), gy_g).reshape(ctx.x.shape) if want_gx else None
    return gx, gW


def _chunked_backward(ctx, gy, want_gx, want_gW):
    """conv_backward, one chunk of output positions at a time: gW sums over the chunks.

    gx: with stride 1, gx is itself a convolution, of gy with the flipped, transposed kernel
    (padded by dil*(K-1) - P), run chunk by chunk like the forward; this skips col2im.  Else each
    chunk's col2im gives the slab of gx that its receptive fields cover.  Slabs of neighbouring
    chunks overlap: the slabs and the chunks' gW are added in chunk order (in_chunk_order).
    """
    x, W, groups, geometry = ctx.x, ctx.W, ctx.groups, ctx.geometry
    gx = None
    if want_gx and adjoint_geometry(geometry) is not None:
        gx, want_gx = conv_by_chunks(gy, flipped_transposed(W, groups), adjoint_geometry(geometry), groups), False
    if pixel_major(x, groups) and not want_gx:  # gW pixel-major (see conv_by_chunks); col2im's gx needs im2col's layout
        return gx, (weight_grad_by_rows(x, gy, W.shape, geometry) if want_gW else None)

    def backward_chunks(chunks):
        done = {}  # the chunk's first (sample, output row) -> (samples, input rows, its gx slab, its gW)
        for n, out_rows, in_rows, chunk in chunks:
            gy_t = channels_first(gy[n, :, out_rows], groups)
            col = im2col(x[n, :, in_rows], chunk)
            gW_part = _weight_grad(col, gy_t) if want_gW else None
            gx_part = _transpose_by_col2im(gy_t, W, chunk, x[n, :, in_rows].shape, out=col) if want_gx else None
            done[n.start, out_rows.start] = n, in_rows, gx_part, gW_part
            spare_buffers.put(col)
        return done

    gW = None
    if want_gx or want_gW:
        gx = numpy.zeros(x.shape, gy.dtype) if want_gx else gx
        for n, in_rows, gx_part, gW_part in in_chunk_order(over_chunks(backward_chunks, x, geometry)):
            if want_gx:
                gx[n, :, in_rows] += gx_part
            if want_gW:
                gW = gW_part if gW is None else gW + gW_part
        gW = gW.reshape(W.shape) if want_gW else None
    return gx, gW


def in_chunk_order(parts):
    """The values of the workers' {chunk key: result} dicts, in the chunks' order.

    Sums over chunks are added in this order, whichever worker took which chunk from the shared queue:
    float addition is not associative, so another order would give other last bits from run to run
    (a resumed training run then no longer equals the straight one).
    """
    merged = {}
    for part in parts:
        merged.update(part)
    return [merged[key] for key in sorted(merged)]


def _sum_in_order(parts):
    """parts[0] + parts[1] + ..., added left to right (in_chunk_order gives the order)."""
    return sum(parts[1:], parts[0])


def conv_by_chunks(x, W, geometry, groups):
    """y = W @ im2col(x), im2col + GEMM per chunk of output positions (each writes its block of y).

    Without groups, and with 8 channels or more, the product runs pixel-major, y^T = im2row(x) @ W_rows
    (pixel_major; ops/conv_rows.py): the same sums, with the long dim (the chunk's output positions) as
    the rows of the left operand.  OpenBLAS's AVX-512 kernels run that orientation 1.1-3x faster on these
    shapes (one thread, Zen 5, 2026-12-07: 16 filters over 144 rows at 128 x 128, 75 -> 169 GFLOP/s;
    gcol 53 -> 173; 64 filters over 576 rows, 207 -> 225); on its AVX2 kernels (what this machine's
    OPENBLAS_CORETYPE=Haswell selects) the two orientations are within 10%.  With stride 1 along the
    first spatial dim, im2row's matrix is not copied whole: conv_rows.row_blocks copies a third of it
    (for a 3-high kernel) and adds three products.
    """
    y = numpy.empty((x.shape[0], W.shape[0], *geometry.O), x.dtype)
    if pixel_major(x, groups):
        W_rows = weight_rows(W)

        def forward_rows(chunks):
            for n, out_rows, in_rows, chunk in chunks:
                conv_rows_into(y[n, :, out_rows], x[n, :, in_rows], W_rows, chunk)

        over_chunks(forward_rows, x, geometry)
        return y

    def forward_chunks(chunks):
        for n, out_rows, in_rows, chunk in chunks:
            y_c, col = _conv_by_im2col(x[n, :, in_rows], W, chunk, groups)
            y[n, :, out_rows] = y_c
            spare_buffers.put(col)  # the next chunk's im2col writes into it (still in cache)

    over_chunks(forward_chunks, x, geometry)
    return y


def weight_grad_by_rows(x, gy, W_shape, geometry):
    """gW = gy @ col^T, chunk by chunk as im2row(x)^T @ gy_rows (conv_rows.weight_grad_part), added in chunk order."""

    def weight_grad_chunks(chunks):
        return {
            (n.start, out_rows.start): weight_grad_part(x[n, :, in_rows], gy[n, :, out_rows], chunk)
            for n, out_rows, in_rows, chunk in chunks
        }

    gW_rows = _sum_in_order(in_chunk_order(over_chunks(weight_grad_chunks, x, geometry)))  # ((k, c), f)
    F, C, K = W_shape[0], W_shape[1], W_shape[2:]
    return numpy.moveaxis(gW_rows.reshape(*K, C, F), (-1, -2), (0, 1)).copy()


def _conv_by_im2col(x, W, geometry, groups):
    """y = W @ im2col(x) per group -> y (N, F, *O) and the column matrix (C * prod K, N * prod O)."""
    F, col = W.shape[0], im2col(x, geometry)
    y_t = columns_product(W.reshape(groups, F // groups, -1), by_group(col, groups))  # (g, F/g, N*O)
    return batch_first(y_t, x.shape[0], geometry.O), col


def _transpose_by_col2im(gy_t, W, geometry, x_shape, out):
    """gx = col2im(W^T @ gy) per group, the product written into ``out`` (a column buffer of x's shape)."""
    groups = gy_t.shape[0]
    W_g = W.reshape(groups, W.shape[0] // groups, -1)  # (g, F/g, C/g * prod K)
    columns_product(W_g.swapaxes(-1, -2), gy_t, out=out.reshape(groups, W_g.shape[2], -1))
    return col2im(out, x_shape, geometry)


def _weight_grad(col, gy_t):
    """gW = gy @ col^T per group, computed as (col @ gy^T)^T: BLAS is much faster with the long
    N * prod O dim as the inner one of a non-transposed left operand.  -> (g, F/g, C/g * prod K)."""
    col_g = by_group(col, gy_t.shape[0])  # (g, C/g * prod K, N * prod O)
    return contracted_product(col_g, gy_t.swapaxes(-1, -2)).swapaxes(-1, -2)


def _is_pointwise(geometry):
    """1x1(x1) kernel, stride 1, no padding: im2col would be the identity (up to a transpose)."""
    no_pad = all(lo == 0 and hi == 0 for lo, hi in geometry.P)
    return no_pad and all(k == 1 for k in geometry.K) and all(s == 1 for s in geometry.S)


# ----------------------------------------------------------------------------- im2col and col2im, fast


def im2col(x, geometry):
    """conv.py::im2col's column matrix, copied by blocks of channels in threads into a reused buffer
    (the zero-padded copy of x, too, comes from a reused buffer: see _padded)."""
    padded, inner = _padded(x, geometry)
    view = patches(padded, inner)  # (C, *K, N, *O), no copy
    col = spare_buffers.take(column_shape(x.shape, geometry), x.dtype)
    col_k = col.reshape(view.shape)
    by_channel_blocks(lambda c: numpy.copyto(col_k[c], view[c]), x.shape[1], col.size)  # the one copy
    if padded is not x:
        _PADDED[(padded.shape, geometry.P, padded.dtype)] = padded  # the next im2col of this geometry reuses it
    return col


def _padded(x, geometry):
    """(x zero-padded as geometry.P says, the geometry of that padded x with no padding): conv_index.patches'
    padding, in a buffer kept per (shape, padding, dtype).  Only its interior is ever written, so its border
    stays zero from the first use on.  Not part of the math: a fresh zeroed buffer per chunk cost ~5 ms
    each in the calling thread (glibc sorting a fragmented main-arena heap on every large calloc), about
    100 ms of a 540 ms U-Net step on one thread."""
    if not any(lo or hi for lo, hi in geometry.P):
        return x, geometry
    sizes = tuple(i + lo + hi for i, (lo, hi) in zip(geometry.I, geometry.P, strict=True))
    shape = (*x.shape[:2], *sizes)
    padded = _PADDED.pop((shape, geometry.P, x.dtype), None)  # atomic: two threads never share one buffer
    if padded is None:
        padded = numpy.zeros(shape, x.dtype)
    padded[(..., *(slice(lo, lo + i) for i, (lo, _) in zip(geometry.I, geometry.P, strict=True)))] = x
    return padded, geometry._replace(I=sizes, P=tuple((0, 0) for _ in sizes))


def col2im(col, x_shape, geometry):
    """conv.py::col2im's sum, by blocks of channels in threads: one strided slice-add per kernel offset k.

    The sum is built in (C, N, *I) order, the order of col's rows and columns, so that both sides of
    every slice-add are read front to back; the result is returned as an (N, C, *I) view of it.
    """
    N, C = x_shape[:2]
    gx = numpy.zeros((C, N, *x_shape[2:]), col.dtype)
    col_k = col.reshape(C, *geometry.K, N, *geometry.O)  # (C, *K, N, *O)
    offsets = [(k, *offset_slices(k, geometry)) for k in numpy.ndindex(*geometry.K)]

    def add_block(c):  # channels c: gx[c, :, o*S - P_low + k*dil] += col[(c, k), (:, o)] for every offset k
        for k, in_slices, out_slices in offsets:
            if in_slices is not None:
                gx[(c, slice(None), *in_slices)] += col_k[(c, *k, slice(None), *out_slices)]

    by_channel_blocks(add_block, C, col.size)
    return gx.swapaxes(0, 1)  # (N, C, *I), a view: no copy


# ----------------------------------------------------------------------------- chunks of output positions


def pixel_major(x, groups):
    """Whether chunks run pixel-major (im2row @ W_rows): no groups, and at least 8 channels, so that each copy
    of im2row moves runs of 8 floats or more (a 1-channel input layer copies single floats: 2.4x slower than
    im2col's rows, measured at 1 -> 16 channels, 128 x 128, 2026-12-07)."""
    return groups == 1 and x.shape[1] >= 8


def goes_by_chunks(x, geometry, groups=1):
    """Whether the CPU path goes chunk by chunk: a column matrix larger than _CHUNKED_MIN_BYTES (1/16 of it
    for a pixel-major layer, which is made faster by chunks from 1 MB on), padding within the kernel's reach along
    the chunked dim (every chunk then reads some of x), and threadpoolctl (ThreadpoolController not None)
    to hold BLAS to one thread per chunk (else one large product is faster).

    Measured f+b on 2 cores (AMD EPYC, OpenBLAS, benchmarks/bench_conv.py): W3 (conv3d 16->16, 32^3,
    col 113 MB) 71-81 -> 41-42 ms, W1 (conv2d 64->64, N=16, col 38 MB) 37-38 -> 29-35 ms; peak
    memory 120 -> 16-19 MiB and 48 -> 14 MiB.  (W3's gx also skips col2im: see conv.py::ConvNd._chunked_backward.)
    Pixel-major, by chunks against whole, the U-Net's layers at 32^2 and 64^2 (col 4.7-19 MB, f+b, 2026-12-07):
    3.5 -> 3.2, 5.4 -> 5.0, 9.6 -> 9.0, 2.4 -> 2.4, 4.1 -> 3.8 ms."""
    col_bytes = x.shape[1] * math.prod(geometry.K) * x.shape[0] * math.prod(geometry.O) * x.itemsize
    within_reach = max(geometry.P[0]) <= geometry.dil[0] * (geometry.K[0] - 1)
    min_bytes = _CHUNKED_MIN_BYTES // 16 if pixel_major(x, groups) else _CHUNKED_MIN_BYTES
    return ThreadpoolController is not None and not backend.on_gpu(x) and within_reach and col_bytes > min_bytes


def _chunks(x, geometry):
    """Blocks of output positions whose column block is about _CHUNK_BYTES: whole samples if one
    sample's columns fit, else runs of rows along the first spatial dim of one sample.

    Yields (samples, out_rows, in_rows, geometry of the chunk): the chunk's output is
    y[samples, :, out_rows], and it reads exactly x[samples, :, in_rows], zero-padded as the chunk's
    geometry says (the padding of the whole input where the chunk touches its border, else none).
    """
    N, rows, per_row = x.shape[0], geometry.O[0], math.prod(geometry.O[1:])
    cols = max(1, _CHUNK_BYTES // (x.shape[1] * math.prod(geometry.K) * x.itemsize))
    cols = min(cols, -(-N * rows * per_row // _THREADS))  # at least one chunk per worker
    if rows * per_row <= cols:
        m = cols // (rows * per_row)
        blocks = [(slice(n, n + m), 0, rows) for n in range(0, N, m)]
    else:
        r = max(1, cols // per_row)
        blocks = [(slice(n, n + 1), a, min(a + r, rows)) for n in range(N) for a in range(0, rows, r)]
    K, S, dil, (P_low, _), I = geometry.K[0], geometry.S[0], geometry.dil[0], geometry.P[0], geometry.I[0]
    for samples, a, b in blocks:
        first, end = a * S - P_low, (b - 1) * S - P_low + (K - 1) * dil + 1  # input rows [first, end) incl. padding
        lo, hi = max(first, 0), min(end, I)
        chunk = geometry._replace(
            I=(hi - lo, *geometry.I[1:]), P=((lo - first, end - hi), *geometry.P[1:]), O=(b - a, *geometry.O[1:])
        )
        yield samples, slice(a, b), slice(lo, hi), chunk


def over_chunks(work, x, geometry):
    """[work(chunks) for each worker]: the workers, the calling thread among them, take the chunks one
    at a time from one shared queue, with BLAS held to one thread meanwhile (each product is small;
    two BLAS pools would fight; cpu_threads.py).

    The thread policy of the CPU convolution: inside the chunks our own workers are the only threads,
    and they take chunks as they come, so a descheduled worker does not hold a fixed share and the
    calling thread works rather than waits.  Layers made whole split their products over the same
    workers (columns_product): the CPU convolution never runs BLAS's own threads.  The choice depends
    on the shapes only, never on the machine's load (the arithmetic would then depend on it:
    cpu_threads.py).
    """
    chunks = list(_chunks(x, geometry))
    workers = min(_THREADS, len(chunks))
    if workers <= 1:
        with one_blas_thread():
            return [work(chunks)]
    queue = _SharedQueue(chunks)
    with one_blas_thread():
        helpers = [thread_pool().submit(_as_chunk_worker, work, queue) for _ in range(workers - 1)]
        mine = _as_chunk_worker(work, queue)
        return [mine] + [h.result() for h in helpers]


class _SharedQueue:
    """An iterator over a list that several threads may draw from: each item goes to exactly one."""

    def __init__(self, items):
        self._items, self._lock = iter(items), threading.Lock()

    def __iter__(self):
        return self

    def __next__(self):
        with self._lock:
            return next(self._items)


def _as_chunk_worker(work, queue):
    """work(queue) with by_channel_blocks told it already runs inside over_chunks' workers."""
    _IN_CHUNKS.active = True
    try:
        return work(queue)
    finally:
        _IN_CHUNKS.active = False


def flipped_transposed(W, groups):
    """W (F, C/g, *K) -> W' (C, F/g, *K), W'[c, f, k] = W[f, c, K-1-k] within each group."""
    F, C_g, K = W.shape[0], W.shape[1], W.shape[2:]
    W_g = W.reshape(groups, F // groups, C_g, *K).swapaxes(1, 2)  # (g, C/g, F/g, *K)
    flipped = W_g[(..., *(slice(None, None, -1) for _ in K))]
    return numpy.ascontiguousarray(flipped).reshape(groups * C_g, F // groups, *K)


def adjoint_geometry(geometry):
    """The geometry of gx = conv(gy, flipped W^T): input O, output I, padding dil*(K-1) - P; None
    unless that is a convolution (stride 1, and padding within the kernel's reach dil*(K-1))."""
    reach = [d * (k - 1) for k, d in zip(geometry.K, geometry.dil, strict=True)]
    pads = tuple((r - lo, r - hi) for r, (lo, hi) in zip(reach, geometry.P, strict=True))
    if any(s != 1 for s in geometry.S) or min(min(pad) for pad in pads) < 0:
        return None
    return geometry._replace(P=pads, I=geometry.O, O=geometry.I)


# ----------------------------------------------------------------------------- products on our workers


def columns_product(a, b, out=None):
    """a @ b (numpy.matmul, batch dims broadcast), b's columns split in blocks over the workers, BLAS on one thread.

    Not part of the math: each block of columns of the result is a @ that block of b.  The CPU convolution never
    wakes BLAS's own threads: after a threaded product they spin for ~0.1 s waiting for the next one, and the
    next chunked layer's workers then share the cores with them (measured, U-Net step at 128^2 on 2 cores,
    2026-12-07: 130 ms with one threaded transposed convolution in it, 100 ms without).
    """
    if out is None:
        out = numpy.empty(numpy.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1]), b.dtype)
    columns = b.shape[-1]

    def block(cols):
        numpy.matmul(a, b[..., cols], out=out[..., cols])

    _on_workers(block, columns, math.prod(out.shape) + math.prod(b.shape))
    return out


def contracted_product(a, b):
    """a @ b with the contracted dim (a's last, b's second to last) split in blocks over the workers, the partial
    products summed; BLAS on one thread (see columns_product).  For gW = col @ gy^T, whose inner dim is the
    N * prod O output positions."""
    parts = {}  # first index of the block -> its partial product, summed in that order (the same sum every time)

    def block(inner):
        parts[inner.start or 0] = numpy.matmul(a[..., inner], b[..., inner, :])

    _on_workers(block, a.shape[-1], math.prod(a.shape) + math.prod(b.shape))
    return _sum_in_order(in_chunk_order([parts]))


def _on_workers(fn, length, size):
    """fn(slice) over blocks of range(length): in the workers for large operands, else in this thread; BLAS on one
    thread either way."""
    with one_blas_thread():
        by_channel_blocks(fn, length, size)


# ----------------------------------------------------------------------------- threads and buffers


def by_channel_blocks(fn, C, size):
    """fn(channel slice) over blocks of channels, in parallel threads for large arrays.

    Not part of the math: NumPy releases the GIL inside copies and adds, so the memory-bound
    im2col/col2im loops can use every core while BLAS is idle (each block writes its own rows).
    Measured on 2 cores: 1.9x on im2col/col2im alone, but inside a training step OpenBLAS's
    workers keep spinning for ~0.1 s after each GEMM and hold the other core, so the gain
    shows only where they sleep at once (OPENBLAS_THREAD_TIMEOUT=4: W1 44 -> 34 ms, W3 76 -> 57 ms).
    """
    in_chunks = getattr(_IN_CHUNKS, "active", False)  # already one of over_chunks' workers
    workers = min(_THREADS, C) if size >= _PARALLEL_MIN_SIZE and not in_chunks else 1
    if workers <= 1:
        fn(slice(None))
    else:
        split_over_workers(fn, C, workers)


class _SpareBuffers:
    """Column buffers that a finished backward hands back, one per (shape, dtype), for the next im2col.

    Not part of the math: a fresh buffer of 100 MB costs milliseconds of page faults on every step.
    Only buffers nothing else refers to are put here; ``empty_cache()`` drops them (CPU only).
    """

    def __init__(self):
        self.free, self.enabled = {}, True

    def take(self, shape, dtype):
        found = self.free.pop((shape, numpy.dtype(dtype)), None)
        return found if found is not None else numpy.empty(shape, dtype)

    def put(self, buffer):
        if self.enabled and isinstance(buffer, numpy.ndarray) and buffer.base is None:
            self.free[(buffer.shape, buffer.dtype)] = buffer


spare_buffers = _SpareBuffers()


def empty_cache():
    """Drop the column and padding buffers kept for reuse between training steps (as torch.cuda.empty_cache)."""
    spare_buffers.free.clear()
    _PADDED.clear()
    empty_scratch()


_PADDED = {}  # (shape, padding, dtype) -> a zero-bordered buffer for im2col's padded input (_padded)


_THREADS = worker_count()  # workers for the convolution's chunks and copies (tests set fewer or more)
_CHUNK_BYTES = 1 << 23  # im2col column block of one chunk (row_blocks copies 1/K0 of it): fits the L3 share of a core
_CHUNKED_MIN_BYTES = 1 << 24  # column matrices below this are made and multiplied whole
_PARALLEL_MIN_SIZE = 1 << 20  # elements; below this, thread start-up costs more than it saves
_IN_CHUNKS = threading.local()  # .active: this thread is one of over_chunks' workers
