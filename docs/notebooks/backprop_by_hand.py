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
# # Backpropagation by hand, then by `Tensor.backward`
#
# Lecture: "Convolutional neural networks - Multi-layer perception (MLP)" (the CNN refresher).
# A two-layer perceptron $y = W_2\,\mathrm{relu}(W_1 x + b_1) + b_2$ with a softmax cross-entropy
# loss. We write the forward pass in NumPy, derive every gradient with the chain rule, and check
# that `Tensor.backward` finds the same numbers.

# %%
import matplotlib.pyplot as plt
import numpy

import tinygrad_med as tm
import tinygrad_med.nn.functional as F

rng = numpy.random.default_rng(0)
N, D_in, H, C = 8, 4, 5, 3  # batch, inputs, hidden units, classes
x = rng.standard_normal((N, D_in))
labels = rng.integers(0, C, size=N)
W1, b1 = rng.standard_normal((H, D_in)) * 0.5, numpy.zeros(H)
W2, b2 = rng.standard_normal((C, H)) * 0.5, numpy.zeros(C)

# %% [markdown]
# ## Forward, keeping what the backward needs
#
# $a = x W_1^T + b_1$, $h = \max(0, a)$, $s = h W_2^T + b_2$,
# $p = \mathrm{softmax}(s)$, $L = -\frac{1}{N}\sum_n \log p_{n, t_n}$.


# %%
def forward(x, W1, b1, W2, b2):
    a = x @ W1.T + b1  # (N, H)
    h = numpy.maximum(a, 0)
    s = h @ W2.T + b2  # (N, C) scores
    s_shift = s - s.max(axis=1, keepdims=True)  # the stable softmax
    p = numpy.exp(s_shift) / numpy.exp(s_shift).sum(axis=1, keepdims=True)
    loss = -numpy.log(p[numpy.arange(len(x)), labels]).mean()
    return loss, (a, h, p)


loss, (a, h, p) = forward(x, W1, b1, W2, b2)
print(f"loss = {loss:.6f}")

# %% [markdown]
# ## Backward: the chain rule, one line per layer
#
# $\partial L / \partial s = (p - \mathrm{onehot}(t)) / N$; then each linear layer gives
# $g_W = g_y^T x$, $g_b = \sum_n g_y$, $g_x = g_y W$, and the ReLU passes the gradient where $a > 0$.

# %%
gs = p.copy()
gs[numpy.arange(N), labels] -= 1
gs /= N  # dL/ds, (N, C)
gW2, gb2 = gs.T @ h, gs.sum(axis=0)
gh = gs @ W2  # (N, H)
ga = gh * (a > 0)  # the ReLU's gate
gW1, gb1 = ga.T @ x, ga.sum(axis=0)

# %% [markdown]
# ## The same with `Tensor.backward`

# %%
params = {name: tm.tensor(value, requires_grad=True) for name, value in dict(W1=W1, b1=b1, W2=W2, b2=b2).items()}
scores = F.linear(F.relu(F.linear(tm.tensor(x), params["W1"], params["b1"])), params["W2"], params["b2"])
tm_loss = F.cross_entropy(scores, tm.tensor(labels))
tm_loss.backward()
by_hand = dict(W1=gW1, b1=gb1, W2=gW2, b2=gb2)
for name, t in params.items():
    print(f"{name}: max |by hand - backward| = {numpy.abs(by_hand[name] - t.grad.numpy()).max():.2e}")
print(f"loss: by hand {loss:.12f}, tinygrad_med {float(tm_loss.item()):.12f}")
assert all(numpy.allclose(by_hand[name], t.grad.numpy(), atol=1e-12) for name, t in params.items())

# %% [markdown]
# ## Descending the hand-made gradient
#
# Fifty steps of plain gradient descent with the gradients above; the loss falls as it should.

# %%
losses, lr = [], 0.5
for _ in range(50):
    loss, (a, h, p) = forward(x, W1, b1, W2, b2)
    losses.append(loss)
    gs = p.copy()
    gs[numpy.arange(N), labels] -= 1
    gs /= N
    gh = (gs @ W2) * (a > 0)
    W2, b2 = W2 - lr * gs.T @ h, b2 - lr * gs.sum(axis=0)
    W1, b1 = W1 - lr * gh.T @ x, b1 - lr * gh.sum(axis=0)
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(losses)
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy")
ax.set_title("gradient descent with the gradients derived by hand")
fig.tight_layout()
