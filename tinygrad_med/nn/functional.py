"""torch.nn.functional's names, gathered from the op families in tinygrad_med/ops/.

Nothing is defined here: each function lives, with its Function class and its
CUDA path, in the ops module named in the import.
"""

from ..ops.activation import elu, gelu, leaky_relu, maxout, relu, sigmoid, silu, softplus, tanh
from ..ops.adaptive_pool import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    adaptive_max_pool3d,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
)
from ..ops.conv import conv1d, conv2d, conv3d
from ..ops.conv_transpose import conv_transpose1d, conv_transpose2d, conv_transpose3d
from ..ops.cross_entropy import cross_entropy, nll_loss
from ..ops.dropout import alpha_dropout, dropout, dropout1d, dropout2d, dropout3d, feature_alpha_dropout
from ..ops.embedding import embedding
from ..ops.graph import gaussian_kernel, global_add_pool, global_max_pool, global_mean_pool, spmm
from ..ops.graph_conv import cheb_conv, dense_diff_pool, diff_pool, gaussian_graph_conv, gcn_conv, spectral_conv
from ..ops.loss import binary_cross_entropy, binary_cross_entropy_with_logits, kl_div, l1_loss, mse_loss, smooth_l1_loss
from ..ops.lrn import local_response_norm
from ..ops.matmul import linear
from ..ops.norm import batch_norm, group_norm, instance_norm, layer_norm
from ..ops.pool import avg_pool1d, avg_pool2d, avg_pool3d, max_pool1d, max_pool2d, max_pool3d
from ..ops.resample import interpolate
from ..ops.sample import affine_grid, grid_sample
from ..ops.shape import pad
from ..ops.softmax import log_softmax, softmax
