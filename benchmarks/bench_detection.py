"""roi_align, roi_pool and nms on the CPU against straightforward NumPy references.

Workload: a Faster/Mask R-CNN head on one stride-16 feature map: x (2, 256, 50, 50) float32
(an 800 x 800 image), 256 RoIs (128 per image, random boxes of 32 to 400 pixels), output 7 x 7,
spatial_scale 1/16; roi_align with sampling_ratio 2 and adaptive (-1).  nms on 3000 boxes around
30 objects (scores random), IoU thresholds 0.5 and 0.7.  Forward and backward of each pooling
are timed separately (input requiring grad, a fixed upstream gradient).

PyTorch has no roi_align / roi_pool / nms without torchvision, which is not installed here, so the
ratios are against straightforward NumPy references written in this file (one Python iteration
per RoI for roi_align, per RoI and bin for roi_pool, per kept box for nms, the classic
py-faster-rcnn loop); their outputs are checked against ours (max_abs_diff in the JSON).  They
are a yardstick for "no Python loops over pixels", not a competitor's optimised code.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_detection.py \
        [--repeat 7] [--out benchmarks/results/cpu-detection-<date>.json]

Ours and the reference are interleaved call by call (benchmarks/bench_pool.py::interleaved);
medians over ``--repeat`` calls after warm-up, all figures from this one run, the load average
beside them; no asserts on timing.
"""

import argparse
import datetime
import math
import os
from pathlib import Path

import numpy
from bench_pool import interleaved, medians
from bench_sample import save

import tinygrad_med as tm
from tinygrad_med.ops.detection import nms, roi_align, roi_pool

SHAPE, K, OUT, SCALE = (2, 256, 50, 50), 256, (7, 7), 1 / 16


def make_rois(rng):
    """(K, 5) rows (b, x1, y1, x2, y2) in image pixels: K / N boxes per image, 32 to 400 pixels a side."""
    N, size = SHAPE[0], SHAPE[2] / SCALE
    wh = rng.uniform(32, 400, (K, 2))
    top_left = rng.uniform(0, size - wh)
    image = numpy.repeat(numpy.arange(N), K // N)[:, None]
    return numpy.concatenate([image, top_left, top_left + wh], axis=1).astype(numpy.float32)


def make_nms_boxes(rng, count=3000, objects=30):
    """count jittered copies of ``objects`` boxes (overlapping clusters, as detector proposals) and scores."""
    centres = rng.uniform(50, 750, (objects, 2))
    sides = rng.uniform(40, 200, (objects, 2))
    pick = rng.integers(0, objects, count)
    centre = centres[pick] + rng.normal(0, 8, (count, 2))
    half = sides[pick] * rng.uniform(0.8, 1.2, (count, 2)) / 2
    boxes = numpy.concatenate([centre - half, centre + half], axis=1).astype(numpy.float32)
    return boxes, rng.random(count).astype(numpy.float32)


# ----------------------------------------------------------------------------- NumPy references


def roi_align_reference(x, rois, output_size, scale, sampling_ratio):
    """torchvision's roi_align (aligned=False), one RoI at a time: bilinear samples gathered per axis pair."""
    (PH, PW), (C, H, W) = output_size, x.shape[1:]
    y = numpy.zeros((rois.shape[0], C, PH, PW), x.dtype)
    for k, (b, *box) in enumerate(rois.astype(numpy.float64)):
        x1, y1, x2, y2 = (v * scale for v in box)
        roi_w, roi_h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        Gh = sampling_ratio if sampling_ratio > 0 else int(numpy.ceil(roi_h / PH))
        Gw = sampling_ratio if sampling_ratio > 0 else int(numpy.ceil(roi_w / PW))
        ys = y1 + (numpy.arange(PH * Gh) + 0.5) * roi_h / (PH * Gh)  # the sample rows, bin by bin
        xs = x1 + (numpy.arange(PW * Gw) + 0.5) * roi_w / (PW * Gw)
        (ylo, yhi, wy), (xlo, xhi, wx) = _taps(ys, H), _taps(xs, W)
        plane = x[int(b)]
        rows = plane[:, ylo] * (1 - wy)[:, None] + plane[:, yhi] * wy[:, None]  # (C, PH*Gh, W)
        samples = rows[:, :, xlo] * (1 - wx) + rows[:, :, xhi] * wx  # (C, PH*Gh, PW*Gw)
        inside = ((ys >= -1) & (ys <= H))[:, None] & ((xs >= -1) & (xs <= W))[None, :]
        y[k] = (samples * inside).reshape(C, PH, Gh, PW, Gw).mean(axis=(2, 4))
    return y


def _taps(coords, L):
    """torchvision's bilinear_interpolate along one axis: low, high index and the high tap's weight."""
    c = numpy.maximum(coords, 0.0)
    low = numpy.minimum(numpy.floor(c).astype(numpy.int64), L - 1)
    high = numpy.minimum(low + 1, L - 1)
    return low, high, numpy.where(low >= L - 1, 0.0, c - low)


def roi_pool_reference(x, rois, output_size, scale):
    """torchvision's roi_pool, one RoI and bin at a time (the max of a slice)."""
    (PH, PW), (C, H, W) = output_size, x.shape[1:]
    y = numpy.zeros((rois.shape[0], C, PH, PW), x.dtype)
    for k, (b, *box) in enumerate(rois.astype(numpy.float64)):
        x1, y1, x2, y2 = (int(numpy.sign(v) * numpy.floor(abs(v) * scale + 0.5)) for v in box)
        h, w = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
        for i in range(PH):
            h0, h1 = (min(max(y1 + e, 0), H) for e in (math.floor(i * h / PH), math.ceil((i + 1) * h / PH)))
            for j in range(PW):
                w0, w1 = (min(max(x1 + e, 0), W) for e in (math.floor(j * w / PW), math.ceil((j + 1) * w / PW)))
                if h1 > h0 and w1 > w0:
                    y[k, :, i, j] = x[int(b), :, h0:h1, w0:w1].max(axis=(1, 2))
    return y


def nms_reference(boxes, scores, iou_threshold):
    """The classic greedy loop (py-faster-rcnn): keep the best box, drop the rest that overlap it, repeat."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order, keep = numpy.argsort(-scores, kind="stable"), []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = numpy.clip(numpy.minimum(x2[i], x2[rest]) - numpy.maximum(x1[i], x1[rest]), 0, None)
        h = numpy.clip(numpy.minimum(y2[i], y2[rest]) - numpy.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        order = rest[inter / (areas[i] + areas[rest] - inter) <= iou_threshold]
    return numpy.asarray(keep, numpy.int64)


# ----------------------------------------------------------------------------- cases


def pooling_case(name, op, reference, x, rois, repeat):
    """Forward (against the reference) and backward medians of one pooling op, in ms."""
    xt = tm.tensor(x, requires_grad=True)
    y = op(xt).data
    gyt = tm.tensor(numpy.random.default_rng(1).standard_normal(y.shape, dtype=numpy.float32))
    kept = {}

    def forward():
        kept["y"] = op(xt)

    def backward():
        xt.grad = None
        kept["y"].backward(gyt, retain_graph=True)

    forward()
    times = interleaved({"tinygrad_med forward": forward, "numpy_reference forward": reference}, repeat, warmup=1)
    times.update(interleaved({"tinygrad_med backward": backward}, repeat, warmup=1))
    return report(name, times, max_abs_diff=float(numpy.abs(y - reference()).max()))


def nms_case(name, boxes, scores, threshold, repeat):
    def ours():
        return nms(tm.tensor(boxes), tm.tensor(scores), threshold)

    def reference():
        return nms_reference(boxes, scores, threshold)

    times = interleaved({"tinygrad_med": ours, "numpy_reference": reference}, repeat, warmup=1)
    same = bool(numpy.array_equal(ours().data, reference()))
    return report(name, times, kept=int(reference().size), same_indices=same)


def report(name, times, **extra):
    """Medians (bench_pool.medians) and ours / reference ratios of one case; printed and returned."""
    entry = {**medians(times), **extra}
    ms = entry["median_ms"]
    for stage in ("forward", ""):
        ours, ref = f"tinygrad_med {stage}".strip(), f"numpy_reference {stage}".strip()
        if ours in ms and ref in ms:
            entry["ratio_vs_numpy_reference"] = ms[ours] / ms[ref]
    timing = ", ".join(f"{k} {v:.1f} ms" for k, v in ms.items())
    ratio = f", ratio {entry['ratio_vs_numpy_reference']:.2f}x" if "ratio_vs_numpy_reference" in entry else ""
    print(f"{name:22s}: {timing}{ratio}; {extra}", flush=True)
    return entry


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    today = datetime.date.today().isoformat()
    out = Path(__file__).resolve().parent / "results" / f"cpu-detection-{today}.json"
    parser.add_argument("--out", default=str(out))
    parser.add_argument("--label", default="", help="a note stored with the results (e.g. the commit measured)")
    args = parser.parse_args()
    rng = numpy.random.default_rng(0)
    x, rois = rng.standard_normal(SHAPE, dtype=numpy.float32), make_rois(rng)
    boxes, scores = make_nms_boxes(rng)
    load_before = os.getloadavg()
    poolings = {  # name: (our call of the x tensor, the reference's call)
        "roi_align sr=2": (lambda xt: roi_align(xt, rois, OUT, SCALE, 2),
                           lambda: roi_align_reference(x, rois, OUT, SCALE, 2)),
        "roi_align adaptive": (lambda xt: roi_align(xt, rois, OUT, SCALE, -1),
                               lambda: roi_align_reference(x, rois, OUT, SCALE, -1)),
        "roi_pool": (lambda xt: roi_pool(xt, rois, OUT, SCALE), lambda: roi_pool_reference(x, rois, OUT, SCALE)),
    }  # fmt: skip
    cases = {name: pooling_case(name, op, ref, x, rois, args.repeat) for name, (op, ref) in poolings.items()}
    for threshold in (0.5, 0.7):
        name = f"nms 3000 iou {threshold}"
        cases[name] = nms_case(name, boxes, scores, threshold, args.repeat)
    result = {
        "label": args.label,
        "workload": f"x {SHAPE} float32, {K} RoIs, output {OUT}, spatial_scale {SCALE}; nms on 3000 boxes",
        "repeat": args.repeat,
        "reference": "straightforward NumPy loops in this file (torchvision is not installed; PyTorch has no such ops)",
        "target": "roi_align / roi_pool at least 3x faster than before the CPU speed-up (compare the 'before' JSON)",
        "cases": cases,
    }
    save(args.out, result, load_before)


if __name__ == "__main__":
    main()
