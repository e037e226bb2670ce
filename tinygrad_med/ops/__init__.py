"""Op families, one module each: forward and backward side by side, CPU and GPU paths named alike.

Each op's code is its reference (the slide's formula, plain NumPy, what tm.reference_mode() runs)
and its CUDA path; where measured speed needs it, a fast CPU path lives in its own module (marked
"fast CPU path" below), reached from the op in one line (reference.path) and held equal to the reference by
tests/test_reference_parity.py.

arithmetic.py      + - * / // ** exp log sqrt abs (alpha=, rounding_mode=)  (array code on both devices)
select.py          where maximum minimum clamp/clip fill comparisons (re-exported by arithmetic)
promotion.py       PyTorch's type promotion for ops with several operands (result_type)
reduce.py          sum mean prod cumsum var std var_mean std_mean logsumexp norm
reduce_minmax.py   max min (values, indices) amax amin argmax argmin (re-exported by reduce)
reduce_args.py     dims (0-d and () included), dtypes and var/std's two call forms, shared by the two
shape.py           reshape permute expand getitem cat stack split unbind pad to clone
matmul.py          matmul linear                                (BLAS / cuBLAS)
gemm.py            tiled_matmul, the educational GEMM            <-> kernels/gemm.cu
activation.py      sigmoid tanh relu leaky_relu elu gelu softplus silu maxout <-> kernels/activation.cu
softmax.py         softmax log_softmax (re-exported by activation) <-> kernels/softmax.cu
activation_args.py the float-tensor check shared by the two
activation_fast.py fast CPU path of ReLU: its two passes in blocks on both cores
loss.py            mse l1 smooth_l1 bce bce_with_logits kl_div  (array code; re-exports cross_entropy nll_loss)
cross_entropy.py   cross_entropy nll_loss (class-index losses)  <-> kernels/cross_entropy.cu
loss_args.py       argument checks and reductions shared by the two
dice.py            soft Dice loss, Dice + cross-entropy          (composed of the ops above)
kl.py              kl_normal kl_normal_normal reparameterize vae_loss (VAE, Prob. U-Net; composed)
conv.py            conv1d-3d by im2col + GEMM                   <-> kernels/conv.cu
conv_transpose.py  conv_transpose1d-3d, the adjoint of conv     <-> kernels/conv.cu
conv_args.py       argument checks and output sizes shared by the two
int_args.py        the int-tuple arguments (kernel_size, stride, padding, ...) of conv, pool, resample
conv_index.py      im2col's index map (strided patches, offset slices) and GEMM layouts, shared by the two
conv_cpu.py        fast CPU path of conv: 1x1 shortcut, chunks, threads, reused column buffers
conv_rows.py       its pixel-major products: im2row @ W_rows per chunk, per-thread scratch buffers
pool.py            max_pool1d-3d avg_pool1d-3d                  <-> kernels/pool.cu
adaptive_pool.py   adaptive_avg/max_pool1d-3d, max_unpool1d-3d (global average pooling)
pool_args.py       argument checks, the Window geometry and output sizes shared by the two
resample.py        interpolate, pad (reflect replicate circular) <-> kernels/resample.cu
resample_aa.py     the antialiased (stretched-kernel) resampling matrices of interpolate
sample.py          affine_grid grid_sample (spatial transformer)  <-> kernels/sample.cu
sample_taps.py     grid_sample's taps (source index, padding, weights), shared by the two below
sample_fast.py     fast CPU path of grid_sample: each image's taps as one sparse matrix
norm.py            batch_norm instance_norm group_norm layer_norm <-> kernels/norm.cu
norm_fast.py       fast CPU path of batch_norm: in-place x_hat and gx, einsum channel sums
lrn.py             local_response_norm (AlexNet, ZF Net)        (array code on both devices)
dropout.py         dropout dropout1d-3d alpha_dropout (Philox)   <-> kernels/dropout.cu
graph.py           spmm, Gaussian edge kernel, graph pooling    <-> kernels/graph.cu
graph_conv.py      spectral, Chebyshev, GCN, Gaussian (MoNet) conv, DiffPool
embedding.py       embedding (gather; scatter-add backward) (array code on both devices)
boxes.py           box_area box_iou anchors encode_boxes decode_boxes (Faster R-CNN box geometry)
detection.py       roi_align roi_pool nms batched_nms           <-> kernels/detection.cu
detection_args.py  the RoI (boxes) argument check shared by roi_align and roi_pool
roi_geometry.py    RoI bins (roi_pool) and roi_align's bilinear weight matrices, shared by the two
detection_fast.py  fast CPU paths of roi_align (one sparse matrix) and roi_pool (bins of one size together)
rnn.py             lstm_gates gru_gates lstm_layer (+ cells)    <-> kernels/rnn.cu
"""
