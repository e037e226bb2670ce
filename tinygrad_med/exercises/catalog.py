"""The exercises: which reference code each one blanks, and the random cases that check a student's version.

Each case runs through the package's public op (validation, shapes, dispatch are the package's), so the
student writes only the formulas of the slide: the targets named below.  Shapes are drawn per seed.
"""

import dataclasses
import importlib

import numpy
import scipy.sparse

__all__ = ["Exercise", "Case", "EXERCISES", "get"]


@dataclasses.dataclass(frozen=True)
class Case:
    """One random instance: inputs (arrays), the names whose gradients are checked, and how to run the op."""

    label: str
    inputs: dict
    grads: tuple
    outputs: tuple
    run: object  # run(inputs) -> output(s); inputs are Tensors (or raw values when tensors is False)
    tensors: bool = True


@dataclasses.dataclass(frozen=True)
class Exercise:
    """An exercise: its name, the slide, the module and targets it blanks, a hint, and its case generator."""

    name: str
    title: str
    lecture: str
    module: str
    targets: tuple
    hint: str
    case: object  # case(rng) -> Case
    public: str = ""  # the public op (or class) of ``module`` whose docstring the starter file quotes


def _op(module, name):
    """The function ``name`` of ``module``, looked up at call time (the check patches module attributes)."""
    return lambda *args, **kwargs: getattr(importlib.import_module(module), name)(*args, **kwargs)


def _shapes(**arrays):
    return ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items() if hasattr(v, "shape"))


def _away_from_zero(rng, shape, low=0.1):
    """Values with |v| >= low: no kink (ReLU at 0) within a central-difference step."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, 2.0, size=shape)


def _distinct(rng, shape):
    """Values 0.05 apart, shuffled: no tied maxima in a pooling window."""
    return rng.permutation(numpy.arange(int(numpy.prod(shape)), dtype=numpy.float64) * 0.05).reshape(shape)


# ----------------------------------------------------------------------------- the cases


def _linear_case(rng):
    batch = (int(rng.integers(1, 4)),) * (1 + int(rng.integers(0, 2)))  # (N,) or (N, N): batch dims
    n_in, n_out = int(rng.integers(2, 6)), int(rng.integers(1, 5))
    inputs = dict(
        x=rng.standard_normal(batch + (n_in,)), W=rng.standard_normal((n_out, n_in)), b=rng.standard_normal(n_out)
    )
    linear = _op("tinygrad_med.ops.matmul", "linear")
    run = lambda t: linear(t["x"], t["W"], t["b"])  # noqa: E731
    return Case(f"linear({_shapes(**inputs)})", inputs, ("x", "W", "b"), ("y",), run)


def _relu_case(rng):
    inputs = dict(x=_away_from_zero(rng, tuple(int(n) for n in rng.integers(1, 5, size=rng.integers(1, 4)))))
    relu = _op("tinygrad_med.ops.activation", "relu")
    return Case(f"relu({_shapes(**inputs)})", inputs, ("x",), ("y",), lambda t: relu(t["x"]))


def _cross_entropy_case(rng):
    N, C = int(rng.integers(1, 5)), int(rng.integers(2, 6))
    spatial = (int(rng.integers(1, 4)),) if rng.random() < 0.5 else ()
    smoothing = float(rng.choice([0.0, 0.1]))
    inputs = dict(
        x=2 * rng.standard_normal((N, C) + spatial),
        target=rng.integers(0, C, size=(N,) + spatial),
        weight=rng.uniform(0.5, 2.0, size=C),
    )
    loss = _op("tinygrad_med.ops.cross_entropy", "cross_entropy")
    label = f"cross_entropy({_shapes(**inputs)}, label_smoothing={smoothing})"
    run = lambda t: loss(t["x"], t["target"], weight=t["weight"], label_smoothing=smoothing)  # noqa: E731
    return Case(label, inputs, ("x",), ("loss",), run)


def _conv2d_case(rng):
    N, C, F = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    K, stride, padding, dilation = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 2)), 1
    if rng.random() < 0.4:
        dilation = 2
    H, W = (int(n) for n in rng.integers(dilation * (K - 1) + 1, 9, size=2))
    inputs = dict(x=rng.standard_normal((N, C, H, W)), W=rng.standard_normal((F, C, K, K)), b=rng.standard_normal(F))
    conv2d = _op("tinygrad_med.ops.conv", "conv2d")
    label = f"conv2d({_shapes(**inputs)}, stride={stride}, padding={padding}, dilation={dilation})"
    run = lambda t: conv2d(t["x"], t["W"], t["b"], stride=stride, padding=padding, dilation=dilation)  # noqa: E731
    return Case(label, inputs, ("x", "W", "b"), ("y",), run)


def _max_pool2d_case(rng):
    K, stride = int(rng.integers(2, 4)), int(rng.integers(1, 3))
    padding = int(rng.integers(0, K // 2 + 1))
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 3)), *(int(n) for n in rng.integers(K, 8, size=2)))
    inputs = dict(x=_distinct(rng, shape))
    pool = _op("tinygrad_med.ops.pool", "max_pool2d")
    label = f"max_pool2d({_shapes(**inputs)}, kernel_size={K}, stride={stride}, padding={padding})"
    return Case(label, inputs, ("x",), ("y",), lambda t: pool(t["x"], K, stride=stride, padding=padding))


def _batch_norm_case(rng):
    N, C, H = int(rng.integers(2, 5)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    training = bool(rng.random() < 0.7)
    inputs = dict(
        x=rng.standard_normal((N, C, H, H)) * 2 + 1,
        gamma=rng.uniform(0.5, 1.5, size=C),
        beta=rng.standard_normal(C),
        running_mean=rng.standard_normal(C),
        running_var=rng.uniform(0.5, 2.0, size=C),
    )
    norm = _op("tinygrad_med.ops.norm", "batch_norm")

    def run(t):
        y = norm(t["x"], t["running_mean"], t["running_var"], t["gamma"], t["beta"], training=training, momentum=0.1)
        return y, t["running_mean"], t["running_var"]

    label = f"batch_norm({_shapes(**inputs)}, training={training})"
    return Case(label, inputs, ("x", "gamma", "beta"), ("y", "running_mean", "running_var"), run)


def _dropout_case(rng):
    p, training = float(rng.choice([0.2, 0.5])), bool(rng.random() < 0.8)
    inputs = dict(x=rng.standard_normal(tuple(int(n) for n in rng.integers(2, 6, size=2))))
    dropout = _op("tinygrad_med.ops.dropout", "dropout")
    label = f"dropout({_shapes(**inputs)}, p={p}, training={training}, mask from manual_seed)"
    return Case(label, inputs, ("x",), ("y",), lambda t: dropout(t["x"], p=p, training=training))


def _lstm_cell_case(rng):
    N, n_in, hidden = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
    inputs = dict(
        x=rng.standard_normal((N, n_in)),
        h=rng.standard_normal((N, hidden)),
        c=rng.standard_normal((N, hidden)),
        W_ih=rng.standard_normal((4 * hidden, n_in)) * 0.5,
        W_hh=rng.standard_normal((4 * hidden, hidden)) * 0.5,
        b_ih=rng.standard_normal(4 * hidden) * 0.1,
        b_hh=rng.standard_normal(4 * hidden) * 0.1,
    )
    cell = _op("tinygrad_med.ops.rnn", "lstm_cell")
    run = lambda t: cell(t["x"], (t["h"], t["c"]), t["W_ih"], t["W_hh"], t["b_ih"], t["b_hh"])  # noqa: E731
    return Case(f"lstm_cell({_shapes(**inputs)})", inputs, tuple(inputs), ("h'", "c'"), run)


def _random_adjacency(rng, V, isolated=True):
    """A symmetric non-negative weighted adjacency, with one isolated node when ``isolated``."""
    A = numpy.triu(rng.uniform(0.5, 2.0, size=(V, V)) * (rng.random((V, V)) < 0.5), 1)
    A = A + A.T
    if isolated:
        A[-1, :] = A[:, -1] = 0
    return A


def _laplacian_case(rng):
    V, normalized, sparse = int(rng.integers(3, 8)), bool(rng.random() < 0.6), bool(rng.random() < 0.4)
    A = _random_adjacency(rng, V)
    inputs = dict(A=scipy.sparse.csr_matrix(A) if sparse else A)
    laplacian = _op("tinygrad_med.graph.operators", "laplacian")
    kind = "scipy.sparse" if sparse else "dense"
    label = f"laplacian(A ({V}, {V}) {kind} with one isolated node, normalized={normalized})"
    return Case(label, inputs, (), ("L",), lambda t: laplacian(t["A"], normalized=normalized), tensors=False)


def _cheb_conv_case(rng):
    from ..graph.structure import Graph

    V, K = int(rng.integers(3, 7)), int(rng.integers(1, 4))
    F_in, F_out = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    graph = Graph.from_dense(_random_adjacency(rng, V, isolated=False))
    inputs = dict(
        x=rng.standard_normal((V, F_in)), weight=rng.standard_normal((K, F_out, F_in)), bias=rng.standard_normal(F_out)
    )
    conv = _op("tinygrad_med.ops.graph_conv", "cheb_conv")
    label = f"cheb_conv({_shapes(**inputs)}, graph of {V} nodes and {graph.num_edges} edges)"
    run = lambda t: conv(t["x"], graph, t["weight"], t["bias"], lambda_max=2.0)  # noqa: E731
    return Case(label, inputs, ("x", "weight", "bias"), ("z",), run)


def _adam_case(rng):
    shapes = [tuple(int(n) for n in rng.integers(1, 5, size=rng.integers(1, 3))) for _ in range(2)]
    weight_decay, amsgrad, steps = float(rng.choice([0.0, 0.01])), bool(rng.random() < 0.5), 3
    inputs = {f"w{i}": rng.standard_normal(s) for i, s in enumerate(shapes)}
    inputs.update({f"g{i}": rng.standard_normal((steps,) + s) for i, s in enumerate(shapes)})

    def run(values):
        from ..factory import tensor
        from ..optim import Adam

        params = [tensor(values[f"w{i}"], requires_grad=True) for i in range(len(shapes))]
        optimizer = Adam(params, lr=0.1, betas=(0.9, 0.99), weight_decay=weight_decay, amsgrad=amsgrad)
        for step in range(steps):
            for i, param in enumerate(params):
                param.grad = tensor(values[f"g{i}"][step])
            optimizer.step()
        states = [optimizer.state[p] for p in params]
        return [p.numpy() for p in params] + [s["exp_avg"] for s in states] + [s["exp_avg_sq"] for s in states]

    names = tuple(f"{kind}[{i}]" for kind in ("w", "exp_avg (m)", "exp_avg_sq (v)") for i in range(len(shapes)))
    label = f"Adam, {steps} steps on w of shapes {shapes}, weight_decay={weight_decay}, amsgrad={amsgrad}"
    return Case(label, inputs, (), names, run, tensors=False)


# ----------------------------------------------------------------------------- the list

_CONV_HINT = """
`geometry` carries I (input size), K (kernel), S (stride), P (pairs (low, high)), dil and O (output size)
per spatial dim.  `patches(x, geometry)` is the strided view (C, *K, N, *O) of the padded input and
`offset_slices(k, geometry)` the slices one kernel offset k pairs; `im2col` / `col2im` call your
_im2col_cpu / _col2im_cpu.  ConvNd.forward must set self.x, self.W, self.geometry, self.groups, self.col
and self.fast (False: reference mode is on while checking).
"""

EXERCISES = (
    Exercise(
        "linear",
        "the fully connected layer y = x W^T + b",
        '"Convolutional neural networks - Multi-layer perception (MLP)"',
        "tinygrad_med.ops.matmul",
        ("Linear.forward", "Linear.backward"),
        "Flatten the batch dims to 2-D, keep what backward needs on self; backward returns (gx, gW, gb).",
        _linear_case,
        public="linear",
    ),
    Exercise(
        "relu",
        "the rectified linear unit y = max(0, x)",
        '"Convolutional neural networks - Activation function"',
        "tinygrad_med.ops.activation",
        ("_relu_fwd_cpu", "_relu_bwd_cpu"),
        "Forward returns y = max(0, x), a new array of x's dtype; backward gets that y and gy: the gradient passes "
        "where y > 0.",
        _relu_case,
        public="relu",
    ),
    Exercise(
        "softmax_cross_entropy",
        "softmax and cross-entropy in one stable step, with class weights and label smoothing",
        '"Image classification" (softmax and the cross-entropy loss)',
        "tinygrad_med.ops.cross_entropy",
        ("_softmax_xent_fwd_cpu", "_softmax_xent_bwd_cpu"),
        """
        x3 is (N, C, S) (spatial positions flattened), target (N*S,) class indices.  Forward returns the loss
        per row (0 where target == ignore_index) and the log-sum-exp per row; backward returns g * dloss/dx3.
        weight_sum is sum_c weight_c (used by label smoothing).
        """,
        _cross_entropy_case,
        public="cross_entropy",
    ),
    Exercise(
        "conv2d",
        "convolution as im2col and one matrix product, and its backward through col2im",
        '"Convolutional neural networks - Convolution" and "Semantic segmentation" (convolution as a matrix operation)',
        "tinygrad_med.ops.conv",
        ("ConvNd.forward", "ConvNd.backward", "_im2col_cpu", "_col2im_cpu"),
        _CONV_HINT,
        _conv2d_case,
        public="conv2d",
    ),
    Exercise(
        "max_pool2d",
        "max pooling, its argmax and the scatter of the gradient to it",
        '"Convolutional neural networks - Pooling"',
        "tinygrad_med.ops.pool",
        ("_max_pool_fwd_cpu", "max_pool_bwd_cpu"),
        """
        `win` (pool_args.Window) gives padded_widths(ndim), offsets() (the kernel offsets) and slices(offset) (the
        strided slice of the padded input that offset reads for every output); _flat_argmax turns the winning
        offset per output into a flat index in its (H, W) plane.
        """,
        _max_pool2d_case,
        public="max_pool2d",
    ),
    Exercise(
        "batch_norm",
        "batch normalization, training (batch statistics) and evaluation (running statistics)",
        '"Batch normalization"',
        "tinygrad_med.ops.norm",
        ("_batch_norm_train_fwd_cpu", "_batch_norm_fwd_cpu", "_batch_norm_bwd_cpu"),
        """
        x3 is (N, C, S).  The training forward returns (y, x_hat, mean, biased var, inv_std); the evaluation
        forward (mean, inv_std given) returns (y, x_hat); backward returns (gx, g_gamma, g_beta).
        """,
        _batch_norm_case,
        public="batch_norm",
    ),
    Exercise(
        "dropout",
        "inverted dropout with a mask drawn from a seed (train) and the identity (eval)",
        '"Dropout regularization"',
        "tinygrad_med.ops.dropout",
        ("Dropout.forward", "Dropout.backward", "_dropout_fwd_cpu"),
        """
        Draw the mask with _philox_uint32_cpu(count, seed) >= threshold (the same counter-based generator the
        CUDA kernel uses), so that backward regenerates the same mask from the seed instead of storing it.
        """,
        _dropout_case,
        public="dropout",
    ),
    Exercise(
        "lstm_cell",
        "one LSTM step: the gates, the cell and hidden state, and their backward",
        '"Recurrent neural networks" (Long Short Term Memory (LSTM) network)',
        "tinygrad_med.ops.rnn",
        ("LSTMGates.forward", "LSTMGates.backward", "_lstm_gates_fwd_cpu", "_lstm_gates_bwd_cpu"),
        "gates is (N, 4 hidden) = [a_i a_f a_g a_o]; the two linear maps before it are the package's.",
        _lstm_cell_case,
        public="lstm_gates",
    ),
    Exercise(
        "graph_laplacian",
        "the graph Laplacian L = D - A and its normalized form",
        '"Graph convolutions - Graph Laplacian matrix"',
        "tinygrad_med.graph.operators",
        ("laplacian",),
        "Dense A gives a dense array; a scipy.sparse A (or a Graph) a scipy.sparse.csr_matrix.",
        _laplacian_case,
    ),
    Exercise(
        "cheb_conv",
        "the Chebyshev spectral graph convolution",
        '"Graph convolutions - Spectral graph convolution"',
        "tinygrad_med.ops.graph_conv",
        ("cheb_conv",),
        "Build it from graph_operators.scaled_laplacian, spmm and linear; autograd gives the backward.",
        _cheb_conv_case,
    ),
    Exercise(
        "adam",
        "one step of Adam (and AdamW, AMSGrad) on a parameter",
        '"MORE ON OPTIMIZATION - Adaptive moment estimation (Adam)"',
        "tinygrad_med.optim.adam",
        ("_adam_step_cpu",),
        "Write the new values into param and the state's buffers in place (param[...] = ...).",
        _adam_case,
        public="Adam",
    ),
)


def get(name):
    """The exercise called ``name``; ValueError naming the exercises when there is none."""
    for exercise in EXERCISES:
        if exercise.name == name:
            return exercise
    names = ", ".join(e.name for e in EXERCISES)
    raise ValueError(f"tgm exercise: no exercise {name!r}; the exercises: {names}")
