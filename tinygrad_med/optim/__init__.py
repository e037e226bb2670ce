"""Optimizers and learning-rate schedules with torch.optim's names (lecture: "MORE ON OPTIMIZATION").

    optimizer.py     Optimizer: param groups, state, zero_grad, step, state_dict
    sgd.py           SGD (the slide's momentum; Nesterov; weight decay)      <-> kernels/optim.cu::sgd_step
    adam.py          Adam (bias correction, AMSGrad), AdamW                  <-> kernels/optim.cu::adam_step
    rmsprop.py       RMSprop (centered, momentum)                            <-> kernels/optim.cu::rmsprop_step
    lr_scheduler.py  StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, ReduceLROnPlateau

Every update runs in place on ``param.data``: NumPy on the CPU, one fused CUDA
kernel launch per parameter on the GPU.
"""

from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler"]
