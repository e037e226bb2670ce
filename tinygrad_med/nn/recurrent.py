"""Recurrent layers with torch.nn's names, parameter names, shapes and gate order.

Lecture: "Recurrent neural networks" (unroll the loop: one copy of the cell per time step;
the LSTM keeps long-term dependencies in its memory c).
Cells (RNNCell, LSTMCell, GRUCell) do one step; layers (RNN, LSTM, GRU) unroll them over
time with num_layers, bidirectional, batch_first, dropout between layers, initial states
and variable-length batches.  A PyTorch state_dict loads into these one to one.

Variable lengths: ``forward(x, hx, lengths=...)``.  A padded step (t >= length) keeps the
state as it was (h_t = h_{t-1}), so it changes neither the final state nor any gradient, and
its output is 0, as torch's pad_packed_sequence gives.  The reverse direction starts at the
end of the padded sequence and keeps its initial state until it reaches the sample's last real
step, so it, too, reads each sequence from its own end.
"""

import math

import numpy

from .. import backend
from ..errors import ShapeError, fmt
from ..ops.activation import relu, tanh
from ..ops.arithmetic import where
from ..ops.dropout import dropout
from ..ops.matmul import linear
from ..ops.rnn import gru_cell, gru_gates, lstm_cell, lstm_layer, rnn_cell
from ..ops.shape import cat, stack, unbind
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _uniform_parameters(module, hidden_size):
    """PyTorch's initialisation of every recurrent weight and bias: U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size)
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


class _CellBase(Module):
    def __init__(self, mode, input_size, hidden_size, bias=True, dtype=None, device=None):
        super().__init__()
        gates = _GATES[mode]
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(
            Tensor(numpy.zeros((gates * hidden_size, input_size)), dtype=dtype or "float32", device=device)
        )
        self.weight_hh = Parameter(
            Tensor(numpy.zeros((gates * hidden_size, hidden_size)), dtype=dtype or "float32", device=device)
        )
        if bias:
            self.bias_ih = Parameter(Tensor(numpy.zeros(gates * hidden_size), dtype=dtype or "float32", device=device))
            self.bias_hh = Parameter(Tensor(numpy.zeros(gates * hidden_size), dtype=dtype or "float32", device=device))
        else:
            self.bias_ih = self.bias_hh = None
        _uniform_parameters(self, hidden_size)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")

    def _zeros(self, x):
        return Tensor._wrap(backend.get_xp(x.data).zeros((x.shape[0], self.hidden_size), dtype=x.dtype))


class RNNCell(_CellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu), as torch.nn.RNNCell."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", dtype=None, device=None):
        super().__init__("RNN", input_size, hidden_size, bias, dtype, device)
        self.nonlinearity = nonlinearity

    def forward(self, x, h=None):
        h = self._zeros(x) if h is None else h
        return rnn_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity)


class LSTMCell(_CellBase):
    """One LSTM step, as torch.nn.LSTMCell: returns (h', c'); gates in the order i, f, g, o."""

    def __init__(self, input_size, hidden_size, bias=True, dtype=None, device=None):
        super().__init__("LSTM", input_size, hidden_size, bias, dtype, device)

    def forward(self, x, hc=None):
        hc = (self._zeros(x), self._zeros(x)) if hc is None else hc
        return lstm_cell(x, hc, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class GRUCell(_CellBase):
    """One GRU step, as torch.nn.GRUCell; gates in the order r, z, n."""

    def __init__(self, input_size, hidden_size, bias=True, dtype=None, device=None):
        super().__init__("GRU", input_size, hidden_size, bias, dtype, device)

    def forward(self, x, h=None):
        h = self._zeros(x) if h is None else h
        return gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class _RecurrentBase(Module):
    """Shared unrolling of RNN, LSTM and GRU over layers, directions and time."""

    mode = None

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        dtype=None,
        device=None,
        *,
        nonlinearity="tanh",  # RNN only; RNN.__init__ takes it in PyTorch's position
    ):
        super().__init__()
        if not 0 <= dropout <= 1:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1], got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.bidirectional, self.nonlinearity = bidirectional, nonlinearity
        gates = _GATES[self.mode] * hidden_size
        directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            for suffix in ("", "_reverse")[:directions]:
                width = input_size if layer == 0 else hidden_size * directions
                shapes = {"weight_ih": (gates, width), "weight_hh": (gates, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                for name, shape in shapes.items():
                    setattr(
                        self,
                        f"{name}_l{layer}{suffix}",
                        Parameter(Tensor(numpy.zeros(shape), dtype=dtype or "float32", device=device)),
                    )
        _uniform_parameters(self, hidden_size)

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("num_layers", 1), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text

    def forward(self, x, hx=None, lengths=None):
        """Run the sequence through every layer and direction.

        Args:
            x: (T, N, input_size), or (N, T, input_size) with batch_first, or unbatched (T, input_size).
            hx: initial state(s) (num_layers * directions, N, hidden_size); for LSTM a pair (h0, c0).
            lengths: optional (N,) true lengths (<= T) of the padded sequences.
        Returns:
            output (T, N, directions * hidden_size) (batch_first: (N, T, ...)) and the final state(s)
            (num_layers * directions, N, hidden_size), for LSTM a pair (h_n, c_n).
        """
        unbatched = x.ndim == 2
        if unbatched:
            x = x.unsqueeze(1)
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            raise ShapeError(
                fmt(
                    type(self).__name__,
                    f"expected input of size {self.input_size} in the last dim",
                    x=(x.shape, "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"),
                )
            )
        if self.batch_first and not unbatched:
            x = x.transpose(0, 1)
        T, N = x.shape[0], x.shape[1]
        states = self._initial_states(x, hx, unbatched)
        masks = self._step_masks(x, lengths, T, N)
        finals = []
        directions = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            outputs = []
            for d in range(directions):
                index = layer * directions + d
                out, final = self._run_direction(x, layer, d == 1, [s[index] for s in states], masks)
                outputs.append(out)
                finals.append(final)
            x = outputs[0] if directions == 1 else cat(outputs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = dropout(x, self.dropout, True)
        output = x.transpose(0, 1) if self.batch_first and not unbatched else x
        final = tuple(stack([f[k] for f in finals], 0) for k in range(len(states)))
        if unbatched:
            output, final = output.squeeze(1), tuple(f.squeeze(1) for f in final)
        return output, (final if self.mode == "LSTM" else final[0])

    def _initial_states(self, x, hx, unbatched):
        count = self.num_layers * (2 if self.bidirectional else 1)
        n_states = 2 if self.mode == "LSTM" else 1
        if hx is None:
            zeros = backend.get_xp(x.data).zeros((count, x.shape[1], self.hidden_size), dtype=x.dtype)
            return [unbind(Tensor._wrap(zeros), 0) for _ in range(n_states)]
        hx = hx if isinstance(hx, (tuple, list)) else (hx,)
        if len(hx) != n_states:
            raise ShapeError(fmt(type(self).__name__, f"expected {n_states} initial state tensor(s), got {len(hx)}"))
        result = []
        for h in hx:
            h = h.unsqueeze(1) if unbatched else h
            if h.shape != (count, x.shape[1], self.hidden_size):
                raise ShapeError(
                    fmt(
                        type(self).__name__,
                        f"initial state must be ({count}, N, {self.hidden_size})",
                        hx=(h.shape, "(num_layers * directions, N, hidden_size)"),
                    )
                )
            result.append(unbind(h, 0))
        return result

    def _step_masks(self, x, lengths, T, N):
        if lengths is None:
            return None
        lengths = numpy.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths).reshape(-1)
        if lengths.shape != (N,) or lengths.min() < 1 or lengths.max() > T:
            raise ShapeError(fmt(type(self).__name__, f"lengths must be N={N} values in 1..T={T}", lengths=lengths))
        valid = numpy.arange(T)[:, None] < lengths[None, :]  # (T, N): step t is real for sample n
        return [backend.to_device(valid[t][:, None], x.device) for t in range(T)]

    def _run_direction(self, x, layer, reverse, state, masks):
        suffix = f"l{layer}" + ("_reverse" if reverse else "")
        W_hh, b_hh = getattr(self, f"weight_hh_{suffix}"), getattr(self, f"bias_hh_{suffix}", None)
        W_ih, b_ih = getattr(self, f"weight_ih_{suffix}"), getattr(self, f"bias_ih_{suffix}", None)
        if self.mode == "LSTM":  # the benchmarked layer: its time loop is one op (ops/rnn.py::lstm_layer)
            mask = None if masks is None else backend.get_xp(x.data).stack(masks)
            out, h, c = lstm_layer(x, state[0], state[1], W_ih, W_hh, b_ih, b_hh, mask=mask, reverse=reverse)
            return out, [h, c]
        # The input projection of every step at once: one (T*N, in) x (in, gates*H) product.
        projected = linear(x, W_ih, b_ih)
        gx = unbind(projected, 0)
        T = len(gx)
        outputs = [None] * T
        for t in reversed(range(T)) if reverse else range(T):
            new = self._step(gx[t], state, W_hh, b_hh)
            if masks is not None:  # padded steps keep the state and output 0
                new = [where(masks[t], n, s) for n, s in zip(new, state)]
                outputs[t] = where(masks[t], new[0], 0.0)
            else:
                outputs[t] = new[0]
            state = new
        return stack(outputs, 0), state

    def _step(self, gx_t, state, W_hh, b_hh):
        gh = linear(state[0], W_hh, b_hh)
        if self.mode == "GRU":
            return [gru_gates(gx_t, gh, state[0])]
        pre = gx_t + gh
        return [tanh(pre) if self.nonlinearity == "tanh" else relu(pre)]


class RNN(_RecurrentBase):
    """Elman RNN layers, as torch.nn.RNN (nonlinearity 'tanh' or 'relu')."""

    mode = "RNN"

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        nonlinearity="tanh",
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        dtype=None,
        device=None,
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            dtype,
            device,
            nonlinearity=nonlinearity,
        )


class LSTM(_RecurrentBase):
    """LSTM layers, as torch.nn.LSTM: forward returns (output, (h_n, c_n)).

    Reference: Hochreiter & Schmidhuber, "Long short-term memory", Neural Computation 1997.
    """

    mode = "LSTM"


class GRU(_RecurrentBase):
    """GRU layers, as torch.nn.GRU. Reference: Cho et al., arXiv:1406.1078."""

    mode = "GRU"
