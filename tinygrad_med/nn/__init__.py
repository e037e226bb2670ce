"""Parameter-owning layers with torch.nn's names; each calls ops from nn.functional only.

module.py      Module (and parameter.py: Parameter)
linear.py      Linear, Identity, Sequential, ModuleList, ModuleDict, Flatten
activation.py  ReLU, Sigmoid, Tanh, LeakyReLU, ELU, Maxout, Softmax, LogSoftmax
loss.py        CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, BCELoss, ...
init.py        kaiming_/xavier_ uniform and normal, zeros_, ones_
spatial.py     SpatialTransformer (localisation net + affine_grid + grid_sample)
detection.py   RoIAlign, RoIPool (torchvision.ops' layers; they call ops/detection.py)
conv.py, pool.py, norm.py, dropout.py, resample.py, recurrent.py, embedding.py, graph layers: see each file.
"""

from . import functional, init
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, Maxout, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .detection import RoIAlign, RoIPool
from .dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout
from .embedding import Embedding
from .graph import (
    AdaptiveGraphPool,
    ChebConv,
    GaussianGraphConv,
    GCNConv,
    GlobalAddPool,
    GlobalMaxPool,
    GlobalMeanPool,
    SpectralGraphConv,
)
from .linear import Flatten, Identity, Linear, ModuleDict, ModuleList, ParameterList, Sequential, Unflatten
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss
from .module import Module, Parameter
from .norm import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LayerNorm,
    LocalResponseNorm,
)
from .pool import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    MaxUnpool1d,
    MaxUnpool2d,
    MaxUnpool3d,
)
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .resample import (
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
)
from .spatial import SpatialTransformer
