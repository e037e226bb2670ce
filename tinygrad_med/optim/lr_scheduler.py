"""Learning-rate schedules (torch.optim.lr_scheduler): StepLR, MultiStepLR, ExponentialLR,
CosineAnnealingLR, LinearLR (warm-up) and ReduceLROnPlateau.

Lecture: "MORE ON OPTIMIZATION" (the learning rate eta of the momentum and Adam slides).

A scheduler sets ``group["lr"]`` of every parameter group of an optimizer.  Call
``scheduler.step()`` once per epoch, after ``optimizer.step()``:

    opt = tm.optim.SGD(params, lr=0.1, momentum=0.9)
    sched = tm.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    for epoch in range(100):
        train_one_epoch(opt)
        sched.step()

The epoch schedulers here use PyTorch's *closed forms* (lr as a function of the base
lr and the epoch counter ``last_epoch``), which equal PyTorch's default recursive
updates in exact arithmetic.  Consequence: two epoch schedulers on one optimizer do
not compose (the last to step sets lr), and an lr changed by hand is overwritten.
"""

import bisect
import math

from ..errors import fmt
from .optimizer import Optimizer, same_kind

__all__ = [
    "LRScheduler",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "ReduceLROnPlateau",
]


class LRScheduler:
    """Base class: keeps ``base_lrs`` (each group's initial lr) and the epoch counter ``last_epoch``.

    Lecture: "MORE ON OPTIMIZATION".
    Forward:  group["lr"] = closed_form(base_lr, last_epoch) for each group, at each step().
    Backward: none.
    Shapes:   one lr per parameter group.

    Args:
        optimizer: the Optimizer whose groups' lr is scheduled.
        last_epoch: -1 for a fresh run (stores group["initial_lr"] = group["lr"]); to
            resume, the index of the last finished epoch (the groups need "initial_lr").
    Raises:
        TypeError if ``optimizer`` is not an Optimizer; KeyError if resuming without "initial_lr".
    """

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(fmt(type(self).__name__, f"{type(optimizer).__name__} is not an Optimizer"))
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(
                    fmt(
                        type(self).__name__,
                        f"param_groups[{i}] has no 'initial_lr' to resume from last_epoch={last_epoch}",
                    )
                )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()  # epoch 0: lr = closed form at 0 (the base lr for most schedules)

    def closed_form(self, base_lr, epoch):
        """The lr at ``epoch`` for a group whose initial lr is ``base_lr`` (subclasses implement)."""
        raise NotImplementedError(f"{type(self).__name__} must implement closed_form")

    def get_lr(self):
        """The lrs the schedule gives at ``last_epoch``, one per group."""
        return [self.closed_form(base_lr, self.last_epoch) for base_lr in self.base_lrs]

    def get_last_lr(self):
        """The lrs set by the last ``step()``, one per group."""
        return list(self._last_lr)

    def step(self, epoch=None):
        """Advance to the next epoch (or jump to ``epoch``) and set every group's lr."""
        self._step_count += 1
        self.last_epoch = self.last_epoch + 1 if epoch is None else int(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=False):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """Everything but the optimizer: numbers, lists and strings (saved with tm.save)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore a ``state_dict()`` (lists come back as lists, numbers as Python numbers).

        Raises:
            ValueError naming the entries whose kind (a number, a list of as many numbers, text)
            differs from this scheduler's own; nothing is changed then (PyTorch copies any value).
        """
        values = {key: _plain(value) for key, value in state_dict.items()}
        wrong = [
            key for key, value in values.items() if key in self.__dict__ and not same_kind(self.__dict__[key], value)
        ]
        if wrong:
            shown = ", ".join(f"{key}={values[key]!r}" for key in wrong)
            raise ValueError(fmt(f"{type(self).__name__}.load_state_dict", f"entries of another kind than this "
                                 f"scheduler's: {shown}"))  # fmt: skip
        self.__dict__.update(values)


class StepLR(LRScheduler):
    """Multiply the lr by gamma every ``step_size`` epochs.

    Lecture: "MORE ON OPTIMIZATION".
    Forward:  lr(epoch) = base_lr * gamma ** (epoch // step_size)
    Backward: none.
    Shapes:   one lr per parameter group.

    Args:
        optimizer: the Optimizer.
        step_size: epochs between decays (a positive int).
        gamma: multiplicative factor (default 0.1).
        last_epoch: as LRScheduler.
    Raises:
        ValueError if step_size < 1.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if int(step_size) != step_size or step_size < 1:
            raise ValueError(fmt("StepLR", f"step_size must be a positive int, got {step_size!r}"))
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer, last_epoch)

    def closed_form(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """Multiply the lr by gamma at each milestone epoch.

    Lecture: "MORE ON OPTIMIZATION".
    Forward:  lr(epoch) = base_lr * gamma ** (number of milestones <= epoch)
    Backward: none.
    Shapes:   one lr per parameter group.

    Args:
        optimizer: the Optimizer.
        milestones: epoch indices (any order; a repeated milestone decays twice, as in PyTorch).
        gamma: multiplicative factor (default 0.1).
        last_epoch: as LRScheduler.
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones, self.gamma = sorted(int(m) for m in milestones), gamma
        super().__init__(optimizer, last_epoch)

    def closed_form(self, base_lr, epoch):
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)


class ExponentialLR(LRScheduler):
    """Multiply the lr by gamma every epoch.

    Lecture: "MORE ON OPTIMIZATION".
    Forward:  lr(epoch) = base_lr * gamma ** epoch
    Backward: none.
    Shapes:   one lr per parameter group.

    Args:
        optimizer: the Optimizer.
        gamma: multiplicative factor.
        last_epoch: as LRScheduler.
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def closed_form(self, base_lr, epoch):
        return base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from base_lr down to eta_min over T_max epochs (SGDR without restarts).

    Lecture: "MORE ON OPTIMIZATION".
    Forward:  lr(epoch) = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2
              (PyTorch's closed form; past T_max it rises again, as the cosine does)
    Backward: none.
    Shapes:   one lr per parameter group.
    Reference: Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
        arXiv:1608.03983.

    Args:
        optimizer: the Optimizer.
        T_max: half period in epochs (a positive number).
        eta_min: the smallest lr (default 0).
        last_epoch: as LRScheduler.
    Raises:
        ValueError if T_max <= 0.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if not T_max > 0:
            raise ValueError(fmt("CosineAnnealingLR", f"T_max must be positive, got {T_max!r}"))
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def closed_form(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LinearLR(LRScheduler):
    """Linear warm-up (or decay): scale the lr from start_factor to end_factor over total_iters epochs.

    Lecture: "MORE ON OPTIMIZATION".
    Forward:  lr(epoch) = base_lr * (start_factor + (end_factor - start_factor)
                                     * min(total_iters, epoch) / total_iters)
    Backward: none.
    Shapes:   one lr per parameter group.

    Args:
        optimizer: the Optimizer.
        start_factor: factor at epoch 0, in (0, 1] (default 1/3).
        end_factor: factor from epoch total_iters on, in [0, 1] (default 1).
        total_iters: length of the ramp in epochs (default 5).
        last_epoch: as LRScheduler.
    Raises:
        ValueError if a factor is out of range or total_iters < 1.
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(
                fmt(
                    "LinearLR",
                    "expected 0 < start_factor <= 1 and 0 <= end_factor <= 1",
                    start_factor=start_factor,
                    end_factor=end_factor,
                )
            )
        if total_iters < 1:
            raise ValueError(fmt("LinearLR", f"total_iters must be at least 1, got {total_iters!r}"))
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def closed_form(self, base_lr, epoch):
        ramp = min(self.total_iters, epoch) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * ramp)


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` when a metric has stopped improving for ``patience`` epochs.

    Lecture: "MORE ON OPTIMIZATION".
    Forward:  after step(metric): if the metric is not better than the best seen for more than
              ``patience`` epochs in a row (outside ``cooldown``): lr <- max(lr * factor, min_lr),
              applied only if it changes lr by more than eps.  "Better" (mode, threshold_mode):
              min/rel: metric < best * (1 - threshold);  min/abs: metric < best - threshold;
              max/rel: metric > best * (1 + threshold);  max/abs: metric > best + threshold.
    Backward: none.
    Shapes:   one lr per parameter group.

    Args:
        optimizer: the Optimizer.
        mode: 'min' (a loss) or 'max' (an accuracy, a Dice score).
        factor: lr multiplier, < 1 (default 0.1).
        patience: epochs without improvement to tolerate (default 10).
        threshold: what counts as an improvement (default 1e-4).
        threshold_mode: 'rel' or 'abs'.
        cooldown: epochs to wait after a reduction before counting again (default 0).
        min_lr: a lower bound, one number or one per group (default 0).
        eps: a reduction smaller than this is skipped (default 1e-8).
    Raises:
        ValueError if factor >= 1, mode / threshold_mode is unknown, or min_lr has the wrong length.
    """

    def __init__(
        self,
        optimizer,
        mode="min",
        factor=0.1,
        patience=10,
        threshold=1e-4,
        threshold_mode="rel",
        cooldown=0,
        min_lr=0,
        eps=1e-8,
    ):
        name = "ReduceLROnPlateau"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(fmt(name, f"{type(optimizer).__name__} is not an Optimizer"))
        if factor >= 1.0:
            raise ValueError(fmt(name, f"factor should be < 1.0, got {factor!r}"))
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(
                fmt(
                    name,
                    "expected mode 'min' or 'max' and threshold_mode 'rel' or 'abs'",
                    mode=mode,
                    threshold_mode=threshold_mode,
                )
            )
        groups = len(optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * groups
        if len(min_lrs) != groups:
            raise ValueError(fmt(name, f"expected {groups} min_lrs (one per group), got {len(min_lrs)}"))
        self.optimizer, self.min_lrs = optimizer, min_lrs
        self.mode, self.factor, self.patience, self.threshold = mode, factor, patience, threshold
        self.threshold_mode, self.cooldown, self.eps = threshold_mode, cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs, self.cooldown_counter, self.last_epoch = 0, 0, 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def step(self, metrics, epoch=None):
        """Record this epoch's metric and reduce the lr if it has plateaued."""
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else int(epoch)
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:  # in cooldown: bad epochs do not count
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self):
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=False):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def is_better(self, current, best):
        """True if ``current`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            bound = best * (1 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold
            return current < bound
        bound = best * (1 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold
        return current > bound


def _plain(value):
    """Python numbers and lists from what a checkpoint gives back (0-d or 1-d arrays)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value
