"""tm.autograd.detect_anomaly(): the first op whose forward or backward gives a NaN or an infinity raises."""

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med.errors import AnomalyError, InplaceModifiedError

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy warns about the NaNs we make on purpose


def test_off_by_default_and_nothing_is_checked():
    assert not tm.autograd.is_anomaly_enabled()
    y = tm.tensor([-1.0, 2.0]).log()
    assert numpy.isnan(y.numpy()[0])


def test_nan_made_in_forward_names_the_op_its_inputs_and_the_call_site():
    x = tm.tensor([-1.0, 2.0], requires_grad=True)
    with tm.autograd.detect_anomaly():
        h = x * 2.0  # finite: passes
        with pytest.raises(AnomalyError) as info:
            h.log()
    message = str(info.value)
    for part in ("Log.forward", "output 0 (float32[2])", "1 NaN value(s) (of 2)", "inputs: 0: float32[2]"):
        assert part in message, (part, message)
    assert "test_anomaly.py" in message  # where the user called the op
    assert isinstance(info.value, RuntimeError)


def test_zero_over_zero_in_forward_lists_both_inputs():
    a = tm.tensor(numpy.zeros((2, 3)), dtype=tm.float64)
    b = tm.tensor(numpy.zeros(3), dtype=tm.float64)
    with (
        tm.autograd.detect_anomaly(),
        pytest.raises(AnomalyError, match=r"Div\.forward.*6 NaN.*0: float64\[2, 3\]; 1: float64\[3\]"),
    ):
        a / b


def test_inf_made_only_in_backward_names_the_input_whose_gradient_it_is():
    c = tm.tensor([1.0, 1.0])
    w = tm.tensor([1.0, 1e-30], requires_grad=True)  # c / w is finite, d/dw = -c / w^2 overflows in float32
    with tm.autograd.detect_anomaly():
        y = (c / w).sum()
        assert numpy.isfinite(y.item())
        with pytest.raises(AnomalyError) as info:
            y.backward()
    message = str(info.value)
    for part in ("Div.backward", "gradient for input 1", "1 infinite value(s) (of 2)", "incoming gradient gy: finite"):
        assert part in message, (part, message)
    assert "test_anomaly.py" in message


def test_sqrt_at_zero_gives_an_infinite_gradient_only_in_backward():
    x = tm.tensor([0.0, 4.0], requires_grad=True)
    with tm.autograd.detect_anomaly():
        y = x.sqrt().sum()  # sqrt(0) = 0 is fine
        with pytest.raises(AnomalyError, match=r"Sqrt\.backward.*gradient for input 0"):
            y.backward()
    x.grad = None
    x.sqrt().sum().backward()  # off again: the infinity goes through silently, as without the mode
    assert numpy.isinf(x.grad.numpy()[0])


def test_results_are_unchanged_when_on_and_finite():
    def run():
        tm.manual_seed(0)
        model = tm.nn.Sequential(tm.nn.Linear(4, 8), tm.nn.ReLU(), tm.nn.Linear(8, 3))
        x, labels = tm.randn(5, 4), tm.tensor([0, 1, 2, 1, 0])
        loss = tm.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        return [loss.numpy()] + [p.grad.numpy() for p in model.parameters()]

    plain = run()
    with tm.autograd.detect_anomaly():
        checked = run()
    for a, b in zip(plain, checked, strict=True):
        numpy.testing.assert_array_equal(a, b)


def test_decorator_set_detect_anomaly_and_check_nan_false():
    @tm.autograd.detect_anomaly()
    def bad():
        assert tm.autograd.is_anomaly_enabled()
        return tm.tensor([0.0]) / tm.tensor([0.0])

    with pytest.raises(AnomalyError):
        bad()
    assert not tm.autograd.is_anomaly_enabled()
    tm.autograd.set_detect_anomaly(True)
    try:
        assert tm.autograd.is_anomaly_enabled()
        with tm.autograd.set_detect_anomaly(False):
            tm.tensor([-1.0]).log()  # off inside the block
        with pytest.raises(AnomalyError):
            tm.tensor([-1.0]).log()
    finally:
        tm.autograd.set_detect_anomaly(False)
    with tm.autograd.detect_anomaly(check_nan=False):
        assert not tm.anomaly.is_anomaly_check_nan_enabled()
        tm.tensor([-1.0]).log()  # values not checked
    assert tm.anomaly.is_anomaly_check_nan_enabled()


def test_other_backward_errors_get_the_forward_call_site_as_a_note():
    x = tm.tensor([1.0, 2.0])
    w = tm.tensor([3.0, 4.0], requires_grad=True)
    with tm.autograd.detect_anomaly():
        y = (x * w).sum()
        x.add_(1.0)
        with pytest.raises(InplaceModifiedError) as info:
            y.backward()
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "Mul was called at" in notes and "test_anomaly.py" in notes


def test_integer_outputs_and_infinite_inputs_to_finite_ops_pass():
    with tm.autograd.detect_anomaly():
        tm.tensor([[1.0, 5.0]]).argmax(1)
        y = tm.tensor([float("inf"), 1.0]).clamp(max=3.0)  # an infinite input made finite is not an anomaly
        numpy.testing.assert_array_equal(y.numpy(), [3.0, 1.0])
