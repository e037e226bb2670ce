"""DistributedDataParallel: one model replica per rank, gradients averaged in flat buckets.

Lecture: "MORE ON OPTIMIZATION" (mini-batch SGD).  With a loss that is a mean over the batch,

    dL/dtheta = (1/B) sum_i dl_i/dtheta = (1/W) sum_r [ (W/B) sum_{i in shard r} dl_i/dtheta ]

so every rank runs forward and backward on its B/W samples and the gradients are averaged across
the W ranks before the optimizer step; every replica then takes the same step and stays equal to
the others (they start equal: rank 0's parameters and buffers are broadcast at construction).

Buckets (PyTorch's DDP, Horovod's tensor fusion): one collective per parameter would pay the
latency of a message per tensor, so the gradients are copied into flat buffers of about
``bucket_cap_mb`` MB each, in reverse registration order (the order backward produces them:
the last layer's first), one all-reduce per bucket.

When the reduction runs (PyTorch's Reducer).  Every parameter carries a post-accumulate-grad
hook (``Tensor.register_post_accumulate_grad_hook``, autograd.py): when backward has accumulated a
parameter's last gradient contribution it is marked ready, and as soon as every parameter of a
bucket is ready the bucket is copied into its flat buffer and its non-blocking all-reduce starts,
while backward goes on with the earlier layers.  Buckets start strictly in order (bucket k+1 only
after bucket k, as PyTorch), so every rank issues the same collectives in the same order even if
its hooks fire in another.  ``reduce_gradients()``, after ``loss.backward()`` (the training loop,
training/loop.py, calls it before the step), starts the buckets not started yet and waits for every
request with the deadline-polling ``comm.wait`` (a dead rank still aborts every rank).  MPICH on the
CPU progresses a request only inside MPI calls, so there the overlap is the start and the copies;
NCCL on the GPU runs on its own.

Parameters that got no gradient in a pass (unused in this forward): their hooks do not fire, so
their bucket (and every later one) starts in ``reduce_gradients()``, with zeros for the missing
gradients.  PyTorch's default (find_unused_parameters=False) raises instead at the next iteration
("Expected to have finished reduction in the prior iteration"); with find_unused_parameters=True
it too reduces zeros for a parameter unused on one rank (here its .grad becomes the mean, zeros
where no rank used it).  A second backward before ``reduce_gradients()`` (accumulating over
several batches) makes the buckets already started stale: they are waited for and every bucket is
reduced again from the summed gradients.
"""

from .. import backend
from ..errors import fmt
from ..nn.module import Module
from ..tensor import Tensor
from .comm import get_communicator

__all__ = ["DistributedDataParallel", "broadcast_module"]


def broadcast_module(module, comm, root=0):
    """Every parameter and buffer of ``module`` <- rank ``root``'s (in place, one collective each)."""
    for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
        if tensor is not None:
            comm.broadcast(tensor.data, root, what=f"broadcast of {name}")


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training over the ranks of ``comm`` (torch's DistributedDataParallel).

    Lecture: "MORE ON OPTIMIZATION" (the gradient of a mean loss over a batch is the mean over its shards).
    Forward:  y = module(x) on this rank's shard (with broadcast_buffers, rank 0's buffers first, as PyTorch)
    Backward: buckets start their all-reduce during ``loss.backward()`` (post-accumulate-grad hooks);
              ``reduce_gradients()`` finishes them: p.grad <- (1/W) sum over ranks of p.grad
    Shapes:   as ``module``'s; the batch is the rank's shard of B/W samples.

    Args:
        module: the replica on this rank; its parameters and buffers are overwritten by rank 0's.
        comm: a Communicator (default: the one of ``init_process_group``).
        bucket_cap_mb: the size of one flat gradient buffer (one all-reduce each).
        broadcast_buffers: copy rank 0's buffers (batch norm's running statistics) before each forward.
    Attributes:
        module: the wrapped module (``state_dict`` keys get the prefix ``module.``, as in PyTorch).
        buckets: lists of parameter names, the order they are reduced in.
        events: None, or a list that gets ("start", k) and ("wait", k) per bucket k (tests, profiling).
    Raises:
        ValueError outside a process group, or for a bucket_cap_mb <= 0.
    """

    def __init__(self, module, comm=None, bucket_cap_mb=4.0, broadcast_buffers=True):
        super().__init__()
        comm = get_communicator() if comm is None else comm
        if comm is None:
            raise ValueError(fmt("DistributedDataParallel", "no process group", hint="call init_process_group() first"))
        if not bucket_cap_mb > 0:
            raise ValueError(fmt("DistributedDataParallel", f"bucket_cap_mb must be > 0, got {bucket_cap_mb}"))
        self.module, self.comm, self.broadcast_buffers = module, comm, bool(broadcast_buffers)
        broadcast_module(module, comm)
        self.buckets = _plan_buckets(module, int(bucket_cap_mb * 2**20))
        self.bytes_per_step = sum(_bucket_bytes(module, names) for names in self.buckets)
        params = dict(module.named_parameters())
        self._bucket_params = [[params[name] for name in names] for names in self.buckets]
        self.events = None
        self._reset()
        self._hook_handles = [
            p.register_post_accumulate_grad_hook(lambda p, k=k: self._ready(k, p))
            for k, bucket in enumerate(self._bucket_params)
            for p in bucket
        ]

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers and self.training and self.comm.size > 1:
            for name, buffer in self.module.named_buffers():
                if buffer is not None:
                    self.comm.broadcast(buffer.data, 0, what=f"broadcast of buffer {name}")
        return self.module(*args, **kwargs)

    def _reset(self):
        self._waiting = [len(bucket) for bucket in self._bucket_params]  # parameters not ready, per bucket
        self._seen = [set() for _ in self._bucket_params]
        self._started, self._stale = [], False  # (flat buffer, request) of buckets 0, 1, ... in order

    def _ready(self, k, p):
        """Hook: ``p``'s gradient is final for this backward; start every bucket now complete, in order."""
        if k < len(self._started):
            self._stale = True  # a second backward before reduce_gradients(): what was sent is partial
            return
        if id(p) not in self._seen[k]:
            self._seen[k].add(id(p))
            self._waiting[k] -= 1
        while len(self._started) < len(self.buckets) and self._waiting[len(self._started)] == 0:
            self._start(len(self._started))

    def _start(self, k):
        flat = _flatten(self._bucket_params[k])
        self._started.append((flat, self.comm.iallreduce(flat)))
        if self.events is not None:
            self.events.append(("start", k))

    def reduce_gradients(self):
        """p.grad <- the mean over ranks of p.grad, bucket by bucket (a missing grad counts as zeros).

        Starts the buckets backward has not started (their parameters got no gradient), then waits
        for every bucket in order."""
        if self._stale:  # finish what was sent (every rank sent it), then reduce the full sums afresh
            for k in range(len(self._started)):
                self._finish(k)
            self._reset()
        while len(self._started) < len(self.buckets):
            self._start(len(self._started))
        for k in range(len(self.buckets)):
            flat = self._finish(k)
            flat /= self.comm.size
            _unflatten(flat, self._bucket_params[k])
        self._reset()

    def _finish(self, k):
        flat, handle = self._started[k]
        names = self.buckets[k]
        self.comm.wait(handle, f"all-reduce of gradient bucket {k + 1} of {len(self.buckets)} ({names[0]}, ...)")
        if self.events is not None:
            self.events.append(("wait", k))
        return flat


def _plan_buckets(module, cap_bytes):
    """Names of the trainable parameters in reverse registration order, cut into runs of <= cap_bytes
    of one dtype and device (a parameter larger than the cap is a bucket of its own)."""
    buckets, current, size, kind = [], [], 0, None
    for name, p in reversed(list(module.named_parameters())):
        if not p.requires_grad:
            continue
        this = (p.data.dtype, backend.is_gpu_array(p.data))
        if current and (size + p.data.nbytes > cap_bytes or this != kind):
            buckets.append(current)
            current, size = [], 0
        current.append(name)
        size, kind = size + p.data.nbytes, this
    return buckets + ([current] if current else [])


def _bucket_bytes(module, names):
    params = dict(module.named_parameters())
    return sum(params[name].data.nbytes for name in names)


def _flatten(params):
    """One contiguous buffer holding every grad of ``params`` (zeros where a grad is None)."""
    xp = backend.get_xp(params[0].data)
    flat = xp.empty(sum(p.data.size for p in params), params[0].data.dtype)
    offset = 0
    for p in params:
        n = p.data.size
        flat[offset : offset + n] = 0 if p.grad is None else p.grad.data.reshape(-1)
        offset += n
    return flat


def _unflatten(flat, params):
    """Each p.grad <- its slice of ``flat`` (a copy, so the bucket buffer is free again)."""
    offset = 0
    for p in params:
        n = p.data.size
        p.grad = Tensor._wrap(flat[offset : offset + n].reshape(p.data.shape).copy())
        offset += n
