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
# # The U-Net on nuclei in thirty lines
#
# Lecture: "Semantic segmentation" ("U-Net [Ronneberger et al., 2015]: one of the most popular networks
# for medical image segmentation"; segmentation "can be seen as a dense and structured classification
# problem"). The data: one real fluorescence image with 125 annotated nuclei (BBBC038, from the
# installed `stardist` wheel; tinygrad_med.data.nuclei). Training tiles come from the left 384 columns;
# the right 128 columns are held out.
#
# The whole program is the next cell: data, model, loss, optimizer, loop, evaluation. It is kept small
# (base width 8, 64 x 64 tiles, 30 steps of 6 tiles) so that it runs in well under a minute on two CPU cores;
# `tgm train unet --data nuclei` runs the full recipe.

# %%
import matplotlib.pyplot as plt
import numpy

import tinygrad_med as tm
import tinygrad_med.nn.functional as F
from tinygrad_med.data.nuclei import NucleiDataset
from tinygrad_med.models.unet import UNet
from tinygrad_med.training.metrics import dice_per_class

tm.manual_seed(0)
train = NucleiDataset("train", tile=64, samples_per_epoch=6 * 30)
test_image, test_mask = NucleiDataset("test")[0]  # (1, 512, 128), (512, 128)
model = UNet(in_channels=1, num_classes=2, base_width=8, depth=2)
optimizer = tm.optim.Adam(model.parameters(), lr=3e-3)
class_weight = tm.tensor(numpy.array([1.0, 3.0], numpy.float32))  # nuclei are ~15% of the pixels
losses = []
for step in range(30):
    items = [train[6 * step + k] for k in range(6)]  # a batch of 6 random augmented tiles
    x = tm.tensor(numpy.stack([image for image, _ in items]))  # (6, 1, 64, 64)
    y = tm.tensor(numpy.stack([mask for _, mask in items]))  # (6, 64, 64), 1 = nucleus
    loss = F.cross_entropy(model(x), y, weight=class_weight)  # a classification per pixel
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(float(loss.item()))
model.eval()
with tm.no_grad():
    prediction = model(tm.tensor(test_image[None])).numpy()[0].argmax(axis=0)  # (512, 128)
print(f"held-out Dice of the nucleus class: {dice_per_class(prediction, test_mask, 2)[1]:.3f}")

# %% [markdown]
# The loss falls, and the held-out strip shows what 30 steps learned: the nuclei are found, their
# outlines are rough. (The README's `tgm train unet --data nuclei` recipe trains longer on larger tiles.)

# %%
fig, axes = plt.subplots(1, 4, figsize=(11, 4), gridspec_kw={"width_ratios": [1.6, 1, 1, 1]})
axes[0].plot(losses)
axes[0].set_xlabel("step")
axes[0].set_title("weighted cross-entropy")
for ax, image, title in zip(
    axes[1:], [test_image[0], test_mask, prediction], ["held-out image", "annotation", "U-Net"], strict=True
):
    ax.imshow(image, cmap="gray" if title == "held-out image" else "viridis")
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
