"""One communicator for data-parallel training: MPI on host buffers, NCCL on device buffers.

Lecture: "MORE ON OPTIMIZATION" (mini-batch stochastic gradient descent: the gradient of a mean
loss over a batch of B samples is the mean of the gradients of W shards of B/W samples each, so W
processes that average their gradients take the step one process would take with the whole batch).

The processes ("ranks") are started by ``mpiexec -n W``; ``init_process_group`` reads the rank, the
world size and the local rank (the rank among the processes of the same machine, which picks the
GPU) from MPI.  Every collective goes through ``Communicator``:

    allreduce(array)        in place: array <- sum over ranks (non-blocking underneath, then waited)
    iallreduce(array)       start it and return a handle; ``wait(handle, what)`` finishes it
    broadcast(array, root)  in place: array <- root's array

CPU ranks use MPI (mpi4py's Iallreduce/Ibcast on the NumPy buffer).  GPU ranks use NCCL through
CuPy (``cupy.cuda.nccl``) on the device buffer, launched on a stream and waited on through an event:
the same calls, the same handles, the same deadline.  NCCL is a few lines here and runs only where
a GPU with NCCL is present (the tests on this machine run the MPI branch).

No hang.  A rank that dies or stops calling leaves the others waiting in a collective forever.
When a rank dies, MPICH's mpiexec ends the others (its default) or, with -disable-auto-cleanup,
signals them SIGUSR1, on which each prints what happened and aborts.  ``wait`` also polls the
request (MPI ``Test``, CUDA event ``done``) against a deadline (``timeout`` seconds, default
TGM_DIST_TIMEOUT or 300) and, when it passes, prints which rank waited for what and calls
``MPI_Abort``, which ends every rank: a rank that hangs alive stops the run too.
``abort_on_error`` does the same for an exception on any rank, with the exception's message.
"""

import contextlib
import os
import signal
import sys
import threading
import time

import numpy

from .. import backend
from ..data import MissingPackageError
from ..errors import fmt

ABORT_GRACE_S = 0.5  # without it the message (and MPICH's own Abort line) was lost in ~1 abort in 10

__all__ = [
    "Communicator",
    "init_process_group",
    "get_communicator",
    "is_initialized",
    "get_rank",
    "get_world_size",
    "abort_on_error",
    "mpi_unavailable_reason",
    "INSTALL_HINT",
]

INSTALL_HINT = 'pip install "tinygrad_med[distributed]"  (mpi4py and the mpich wheel, which brings mpiexec)'
DEFAULT_TIMEOUT = 300.0
_STATE = {"comm": None}


def mpi_unavailable_reason():
    """None when mpi4py imports, else one line saying what is missing and what to install."""
    try:
        import mpi4py  # noqa: F401
    except ImportError as error:
        return f"distributed training needs mpi4py ({error}); install it with: {INSTALL_HINT}"
    return None


def init_process_group(backend_name=None, timeout=None):
    """Join the ranks started by mpiexec and return the process group's Communicator.

    Args:
        backend_name: 'mpi' (host buffers) or 'nccl' (device buffers); default 'nccl' when the
            process runs on a GPU (``device='cuda'`` below picks it), else 'mpi'.
        timeout: seconds a collective may wait before every rank is aborted (default
            TGM_DIST_TIMEOUT or 300).
    Returns:
        the Communicator (also kept for ``get_communicator``); calling again returns the same one.
    Raises:
        MissingPackageError (an ImportError) naming the package to install when mpi4py is missing.
        ValueError for an unknown backend_name.
    """
    if _STATE["comm"] is not None:
        return _STATE["comm"]
    reason = mpi_unavailable_reason()
    if reason is not None:
        raise MissingPackageError(reason)
    if backend_name not in (None, "mpi", "nccl"):
        raise ValueError(fmt("init_process_group", f"backend_name must be 'mpi' or 'nccl', got {backend_name!r}"))
    timeout = float(os.environ.get("TGM_DIST_TIMEOUT", DEFAULT_TIMEOUT)) if timeout is None else float(timeout)
    _STATE["comm"] = Communicator(backend_name or "mpi", timeout)
    return _STATE["comm"]


def get_communicator():
    """The Communicator of ``init_process_group``, or None outside a process group."""
    return _STATE["comm"]


def is_initialized():
    """True once ``init_process_group`` has run in this process."""
    return _STATE["comm"] is not None


def get_rank():
    """This process's rank (0 outside a process group)."""
    return 0 if _STATE["comm"] is None else _STATE["comm"].rank


def get_world_size():
    """The number of ranks (1 outside a process group)."""
    return 1 if _STATE["comm"] is None else _STATE["comm"].size


class Communicator:
    """The ranks of ``mpiexec``: rank, size, local_rank, and sum-all-reduce / broadcast of arrays.

    Args:
        backend_name: 'mpi' or 'nccl'.
        timeout: seconds any collective may take before every rank is aborted.
    Attributes:
        rank, size: this process's rank and the number of ranks (MPI COMM_WORLD).
        local_rank: the rank among the ranks on this machine (MPI COMM_TYPE_SHARED); a GPU rank
            uses GPU ``local_rank % device_count``.
    """

    def __init__(self, backend_name="mpi", timeout=DEFAULT_TIMEOUT):
        from mpi4py import MPI

        self.MPI, self.world, self.timeout = MPI, MPI.COMM_WORLD, float(timeout)
        self.rank, self.size = self.world.Get_rank(), self.world.Get_size()
        self.local_rank = self.world.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
        self.backend_name, self.nccl = backend_name, None
        if backend_name == "nccl":
            self.nccl = _nccl_communicator(self)
        _watch_peers(self)

    def __repr__(self):
        return f"Communicator({self.backend_name}, rank {self.rank} of {self.size}, local rank {self.local_rank})"

    # ------------------------------------------------------------------ collectives
    def iallreduce(self, array):
        """Start array <- sum over ranks (in place); a handle for ``wait``."""
        if backend.is_gpu_array(array):
            return _nccl_allreduce(self, array)
        return self.world.Iallreduce(self.MPI.IN_PLACE, _contiguous(array), op=self.MPI.SUM)

    def allreduce(self, array, what="all-reduce"):
        """array <- sum over ranks, in place; returns array."""
        self.wait(self.iallreduce(array), what)
        return array

    def broadcast(self, array, root=0, what="broadcast"):
        """array <- root's array, in place (host buffers through MPI, device buffers staged through the host)."""
        if backend.is_gpu_array(array):  # once per run (parameters at start): the host copy keeps one code path
            host = backend.to_numpy(array)
            self.broadcast(host, root, what)
            array[...] = backend.to_device(host, "cuda")
            return array
        self.wait(self.world.Ibcast(_contiguous(array), root=root), what)
        return array

    def barrier(self, what="barrier"):
        self.wait(self.world.Ibarrier(), what)

    def wait(self, handle, what):
        """Finish ``handle`` (MPI request or CUDA event), or abort every rank after ``timeout`` seconds."""
        deadline, pause = time.monotonic() + self.timeout, 0.0
        while not _done(handle):
            if time.monotonic() > deadline:
                self.abort(
                    f"{what} did not complete within {self.timeout:g} s (TGM_DIST_TIMEOUT): another rank "
                    "stopped or hangs; stopping every rank"
                )
            time.sleep(pause)  # back off to 1 ms: a waiting rank must not take the core a working rank needs
            pause = min(0.001, pause + 1e-5)

    def abort(self, message, code=2):
        """Print ``message`` naming this rank and end every rank (MPI_Abort); never returns."""
        print(f"tgm distributed: rank {self.rank} of {self.size}: {message}", file=sys.stderr, flush=True)
        time.sleep(ABORT_GRACE_S)  # MPI_Abort kills mpiexec's proxies at once: give them time to pass the line on
        self.world.Abort(code)


def _watch_peers(comm):
    """MPICH's mpiexec signals SIGUSR1 to the ranks that live on when one dies; its default action ends the
    process without a word, so the handler says what happened and aborts every rank (an own handler stays)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGUSR1"):
        return
    if signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL:
        message = "another rank ended (mpiexec signalled SIGUSR1: killed or crashed); stopping every rank"
        signal.signal(signal.SIGUSR1, lambda signum, frame: comm.abort(message))


def _done(handle):
    """True once an MPI request or a CUDA event has completed."""
    return handle.done if hasattr(handle, "done") else handle.Test()


def _contiguous(array):
    if not (isinstance(array, numpy.ndarray) and array.flags.c_contiguous):
        raise ValueError(fmt("Communicator", "collectives work in place on a C-contiguous numpy or cupy array"))
    return array


@contextlib.contextmanager
def abort_on_error(comm, command="tgm train"):
    """Any exception on this rank prints its one-line message and aborts every rank (no rank left waiting)."""
    try:
        yield
    except BaseException as error:  # SystemExit and KeyboardInterrupt too: the other ranks must not wait
        if isinstance(error, SystemExit) and not error.code:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        message = message if message.startswith("tgm") else f"{command}: {message}"  # errors.fmt's start with it
        comm.abort(message, 130 if isinstance(error, KeyboardInterrupt) else 2)


# ----------------------------------------------------------------------------- NCCL (GPU ranks)
def _nccl_communicator(comm):
    """A NCCL communicator over the MPI ranks: rank 0 makes the unique id, MPI broadcasts it."""
    cupy = backend.cupy
    if cupy is None:
        raise ImportError(f"the nccl backend needs CuPy with NCCL: {backend.cuda_unavailable_reason()}")
    from cupy.cuda import nccl

    cupy.cuda.Device(comm.local_rank % cupy.cuda.runtime.getDeviceCount()).use()
    uid = comm.world.bcast(nccl.get_unique_id() if comm.rank == 0 else None, root=0)
    return nccl.NcclCommunicator(comm.size, uid, comm.rank)


def _nccl_allreduce(comm, array):
    """ncclAllReduce(sum) in place on the current stream; the handle is an event recorded after it."""
    cupy = backend.cupy
    from cupy.cuda import nccl

    if comm.nccl is None:
        raise ValueError(
            fmt("Communicator", "a device array needs the nccl backend", hint="init_process_group('nccl')")
        )
    types = {numpy.dtype(numpy.float32): nccl.NCCL_FLOAT32, numpy.dtype(numpy.float64): nccl.NCCL_FLOAT64}
    stream = cupy.cuda.get_current_stream()
    comm.nccl.allReduce(array.data.ptr, array.data.ptr, array.size, types[array.dtype], nccl.NCCL_SUM, stream.ptr)
    event = cupy.cuda.Event()
    event.record(stream)
    return event
