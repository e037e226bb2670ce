"""Recurrent cells and layers: gate math, gradients through time, parity, PyTorch compatibility, memory."""

import numpy
import pytest
from conftest import assert_close

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.errors import ShapeError
from tinygrad_med.ops.rnn import gru_gates, lstm_gates


def _sigmoid(a):
    return 1 / (1 + numpy.exp(-a))


def test_lstm_gates_match_the_equations():
    rng = numpy.random.default_rng(0)
    gates, c = rng.standard_normal((3, 8)), rng.standard_normal((3, 2))
    h_new, c_new = lstm_gates(tm.tensor(gates), tm.tensor(c))
    i, f, g, o = _sigmoid(gates[:, 0:2]), _sigmoid(gates[:, 2:4]), numpy.tanh(gates[:, 4:6]), _sigmoid(gates[:, 6:8])
    numpy.testing.assert_allclose(c_new.numpy(), f * c + i * g, rtol=1e-12)
    numpy.testing.assert_allclose(h_new.numpy(), o * numpy.tanh(f * c + i * g), rtol=1e-12)


def test_gru_gates_match_the_equations():
    rng = numpy.random.default_rng(1)
    gi, gh, h = rng.standard_normal((3, 6)), rng.standard_normal((3, 6)), rng.standard_normal((3, 2))
    r, z = _sigmoid(gi[:, :2] + gh[:, :2]), _sigmoid(gi[:, 2:4] + gh[:, 2:4])
    n = numpy.tanh(gi[:, 4:] + r * gh[:, 4:])
    numpy.testing.assert_allclose(
        gru_gates(tm.tensor(gi), tm.tensor(gh), tm.tensor(h)).numpy(), (1 - z) * n + z * h, rtol=1e-12
    )


def test_gate_functions_gradcheck_and_parity(device):
    rng = numpy.random.default_rng(2)
    gates, c = device.tensor(rng.standard_normal((3, 8)), True), device.tensor(rng.standard_normal((3, 2)), True)
    tm.gradcheck(lstm_gates, [gates, c])
    gi, gh, h = (device.tensor(rng.standard_normal(s), True) for s in ((3, 6), (3, 6), (3, 2)))
    tm.gradcheck(gru_gates, [gi, gh, h])
    x32 = rng.standard_normal((4, 12)).astype(numpy.float32), rng.standard_normal((4, 3)).astype(numpy.float32)
    ours = lstm_gates(device.tensor(x32[0]), device.tensor(x32[1]))
    ref = device.reference(lstm_gates, tm.tensor(x32[0]), tm.tensor(x32[1]))
    assert_close(ours[0], ref[0])
    assert_close(ours[1], ref[1])


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_layers_gradcheck_through_time(mode, bidirectional):
    tm.manual_seed(0)
    layer = getattr(nn, mode)(3, 4, num_layers=2, bidirectional=bidirectional).double()
    x = tm.Tensor(numpy.random.default_rng(3).standard_normal((5, 2, 3)), requires_grad=True)
    h0 = tm.Tensor(
        numpy.random.default_rng(4).standard_normal((2 * (2 if bidirectional else 1), 2, 4)), requires_grad=True
    )
    if mode == "LSTM":
        tm.gradcheck(lambda x, h0: layer(x, (h0, h0 * 0.5))[0], [x, h0])
    else:
        tm.gradcheck(lambda x, h0: layer(x, h0), [x, h0])  # output and final state
    out, _ = layer(x)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in layer.parameters())


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_lstm_layer_equals_unrolled_cells_and_gradchecks(device, reverse, masked):
    """The written-out BPTT of lstm_layer gives what autograd through lstm_cell steps gives."""
    rng = numpy.random.default_rng(8)
    T, N, I, H = 4, 3, 2, 2
    shapes = ((T, N, I), (N, H), (N, H), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,))
    arrays = [rng.standard_normal(s) for s in shapes]
    mask = (numpy.arange(T)[:, None] < numpy.array([4, 2, 1])[None, :])[..., None] if masked else None
    mask_dev = None if mask is None else device.tensor(mask).data
    inputs = [device.tensor(a, requires_grad=True) for a in arrays]
    tm.gradcheck(lambda *t: tm.ops.rnn.lstm_layer(*t, mask=mask_dev, reverse=reverse), inputs)

    def unrolled(x, h, c, W_ih, W_hh, b_ih, b_hh):
        out = [None] * T
        for t in reversed(range(T)) if reverse else range(T):
            h_new, c_new = tm.ops.rnn.lstm_cell(x[t], (h, c), W_ih, W_hh, b_ih, b_hh)
            if mask is None:
                h, c, out[t] = h_new, c_new, h_new
            else:
                m = tm.tensor(mask[t])
                h, c, out[t] = tm.where(m, h_new, h), tm.where(m, c_new, c), tm.where(m, h_new, 0.0)
        return tm.stack(out), h, c

    ref = device.reference(lambda: unrolled(*[tm.tensor(a) for a in arrays]))
    got = tm.ops.rnn.lstm_layer(*[device.tensor(a) for a in arrays], mask=mask_dev, reverse=reverse)
    for a, b in zip(got, ref):
        assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_lstm_parameter_gradients_gradcheck():
    tm.manual_seed(1)
    cell = nn.LSTMCell(3, 2).double()
    x = tm.Tensor(numpy.random.default_rng(4).standard_normal((4, 3)))

    def loss(W_ih, W_hh, b_ih, b_hh):
        state = (tm.zeros(4, 2, dtype=tm.float64),) * 2
        for _ in range(3):  # three steps through time with the same weights
            state = tm.ops.rnn.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh)
        return state[0] * state[1]

    weights = [tm.Tensor(p.numpy(), requires_grad=True) for p in cell.parameters()]
    tm.gradcheck(loss, weights)


def test_layer_parity_on_device(device):
    tm.manual_seed(2)
    layer = nn.LSTM(3, 5, batch_first=True, bidirectional=True)
    x = numpy.random.default_rng(5).standard_normal((2, 4, 3)).astype(numpy.float32)
    ref_out, (ref_h, ref_c) = device.reference(lambda: layer(tm.tensor(x)))
    if device.device == "cuda":
        layer.to("cuda")
    out, (h, c) = layer(device.tensor(x))
    assert out.shape == (2, 4, 10) and h.shape == (2, 2, 5)
    assert_close(out, ref_out)
    assert_close(c, ref_c)


def test_padded_steps_change_neither_state_nor_gradient():
    tm.manual_seed(3)
    layer = nn.GRU(2, 3, bidirectional=True).double()
    rng = numpy.random.default_rng(6)
    short = rng.standard_normal((3, 1, 2))
    padded = numpy.concatenate([short, rng.standard_normal((2, 1, 2)) * 100], axis=0)  # 2 junk steps
    x_short = tm.Tensor(short, requires_grad=True)
    x_padded = tm.Tensor(padded, requires_grad=True)
    out_s, h_s = layer(x_short)
    out_p, h_p = layer(x_padded, lengths=[3])
    numpy.testing.assert_allclose(h_p.numpy(), h_s.numpy(), rtol=1e-12)
    numpy.testing.assert_allclose(out_p.numpy()[:3], out_s.numpy(), rtol=1e-12)
    assert numpy.all(out_p.numpy()[3:] == 0)
    (out_p.sum() + h_p.sum()).backward()
    (out_s.sum() + h_s.sum()).backward()
    numpy.testing.assert_allclose(x_padded.grad.numpy()[:3], x_short.grad.numpy(), rtol=1e-10)
    assert numpy.all(x_padded.grad.numpy()[3:] == 0)


def test_pytorch_state_dict_loads_and_gives_the_same_numbers():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    for ours_cls, theirs in (
        (nn.LSTM, torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)),
        (nn.GRU, torch.nn.GRU(3, 4, batch_first=True)),
        (nn.RNN, torch.nn.RNN(3, 4, nonlinearity="relu", batch_first=True)),
    ):
        kwargs = {k: getattr(theirs, k) for k in ("num_layers", "bidirectional", "batch_first")}
        if ours_cls is nn.RNN:
            kwargs["nonlinearity"] = "relu"
        ours = ours_cls(3, 4, **kwargs)
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        x = numpy.random.default_rng(7).standard_normal((2, 5, 3)).astype(numpy.float32)
        expected, _ = theirs(torch.from_numpy(x))
        got, _ = ours(tm.tensor(x))
        numpy.testing.assert_allclose(got.numpy(), expected.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_cell_shapes_and_errors():
    cell = nn.LSTMCell(3, 4)
    h, c = cell(tm.randn(2, 3))
    assert h.shape == c.shape == (2, 4)
    assert nn.GRUCell(3, 4)(tm.randn(2, 3)).shape == (2, 4)
    with pytest.raises(
        ShapeError, match=r"lstm_cell: x has 5 features but W_ih expects 3 \(x.shape=\(2, 5\) as \(N, input_size\)"
    ):
        cell(tm.randn(2, 5))
    with pytest.raises(ShapeError, match="expected input of size 3"):
        nn.LSTM(3, 4)(tm.randn(5, 2, 6))
    with pytest.raises(ShapeError, match="lengths must be N=2 values in 1..T=5"):
        nn.LSTM(3, 4)(tm.randn(5, 2, 3), lengths=[6, 1])


def _recall_batch(rng, batch, steps, vocab):
    """A token at step 0, then blanks: the token must be reported at the last step, 20 steps later."""
    tokens = rng.integers(0, vocab, batch)
    x = numpy.zeros((batch, steps, vocab), dtype=numpy.float32)
    x[numpy.arange(batch), 0, tokens] = 1  # one-hot at t = 0 only
    return tm.tensor(x), tm.tensor(tokens)


@pytest.mark.slow
def test_lstm_recalls_a_token_seen_20_steps_earlier_and_a_memoryless_model_cannot():
    """Only a model with memory can solve it: at the last step the input says nothing about the target."""
    rng, vocab, steps, hidden = numpy.random.default_rng(0), 2, 21, 16
    tm.manual_seed(0)
    lstm, head = nn.LSTM(vocab, hidden, batch_first=True), nn.Linear(hidden, vocab)
    with tm.no_grad():  # forget-gate bias 1 (Gers et al., 2000): remember by default
        lstm.bias_hh_l0.data[hidden : 2 * hidden] = 1.0
    memoryless = nn.Sequential(nn.Linear(vocab, 16), nn.Tanh(), nn.Linear(16, vocab))  # sees only the last step
    opt = tm.optim.Adam(list(lstm.parameters()) + list(head.parameters()) + list(memoryless.parameters()), lr=0.01)
    for _ in range(400):
        x, y = _recall_batch(rng, 32, steps, vocab)
        out, _ = lstm(x)
        loss = nn.functional.cross_entropy(head(out[:, -1]), y)
        loss = loss + nn.functional.cross_entropy(memoryless(x[:, -1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = _recall_batch(rng, 512, steps, vocab)
    with tm.no_grad():
        lstm_acc = (head(lstm(x)[0][:, -1]).argmax(1) == y).numpy().mean()
        base_acc = (memoryless(x[:, -1]).argmax(1) == y).numpy().mean()
    assert lstm_acc > 0.95, lstm_acc
    assert base_acc < 0.65, base_acc  # chance is 0.5


def test_lstm_layer_rejects_mismatched_shapes():
    x, h0 = tm.zeros(4, 3, 2), tm.zeros(3, 5)
    W_ih, W_hh = tm.zeros(20, 2), tm.zeros(20, 5)
    with pytest.raises(ShapeError, match=r"W_ih.*\(20, 3\)"):
        tm.ops.rnn.lstm_layer(x, h0, h0, tm.zeros(20, 3), W_hh)
    with pytest.raises(ShapeError, match=r"h0 and c0 must be \(N, H\) = \(3, 5\)"):
        tm.ops.rnn.lstm_layer(x, tm.zeros(2, 5), h0, W_ih, W_hh)
    with pytest.raises(ShapeError, match=r"mask must be \(T, N, 1\)"):
        tm.ops.rnn.lstm_layer(x, h0, h0, W_ih, W_hh, mask=numpy.ones((4, 3), bool))
