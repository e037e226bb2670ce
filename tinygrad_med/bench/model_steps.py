"""Whole training steps for ``tgm bench --ops model``: MLP, small CNN, U-Net and LSTM.

A step is forward, loss, backward and an Adam update, as in training. Its check: the first
loss on the device (float32) against the same model and batch in float64 on the CPU.
"""

import numpy

from .. import nn
from ..function import no_grad
from ..models import MLP, SmallCNN, UNet
from ..optim import Adam
from ..tensor import Tensor

__all__ = ["MODEL_STEPS", "build_step"]

# name -> {size: params}; gpu_large replaces large on the GPU
MODEL_STEPS = {
    "mlp 784-256-256-10 step": {"small": {"N": 16}, "medium": {"N": 128}, "large": {"N": 1024}},
    "small CNN step (1x32x32)": {"small": {"N": 4}, "medium": {"N": 32}, "large": {"N": 128}},
    "U-Net 16-32-64 step": {
        "small": {"N": 2, "S": 64},
        "medium": {"N": 4, "S": 128},
        "large": {"N": 8, "S": 128},
        "gpu_large": {"N": 32, "S": 256},
    },
    "LSTM 128->256 step": {"small": {"N": 8, "T": 8}, "medium": {"N": 32, "T": 32}, "large": {"N": 128, "T": 64}},
}


def _model_and_batch(name, p, rng):
    if name.startswith("mlp"):
        model = MLP(784, 10, hidden=256)
        return model, rng.standard_normal((p["N"], 784)), rng.integers(0, 10, p["N"])
    if name.startswith("small CNN"):
        return SmallCNN(1, 10), rng.standard_normal((p["N"], 1, 32, 32)), rng.integers(0, 10, p["N"])
    if name.startswith("U-Net"):
        x = rng.standard_normal((p["N"], 1, p["S"], p["S"]))
        return UNet(1, 2, base_width=16, depth=2), x, rng.integers(0, 2, (p["N"], p["S"], p["S"]))
    return _LSTMClassifier(), rng.standard_normal((p["T"], p["N"], 128)), rng.integers(0, 10, p["N"])


class _LSTMClassifier(nn.Module):
    """LSTM(128 -> 256) over the sequence, then a linear read-out of the last state."""

    def __init__(self):
        super().__init__()
        self.lstm, self.head = nn.LSTM(128, 256), nn.Linear(256, 10)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[-1])


def build_step(name, params, device, dtype, seed=0):
    """(step function, first loss) for one model step on ``device`` in ``dtype``."""
    from .. import random

    random.manual_seed(seed)  # same weights for the reference and the timed copy
    model, x, y = _model_and_batch(name, params, numpy.random.default_rng(seed))
    model.to(dtype=dtype)
    if device == "cuda":
        model.to("cuda")
    xt, yt = Tensor(x.astype(dtype), device=device), Tensor(y, device=device)
    opt = Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    with no_grad():
        first = nn.functional.cross_entropy(model(xt), yt).item()
    return step, first
