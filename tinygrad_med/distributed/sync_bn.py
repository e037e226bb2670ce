"""SyncBatchNorm: batch normalisation whose statistics are taken over the whole global batch.

Lecture: "Batch normalization".  With data parallelism each rank sees B/W samples; plain batch
norm would normalise with the statistics of that shard, so W ranks would not compute what one
process computes with the batch of B.  SyncBatchNorm sums the per-channel sums across ranks:

    Forward:  m = sum_r m_r;  mu = (1/m) sum_r sum_{i in r} x_i
              sigma2 = (1/m) sum_r sum_{i in r} (x_i - mu)^2          (two all-reduces of (C,) sums)
              x_hat = (x - mu) / sqrt(sigma2 + eps);  y = gamma x_hat + beta
    Backward: Ioffe and Szegedy's compact rule with the sums taken over every rank,
              gx = (gamma inv_std / m)(m gy - SUM gy - x_hat SUM(gy x_hat)),  SUM = sum over ranks and samples
              (one all-reduce of the two (C,) sums); g_gamma = sum gy x_hat, g_beta = sum gy stay local:
              DistributedDataParallel averages them with the other gradients.

Each rank's gy is dL_r/dy for its own loss L_r, and L = (1/W) sum_r L_r; the all-reduced sums give
x_j the gradient sum_r dL_r/dx_j, and DDP's 1/W finishes dL/dtheta.  The tests hold 2 ranks with
SyncBatchNorm equal to one process with BatchNorm on the whole batch (float64, to round-off).

Reference: S. Ioffe, C. Szegedy, arXiv:1502.03167 (Algorithm 1); PyTorch's torch.nn.SyncBatchNorm.
"""

from .. import backend
from ..errors import ShapeError, fmt
from ..function import Function, increment_version
from ..nn.norm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .comm import get_communicator

__all__ = ["SyncBatchNorm", "SyncBatchNormFunction", "convert_sync_batchnorm"]


class SyncBatchNorm(BatchNorm2d):
    """Batch norm over (N, C, *) with the statistics of every rank's batch (torch.nn.SyncBatchNorm).

    Lecture: "Batch normalization" (the statistics of the global batch of B = sum of the ranks' N).
    Forward:  y = gamma (x - mu) / sqrt(sigma2 + eps) + beta, mu and sigma2 over all ranks' samples
    Backward: gx = (gamma inv_std / m)(m gy - SUM gy - x_hat SUM gy x_hat), sums over all ranks
    Shapes:   x (N, C, *) -> y the same shape; weight, bias, running_mean, running_var (C,)
    Raises:   ShapeError for an input that is not 2-D to 5-D, or if all ranks together hold one
              value per channel.

    Outside a process group, with one rank, or in eval mode it is plain batch norm. Parameters and
    buffers have BatchNorm's names, so a state_dict moves between the two.

    Args:
        as BatchNorm2d, plus comm: a Communicator (default: the process group's).
    """

    ranks = (2, 3, 4, 5)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, comm=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.comm = comm

    def forward(self, x):
        comm = self.comm or get_communicator()
        if not self.training or comm is None or comm.size == 1:
            return super().forward(x)
        self._check_input_dim(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            increment_version(self.num_batches_tracked)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.data)
        track = self.track_running_stats
        stats = {"running_mean": self.running_mean.data, "running_var": self.running_var.data} if track else {}
        y = SyncBatchNormFunction.apply(x, self.weight, self.bias, comm=comm, eps=self.eps, momentum=factor, **stats)
        if track:  # forward moved them in place: count the change
            increment_version(self.running_mean)
            increment_version(self.running_var)
        return y

    def _check_input_dim(self, x):
        if x.ndim not in self.ranks:
            raise ShapeError(fmt("SyncBatchNorm", f"expected a 2-D to 5-D input (N, C, *), got {x.ndim}-D", x=x))


class SyncBatchNormFunction(Function):
    """x_hat and y of batch norm with the sums all-reduced across ranks (see SyncBatchNorm).

    Lecture:  "Batch normalization"
    Forward:  mu = SUM x / m, sigma2 = SUM (x - mu)^2 / m, y = gamma x_hat + beta (SUM: over ranks, n and s)
    Backward: gx = (gamma inv_std / m)(m gy - SUM gy - x_hat SUM gy x_hat); g_gamma, g_beta local sums
    Shapes:   x (N, C, *S), gamma, beta (C,) or None -> y (N, C, *S); running_mean, running_var (C,) moved in place
    """

    def forward(self, x, gamma, beta, comm, eps, momentum=0.1, running_mean=None, running_var=None):
        xp, self.x_shape, self.comm = backend.get_xp(x), x.shape, comm
        x3 = xp.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1)  # (N, C, *) -> (N, C, S)
        C = x3.shape[1]
        sums = xp.concatenate([x3.sum(axis=(0, 2)), xp.asarray([x3.shape[0] * x3.shape[2]], x.dtype)])
        comm.allreduce(sums, "SyncBatchNorm all-reduce of the channel sums")
        self.m = float(sums[C])
        if self.m <= 1:  # as batch_norm: one value per channel has no variance
            problem = f"expected more than 1 value per channel over all ranks when training, got {self.m:g}"
            raise ShapeError(fmt("SyncBatchNorm", problem, x=x, hint="use a global batch of 2 or more"))
        self.mean = sums[:C] / self.m
        centred = x3 - self.mean[None, :, None]
        var = xp.ascontiguousarray((centred * centred).sum(axis=(0, 2)))
        comm.allreduce(var, "SyncBatchNorm all-reduce of the squared deviations")
        if running_mean is not None:  # running <- (1 - momentum) running + momentum (global mean, unbiased var)
            running_mean[...] = (1 - momentum) * running_mean + momentum * self.mean.astype(running_mean.dtype)
            unbiased = (var / max(self.m - 1, 1)).astype(running_var.dtype)
            running_var[...] = (1 - momentum) * running_var + momentum * unbiased
        self.inv_std = 1.0 / xp.sqrt(var / self.m + x.dtype.type(eps))
        self.x_hat = centred * self.inv_std[None, :, None]
        self.gamma = xp.ones(C, x.dtype) if gamma is None else gamma
        beta = xp.zeros(C, x.dtype) if beta is None else beta
        return (self.gamma[None, :, None] * self.x_hat + beta[None, :, None]).reshape(x.shape)

    def backward(self, gy):
        xp = backend.get_xp(gy)
        gy3 = xp.ascontiguousarray(gy).reshape(self.x_hat.shape)
        g_beta, g_gamma = gy3.sum(axis=(0, 2)), (gy3 * self.x_hat).sum(axis=(0, 2))
        sums = xp.concatenate([g_beta, g_gamma])  # (2C,): SUM gy, SUM gy x_hat over every rank
        self.comm.allreduce(sums, "SyncBatchNorm all-reduce of the gradient sums")
        C = g_beta.shape[0]
        scale = (self.gamma * self.inv_std / self.m)[None, :, None]
        gx = scale * (self.m * gy3 - sums[None, :C, None] - self.x_hat * sums[None, C:, None])
        return gx.reshape(self.x_shape), g_gamma, g_beta


def convert_sync_batchnorm(module, comm=None):
    """Replace every BatchNorm1d/2d/3d in ``module`` by a SyncBatchNorm sharing its parameters and
    buffers (torch.nn.SyncBatchNorm.convert_sync_batchnorm); returns the module (itself replaced
    if it is a batch norm)."""
    if isinstance(module, (BatchNorm1d, BatchNorm2d, BatchNorm3d)) and not isinstance(module, SyncBatchNorm):
        sync = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine, False, comm)
        for name in ("weight", "bias"):
            sync.register_parameter(name, getattr(module, name))
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            sync.register_buffer(name, getattr(module, name))
        sync.track_running_stats = module.track_running_stats
        sync.train(module.training)
        return sync
    for name, child in list(module.named_children()):  # a name registered again keeps its place
        module.add_module(name, convert_sync_batchnorm(child, comm))
    return module
