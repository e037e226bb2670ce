"""Version counters: a value saved for backward and changed in place since raises at backward, as in PyTorch.

Covers every in-place method of Tensor, every optimizer (CPU and the emulated fused kernels), views
sharing a storage, Functions that save their output, the module-level writers (batch norm running
statistics, nn.init, load_state_dict), the cases PyTorch lets through (nothing raised there), and
a cross-check of raise / no raise against PyTorch itself where it is installed.
"""

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.errors import InplaceModifiedError
from tinygrad_med.function import increment_version

# method name -> how to call it on a float tensor of shape (2,)
INPLACE = {
    "zero_": lambda t: t.zero_(),
    "fill_": lambda t: t.fill_(5.0),
    "copy_": lambda t: t.copy_(tm.tensor([7.0, 8.0])),
    "add_": lambda t: t.add_(10.0),
    "sub_": lambda t: t.sub_(1.0, alpha=2),
    "mul_": lambda t: t.mul_(tm.tensor([2.0, 3.0])),
    "div_": lambda t: t.div_(4.0),
    "clamp_": lambda t: t.clamp_(min=1.5),
    "clip_": lambda t: t.clip_(max=1.5),
    "uniform_": lambda t: t.uniform_(),
    "normal_": lambda t: t.normal_(),
    "__setitem__": lambda t: t.__setitem__(0, 9.0),
}


def _mul_graph():
    x = tm.tensor([1.0, 2.0])
    w = tm.tensor([3.0, 4.0], requires_grad=True)
    return x, w, (x * w).sum()


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_every_inplace_method_bumps_the_version_and_backward_raises(name):
    x, w, y = _mul_graph()
    assert x._version == 0
    INPLACE[name](x)
    assert x._version == 1
    with pytest.raises(InplaceModifiedError, match=r"Mul saved 'a' \(input 0, float32\[2\]\) at version 0; it is now"):
        y.backward()


def test_the_issue_example_no_longer_gives_a_wrong_gradient():
    x, w, y = _mul_graph()
    x.add_(10.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    assert w.grad is None


def test_message_names_op_versions_and_a_hint():
    x = tm.tensor(numpy.ones((2, 3)), dtype=tm.float64)
    w = tm.tensor(numpy.ones((2, 3)), requires_grad=True, dtype=tm.float64)
    y = (x / w).sum()
    x.mul_(2).mul_(3)
    with pytest.raises(InplaceModifiedError) as info:
        y.backward()
    message = str(info.value)
    for part in ("Div.backward", "'a'", "float64[2, 3]", "version 0", "now at version 2", "clone()", "after backward"):
        assert part in message, (part, message)


def test_leaf_that_requires_grad_may_change_only_under_no_grad():
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w.add_(1.0)
    assert w._version == 0 and w.tolist() == [1.0, 2.0]
    with tm.no_grad():
        w.add_(1.0)
    assert w._version == 1 and w.tolist() == [2.0, 3.0]


def test_unrecorded_inplace_on_a_result_or_from_a_grad_tensor_is_refused_outside_no_grad():
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="not recorded in the graph"):
        (w * 2).mul_(3.0)
    with pytest.raises(RuntimeError, match="not recorded in the graph"):
        tm.tensor([0.0, 0.0]).add_(w)


def test_a_failed_inplace_call_does_not_count_as_a_change():
    x = tm.tensor([1.0, 2.0])
    with pytest.raises(ValueError):
        x.copy_(tm.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(IndexError):
        x[5] = 1.0
    assert x._version == 0


# ----------------------------------------------------------------------------- optimizers

OPTIMIZERS = [
    (tm.optim.SGD, dict(lr=0.1)),
    (tm.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (tm.optim.Adam, dict(lr=0.1, amsgrad=True)),
    (tm.optim.AdamW, dict(lr=0.1)),
    (tm.optim.RMSprop, dict(lr=0.1, momentum=0.5, centered=True)),
]


@pytest.mark.parametrize("cls,options", OPTIMIZERS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_optimizer_step_between_a_retained_backward_and_the_next_raises(device, cls, options):
    w = device.tensor(numpy.array([1.0, -2.0, 3.0]), requires_grad=True, dtype="float32")
    opt = cls([w], **options)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    opt.step()
    assert w._version == 1
    with pytest.raises(InplaceModifiedError, match="Mul.backward"):
        loss.backward()
    opt.zero_grad()
    (w * w).sum().backward()  # a fresh forward after the step is fine
    numpy.testing.assert_allclose(w.grad.numpy(), 2 * w.numpy(), rtol=1e-6)


def test_step_counts_only_parameters_it_updates():
    a = tm.tensor([1.0], requires_grad=True)
    b = tm.tensor([1.0], requires_grad=True)
    opt = tm.optim.Adam([a, b])
    (a * 2).sum().backward()
    opt.step()
    assert (a._version, b._version) == (1, 0)


# ----------------------------------------------------------------------------- views share the version


def test_change_through_a_view_is_seen_by_a_function_that_saved_the_base():
    x, w, y = _mul_graph()
    v = x.reshape(2, 1)
    v[1, 0] = 5.0
    assert x._version == v._version == 1
    with pytest.raises(InplaceModifiedError):
        y.backward()


def test_change_of_the_base_is_seen_by_a_function_that_saved_a_view():
    x = tm.tensor([[1.0, 2.0], [3.0, 4.0]])
    w = tm.tensor([3.0, 4.0], requires_grad=True)
    y = (x.T[0] * w).sum()  # Mul saves a view of x's storage
    x.detach().add_(1.0)  # detach shares the storage too
    with pytest.raises(InplaceModifiedError):
        y.backward()


def test_split_chunks_share_their_input_storage():
    x = tm.tensor([1.0, 2.0, 3.0, 4.0])
    first, second = x.split(2)
    w = tm.tensor([1.0, 1.0], requires_grad=True)
    y = (second * w).sum()
    first.zero_()
    with pytest.raises(InplaceModifiedError):
        y.backward()


# ----------------------------------------------------------------------------- functions that save their output


@pytest.mark.parametrize("op", ["exp", "sigmoid", "tanh", "relu", "sqrt"])
def test_output_changed_under_no_grad_after_forward_raises(op):
    x = tm.tensor([0.5, 1.5], requires_grad=True)
    y = getattr(x, op)()
    with tm.no_grad():
        y.mul_(2.0)
    with pytest.raises(InplaceModifiedError, match=r"an output"):
        y.sum().backward()


# ----------------------------------------------------------------------------- module-level writers


def test_load_state_dict_and_init_count_as_changes_of_the_parameters():
    layer = nn.Linear(2, 2)
    x = tm.randn(3, 2, requires_grad=True)
    state = {k: v.numpy() + 1 for k, v in layer.state_dict().items()}
    loss = layer(x).sum()
    before = layer.weight._version  # construction initialised it in place already
    layer.load_state_dict(state)
    assert layer.weight._version == before + 1
    with pytest.raises(InplaceModifiedError, match="Linear.backward"):
        loss.backward()
    loss = layer(x).sum()
    nn.init.kaiming_uniform_(layer.weight)
    with pytest.raises(InplaceModifiedError):
        loss.backward()


def test_batch_norm_running_statistics_count_their_updates():
    bn = nn.BatchNorm1d(3)
    bn(tm.randn(4, 3))
    assert bn.running_mean._version == 1 and bn.running_var._version == 1
    bn.eval()
    bn(tm.randn(4, 3))
    assert bn.running_mean._version == 1
    bn.reset_running_stats()
    assert bn.running_mean._version == 2


def test_instance_norm_statistics_and_embedding_max_norm_count_their_updates():
    mean, var = tm.zeros(2), tm.ones(2)
    nn.functional.instance_norm(tm.randn(3, 2, 4), mean, var)
    assert (mean._version, var._version) == (1, 1)
    weight = tm.tensor(numpy.full((3, 2), 10.0))
    nn.functional.embedding(tm.tensor([0, 2]), weight, max_norm=1.0)
    assert weight._version == 1


def test_increment_version_marks_a_raw_write():
    x, w, y = _mul_graph()
    x.data[0] = 100.0  # a raw write is not seen ...
    increment_version(x)  # ... until it is counted
    with pytest.raises(InplaceModifiedError):
        y.backward()


# ----------------------------------------------------------------------------- what PyTorch lets through


def test_no_false_positives():
    x = tm.tensor([1.0, 2.0])
    w = tm.tensor([3.0, 4.0], requires_grad=True)
    y = (x + w).sum() + (w - x).sum()  # add and sub save nothing
    x.add_(1.0)
    y.backward()
    numpy.testing.assert_allclose(w.grad.numpy(), [2.0, 2.0])

    w.grad = None
    y = (x * w).sum()
    with tm.no_grad():
        w.mul_(0.0)  # only x is read for dL/dw (x needs no gradient)
    y.backward()
    numpy.testing.assert_allclose(w.grad.numpy(), x.numpy())

    w.grad = None
    copy = x + 0.0  # a new array, not a view: changing x leaves the saved copy alone
    y = (copy * w).sum()
    x.mul_(100.0)
    y.backward()
    numpy.testing.assert_allclose(w.grad.numpy(), copy.numpy())

    y = (x * w).sum()
    y.backward()
    x.add_(1.0)  # after backward: nothing is left to read the old values
    with tm.no_grad():
        w.sub_(1.0)


def test_matmul_and_linear_save_an_operand_only_for_the_gradient_that_reads_it():
    x = tm.randn(3, 2)
    W = tm.randn(4, 2, requires_grad=True)
    y = (x @ W.T).sum() + nn.functional.linear(x, W).sum()
    with tm.no_grad():
        W.mul_(0.0)
    y.backward()  # dL/dW reads x only, so changing W is harmless
    numpy.testing.assert_allclose(W.grad.numpy(), 2 * numpy.tile(x.numpy().sum(0), (4, 1)), rtol=1e-6)
    y = nn.functional.linear(x, W).sum()
    x.add_(1.0)  # but x is read
    with pytest.raises(InplaceModifiedError, match="Linear saved 'x2d'"):
        y.backward()


# ----------------------------------------------------------------------------- PyTorch as the reference


def _scenarios():
    """name -> scenario(lib) that builds a graph, changes something in place and runs backward."""

    def mul_input(lib):
        x, w = lib.tensor([1.0, 2.0]), lib.tensor([3.0, 4.0], requires_grad=True)
        y = (x * w).sum()
        x.add_(10.0)
        y.backward()

    def mul_weight_no_grad(lib):
        x, w = lib.tensor([1.0, 2.0]), lib.tensor([3.0, 4.0], requires_grad=True)
        y = (x * w).sum()
        with lib.no_grad():
            w.mul_(0.0)
        y.backward()

    def add_input(lib):
        x, w = lib.tensor([1.0, 2.0]), lib.tensor([3.0, 4.0], requires_grad=True)
        y = (x + w).sum()
        x.add_(1.0)
        y.backward()

    def exp_output(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()
        with lib.no_grad():
            y.mul_(2.0)
        y.sum().backward()

    def sigmoid_input(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x.sigmoid()
        with lib.no_grad():
            x.mul_(2.0)
        y.sum().backward()

    def relu_output(lib):
        x = lib.tensor([1.0, -2.0], requires_grad=True)
        y = x.relu()
        with lib.no_grad():
            y.mul_(2.0)
        y.sum().backward()

    def view_of_saved(lib):
        x, w = lib.tensor([1.0, 2.0]), lib.tensor([3.0, 4.0], requires_grad=True)
        y = (x * w).sum()
        x.reshape(2, 1)[0, 0] = 7.0
        y.backward()

    def divide_by_input(lib):
        x, w = lib.tensor([1.0, 2.0]), lib.tensor([3.0, 4.0], requires_grad=True)
        y = (w / x).sum()
        x.add_(1.0)
        y.backward()

    def pow_output(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x**2.0
        with lib.no_grad():
            y.mul_(2.0)
        y.sum().backward()

    def pow_exponent_output(lib):
        x, p = lib.tensor([1.0, 2.0]), lib.tensor([2.0, 3.0], requires_grad=True)
        y = x**p
        with lib.no_grad():
            y.mul_(2.0)
        y.sum().backward()

    def after_backward(lib):
        x, w = lib.tensor([1.0, 2.0]), lib.tensor([3.0, 4.0], requires_grad=True)
        (x * w).sum().backward()
        x.add_(1.0)

    return {
        f.__name__: f
        for f in (
            mul_input,
            mul_weight_no_grad,
            add_input,
            exp_output,
            sigmoid_input,
            relu_output,
            view_of_saved,
            divide_by_input,
            pow_output,
            pow_exponent_output,
            after_backward,
        )
    }


def _raises(scenario, lib):
    try:
        scenario(lib)
    except RuntimeError as error:
        assert "inplace operation" in str(error), error
        return True
    return False


EXPECTED = {
    "mul_input": True,
    "mul_weight_no_grad": False,
    "add_input": False,
    "exp_output": True,
    "sigmoid_input": False,
    "relu_output": True,
    "view_of_saved": True,
    "divide_by_input": True,
    "pow_output": False,
    "pow_exponent_output": True,
    "after_backward": False,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_raises_exactly_where_expected(name):
    assert _raises(_scenarios()[name], tm) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_raises_exactly_where_pytorch_raises(name):
    torch = pytest.importorskip("torch")
    assert _raises(_scenarios()[name], tm) == _raises(_scenarios()[name], torch)


def test_versions_in_the_message_after_many_changes():
    x, w, _ = _mul_graph()
    for _ in range(100):
        x.add_(0.0)
    y = (x * w).sum()
    for _ in range(30):
        x.add_(0.0)
    with pytest.raises(InplaceModifiedError, match=r"at version 100; it is now at version 130"):
        y.backward(retain_graph=True)
    for _ in range(100):  # more changes than the per-storage history keeps
        x.add_(0.0)
    with pytest.raises(InplaceModifiedError, match=r"at an earlier version; it is now at version 230"):
        y.backward()
    assert x._version == 230 and x.detach()._version == 230


# ----------------------------------------------------------------------------- property: same verdict as PyTorch

VIEWS = {  # each a (2,) view of a (4,) tensor's storage
    "head": lambda t: t[:2],
    "middle": lambda t: t[1:3],
    "reshape": lambda t: t.reshape(2, 2)[1],
    "detach": lambda t: t.detach()[2:],
}
OPS = {
    "x*w": lambda x, w: x * w,
    "x+w": lambda x, w: x + w,
    "w/x": lambda x, w: w / x,
    "(x*w).exp()": lambda x, w: (x * w).exp(),
    "x*w.tanh()": lambda x, w: x * w.tanh(),
}


def _verdict(lib, saved_view, op, target, changed_view):
    x = lib.tensor([1.0, 2.0, 3.0, 4.0])
    other = lib.tensor([1.0, 2.0, 3.0, 4.0])
    w = lib.tensor([0.5, 1.5], requires_grad=True)
    y = OPS[op](VIEWS[saved_view](x), w)
    with lib.no_grad():
        if target in ("x", "other"):
            VIEWS[changed_view]({"x": x, "other": other}[target]).mul_(2.0)
        else:  # w itself (a view of a leaf that requires grad is recorded in both libraries), or the output
            {"w": w, "y": y}[target].mul_(2.0)
    return _raises(lambda _: y.sum().backward(), lib)


@settings(max_examples=40, deadline=None)
@given(
    saved_view=st.sampled_from(sorted(VIEWS)),
    op=st.sampled_from(sorted(OPS)),
    target=st.sampled_from(["x", "other", "w", "y"]),
    changed_view=st.sampled_from(sorted(VIEWS)),
)
def test_any_view_op_and_change_gets_pytorchs_verdict(saved_view, op, target, changed_view):
    torch = pytest.importorskip("torch")
    args = (saved_view, op, target, changed_view)
    assert _verdict(tm, *args) == _verdict(torch, *args), args
