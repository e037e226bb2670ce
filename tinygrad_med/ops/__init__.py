"""Op families, one module each: forward and backward side by side, CPU and GPU paths named alike.

    arithmetic.py  + - * / ** exp log sqrt abs clamp where     (array code on both devices)
    reduce.py      sum mean max min var std argmax logsumexp
    shape.py       reshape permute expand getitem cat stack split pad to
    matmul.py      matmul linear                               (BLAS / cuBLAS)
    activation.py  sigmoid tanh relu leaky_relu elu maxout softmax  <-> kernels/activation.cu
    loss.py        cross_entropy nll mse l1 smooth_l1 bce kl_div     <-> kernels/loss.cu
"""
