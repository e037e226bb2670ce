"""Tests of ops/detection.py (roi_align roi_pool nms batched_nms), ops/boxes.py, kernels/detection.cu, nn/detection.py.

(a) forward against naive loops written from the formulas (torchvision's rules, one scalar sample at a
    time), with hypothesis-drawn boxes partly outside the image, adaptive and fixed sampling, aligned
    on and off; torchvision's documented corner cases by hand;
(b) gradient checks in float64 on the CPU (roi_align is linear in the input: no kinks; roi_pool on
    inputs without ties);
(c) CPU / emulated / cuda parity through the ``device`` fixture for every kernel (float32 and float64);
(d) nms against a naive greedy loop, box coding round trip, anchors, bad input.
"""

import math

import numpy
import pytest
from conftest import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.ops.boxes import anchors, box_area, box_iou, decode_boxes, encode_boxes
from tinygrad_med.ops.detection import _greedy_keep, _nms_keep_cpu, batched_nms, nms, roi_align, roi_pool


def rand(*shape, seed=0):
    return numpy.random.default_rng(seed).standard_normal(shape)


def distinct(*shape, seed=0):
    """No ties (max pooling): a shuffled ramp."""
    n = int(numpy.prod(shape))
    return numpy.random.default_rng(seed).permutation(n).reshape(shape) / n - 0.5


def t64(array, requires_grad=False):
    return tm.tensor(numpy.asarray(array, dtype=numpy.float64), requires_grad=requires_grad)


# ----------------------------------------------------------------------------- naive references


def bilinear(plane, y, x):
    """torchvision's bilinear_interpolate, one sample."""
    H, W = plane.shape
    if not (-1.0 <= y <= H and -1.0 <= x <= W):
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= H - 1:
        y0 = y1 = H - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= W - 1:
        x0 = x1 = W - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    top = (1 - lx) * plane[y0, x0] + lx * plane[y0, x1]
    return (1 - ly) * top + ly * ((1 - lx) * plane[y1, x0] + lx * plane[y1, x1])


def roi_align_loops(x, rois, PH, PW, scale, sampling_ratio, aligned):
    """y[k,c,i,j] = mean of bilinear samples of bin (i, j), straight from the Mask R-CNN formula."""
    K, C = len(rois), x.shape[1]
    y = numpy.zeros((K, C, PH, PW))
    for k, (b, *box) in enumerate(rois):
        off = 0.5 if aligned else 0.0
        x1, y1, x2, y2 = (v * scale - off for v in box)
        rw, rh = (x2 - x1, y2 - y1) if aligned else (max(x2 - x1, 1.0), max(y2 - y1, 1.0))
        bh, bw = rh / PH, rw / PW
        gh = sampling_ratio if sampling_ratio > 0 else max(math.ceil(rh / PH), 0)
        gw = sampling_ratio if sampling_ratio > 0 else max(math.ceil(rw / PW), 0)
        for c in range(C):
            for i in range(PH):
                for j in range(PW):
                    total = sum(
                        bilinear(x[int(b), c], y1 + i * bh + (iy + 0.5) * bh / gh, x1 + j * bw + (ix + 0.5) * bw / gw)
                        for iy in range(gh)
                        for ix in range(gw)
                    )
                    y[k, c, i, j] = total / max(gh * gw, 1)
    return y


def c_round(v):
    return math.floor(abs(v) + 0.5) * (1 if v >= 0 else -1)


def roi_pool_loops(x, rois, PH, PW, scale):
    """(y, flat argmax) of Fast R-CNN's RoI max pooling, torchvision's bin rule, one bin at a time."""
    K, C, H, W = len(rois), *x.shape[1:]
    y, arg = numpy.zeros((K, C, PH, PW)), numpy.full((K, C, PH, PW), -1)
    for k, (b, *box) in enumerate(rois):
        x1, y1, x2, y2 = (c_round(v * scale) for v in box)
        bh, bw = max(y2 - y1 + 1, 1) / PH, max(x2 - x1 + 1, 1) / PW
        for i in range(PH):
            for j in range(PW):
                h0, h1 = min(max(math.floor(i * bh) + y1, 0), H), min(max(math.ceil((i + 1) * bh) + y1, 0), H)
                w0, w1 = min(max(math.floor(j * bw) + x1, 0), W), min(max(math.ceil((j + 1) * bw) + x1, 0), W)
                for c in range(C):
                    window = x[int(b), c, h0:h1, w0:w1]
                    if window.size:
                        y[k, c, i, j] = window.max()
                        p, q = divmod(int(window.argmax()), window.shape[1])  # first maximum, row-major
                        arg[k, c, i, j] = (h0 + p) * W + w0 + q
    return y, arg


def iou_loops(a, b):
    out = numpy.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            w = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            h = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - w * h
            out[i, j] = w * h / union
    return out


def nms_loops(boxes, scores, threshold):
    """Greedy NMS from the definition: best remaining box kept, its overlaps > threshold dropped."""
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    keep, removed = [], set()
    for position, i in enumerate(order):
        if i in removed:
            continue
        keep.append(i)
        for j in order[position + 1 :]:
            if iou_loops(boxes[i : i + 1], boxes[j : j + 1])[0, 0] > threshold:
                removed.add(j)
    return keep


def random_boxes(rng, n, size=10.0, spread=4.0):
    top_left = rng.uniform(-2, size, (n, 2))
    return numpy.concatenate([top_left, top_left + rng.uniform(0.3, spread, (n, 2))], axis=1)


@st.composite
def roi_configs(draw):
    """(x shape, rois (K, 5), (PH, PW), spatial_scale, sampling_ratio, aligned); some boxes hang outside."""
    N, C, H, W = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(2, 6)), draw(st.integers(2, 6))
    scale = draw(st.sampled_from([1.0, 0.5, 0.7]))
    K = draw(st.integers(1, 4))
    rng = numpy.random.default_rng(draw(st.integers(0, 2**16)))
    boxes = random_boxes(rng, K, size=max(H, W) / scale, spread=6 / scale)
    rois = numpy.concatenate([rng.integers(0, N, (K, 1)), boxes], axis=1)
    output = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return (N, C, H, W), rois, output, scale, draw(st.sampled_from([-1, 0, 1, 2, 3])), draw(st.booleans())


# ----------------------------------------------------------------------------- (a) forward


@settings(max_examples=25, deadline=None)
@given(config=roi_configs())
def test_roi_align_matches_loops(config):
    shape, rois, (PH, PW), scale, ratio, aligned = config
    x = rand(*shape)
    y = roi_align(t64(x), t64(rois), (PH, PW), scale, ratio, aligned)
    assert y.shape == (len(rois), shape[1], PH, PW)
    assert_close(y, roi_align_loops(x, rois, PH, PW, scale, ratio, aligned), 1e-12, 1e-12)


@settings(max_examples=25, deadline=None)
@given(config=roi_configs())
def test_roi_pool_matches_loops_and_routes_gradient_to_argmax(config):
    shape, rois, (PH, PW), scale, _, _ = config
    x = distinct(*shape)
    xt = t64(x, requires_grad=True)
    y = roi_pool(xt, t64(rois), (PH, PW), scale)
    expected, arg = roi_pool_loops(x, rois, PH, PW, scale)
    assert_close(y, expected, 0, 0)
    gy = rand(*y.shape, seed=3)
    y.backward(t64(gy))
    gx = numpy.zeros(x.shape)
    for (k, c, i, j), a in numpy.ndenumerate(arg):
        if a >= 0:
            gx[int(rois[k, 0]), c, a // shape[3], a % shape[3]] += gy[k, c, i, j]
    assert_close(xt.grad, gx, 1e-12, 1e-12)


def test_roi_align_aligned_is_the_half_pixel_shift():
    """On a ramp x[h, w] = w, aligned=True samples pixel centres: bin j of the box [0, 4) reads exactly j."""
    x = t64(numpy.broadcast_to(numpy.arange(6.0), (1, 1, 4, 6)))
    box = t64([[0, 0, 0, 4, 4]])
    aligned = roi_align(x, box, (1, 4), sampling_ratio=1, aligned=True).numpy()[0, 0, 0]
    legacy = roi_align(x, box, (1, 4), sampling_ratio=1, aligned=False).numpy()[0, 0, 0]
    assert_close(aligned, [0, 1, 2, 3], 0, 1e-12)
    assert_close(legacy, [0.5, 1.5, 2.5, 3.5], 0, 1e-12)  # the legacy half-pixel misalignment


def test_roi_align_adaptive_sampling_is_ceil_of_the_bin_size():
    """sampling_ratio <= 0: G = ceil(roi_height / PH) = ceil(5 / 2) = 3 and ceil(7 / 3) = 3 samples."""
    x = t64(rand(1, 2, 8, 9))
    box = t64([[0, 1.0, 0.5, 8.0, 5.5]])
    adaptive = roi_align(x, box, (2, 3), sampling_ratio=-1)
    assert_close(adaptive, roi_align(x, box, (2, 3), sampling_ratio=3), 0, 0)
    assert_close(roi_align(x, box, (2, 3), sampling_ratio=0), adaptive, 0, 0)
    assert not numpy.allclose(adaptive.numpy(), roi_align(x, box, (2, 3), sampling_ratio=2).numpy())


def test_roi_align_outside_the_image_reads_zero():
    """Samples beyond [-1, H] x [-1, W] are 0; samples in [-1, 0) read the border."""
    x = t64(numpy.ones((1, 1, 4, 4)))
    far = roi_align(x, t64([[0, 10, 10, 14, 14]]), 2, sampling_ratio=2)
    assert_close(far, numpy.zeros((1, 1, 2, 2)), 0, 0)
    border = roi_align(x, t64([[0, -1, -1, 0, 0]]), 1, sampling_ratio=2)  # samples at -0.75, -0.25
    assert_close(border, [[[[1.0]]]], 0, 1e-12)
    half = roi_align(x, t64([[0, -4, 0, 0, 4]]), (1, 2), sampling_ratio=2)  # left bin outside, right bin half
    assert_close(half, [[[[0.0, 0.5]]]], 0, 1e-12)


@pytest.mark.parametrize("aligned", [False, True])
def test_malformed_boxes_follow_torchvision(aligned):
    """x2 < x1 or a zero-size box: roi_align forces a 1 x 1 box unless aligned (then an empty grid gives 0);
    roi_pool forces at least one cell."""
    x = rand(1, 2, 5, 6)
    rois = numpy.array([[0, 3.0, 2.0, 1.0, 1.0], [0, 2.0, 2.0, 2.0, 2.0], [0, 4.6, 0.2, 4.6, 3.9]])
    for ratio in (-1, 2):
        y = roi_align(t64(x), t64(rois), (2, 2), 1.0, ratio, aligned)
        assert_close(y, roi_align_loops(x, rois, 2, 2, 1.0, ratio, aligned), 1e-12, 1e-12)
    if aligned:
        assert_close(roi_align(t64(x), t64(rois[1:2]), 2, aligned=True), numpy.zeros((1, 2, 2, 2)), 0, 0)
    assert_close(roi_pool(t64(x), t64(rois), 2), roi_pool_loops(x, rois, 2, 2, 1.0)[0], 0, 0)


def test_empty_boxes_give_an_empty_output_and_a_zero_gradient(device):
    for fn in (roi_align, roi_pool):
        x = device.tensor(rand(2, 3, 4, 4), requires_grad=True)
        empty = numpy.zeros((0, 4))
        for boxes in ([device.tensor(empty), device.tensor(empty)], [], device.tensor(numpy.zeros((0, 5)))):
            y = fn(x, boxes, (2, 3))
            assert y.shape == (0, 3, 2, 3)
            (y.sum() + x.sum() * 0).backward()
            assert_close(x.grad, numpy.zeros(x.shape), 0, 0)
            x.grad = None


def test_list_of_boxes_equals_the_batch_index_format():
    x = t64(rand(2, 2, 6, 7))
    per_image = [random_boxes(numpy.random.default_rng(1), 2), random_boxes(numpy.random.default_rng(2), 3)]
    rois = numpy.concatenate([numpy.c_[numpy.full(len(b), n), b] for n, b in enumerate(per_image)])
    assert_close(roi_align(x, [t64(b) for b in per_image], 2, 0.5), roi_align(x, t64(rois), 2, 0.5), 0, 0)
    assert_close(roi_pool(x, per_image, 3, 0.5), roi_pool(x, rois, 3, 0.5), 0, 0)


def test_roi_pool_by_hand():
    """A 4 x 4 map, the whole image as one RoI, 2 x 2 bins: the max of each quadrant (the pooling slide)."""
    x = numpy.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], float)
    y = roi_pool(t64(x[None, None]), t64([[0, 0, 0, 3, 3]]), 2)
    assert_close(y, [[[[6, 8], [3, 4]]]], 0, 0)


def test_layers_call_the_ops():
    x, rois = t64(rand(1, 2, 5, 5)), t64([[0, 0.5, 1.0, 4.0, 3.5]])
    layer = nn.RoIAlign((2, 2), 1.0, 2, aligned=True)
    assert_close(layer(x, rois), roi_align(x, rois, (2, 2), 1.0, 2, True), 0, 0)
    assert_close(nn.RoIPool(2, 0.5)(x, rois), roi_pool(x, rois, 2, 0.5), 0, 0)
    assert "aligned=True" in repr(layer) and "spatial_scale=0.5" in repr(nn.RoIPool(2, 0.5))
    assert not list(layer.parameters())  # no weights: the layers only hold the options


# ----------------------------------------------------------------------------- (b) gradient checks


def _check(fn, x):
    result = tm.gradcheck(fn, [t64(x, requires_grad=True)], atol=1e-7, rtol=1e-5)
    assert result.passed, result.report()


ROIS = numpy.array([[0, 0.3, 0.6, 4.7, 3.9], [1, -1.5, 1.2, 3.3, 6.8], [0, 2.2, 2.1, 2.9, 2.6],
                    [1, 3.1, -0.7, 8.4, 4.4], [1, 20, 1, 30, 3], [0, 3.0, 2.6, 1.0, 1.0]])  # fmt: skip
# RoI 4 lies outside every image: empty roi_pool bins (argmax -1), zero roi_align samples; RoI 5 is reversed


@pytest.mark.parametrize("ratio, aligned, scale", [(-1, False, 1.0), (2, True, 1.0), (0, True, 0.5), (3, False, 0.7)])
def test_roi_align_gradcheck(ratio, aligned, scale):
    _check(lambda x: roi_align(x, t64(ROIS), (2, 3), scale, ratio, aligned), rand(2, 2, 5, 6))


@pytest.mark.parametrize("scale", [1.0, 0.6])
def test_roi_pool_gradcheck(scale):
    _check(lambda x: roi_pool(x, t64(ROIS), (3, 2), scale), distinct(2, 2, 5, 6))


# ----------------------------------------------------------------------------- (c) CPU / GPU parity


def _parity(device, fn, x, dtype):
    ours = device.tensor(x, requires_grad=True, dtype=dtype)
    y = fn(ours, device.tensor(ROIS, dtype=dtype))
    gy = rand(*y.shape, seed=5).astype(dtype)
    y.backward(device.tensor(gy))
    ref_x = tm.tensor(x.astype(dtype), requires_grad=True)
    expected = device.reference(fn, ref_x, tm.tensor(ROIS.astype(dtype)))
    device.reference(expected.backward, tm.tensor(gy))
    assert y.dtype == dtype and ours.grad.dtype == dtype
    assert_close(y, expected)
    assert_close(ours.grad, ref_x.grad)


@pytest.mark.parametrize("ratio, aligned", [(-1, False), (2, True)])
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_roi_align_parity(device, ratio, aligned, dtype):
    _parity(device, lambda x, r: roi_align(x, r, (2, 3), 0.8, ratio, aligned), rand(2, 3, 5, 6), dtype)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_roi_pool_parity(device, dtype):
    _parity(device, lambda x, r: roi_pool(x, r, (3, 2), 0.8), distinct(2, 3, 5, 6), dtype)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_nms_parity(device, dtype):
    rng = numpy.random.default_rng(4)
    boxes, scores, labels = random_boxes(rng, 70), rng.uniform(size=70), rng.integers(0, 3, 70)  # two 64-bit words
    keep = nms(device.tensor(boxes, dtype=dtype), device.tensor(scores, dtype=dtype), 0.4)
    expected = device.reference(nms, tm.tensor(boxes.astype(dtype)), tm.tensor(scores.astype(dtype)), 0.4)
    assert keep.dtype == numpy.int64 and keep.device == device.device
    numpy.testing.assert_array_equal(keep.numpy(), expected.numpy())
    both = (device.tensor(boxes, dtype=dtype), device.tensor(scores, dtype=dtype), device.tensor(labels))
    expected = device.reference(batched_nms, *(tm.tensor(a.numpy()) for a in both), 0.4)
    numpy.testing.assert_array_equal(batched_nms(*both, 0.4).numpy(), expected.numpy())


# ----------------------------------------------------------------------------- (d) boxes and nms


@settings(max_examples=20, deadline=None)
@given(n=st.integers(0, 25), threshold=st.sampled_from([0.0, 0.3, 0.5, 0.7]), seed=st.integers(0, 2**16))
def test_nms_matches_the_greedy_loop(n, threshold, seed):
    rng = numpy.random.default_rng(seed)
    boxes, scores = random_boxes(rng, n), rng.integers(0, 8, n).astype(float)  # ties in score: lower index first
    keep = nms(t64(boxes), t64(scores), threshold).numpy()
    assert keep.tolist() == nms_loops(boxes, scores, threshold)
    assert numpy.all(numpy.diff(scores[keep]) <= 0)  # by decreasing score
    survivors = box_iou(boxes[keep], boxes[keep])
    assert numpy.all(survivors[numpy.triu_indices(len(keep), 1)] <= threshold)


@pytest.mark.parametrize("rows", [1, 7, 40, 128])
def test_nms_blocks_keep_what_the_whole_overlap_matrix_keeps(rows):
    """The CPU's blocked scan against the GPU path's structure: the greedy scan of the full upper triangle."""
    boxes = random_boxes(numpy.random.default_rng(8), 40)
    whole = _greedy_keep(numpy.triu(box_iou(boxes, boxes) > 0.3, k=1))
    assert 0 < len(whole) < 40
    numpy.testing.assert_array_equal(_nms_keep_cpu(boxes, 0.3, rows=rows), whole)


def test_batched_nms_never_suppresses_across_categories():
    rng = numpy.random.default_rng(7)
    boxes, scores, labels = random_boxes(rng, 30), rng.uniform(size=30), rng.integers(0, 3, 30)
    keep = batched_nms(boxes, scores, labels, 0.3)
    members = [numpy.flatnonzero(labels == c) for c in range(3)]
    per_class = [m[nms_loops(boxes[m], scores[m], 0.3)] for m in members]
    expected = sorted(numpy.concatenate(per_class).tolist(), key=lambda i: -scores[i])
    assert keep.tolist() == expected
    assert len(batched_nms(boxes, scores, numpy.zeros(30), 0.3)) == len(nms(boxes, scores, 0.3))


def test_box_iou_and_area():
    rng = numpy.random.default_rng(3)
    a, b = random_boxes(rng, 5), random_boxes(rng, 4)
    assert_close(box_iou(t64(a), t64(b)), iou_loops(a, b), 1e-12, 1e-12)
    assert_close(box_area(a), (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), 0, 0)
    assert box_iou(t64(a), t64(b)).shape == (5, 4) and isinstance(box_iou(a, b), numpy.ndarray)
    assert_close(box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]]), [[1 / 7, 1, 0]], 0, 1e-7)


def test_anchors_follow_torchvision_anchor_generator():
    a = anchors((2, 3), stride=16, sizes=(32, 64), aspect_ratios=(0.5, 1.0, 2.0)).numpy()
    assert a.shape == (2 * 3 * 6, 4) and a.dtype == numpy.float32
    # ratio 0.5 = h / w, size 32: w = 32 * sqrt(2) = 45.25, h = 22.63 -> round(+-w/2, +-h/2)
    assert_close(a[:6], [[-23, -11, 23, 11], [-45, -23, 45, 23], [-16, -16, 16, 16],
                         [-32, -32, 32, 32], [-11, -23, 11, 23], [-23, -45, 23, 45]], 0, 0)  # fmt: skip
    cell = a.reshape(2, 3, 6, 4)
    assert_close(cell[1, 2] - cell[0, 0], numpy.tile([32, 16, 32, 16], (6, 1)), 0, 0)  # shifted by (j*S, i*S)
    centres = (cell[..., :2] + cell[..., 2:]) / 2
    assert_close(centres[..., 0], numpy.broadcast_to(numpy.arange(3)[None, :, None] * 16.0, (2, 3, 6)), 0, 0)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), weights=st.sampled_from([(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)]))
def test_encode_decode_round_trip(seed, weights):
    rng = numpy.random.default_rng(seed)
    gt, proposals = random_boxes(rng, 6), random_boxes(rng, 6)
    codes = encode_boxes(t64(gt), t64(proposals), weights)
    assert codes.shape == (6, 4)
    assert_close(decode_boxes(codes, t64(proposals), weights), gt, 1e-10, 1e-10)
    assert_close(decode_boxes(numpy.zeros((6, 4)), proposals), proposals, 1e-12, 1e-12)  # zero code: no move


def test_encode_is_the_girshick_parameterisation():
    codes = encode_boxes([[2.0, 4.0, 6.0, 12.0]], [[0.0, 0.0, 2.0, 4.0]])  # G: centre (4, 8), 4 x 8; P: (1, 2), 2 x 4
    assert_close(codes, [[(4 - 1) / 2, (8 - 2) / 4, math.log(2), math.log(2)]], 0, 1e-7)
    per_class = decode_boxes(numpy.tile(codes, (1, 3)), [[0.0, 0.0, 2.0, 4.0]])  # (K, 4 * J): one box per class
    assert_close(per_class, numpy.tile([[2.0, 4.0, 6.0, 12.0]], (1, 3)), 0, 1e-6)
    assert decode_boxes([[0, 0, 100.0, 100.0]], [[0, 0, 1.0, 1.0]])[0, 2] == pytest.approx(0.5 + 62.5 / 2)  # clip


# ----------------------------------------------------------------------------- bad input


def test_bad_input():
    x, rois = t64(rand(2, 3, 4, 4)), t64(ROIS)
    with pytest.raises(ShapeError, match=r"4-D input \(N, C, H, W\).*input.shape=\(3, 4, 4\)"):
        roi_align(t64(rand(3, 4, 4)), rois, 2)
    with pytest.raises(ShapeError, match=r"boxes of shape \(K, 5\).*boxes.shape=\(6, 4\)"):
        roi_align(x, t64(ROIS[:, 1:]), 2)
    with pytest.raises(ShapeError, match=r"boxes\[1\] of shape \(K_1, 4\).*boxes\[1\].shape=\(2, 5\)"):
        roi_pool(x, [ROIS[:2, 1:], ROIS[:2]], 2)
    with pytest.raises(ValueError, match=r"batch indices in \[0, 1\].*boxes.shape=\(1, 5\)"):
        roi_pool(x, t64([[2, 0, 0, 1, 1]]), 2)
    with pytest.raises(ValueError, match="3 or more images but the batch has 2"):
        roi_align(x, [ROIS[:1, 1:]] * 3, 2)
    with pytest.raises(ValueError, match=r"output_size must be a positive int.*\(2, 0\)"):
        roi_align(x, rois, (2, 0))
    with pytest.raises(DTypeError, match="float input, got int64"):
        roi_pool(tm.tensor(numpy.zeros((1, 1, 2, 2), numpy.int64)), rois[:1], 1)
    with pytest.raises(ShapeError, match=r"scores of shape \(K,\).*boxes.shape=\(6, 4\); scores.shape=\(3,\)"):
        nms(ROIS[:, 1:], numpy.ones(3), 0.5)
    with pytest.raises(ShapeError, match=r"boxes1 of shape \(K, 4\).*boxes1.shape=\(6, 5\)"):
        box_iou(ROIS, ROIS[:, 1:])
    with pytest.raises(ShapeError, match=r"rel_codes of shape \(K, 4 \* J\).*rel_codes.shape=\(6, 6\)"):
        decode_boxes(numpy.zeros((6, 6)), ROIS[:, 1:])
    with pytest.raises(ShapeError, match=r"same number of boxes.*proposals.shape=\(3, 4\)"):
        encode_boxes(ROIS[:, 1:], ROIS[:3, 1:])
    with pytest.raises(ValueError, match="sizes and aspect_ratios must be non-empty and positive"):
        anchors((2, 2), 16, sizes=(32,), aspect_ratios=(0.0,))
