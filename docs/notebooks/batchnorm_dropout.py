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
# # Batch normalization and dropout, in training and in evaluation
#
# Lecture: "Batch normalization" (Ioffe and Szegedy's Algorithm 1 on the slide) and "Dropout
# regularization". Both layers behave differently in `model.train()` and `model.eval()`: that switch is
# the most common bug with them, so we look at both modes.

# %%
import matplotlib.pyplot as plt
import numpy

import tinygrad_med as tm
import tinygrad_med.nn as nn

rng = numpy.random.default_rng(0)

# %% [markdown]
# ## Batch norm: the slide's four lines
#
# $\mu_B = \frac1m \sum_i x_i$, $\sigma_B^2 = \frac1m \sum_i (x_i - \mu_B)^2$,
# $\hat x_i = (x_i - \mu_B) / \sqrt{\sigma_B^2 + \epsilon}$, $y_i = \gamma \hat x_i + \beta$, per channel,
# over the batch and the pixels ($m = N H W$).

# %%
x = rng.normal(loc=3.0, scale=2.5, size=(16, 4, 8, 8)).astype(numpy.float32)  # shifted and wide
bn = nn.BatchNorm2d(4)
bn.train()
y = bn(tm.tensor(x)).numpy()

mu = x.mean(axis=(0, 2, 3), keepdims=True)
var = x.var(axis=(0, 2, 3), keepdims=True)  # biased, as on the slide
by_hand = (x - mu) / numpy.sqrt(var + bn.eps)  # gamma = 1, beta = 0 at the start
print(f"max |layer - slide's formula| = {numpy.abs(y - by_hand).max():.2e}")
print("per-channel mean after BN:", numpy.round(y.mean(axis=(0, 2, 3)), 6))
print("per-channel std  after BN:", numpy.round(y.std(axis=(0, 2, 3)), 4))

fig, axes = plt.subplots(1, 2, figsize=(7, 2.8), sharey=True)
axes[0].hist(x[:, 0].ravel(), bins=40, color="tab:gray")
axes[0].set_title("channel 0 before BN")
axes[1].hist(y[:, 0].ravel(), bins=40, color="tab:blue")
axes[1].set_title("after BN (train mode)")
fig.tight_layout()

# %% [markdown]
# ## Running statistics, and why evaluation differs
#
# In training the layer also keeps exponential averages of $\mu_B$ and the *unbiased* $\sigma_B^2$
# (momentum 0.1, as PyTorch). `eval()` normalises with those instead of the batch's, so a single image
# gives the same answer whatever else is in its batch.

# %%
bn = nn.BatchNorm2d(4)
bn.train()
means = []
for _ in range(60):
    batch = rng.normal(loc=3.0, scale=2.5, size=(16, 4, 8, 8)).astype(numpy.float32)
    bn(tm.tensor(batch))
    means.append(bn.running_mean.numpy()[0])
bn.eval()
one_image = rng.normal(loc=3.0, scale=2.5, size=(1, 4, 8, 8)).astype(numpy.float32)
alone = bn(tm.tensor(one_image)).numpy()
with_others = bn(tm.tensor(numpy.concatenate([one_image, 10 + batch]))).numpy()[:1]
print("eval: same output alone and inside another batch:", numpy.allclose(alone, with_others))

fig, ax = plt.subplots(figsize=(5, 2.8))
ax.plot(means, label="running mean, channel 0")
ax.axhline(3.0, color="k", ls="--", label="true mean")
ax.set_xlabel("training step")
ax.legend()
fig.tight_layout()

# %% [markdown]
# ## Dropout: drop with probability p, scale the rest by 1 / (1 - p)
#
# "During training drop neurons randomly with probability p" (the slide). tinygrad_med uses *inverted*
# dropout: the kept units are scaled by $1/(1-p)$ during training so that evaluation is the identity and
# the expected activation is the same in both modes. The mask comes from a seed (`tm.manual_seed`), so a
# run repeats exactly, and the backward regenerates the same mask instead of storing it.

# %%
drop = nn.Dropout(p=0.5)
x = tm.tensor(numpy.ones((1, 20), numpy.float32))
drop.train()
tm.manual_seed(7)
first = drop(x).numpy()
tm.manual_seed(7)
again = drop(x).numpy()
print("train:", first[0])
print("same seed, same mask:", numpy.array_equal(first, again))
drop.eval()
print("eval: ", drop(x).numpy()[0])

# %%
x = tm.tensor(numpy.ones((200, 500), numpy.float32), requires_grad=True)
drop.train()
tm.manual_seed(0)
y = drop(x)
y.sum().backward()
kept = (y.numpy() != 0).mean()
print(f"kept fraction {kept:.3f} (1 - p = 0.5); mean output {y.numpy().mean():.3f} (input mean 1)")
print("gradient is the same mask times 1/(1-p):", numpy.array_equal(x.grad.numpy(), y.numpy()))

fig, ax = plt.subplots(figsize=(5, 2.8))
ps = [0.1, 0.3, 0.5, 0.7, 0.9]
kept_fraction, mean_out = [], []
for p in ps:
    tm.manual_seed(1)
    out = nn.Dropout(p)(tm.tensor(numpy.ones((100, 400), numpy.float32))).numpy()
    kept_fraction.append((out != 0).mean())
    mean_out.append(out.mean())
ax.plot(ps, kept_fraction, "o-", label="fraction kept")
ax.plot(ps, mean_out, "s-", label="mean output (input 1)")
ax.set_xlabel("p")
ax.legend()
ax.set_title("inverted dropout keeps the expected activation")
fig.tight_layout()
