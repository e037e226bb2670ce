"""Training pictures as PNG files (matplotlib, Agg backend, no display needed).

curves.png       training loss and held-out metric per epoch
predictions.png  image / ground truth / prediction overlays on held-out samples (middle slice in 3D),
                 or a grid of test images titled "predicted (true)" for classification,
                 or inputs over their reconstructions (autoencoder, VAE)
interpolation.png, samples.png   rows of generated images (autoencoder, VAE); several sampled
                 segmentations of one image (Probabilistic U-Net)
predictions.png  (detection) held-out images with the true boxes under the detections and their mask outlines
"""

import numpy

__all__ = [
    "plot_curves",
    "plot_segmentation",
    "plot_classification",
    "plot_image_rows",
    "plot_sampled_segmentations",
    "plot_detections",
]


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history, path, metric_name):
    """Loss (left axis) and held-out metric (right axis) against epoch."""
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    fig, loss_axis = plt.subplots(figsize=(6, 4))
    loss_axis.plot(epochs, [h["train_loss"] for h in history], "o-", color="tab:blue", label="training loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("training loss", color="tab:blue")
    metric_axis = loss_axis.twinx()
    metric_axis.plot(
        epochs, [h["test_" + metric_name] for h in history], "s-", color="tab:red", label="held-out " + metric_name
    )
    metric_axis.set_ylabel("held-out " + metric_name, color="tab:red")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def middle_slice(array):
    """(C, H, W) -> (H, W) first channel; (C, D, H, W) -> the middle D slice."""
    array = array[0] if array.ndim >= 3 else array
    return array[array.shape[0] // 2] if array.ndim == 3 else array


def plot_segmentation(images, targets, predictions, path, num_classes):
    """Rows of image | ground truth overlay | prediction overlay, for up to 4 samples (3D: middle D slice)."""
    plt = pyplot()
    rows = min(4, len(images))
    tall = middle_slice(images[0]).shape[0] > 2 * middle_slice(images[0]).shape[1]  # e.g. the 512 x 128 strip
    shape, size = ((3 * rows, 1), (12, 10 * rows)) if tall else ((rows, 3), (9, 3 * rows))
    fig, axes = plt.subplots(*shape, figsize=size, squeeze=False)
    axes = axes.reshape(rows, 3)
    for row in range(rows):
        image = middle_slice(images[row])
        truth, pred = middle_slice(targets[row][None]), middle_slice(predictions[row][None])
        if tall or images[row].ndim == 4:  # a strip on its side; an MNI (y, z) slice with superior (z) up
            image, truth, pred = numpy.rot90(image), numpy.rot90(truth), numpy.rot90(pred)
        for col, (title, labels) in enumerate([("image", None), ("ground truth", truth), ("prediction", pred)]):
            axis = axes[row][col]
            axis.imshow(image, cmap="gray")
            if labels is not None:
                overlay = numpy.ma.masked_where(labels == 0, labels)
                axis.imshow(overlay, cmap="autumn", alpha=0.45, vmin=1, vmax=max(num_classes - 1, 1))
            axis.set_title(title)
            axis.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_classification(images, targets, predictions, path):
    """A grid of up to 16 test images titled 'predicted (true)'."""
    plt = pyplot()
    count = min(16, len(images))
    fig, axes = plt.subplots(4, 4, figsize=(6, 6))
    for index, axis in enumerate(axes.ravel()):
        axis.axis("off")
        if index < count:
            axis.imshow(middle_slice(images[index]), cmap="gray")
            axis.set_title(
                f"{predictions[index]} ({targets[index]})",
                fontsize=9,
                color="black" if predictions[index] == targets[index] else "red",
            )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_image_rows(rows, path):
    """Rows of images in [0, 1] (C, H, W) or (H, W), each row titled: [(title, [image, ...]), ...]."""
    plt = pyplot()
    columns = max(len(images) for _, images in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(1.2 * columns, 1.35 * len(rows)), squeeze=False)
    for row, (title, images) in enumerate(rows):
        for col, axis in enumerate(axes[row]):
            axis.axis("off")
            if col < len(images):
                axis.imshow(middle_slice(numpy.asarray(images[col])), cmap="gray", vmin=0.0, vmax=1.0)
        axes[row][0].set_title(title, fontsize=9, loc="left")  # may run on over the row: the axes are off
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def plot_sampled_segmentations(image, truth, mean, samples, path, num_classes, count=6, window=128):
    """One image's ground truth, mean prediction and ``count`` sampled segmentations as overlays, three a row.

    image (C, *S), truth and mean (*S), samples (M, *S) labels; 3D: the middle D slice; a long strip
    is cut to its first ``window`` rows so that the panels stay readable. In a sample's panel the
    pixels whose label differs from the mean prediction are drawn in cyan.
    """
    plt = pyplot()
    mean = middle_slice(numpy.asarray(mean)[None])[:window]
    panels = [("image", None, None), ("ground truth", truth, None), ("mean prediction", mean, None)]
    for m, labels in enumerate(samples[:count]):
        labels = middle_slice(numpy.asarray(labels)[None])[:window]
        changed = labels != mean
        panels.append((f"sample {m + 1}: {int(changed.sum())} px differ from the mean", labels, changed))
    shown, rows = middle_slice(image)[:window], -(-len(panels) // 3)
    fig, axes = plt.subplots(rows, 3, figsize=(9, 3.1 * rows), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for axis, (title, labels, changed) in zip(axes.ravel(), panels, strict=False):
        axis.imshow(shown, cmap="gray")
        if labels is not None:
            labels = middle_slice(numpy.asarray(labels)[None])[:window]
            overlay = numpy.ma.masked_where(labels == 0, labels)
            axis.imshow(overlay, cmap="autumn", alpha=0.45, vmin=1, vmax=max(num_classes - 1, 1))
        if changed is not None:
            axis.imshow(
                numpy.ma.masked_where(~changed, numpy.zeros(changed.shape)), cmap="cool", vmin=0, vmax=1
            )  # cyan
        axis.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_detections(images, targets, detections, path, class_names, count=4):
    """Up to ``count`` images: true boxes (green, dashed) under the detections (red boxes with class and
    score, yellow mask outlines at probability 0.5). A tall strip (H > 2 W) is drawn transposed."""
    plt = pyplot()
    count = min(count, len(images))
    tall = images[0].shape[-2] > 2 * images[0].shape[-1]
    fig, axes = plt.subplots(1, count, figsize=(12, 3.6) if tall else (3.2 * count, 3.4), squeeze=False)
    for axis, image, target, found in zip(axes[0], images, targets, detections, strict=False):
        flip = (lambda a: a.T) if tall else (lambda a: a)
        swap = [1, 0, 3, 2] if tall else [0, 1, 2, 3]  # (x0, y0, x1, y1) of the transposed image
        axis.imshow(flip(image[0]), cmap="gray")
        for x0, y0, x1, y1 in numpy.asarray(target["boxes"]).reshape(-1, 4)[:, swap]:
            axis.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="lime", ls="--", lw=1))
        for k, (x0, y0, x1, y1) in enumerate(found["boxes"][:, swap]):
            axis.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="red", lw=1))
            name = class_names[int(found["labels"][k])] if len(class_names) > 2 else ""
            axis.text(x0, y0, f"{name} {found['scores'][k]:.2f}".strip(), color="red", fontsize=6, va="bottom")
        for mask in found.get("masks", []):
            axis.contour(flip(mask), levels=[0.5], colors="yellow", linewidths=0.6)
        axis.set_title(f"{len(target['boxes'])} true (green), {len(found['boxes'])} found (red)", fontsize=8)
        axis.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
