"""The CPU thread policy: BLAS on one thread inside the convolution's chunk workers only (restored
afterwards), its own threads everywhere else whatever the machine's load (the arithmetic must not depend
on it); chunk workers that draw chunks from one shared queue."""

import threading

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med import cpu_threads
from tinygrad_med.ops import conv_cpu, rnn

needs_control = pytest.mark.skipif(
    not cpu_threads.has_control() or cpu_threads.blas_threads() is None, reason="threadpoolctl or a BLAS that reports"
)


@pytest.fixture
def two_blas_threads():
    """BLAS on two threads for the test (the policy must show even on a 1-core runner), restored after."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(2, "blas"):
        if cpu_threads.blas_threads() != 2:
            pytest.skip("this BLAS does not take a thread count")
        yield


@needs_control
def test_one_blas_thread_limits_nests_and_restores(two_blas_threads):
    with cpu_threads.one_blas_thread():
        assert cpu_threads.blas_threads() == 1
        with cpu_threads.one_blas_thread():
            assert cpu_threads.blas_threads() == 1
        assert cpu_threads.blas_threads() == 1
    assert cpu_threads.blas_threads() == 2
    with pytest.raises(KeyError), cpu_threads.one_blas_thread():
        raise KeyError("restored on error too")
    assert cpu_threads.blas_threads() == 2


@needs_control
def test_lstm_loops_keep_blas_threads(two_blas_threads, monkeypatch):
    seen = []
    for name in ("_lstm_gates_fwd_cpu", "_lstm_gates_bwd_cpu"):
        original = getattr(rnn, name)

        def spy(*args, _original=original, _name=name):
            seen.append((_name, cpu_threads.blas_threads()))
            return _original(*args)

        monkeypatch.setattr(rnn, name, spy)
    layer = tm.nn.LSTM(4, 5)
    out, _ = layer(tm.tensor(numpy.random.default_rng(0).standard_normal((3, 2, 4)).astype("float32")))
    out.sum().backward()
    assert sorted({name for name, _ in seen}) == ["_lstm_gates_bwd_cpu", "_lstm_gates_fwd_cpu"]
    assert {threads for _, threads in seen} == {2}


@needs_control
def test_whole_conv_keeps_blas_threads_and_chunks_hold_one(two_blas_threads, monkeypatch):
    seen, original = [], conv_cpu.im2col

    def spy(*args):
        seen.append(cpu_threads.blas_threads())
        return original(*args)

    monkeypatch.setattr(conv_cpu, "im2col", spy)
    x = tm.tensor(numpy.ones((2, 3, 6, 6), "float32"), requires_grad=True)
    w = tm.tensor(numpy.ones((4, 3, 3, 3), "float32"), requires_grad=True)
    tm.nn.functional.conv2d(x, w, padding=1).sum().backward()
    assert seen and set(seen) == {2}
    inside = []
    with cpu_threads.one_blas_thread():
        inside.append(cpu_threads.blas_threads())
    assert inside == [1] and cpu_threads.blas_threads() == 2


def test_the_policy_reads_no_machine_load():
    """Whether a layer goes by chunks is a function of its shapes only: the same inputs give the same
    arithmetic whatever else runs on the machine."""
    import inspect

    source = inspect.getsource(cpu_threads) + inspect.getsource(conv_cpu) + inspect.getsource(rnn)
    for probe in ("/proc/loadavg", "getloadavg", "/proc/self/task"):
        assert probe not in source


def test_shared_queue_gives_each_chunk_to_exactly_one_worker():
    queue, taken, lock = conv_cpu._SharedQueue(range(2000)), [], threading.Lock()

    def worker():
        mine = list(queue)
        with lock:
            taken.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == list(range(2000))


def test_chunks_go_to_whichever_worker_is_free(monkeypatch):
    """A stalled worker does not hold a share of its own: the calling thread takes the chunks that are left."""
    from tinygrad_med.ops.conv_args import Geometry

    monkeypatch.setattr(conv_cpu, "_THREADS", 2)
    monkeypatch.setattr(conv_cpu, "_CHUNK_BYTES", 1)  # one output row per chunk: 8 chunks
    x = numpy.ones((1, 1, 8, 4), "float32")
    geometry = Geometry(K=(3, 3), S=(1, 1), dil=(1, 1), P=((1, 1), (1, 1)), I=(8, 4), O=(8, 4))

    def work(chunks):
        done = []
        for _, rows, _, _ in chunks:
            done.append(rows.start)
            if threading.current_thread() is not threading.main_thread():
                threading.Event().wait(0.5)  # the pool's worker stalls after each chunk
        return done

    mine, helper = conv_cpu.over_chunks(work, x, geometry)
    assert sorted(mine + helper) == list(range(8))
    assert len(mine) >= 6 and len(helper) <= 2  # fixed shares would have been 4 and 4
