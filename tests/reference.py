"""Naive loop implementations written straight from the slides' formulas (tiny sizes only).

A plain module of functions on numpy arrays, used by the tests as the ground truth for
the vectorised ops.  Nothing here is clever: one Python loop per index of the formula.
"""

import itertools

import numpy


def _tuple(value, d):
    return (value,) * d if isinstance(value, int) else tuple(value)


def conv_nd(x, W, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation as on the "Convolution" slide, for any number d of spatial dims.

    y[n, f, o] = b[f] + sum_{c < C/groups, k} W[f, c, k] * x_padded[n, g(f)*C/groups + c, o*S + k*D]
    x (N, C, *I), W (F, C/groups, *K); ``padding`` an int, a d-tuple, or a d-tuple of (low, high) pairs.
    """
    d = x.ndim - 2
    S, D = _tuple(stride, d), _tuple(dilation, d)
    P = [(p, p) if isinstance(p, int) else tuple(p) for p in _tuple(padding, d)]
    K, F, Cg = W.shape[2:], W.shape[0], W.shape[1]
    xp = numpy.pad(x, [(0, 0), (0, 0), *P])
    O = [(xp.shape[2 + i] - D[i] * (K[i] - 1) - 1) // S[i] + 1 for i in range(d)]
    y = numpy.zeros((x.shape[0], F, *O), dtype=x.dtype)
    for n, f in itertools.product(range(x.shape[0]), range(F)):
        g = f // (F // groups)
        for o in itertools.product(*(range(s) for s in O)):
            total = 0.0 if b is None else b[f]
            for c in range(Cg):
                for k in itertools.product(*(range(s) for s in K)):
                    index = tuple(o[i] * S[i] + k[i] * D[i] for i in range(d))
                    total += W[(f, c, *k)] * xp[(n, g * Cg + c, *index)]
            y[(n, f, *o)] = total
    return y


def conv_transpose_nd(x, W, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution as a scatter: every x[n, c, i] adds W[c, f, k] * x[n, c, i] at i*S - P + k*D.

    x (N, C, *I), W (C, F/groups, *K) -> y (N, F, *O), O = (I - 1)*S - 2P + D*(K - 1) + output_padding + 1.
    """
    d = x.ndim - 2
    S, P, OP, D = _tuple(stride, d), _tuple(padding, d), _tuple(output_padding, d), _tuple(dilation, d)
    K, Fg, C = W.shape[2:], W.shape[1], W.shape[0]
    Cg = C // groups
    full = [(x.shape[2 + i] - 1) * S[i] + D[i] * (K[i] - 1) + 1 + OP[i] for i in range(d)]
    y = numpy.zeros((x.shape[0], Fg * groups, *full), dtype=x.dtype)
    for n, c in itertools.product(range(x.shape[0]), range(C)):
        g = c // Cg
        for i in itertools.product(*(range(s) for s in x.shape[2:])):
            for f in range(Fg):
                for k in itertools.product(*(range(s) for s in K)):
                    index = tuple(i[j] * S[j] + k[j] * D[j] for j in range(d))
                    y[(n, g * Fg + f, *index)] += W[(c, f, *k)] * x[(n, c, *i)]
    y = y[(slice(None), slice(None), *(slice(P[j], full[j] - P[j]) for j in range(d)))]
    if b is not None:
        y = y + b.reshape((-1,) + (1,) * d)
    return y


# ----------------------------------------------------------------------------- pooling and resampling


def _pool_out(n, k, s, p, d, ceil_mode):
    """One dim's pooled size: floor or ceil of (n + 2p - d(k-1) - 1)/s, plus 1; the last window must
    start inside the input or the left padding."""
    span = n + 2 * p - d * (k - 1) - 1
    o = (span + (s - 1 if ceil_mode else 0)) // s + 1
    return o - 1 if ceil_mode and (o - 1) * s >= n + p else o


def max_pool_nd(x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max pooling as on the "Max Pooling" slide, any number d of spatial dims.

    y[n, c, o] = max over k of x[n, c, o*S - P + k*D] (positions outside x skipped), and the
    flat index of that maximum in x[n, c] (the first one met in row-major order).
    """
    d = x.ndim - 2
    K = _tuple(kernel, d)
    S, P, D = _tuple(stride if stride is not None else K, d), _tuple(padding, d), _tuple(dilation, d)
    O = [_pool_out(x.shape[2 + i], K[i], S[i], P[i], D[i], ceil_mode) for i in range(d)]
    y = numpy.zeros(x.shape[:2] + tuple(O), x.dtype)
    index = numpy.zeros(y.shape, numpy.int64)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*(range(s) for s in O)):
            best, where = -numpy.inf, -1
            for k in itertools.product(*(range(s) for s in K)):
                pos = tuple(o[i] * S[i] - P[i] + k[i] * D[i] for i in range(d))
                if all(0 <= pos[i] < x.shape[2 + i] for i in range(d)) and (where < 0 or x[(n, c, *pos)] > best):
                    best, where = x[(n, c, *pos)], int(numpy.ravel_multi_index(pos, x.shape[2:]))
            y[(n, c, *o)], index[(n, c, *o)] = best, where
    return y, index


def avg_pool_nd(x, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Average pooling as on the "Average Pooling" slide: the window's sum over its size.

    The size is divisor_override if given, else the window clipped to the padded input
    (count_include_pad) or the number of real inputs in it.
    """
    d = x.ndim - 2
    K = _tuple(kernel, d)
    S, P = _tuple(stride if stride is not None else K, d), _tuple(padding, d)
    O = [_pool_out(x.shape[2 + i], K[i], S[i], P[i], 1, ceil_mode) for i in range(d)]
    y = numpy.zeros(x.shape[:2] + tuple(O), x.dtype)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*(range(s) for s in O)):
            total, real, padded = 0.0, 0, 0
            for k in itertools.product(*(range(s) for s in K)):
                pos = tuple(o[i] * S[i] - P[i] + k[i] for i in range(d))
                if all(-P[i] <= pos[i] < x.shape[2 + i] + P[i] for i in range(d)):
                    padded += 1
                if all(0 <= pos[i] < x.shape[2 + i] for i in range(d)):
                    total, real = total + x[(n, c, *pos)], real + 1
            y[(n, c, *o)] = total / (divisor_override or (padded if count_include_pad else real))
    return y


def _adaptive_window(i, n, o):
    return range((i * n) // o, -(-((i + 1) * n) // o))  # [floor(i n / o), ceil((i+1) n / o))


def adaptive_pool_nd(x, out, how):
    """Adaptive average ("avg") or max ("max") pooling: window i covers [floor(i L/O), ceil((i+1) L/O)).

    Returns y, and for "max" also the flat index of each maximum in its (n, c) plane.
    """
    d = x.ndim - 2
    y = numpy.zeros(x.shape[:2] + tuple(out), x.dtype)
    index = numpy.zeros(y.shape, numpy.int64)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*(range(s) for s in out)):
            window = list(itertools.product(*(_adaptive_window(o[i], x.shape[2 + i], out[i]) for i in range(d))))
            values = [x[(n, c, *pos)] for pos in window]
            if how == "avg":
                y[(n, c, *o)] = sum(values) / len(values)
            else:
                best = int(numpy.argmax(values))  # the first maximum
                y[(n, c, *o)] = values[best]
                index[(n, c, *o)] = numpy.ravel_multi_index(window[best], x.shape[2:])
    return y if how == "avg" else (y, index)


def interpolate_nd(x, out, mode, align_corners=False, scale_factor=None):
    """Nearest or (multi)linear interpolation, output element by output element.

    Source coordinate along a dim of n inputs and o outputs, with r = 1/scale_factor if given else n/o:
    nearest: floor(j r); linear: j (n-1)/(o-1) if align_corners else max((j + 0.5) r - 0.5, 0);
    then y = sum over the 2^d corners of prod_i (1 - lam_i or lam_i) * x[corner].
    """
    d = x.ndim - 2
    y = numpy.zeros(x.shape[:2] + tuple(out), x.dtype)
    taps = []
    for i in range(d):
        n, o = x.shape[2 + i], out[i]
        r = 1.0 / scale_factor[i] if scale_factor else n / o
        per_output = []
        for j in range(o):
            if mode == "nearest":
                per_output.append([(min(int(numpy.floor(numpy.float32(j) * numpy.float32(r))), n - 1), 1.0)])
                continue
            if align_corners:
                src = j * (n - 1) / (o - 1) if o > 1 else 0.0
            else:
                src = max((j + 0.5) * r - 0.5, 0.0)
            i0 = min(int(numpy.floor(src)), n - 1)
            per_output.append([(i0, 1.0 - (src - i0)), (min(i0 + 1, n - 1), src - i0)])
        taps.append(per_output)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*(range(s) for s in out)):
            for corner in itertools.product(*(taps[i][o[i]] for i in range(d))):
                weight = numpy.prod([w for _, w in corner])
                y[(n, c, *o)] += weight * x[(n, c, *[p for p, _ in corner])]
    return y


def bicubic_2d(x, out, align_corners=False, scale_factor=None):
    """Bicubic interpolation of (N, C, H, W), output pixel by output pixel (Keys' cubic convolution, A = -0.75).

    Along a dim of n inputs and o outputs, with r = 1/scale_factor if given else n/o: src = j (n-1)/(o-1) if
    align_corners else (j + 0.5) r - 0.5 (not clamped at 0); i0 = min(floor(src), n - 1), t = clip(src - i0, 0, 1);
    y = sum_{a,b=0..3} W_a(t_h) W_b(t_w) x[clip(i0_h - 1 + a), clip(i0_w - 1 + b)], W(s) the cubic kernel at the
    tap's distance s from src.
    """

    def kernel(s, a=-0.75):
        s = abs(s)
        if s <= 1:
            return (a + 2) * s**3 - (a + 3) * s**2 + 1
        return a * s**3 - 5 * a * s**2 + 8 * a * s - 4 * a if s < 2 else 0.0

    taps = []
    for i in range(2):
        n, o = x.shape[2 + i], out[i]
        r = 1.0 / scale_factor[i] if scale_factor else n / o
        per_output = []
        for j in range(o):
            if align_corners:
                src = j * (n - 1) / (o - 1) if o > 1 else 0.0
            else:
                src = (j + 0.5) * r - 0.5
            i0 = min(int(numpy.floor(src)), n - 1)
            t = min(max(src - i0, 0.0), 1.0)
            per_output.append([(min(max(i0 - 1 + k, 0), n - 1), kernel(t + 1 - k)) for k in range(4)])
        taps.append(per_output)
    y = numpy.zeros(x.shape[:2] + tuple(out), x.dtype)
    for n, c, oh, ow in itertools.product(*(range(s) for s in y.shape)):
        for (h, wh), (w, ww) in itertools.product(taps[0][oh], taps[1][ow]):
            y[n, c, oh, ow] += wh * ww * x[n, c, h, w]
    return y


def pad_nd(x, pad, mode):
    """F.pad's reflect / replicate / circular modes: y[j] = x[src(j)] for j in [-left, n + right)."""
    k = len(pad) // 2
    widths = [(pad[2 * (k - 1 - i)], pad[2 * (k - 1 - i) + 1]) for i in range(k)]  # first padded dim first
    lead = x.ndim - k
    out = x.shape[:lead] + tuple(x.shape[lead + i] + a + b for i, (a, b) in enumerate(widths))
    y = numpy.zeros(out, x.dtype)
    for j in itertools.product(*(range(s) for s in out)):
        src = list(j[:lead])
        for i, (a, _) in enumerate(widths):
            n, q = x.shape[lead + i], j[lead + i] - a
            if mode == "reflect":
                q = -q if q < 0 else (2 * (n - 1) - q if q >= n else q)
            elif mode == "replicate":
                q = min(max(q, 0), n - 1)
            else:
                q = q % n
            src.append(q)
        y[j] = x[tuple(src)]
    return y


def max_unpool_nd(x, indices, out):
    """y[n, c, flat index indices[n, c, o]] = x[n, c, o], zeros elsewhere."""
    y = numpy.zeros(x.shape[:2] + tuple(out), x.dtype)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*(range(s) for s in x.shape[2:])):
            y[(n, c, *numpy.unravel_index(indices[(n, c, *o)], out))] = x[(n, c, *o)]
    return y
