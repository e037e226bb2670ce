"""Recurrent cells: the fused gate arithmetic of LSTM and GRU steps, and the plain RNN cell.

Lecture: "Recurrent neural networks" (unrolling the loop; the LSTM's memory decides
dynamically what to remember and what to forget).
A step is two matrix products (``x W_ih^T`` and ``h W_hh^T``, cuBLAS/BLAS through
ops/matmul.linear) followed by elementwise gate arithmetic.  That gate arithmetic is one
Function per cell type with forward and backward side by side, and one fused CUDA kernel
each way on the GPU (kernels/rnn.cu), so a step costs two GEMMs and one launch.
Gate order and parameter names are PyTorch's (LSTM: i, f, g, o; GRU: r, z, n).

The input projection and the weight gradients are one GEMM each over all steps, outside the
recurrent loops.
"""

from .. import backend
from ..errors import ShapeError, fmt
from ..function import Function
from .activation import relu, tanh
from .matmul import linear

__all__ = ["lstm_cell", "gru_cell", "rnn_cell", "lstm_gates", "gru_gates", "lstm_layer"]

_THREADS = 256


def _check_cell(op, x, h, W_ih, W_hh, gates):
    hidden = h.shape[-1]
    layout_x, layout_h = (x.shape, "(N, input_size)"), (h.shape, "(N, hidden_size)")
    if x.ndim != 2 or h.ndim != 2 or x.shape[0] != h.shape[0]:
        raise ShapeError(
            fmt(op, "expected x (N, input_size) and h (N, hidden_size) with the same N", x=layout_x, h=layout_h)
        )
    if W_ih.shape[1] != x.shape[1]:
        raise ShapeError(
            fmt(
                op,
                f"x has {x.shape[1]} features but W_ih expects {W_ih.shape[1]}",
                x=layout_x,
                W_ih=(W_ih.shape, f"({gates}*hidden_size, input_size)"),
            )
        )
    if W_ih.shape[0] != gates * hidden or W_hh.shape != (gates * hidden, hidden):
        raise ShapeError(
            fmt(
                op,
                f"weights must be ({gates}*hidden_size, input_size) and "
                f"({gates}*hidden_size, hidden_size) for hidden_size {hidden}",
                W_ih=W_ih,
                W_hh=W_hh,
                h=layout_h,
            )
        )


def lstm_cell(x, hc, W_ih, W_hh, b_ih=None, b_hh=None):
    """One LSTM step (Hochreiter & Schmidhuber, 1997), as torch.nn.LSTMCell.

    Lecture: "Recurrent neural networks" (Long Short Term Memory (LSTM) network).
    Forward:  [a_i a_f a_g a_o] = x W_ih^T + b_ih + h W_hh^T + b_hh
              i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o)
              c' = f * c + i * g,   h' = o * tanh(c')
    Backward: through lstm_gates (below) and the two linear maps.
    Shapes:   x (N, input_size), h and c (N, hidden_size) -> h', c' (N, hidden_size)
    Reference: Hochreiter & Schmidhuber, "Long short-term memory", Neural Computation 1997.
    """
    h, c = hc
    _check_cell("lstm_cell", x, h, W_ih, W_hh, 4)
    return lstm_gates(linear(x, W_ih, b_ih) + linear(h, W_hh, b_hh), c)


def lstm_gates(gates, c):
    """The LSTM's elementwise part: (gates (N, 4H), c (N, H)) -> (h', c'), one fused kernel on the GPU.

    Forward:  i, f, o = sigmoid(a_i, a_f, a_o); g = tanh(a_g); c' = f c + i g; h' = o tanh(c')
    Backward: with t = tanh(c') and gc_total = gc' + gh' o (1 - t^2):
              ga_i = gc_total g i (1 - i),  ga_f = gc_total c f (1 - f),
              ga_g = gc_total i (1 - g^2),  ga_o = gh' t o (1 - o),   gc = gc_total f
    """
    if gates.ndim != 2 or gates.shape[1] != 4 * c.shape[1] or gates.shape[0] != c.shape[0]:
        raise ShapeError(
            fmt("lstm_gates", "gates must be (N, 4 * hidden_size) for c (N, hidden_size)", gates=gates, c=c)
        )
    return LSTMGates.apply(gates, c)


class LSTMGates(Function):
    """The LSTM step's elementwise part: gate pre-activations and c -> (h', c'), one fused kernel.

    Lecture:  "Recurrent neural networks"
    Forward:  [i f g o] = [sig sig tanh sig](gates); c' = f c + i g; h' = o tanh(c')
    Backward: gc' = gh o (1 - tanh^2 c') + gc; go = gh tanh c'; gi = gc' g; gf = gc' c; gg = gc' i; gc = gc' f;
              then through the nonlinearities
    Shapes:   gates (N, 4 hidden_size), c (N, hidden_size) -> h', c' (N, hidden_size)
    """

    def forward(self, gates, c):
        fwd = _lstm_gates_fwd_gpu if backend.on_gpu(gates) else _lstm_gates_fwd_cpu
        h_new, c_new, self.act = fwd(gates, c)  # act: (N, 4H) = [i f g o] after their nonlinearities
        self.c, self.c_new = c, c_new
        return h_new, c_new

    def backward(self, gh, gc):
        bwd = _lstm_gates_bwd_gpu if backend.on_gpu(gh) else _lstm_gates_bwd_cpu
        return bwd(gh, gc, self.act, self.c, self.c_new)


def _lstm_gates_fwd_cpu(gates, c):
    xp = backend.get_xp(gates)
    hidden = c.shape[1]
    act = gates.copy()
    # i, f and o are sigmoids; g is a tanh. sigmoid(a) = (1 + tanh(a/2)) / 2 never overflows.
    for k in (0, 1, 3):
        part = act[:, k * hidden : (k + 1) * hidden]
        part[...] = 0.5 * (1 + xp.tanh(0.5 * part))
    act[:, 2 * hidden : 3 * hidden] = xp.tanh(act[:, 2 * hidden : 3 * hidden])
    i, f, g, o = (act[:, k * hidden : (k + 1) * hidden] for k in range(4))
    c_new = f * c + i * g
    h_new = o * xp.tanh(c_new)
    return h_new, c_new, act


def _lstm_gates_bwd_cpu(gh, gc, act, c, c_new):
    xp = backend.get_xp(gh)
    hidden = c.shape[1]
    i, f, g, o = (act[:, k * hidden : (k + 1) * hidden] for k in range(4))
    t = xp.tanh(c_new)
    gc_total = gc + gh * o * (1 - t * t)
    g_gates = xp.concatenate(
        [gc_total * g * i * (1 - i), gc_total * c * f * (1 - f), gc_total * i * (1 - g * g), gh * t * o * (1 - o)],
        axis=1,
    )
    return g_gates, gc_total * f


def _lstm_gates_fwd_gpu(gates, c):
    xp = backend.get_xp(gates)
    gates, c = xp.ascontiguousarray(gates), xp.ascontiguousarray(c)
    N, hidden = c.shape
    h_new, c_new, act = xp.empty_like(c), xp.empty_like(c), xp.empty_like(gates)
    backend.launch("rnn", "lstm_gates_fwd", N * hidden, (gates, c, h_new, c_new, act, N, hidden), gates.dtype, _THREADS)
    return h_new, c_new, act


def _lstm_gates_bwd_gpu(gh, gc, act, c, c_new):
    xp = backend.get_xp(gh)
    gh, gc = xp.ascontiguousarray(gh), xp.ascontiguousarray(gc)
    N, hidden = c.shape
    g_gates, g_c = xp.empty_like(act), xp.empty_like(c)
    backend.launch(
        "rnn", "lstm_gates_bwd", N * hidden, (gh, gc, act, c, c_new, g_gates, g_c, N, hidden), gh.dtype, _THREADS
    )
    return g_gates, g_c


def lstm_layer(x, h0, c0, W_ih, W_hh, b_ih=None, b_hh=None, mask=None, reverse=False):
    """One direction of an LSTM layer over all time steps as one op: backpropagation through time written out.

    Lecture: "Recurrent neural networks" (unrolling the loop, and the LSTM's memory).
    Forward:  A = x W_ih^T + b_ih + b_hh for every step at once (one GEMM), then
              for t = 0..T-1 (T-1..0 if reverse): (h, c) = lstm_gates(A[t] + h W_hh^T, c);  out[t] = h.
              Where mask[t] is False (a padded step) h and c are kept and out[t] = 0.
    Backward: the same steps in the opposite order: gA[t] = lstm_gates' backward of (gout[t] + gh, gc);
              gh <- gA[t] W_hh; gc <- its c-gradient.  Then ONE product each for everything else:
              gW_ih = gA^T x,  gW_hh = sum_t gA[t]^T h[t-1],  gb_ih = gb_hh = sum_t gA[t],  gx = gA W_ih.
    Shapes:   x (T, N, input_size); h0, c0 (N, H); W_ih (4H, input_size); W_hh (4H, H); b_ih, b_hh (4H,);
              mask (T, N, 1) bool -> out (T, N, H), h_T (N, H), c_T (N, H)
    Same numbers as unrolling lstm_cell with autograd (tests/test_rnn.py ties the two).  Per step it
    costs one product forward and one backward; the products over all steps are batched into big GEMMs.
    Raises:   ShapeError if the shapes do not fit together as above.
    """
    hidden_size = W_hh.shape[0] // 4
    four_h = 4 * hidden_size
    if x.ndim != 3 or W_ih.shape != (four_h, x.shape[-1]) or W_hh.shape != (four_h, hidden_size):
        raise ShapeError(
            fmt(
                "lstm_layer",
                "expected x (T, N, input_size), W_ih (4H, input_size), W_hh (4H, H)",
                x=x,
                W_ih=W_ih,
                W_hh=W_hh,
            )
        )
    T, N = x.shape[0], x.shape[1]
    if h0.shape != (x.shape[1], hidden_size) or c0.shape != h0.shape:
        raise ShapeError(fmt("lstm_layer", f"h0 and c0 must be (N, H) = ({x.shape[1]}, {hidden_size})", h0=h0, c0=c0))
    if mask is not None and tuple(mask.shape) != (T, N, 1):
        raise ShapeError(fmt("lstm_layer", f"mask must be (T, N, 1) = ({T}, {N}, 1)", mask=mask))
    return LSTMLayer.apply(x, h0, c0, W_ih, W_hh, b_ih, b_hh, mask=mask, reverse=reverse)


class LSTMLayer(Function):
    """One direction of an LSTM layer over all T steps (lstm_layer); backpropagation through time.

    Lecture:  "Recurrent neural networks"
    Forward:  A = x W_ih^T + b (one GEMM); per step (h, c) = lstm_gates(A[t] + h W_hh^T, c)
    Backward: steps in reverse: gA[t] from lstm_gates' backward, gh = gA[t] W_hh; then gW_ih = gA^T x, gW_hh =
              sum_t gA[t]^T h[t-1], gb = sum gA, gx = gA W_ih
    Shapes:   x (T, N, in), h0, c0 (N, hidden_size) -> out (T, N, hidden_size), h_T, c_T
    """

    def forward(self, x, h0, c0, W_ih, W_hh, b_ih, b_hh, mask, reverse):
        xp = backend.get_xp(x)
        fwd = _lstm_gates_fwd_gpu if backend.on_gpu(x) else _lstm_gates_fwd_cpu
        T, N, hidden_size = x.shape[0], x.shape[1], W_hh.shape[1]
        A = (x.reshape(T * N, -1) @ W_ih.T).reshape(T, N, 4 * hidden_size)  # every step's input projection: one GEMM
        for b in (b_ih, b_hh):
            if b is not None:
                A += b
        # States in time order: hs[t + before] is h before step t, hs[t + after] the h it makes; the
        # first state sits at hs[0] going forward and at hs[T] going backward in time.  cs alike.
        before, after = (1, 0) if reverse else (0, 1)
        hs, cs = xp.empty((T + 1, N, hidden_size), x.dtype), xp.empty((T + 1, N, hidden_size), x.dtype)
        hs[T * before], cs[T * before] = h0, c0
        out = hs[after : after + T] if mask is None else xp.zeros((T, N, hidden_size), x.dtype)
        self.c_new = cs[after : after + T] if mask is None else xp.empty((T, N, hidden_size), x.dtype)
        for t in reversed(range(T)) if reverse else range(T):
            h, c = hs[t + before], cs[t + before]
            gates = A[t] + (W_hh @ h.T).T  # (4H, H) @ (H, N), read transposed: faster for a small N
            h_new, self.c_new[t], A[t] = fwd(gates, c)  # A[t] now holds the activations [i f g o]
            if mask is None:
                hs[t + after] = h_new  # cs[t + after] is self.c_new[t], written above
            else:  # a padded step keeps the state and outputs 0
                hs[t + after], cs[t + after] = xp.where(mask[t], h_new, h), xp.where(mask[t], self.c_new[t], c)
                out[t] = h_new * mask[t]
        self.x, self.W_ih, self.W_hh, self.act, self.hs, self.cs = x, W_ih, W_hh, A, hs, cs
        self.mask, self.reverse, self.before = mask, reverse, before
        self.has_bias = (b_ih is not None, b_hh is not None)
        return out, hs[T * after], cs[T * after]

    def backward(self, gout, gh, gc):
        xp = backend.get_xp(gout)
        bwd = _lstm_gates_bwd_gpu if backend.on_gpu(gout) else _lstm_gates_bwd_cpu
        T, N, four_h = self.act.shape
        gA = xp.empty_like(self.act)  # gA[t] = dL/dA[t], the gradient of step t's gate pre-activations
        for t in range(T) if self.reverse else reversed(range(T)):
            g_h_new, g_c_new = gout[t] + gh, gc
            if self.mask is not None:
                m = self.mask[t]
                g_h_new, g_c_new, gh_keep, gc_keep = g_h_new * m, g_c_new * m, gh * ~m, gc * ~m
            gA[t], gc = bwd(g_h_new, g_c_new, self.act[t], self.cs[t + self.before], self.c_new[t])
            gh = gA[t] @ self.W_hh  # (N, 4H) @ (4H, H)
            if self.mask is not None:
                gh, gc = gh + gh_keep, gc + gc_keep
        gA2 = gA.reshape(T * N, four_h)  # (T, N, 4H) -> (T*N, 4H)
        h_prev = self.hs[self.before : self.before + T].reshape(T * N, four_h // 4)
        gx = (gA2 @ self.W_ih).reshape(self.x.shape) if self.needs_input_grad[0] else None
        gW_ih = gA2.T @ self.x.reshape(T * N, -1) if self.needs_input_grad[3] else None
        gW_hh = gA2.T @ h_prev if self.needs_input_grad[4] else None
        gb = gA2.sum(axis=0) if any(self.has_bias) else None
        gb_ih = gb if self.has_bias[0] else None
        gb_hh = None if not self.has_bias[1] else gb if gb_ih is None else gb.copy()  # two leaves, two arrays
        return gx, gh, gc, gW_ih, gW_hh, gb_ih, gb_hh


def gru_cell(x, h, W_ih, W_hh, b_ih=None, b_hh=None):
    """One GRU step (Cho et al., 2014), as torch.nn.GRUCell.

    Lecture: "Recurrent neural networks" (gated units keep long-term dependencies).
    Forward:  [gi_r gi_z gi_n] = x W_ih^T + b_ih,  [gh_r gh_z gh_n] = h W_hh^T + b_hh
              r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z), n = tanh(gi_n + r * gh_n)
              h' = (1 - z) * n + z * h
    Backward: through gru_gates (below) and the two linear maps.
    Shapes:   x (N, input_size), h (N, hidden_size) -> h' (N, hidden_size)
    Reference: Cho et al., "Learning phrase representations using RNN encoder-decoder", arXiv:1406.1078.
    """
    _check_cell("gru_cell", x, h, W_ih, W_hh, 3)
    return gru_gates(linear(x, W_ih, b_ih), linear(h, W_hh, b_hh), h)


def gru_gates(gi, gh, h):
    """The GRU's elementwise part: (gi, gh (N, 3H), h (N, H)) -> h', one fused kernel on the GPU.

    Backward: with g = gh': gn = g (1 - z), gz = g (h - n), gh_direct = g z,
              ga_n = gn (1 - n^2) -> g gi_n = ga_n, g gh_n = ga_n r,  gr = ga_n gh_n,
              ga_r = gr r (1 - r) -> g gi_r = g gh_r = ga_r,  ga_z = gz z (1 - z) likewise.
    """
    if gi.shape != gh.shape or gi.ndim != 2 or gi.shape[1] != 3 * h.shape[1] or gi.shape[0] != h.shape[0]:
        raise ShapeError(
            fmt("gru_gates", "gi and gh must both be (N, 3 * hidden_size) for h (N, hidden_size)", gi=gi, gh=gh, h=h)
        )
    return GRUGates.apply(gi, gh, h)


class GRUGates(Function):
    """The GRU step's elementwise part: (gi, gh, h) -> h', one fused kernel.

    Lecture:  "Recurrent neural networks"
    Forward:  r = sig(gi_r + gh_r), z = sig(gi_z + gh_z), n = tanh(gi_n + r gh_n), h' = (1 - z) n + z h
    Backward: gn = g (1 - z), gz = g (h - n), gh_direct = g z, then through tanh and the sigmoids (gru_gates)
    Shapes:   gi, gh (N, 3 hidden_size), h (N, hidden_size) -> h' (N, hidden_size)
    """

    def forward(self, gi, gh, h):
        fwd = _gru_gates_fwd_gpu if backend.on_gpu(gi) else _gru_gates_fwd_cpu
        h_new, self.act = fwd(gi, gh, h)  # act: (N, 3H) = [r z n]
        self.gh, self.h = gh, h
        return h_new

    def backward(self, g):
        bwd = _gru_gates_bwd_gpu if backend.on_gpu(g) else _gru_gates_bwd_cpu
        return bwd(g, self.act, self.gh, self.h)


def _gru_gates_fwd_cpu(gi, gh, h):
    xp = backend.get_xp(gi)
    hidden = h.shape[1]
    rz = gi[:, : 2 * hidden] + gh[:, : 2 * hidden]
    rz = 0.5 * (1 + xp.tanh(0.5 * rz))  # sigmoid, overflow-free
    r, z = rz[:, :hidden], rz[:, hidden:]
    n = xp.tanh(gi[:, 2 * hidden :] + r * gh[:, 2 * hidden :])
    return (1 - z) * n + z * h, xp.concatenate([rz, n], axis=1)


def _gru_gates_bwd_cpu(g, act, gh, h):
    xp = backend.get_xp(g)
    hidden = h.shape[1]
    r, z, n = act[:, :hidden], act[:, hidden : 2 * hidden], act[:, 2 * hidden :]
    ga_n = g * (1 - z) * (1 - n * n)
    ga_r = ga_n * gh[:, 2 * hidden :] * r * (1 - r)
    ga_z = g * (h - n) * z * (1 - z)
    g_gi = xp.concatenate([ga_r, ga_z, ga_n], axis=1)
    g_gh = xp.concatenate([ga_r, ga_z, ga_n * r], axis=1)
    return g_gi, g_gh, g * z


def _gru_gates_fwd_gpu(gi, gh, h):
    xp = backend.get_xp(gi)
    gi, gh, h = xp.ascontiguousarray(gi), xp.ascontiguousarray(gh), xp.ascontiguousarray(h)
    N, hidden = h.shape
    h_new, act = xp.empty_like(h), xp.empty_like(gi)
    backend.launch("rnn", "gru_gates_fwd", N * hidden, (gi, gh, h, h_new, act, N, hidden), gi.dtype, _THREADS)
    return h_new, act


def _gru_gates_bwd_gpu(g, act, gh, h):
    xp = backend.get_xp(g)
    g = xp.ascontiguousarray(g)
    N, hidden = h.shape
    g_gi, g_gh, g_h = xp.empty_like(act), xp.empty_like(act), xp.empty_like(h)
    backend.launch("rnn", "gru_gates_bwd", N * hidden, (g, act, gh, h, g_gi, g_gh, g_h, N, hidden), g.dtype, _THREADS)
    return g_gi, g_gh, g_h


def rnn_cell(x, h, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One Elman RNN step, as torch.nn.RNNCell: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh).

    Lecture: "Recurrent neural networks" (consider the previous state when making a new prediction).
    Backward: through the activation (tanh or relu, ops/activation.py) and the two linear maps.
    Shapes:   x (N, input_size), h (N, hidden_size) -> h' (N, hidden_size)
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_cell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    _check_cell("rnn_cell", x, h, W_ih, W_hh, 1)
    pre = linear(x, W_ih, b_ih) + linear(h, W_hh, b_hh)
    return tanh(pre) if nonlinearity == "tanh" else relu(pre)
