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
# # Momentum against Adam on a ravine
#
# Lecture: "MORE ON OPTIMIZATION - Momentum in optimization" and "Adaptive moment estimation (Adam)".
# A ravine is a loss that is steep across and flat along: plain gradient descent zig-zags across it and
# crawls along it. The slide's momentum $v_t = \beta v_{t-1} + \eta\, \partial L / \partial w$,
# $w_t = w_{t-1} - v_t$ damps the zig-zag and accelerates along the floor; Adam divides each coordinate's
# step by $\sqrt{\hat v_t}$, so steep and flat directions move at the same pace.

# %%
import matplotlib.pyplot as plt
import numpy

import tinygrad_med as tm

CURVATURE = numpy.array([0.5, 50.0])  # flat along w_0, steep across w_1
ANGLE = 0.5  # the ravine is rotated, so no optimizer gets the axes for free
ROTATION = numpy.array([[numpy.cos(ANGLE), -numpy.sin(ANGLE)], [numpy.sin(ANGLE), numpy.cos(ANGLE)]])
HESSIAN = ROTATION @ numpy.diag(CURVATURE) @ ROTATION.T
START = numpy.array([-4.0, 2.5])


def loss_value(w):
    return 0.5 * w @ HESSIAN @ w


def run(make_optimizer, steps=100):
    """The trajectory of w under one optimizer of tinygrad_med.optim, from START."""
    w = tm.tensor(START.copy(), requires_grad=True)
    H = tm.tensor(HESSIAN)
    optimizer = make_optimizer([w])
    path = [w.numpy().copy()]
    for _ in range(steps):
        optimizer.zero_grad()
        loss = 0.5 * (w * (H @ w)).sum()  # L = w^T H w / 2
        loss.backward()
        optimizer.step()
        path.append(w.numpy().copy())
    return numpy.array(path)


# %% [markdown]
# The largest stable step of plain gradient descent is $\eta < 2 / \lambda_{max} = 0.04$; it takes 0.035,
# which moves along the floor by only $\eta \lambda_{min} = 1.75\%$ of the distance per step. Momentum
# (PyTorch's form $v \leftarrow \beta v + g$, $w \leftarrow w - \eta v$, the slide's up to the scale of
# $v$) takes $\eta = 0.01$, $\beta = 0.9$; Adam's $\eta$ is a distance per step (its steps are
# normalised), 0.2 here.

# %%
runs = {
    "SGD": run(lambda p: tm.optim.SGD(p, lr=0.035)),
    "SGD + momentum 0.9": run(lambda p: tm.optim.SGD(p, lr=0.01, momentum=0.9)),
    "Adam": run(lambda p: tm.optim.Adam(p, lr=0.2, betas=(0.9, 0.99))),
}
for name, path in runs.items():
    print(f"{name:20s} loss after 10, 40, 100 steps: " + ", ".join(f"{loss_value(path[k]):.3g}" for k in (10, 40, 100)))

# %%
grid = numpy.linspace(-5, 5, 200)
W0, W1 = numpy.meshgrid(grid, grid)
points = numpy.stack([W0.ravel(), W1.ravel()], axis=1)
Z = 0.5 * numpy.einsum("ni,ij,nj->n", points, HESSIAN, points).reshape(W0.shape)

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
axes[0].contour(W0, W1, Z, levels=numpy.geomspace(0.05, 300, 18), cmap="Greys", linewidths=0.7)
for (name, path), color in zip(runs.items(), ["tab:gray", "tab:blue", "tab:red"], strict=True):
    axes[0].plot(path[:, 0], path[:, 1], ".-", color=color, ms=3, lw=1, label=name)
    axes[1].semilogy([loss_value(w) for w in path], color=color, label=name)
axes[0].plot(0, 0, "k*", ms=10)
axes[0].set_title("trajectories on the ravine")
axes[0].set_aspect("equal")
axes[0].legend(fontsize=8)
axes[1].set_xlabel("step")
axes[1].set_ylabel("loss")
axes[1].set_title("loss")
axes[1].legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# Plain SGD settles quickly across the ravine but then crawls along its floor; momentum overshoots
# at first (its velocity carries it up the far wall) but its average builds speed along the floor and
# it ends closest to the minimum; Adam's first steps are the same length in every coordinate (the
# bias-corrected $\hat m_t / \sqrt{\hat v_t} \approx \pm 1$), so it heads diagonally at first and then
# follows the floor. Near the minimum Adam's normalised steps make it oscillate at a scale set by
# $\eta$: that is why its learning rate is usually decayed.
