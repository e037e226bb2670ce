"""Op families, one module each: forward and backward side by side, CPU and GPU paths named alike.

    arithmetic.py  + - * / ** exp log sqrt abs clamp where     (array code on both devices)
    reduce.py      sum mean max min var std argmax logsumexp
    shape.py       reshape permute expand getitem cat stack split pad to
    matmul.py      matmul linear                               (BLAS / cuBLAS)
    activation.py  sigmoid tanh relu leaky_relu elu maxout softmax  <-> kernels/activation.cu
    loss.py        cross_entropy nll mse l1 smooth_l1 bce kl_div     <-> kernels/loss.cu
    pool.py        max_pool1d-3d avg_pool1d-3d                       <-> kernels/pool.cu
    adaptive_pool.py  adaptive_avg/max_pool1d-3d, max_unpool1d-3d (global average pooling)
    resample.py    interpolate, pad (reflect replicate circular)      <-> kernels/resample.cu
"""
