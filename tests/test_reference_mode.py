"""tinygrad_med/reference.py: tm.reference_mode() as a context manager, a decorator and a flag."""

import pytest

import tinygrad_med as tm


def test_context_manager_sets_and_restores_the_flag():
    assert not tm.is_reference_mode()
    with tm.reference_mode():
        assert tm.is_reference_mode()
        with tm.reference_mode(False):  # fast paths back on inside
            assert not tm.is_reference_mode()
        assert tm.is_reference_mode()
    assert not tm.is_reference_mode()


def test_decorator_and_restore_on_error():
    @tm.reference_mode()
    def inside(depth):
        assert tm.is_reference_mode()
        return inside(depth - 1) if depth else "done"  # the same instance entered again

    assert inside(2) == "done" and not tm.is_reference_mode()
    with pytest.raises(KeyError), tm.reference_mode():
        raise KeyError("x")
    assert not tm.is_reference_mode()


def test_set_reference_mode_returns_the_previous_setting():
    assert tm.set_reference_mode(True) is False
    try:
        assert tm.is_reference_mode()
    finally:
        assert tm.set_reference_mode(False) is True
