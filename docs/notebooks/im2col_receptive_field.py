# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # im2col step by step, and how the receptive field grows
#
# Lecture: "Convolutional neural networks - Convolution" (the 5 x 5 example), "Semantic segmentation"
# (convolution as a matrix operation), "Receptive field of a neuron (revisited)" and "Dilated
# convolution (a trous)".
#
# The slide slides a 3 x 3 kernel over a 5 x 5 feature map and gets a 3 x 3 output. Deep-learning
# frameworks (and `tinygrad_med.ops.conv`) compute the same thing as *one matrix product*: copy every
# 3 x 3 window of the input into a column (**im2col**), then multiply by the kernel flattened to a row.

# %%
import matplotlib.pyplot as plt
import numpy

import tinygrad_med as tm
import tinygrad_med.nn as nn
import tinygrad_med.nn.functional as F
from tinygrad_med.nn.receptive_field import receptive_field
from tinygrad_med.ops.conv import im2col
from tinygrad_med.ops.conv_args import make_geometry, padding_arg

F_map = numpy.array(  # the slide's feature map
    [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], dtype=numpy.float64
)
h = numpy.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], dtype=numpy.float64)  # the kernel, as the slide's subscripts

# %% [markdown]
# ## Step 1: every window becomes a column
#
# Output position $(i, j)$ reads the window $F[i:i+3, j:j+3]$. With no padding and stride 1 there are
# $OH \times OW = 3 \times 3$ windows, each of $KH \cdot KW = 9$ values: the column matrix is 9 x 9.

# %%
KH = KW = 3
OH, OW = F_map.shape[0] - KH + 1, F_map.shape[1] - KW + 1
col = numpy.empty((KH * KW, OH * OW))
for i in range(OH):
    for j in range(OW):
        col[:, i * OW + j] = F_map[i : i + KH, j : j + KW].reshape(-1)  # window (i, j) -> column i*OW + j
print("col (rows: kernel offsets (p, q); columns: output positions (i, j)):")
print(col.astype(int))

# %% [markdown]
# ## Step 2: one matrix product
#
# $y = h_{\text{row}} \cdot \mathrm{col}$, a (1 x 9) by (9 x 9) product, reshaped to 3 x 3: the slide's output
# $\begin{pmatrix} 12 & 12 & 17 \\ 10 & 17 & 19 \\ 9 & 6 & 14 \end{pmatrix}$ (frameworks compute the
# cross-correlation $\sum_{u,v} h[u, v] F[i+u, j+v]$, i.e. the slide's convolution with a flipped kernel).

# %%
y = (h.reshape(1, -1) @ col).reshape(OH, OW)
print(y.astype(int))
assert (y == [[12, 12, 17], [10, 17, 19], [9, 6, 14]]).all()

# %% [markdown]
# ## Step 3: the package does the same
#
# `tinygrad_med.ops.conv.im2col` builds the same matrix for a batch, channels, stride, padding and
# dilation (its columns run over $(n, o)$, its rows over $(c, k)$), and `F.conv2d` multiplies it.

# %%
x = tm.tensor(F_map.reshape(1, 1, 5, 5))
W = tm.tensor(h.reshape(1, 1, 3, 3))
geometry = make_geometry("conv2d", 2, x, W, (3, 3), (1, 1), (1, 1), padding_arg("conv2d", 0, (3, 3), (1, 1), (1, 1), 2))
with tm.reference_mode():  # the reference im2col, not the fast path
    package_col = im2col(x.numpy(), geometry)
print("same columns:", numpy.array_equal(package_col, col))
print(F.conv2d(x, W).numpy()[0, 0].astype(int))

# %% [markdown]
# With padding 1 the map keeps its size (the slide's "Convolution padding"), and stride 2 halves it
# ("Convolution stride"): only the number of columns changes.

# %%
for padding, stride in [(1, 1), (1, 2)]:
    out = F.conv2d(x, W, padding=padding, stride=stride).numpy()[0, 0]
    print(f"padding={padding} stride={stride}: output {out.shape}")
    print(out.astype(int))

# %% [markdown]
# ## Receptive field growth with depth and dilation
#
# Each 3 x 3 layer widens the field by $(K - 1)\,\text{dil} \cdot j$, where the jump $j$ is the product
# of the strides before it. `tinygrad_med.nn.receptive_field` prints the table for any model.


# %%
def stack(dilations, pool_every=0):
    layers = []
    for k, dil in enumerate(dilations):
        layers.append(nn.Conv2d(1, 1, 3, padding=dil, dilation=dil, bias=False))
        if pool_every and (k + 1) % pool_every == 0:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


depth = 6
models = {
    "3x3 convs": stack([1] * depth),
    "3x3 convs, 2x2 pool every 2": stack([1] * depth, pool_every=2),
    "3x3 convs, dilation 1, 2, 4, ...": stack([2**k for k in range(depth)]),
}
print(receptive_field(models["3x3 convs, dilation 1, 2, 4, ..."], (1, 128, 128)))

fig, ax = plt.subplots(figsize=(5.5, 3.5))
for name, model in models.items():
    rows = [row for row in receptive_field(model, (1, 128, 128)) if row.kind in ("input", "Conv2d")]
    ax.plot(range(len(rows)), [row.receptive_field[0] for row in rows], "o-", label=name)
ax.set_xlabel("conv layers")
ax.set_ylabel("receptive field (pixels)")
ax.set_yscale("log", base=2)
ax.legend(fontsize=8)
ax.set_title("linear with depth, exponential with dilation or pooling")
fig.tight_layout()

# %% [markdown]
# ## Seeing the field: the gradient of one output pixel
#
# The input pixels that can affect the centre output are exactly those where its gradient is non-zero.
# With all weights 1 the gradient counts the paths from each input pixel to that output.

# %%
fig, axes = plt.subplots(1, 2, figsize=(7, 3.5))
for ax, name in zip(axes, ["3x3 convs", "3x3 convs, dilation 1, 2, 4, ..."], strict=True):
    model = stack([1] * 4) if name == "3x3 convs" else stack([1, 2, 4, 8])
    for layer in model:
        layer.weight.data[...] = 1.0
    image = tm.tensor(numpy.zeros((1, 1, 41, 41), numpy.float32), requires_grad=True)  # the layers are float32
    model(image)[0, 0, 20, 20].backward()
    field = image.grad.numpy()[0, 0]
    ax.imshow(numpy.log1p(field), cmap="magma")
    ax.set_title(f"{name}\n4 layers: field {int((field[20] > 0).sum())} px", fontsize=9)
    ax.axis("off")
fig.tight_layout()
