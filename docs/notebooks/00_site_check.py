# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Site check: a formula and a tensor
#
# A two-cell notebook that keeps the site's notebook pages honest: its formula must render,
# $y = \max(0, x)$, and so must a display one,
#
# $$\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} \, [x > 0].$$

# %%
import tinygrad_med as tm

x = tm.tensor([-1.0, 0.5, 2.0], requires_grad=True)
tm.nn.functional.relu(x).sum().backward()
print(x.grad.numpy())  # [0. 1. 1.]
