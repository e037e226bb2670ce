"""What a ``tgm train`` run optimises and measures: one objective per kind of model.

Lecture: "CNN REFRESHER" (classification, cross-entropy), "SEMANTIC SEGMENTATION" (Dice +
cross-entropy, Dice/IoU) and "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED" (the autoencoder's
reconstruction error, the VAE's negative ELBO, the Probabilistic U-Net's sampled segmentations:
objectives/generative.py) and "OBJECT DETECTION" (Faster R-CNN, Mask R-CNN:
objectives/detection.py) and "Recurrent neural networks" (the captioner's token
cross-entropy, exact match of its greedy captions: objectives/captioning.py).

The loop in tinygrad_med/training/loop.py is the same for every model; it asks the run's objective for

    loss(model, x, y)                 -> (loss Tensor, what the epoch's running sums need)
    fresh_partial / accumulate / partial_metrics   the training metrics shown in the bar and the log
    evaluate(model, loader)           -> held-out metrics, and the images/targets/predictions kept
    draw(model, result, out)          -> predictions.png (and samples.png, interpolation.png)
    predict(model, x)                 -> what ``tgm predict`` writes (label maps or images)

A model registered for ``tgm train`` declares its objective in MODEL_OBJECTIVES; the supervised
models are not listed there and take the dataset's task ('classification' or 'segmentation').
Each objective names the dataset tasks it can train on, so a VAE asked to train on a segmentation
dataset is refused before anything is written.
"""

import functools

import numpy

from ...distributed.global_sum import all_reduce_sum
from ...ops.dice import dice_ce_loss
from ...ops.loss import binary_cross_entropy_with_logits, cross_entropy
from .. import metrics as metrics_module

__all__ = [
    "MODEL_OBJECTIVES",
    "Classification",
    "MultiLabelClassification",
    "Segmentation",
    "to_numpy",
    "plots",
    "picture_path",
]

MODEL_OBJECTIVES = {
    "autoencoder": "reconstruction",
    "vae": "variational reconstruction",
    "vae2d": "variational reconstruction",
    "prob_unet": "probabilistic segmentation",
    "fasterrcnn": "detection",
    "maskrcnn": "instance segmentation",
    "captioner": "captioning",
    "spectral_gcn": "vertex parcellation",
    "geometric_gcn": "vertex parcellation",
    "vertex_mlp": "vertex parcellation",
    "graph_classifier": "graph classification",
}


class Classification:
    """Cross-entropy on class scores (N, K); accuracy. The dataset's labels are classes (N,).

    Every objective has this class's attributes and methods (the generative ones in
    objectives/generative.py; the loop calls nothing else):
    Attributes:
        name: the objective's name (MODEL_OBJECTIVES' values, or a dataset's task).
        metric_name: the held-out metric drawn in curves.png.
        dataset_tasks, dataset_about, hint: the dataset tasks it trains on, in words, and what to pass.
        eval_batch: held-out batch size (1 for segmentation: whole images of any size).
        pictures: the PNG files ``draw`` writes into the run folder.
        prediction: what ``predict`` returns: 'labels' (a mask) or 'image' (a reconstruction).
    """

    name, metric_name, dataset_tasks, eval_batch = "classification", "accuracy", ("classification",), 256
    dataset_about, hint = "classification datasets (digits, medmnist)", "pass --data digits"
    pictures, prediction = ("predictions.png",), "labels"

    comm = None  # data parallel (training/parallel.py sets it): batch-level loss terms over every rank's shard

    def __init__(self, dataset, device="cpu"):
        self.num_classes, self.device = dataset.num_classes, device
        self.class_names = getattr(dataset, "class_names", [str(k) for k in range(self.num_classes)])

    def global_sum(self, model):
        """Under data-parallel training, the differentiable sum of a batch sum over every rank's shard
        (distributed.all_reduce_sum); else None. Held-out batches (model.eval()) run on rank 0 alone."""
        if self.comm is None or not model.training:
            return None
        return functools.partial(all_reduce_sum, comm=self.comm)

    def global_mean(self, loss, count, model):
        """``loss``, a mean over this shard's ``count`` terms (targets not ignored), as its share of the mean
        over every rank's terms: loss W count / N, N the ranks' counts summed (a constant). DDP's mean over
        the W ranks is then SUM / N of the global batch, not the mean of W shard means; ``loss`` itself
        outside data-parallel training. A shard with no term gives NaN, as its mean does."""
        if self.comm is None or not model.training:
            return loss
        total = self.comm.allreduce(numpy.array([count], numpy.float64), "the loss's term count")
        return loss * (self.comm.size * count / float(total[0]))

    def model_options(self, dataset):
        """Keyword arguments for create_model beyond (in_channels, num_classes)."""
        return {}

    def loss(self, model, x, y):
        """The training loss of one batch, and the predicted labels (for the running accuracy)."""
        out = model(x)
        return cross_entropy(out, y), out.data.argmax(axis=1)

    def fresh_partial(self):
        """The running sums of one epoch (saved in mid-epoch checkpoints: keys and order are fixed)."""
        return {
            "loss_sum": 0.0,
            "count": 0,
            "hits": 0,
            "total": 0,
            "intersection": 0,
            "sizes": 0,
            "seconds": 0.0,
            "wait": 0.0,
        }

    def accumulate(self, partial, loss, pred, target):
        partial["loss_sum"] += float(loss)
        partial["count"] += 1
        pred = numpy.asarray(to_numpy(pred))
        partial["hits"] += int((pred == target).sum())
        partial["total"] += int(target.size)

    def partial_metrics(self, partial):
        """The training metrics so far this epoch, as {name: value} (logged as train_NAME)."""
        return {"accuracy": partial["hits"] / max(partial["total"], 1)}

    def evaluate(self, model, loader):
        """Held-out metrics over the whole split (model in eval mode, no graph), and the labels per sample."""
        counts = metrics_module.SegmentationCounts(self.num_classes)
        images, targets, predictions = [], [], []
        for x, y in loader:
            pred = self.predict(model, x.to(self.device))
            counts.update(pred, y.numpy())
            images.extend(x.numpy())
            targets.extend(y.numpy())
            predictions.extend(pred)
        return {"metrics": self.metrics(counts), "images": images, "targets": targets, "predictions": predictions}

    def metrics(self, counts):
        return {"accuracy": float(counts.intersection.sum() / max(counts.target_size.sum(), 1))}

    def predict(self, model, x):
        """Predicted labels (N, ...) as a numpy array."""
        return numpy.asarray(to_numpy(model(x).data.argmax(axis=1)))

    def pad_multiple(self, model):
        """``tgm predict`` pads an image's sizes up to a multiple of this."""
        return 1

    def draw(self, model, result, out):
        """predictions.png: a grid of test images titled 'predicted (true)'."""
        plots().plot_classification(
            result["images"], result["targets"], result["predictions"], picture_path(out, self, 0)
        )


class MultiLabelClassification(Classification):
    """Binary cross-entropy per label on scores (N, K): each of the K findings is present or not (ChestMNIST's
    14 labels); held-out label accuracy (the share of the N x K decisions that are right) and exact match.

    Lecture: "CNN REFRESHER" (the classifier's K outputs, each through a sigmoid instead of one softmax).
    Forward:  loss = mean over n, k of BCE(sigmoid(s[n, k]), y[n, k]); predicted y[n, k] = s[n, k] > 0
    """

    name, metric_name, dataset_tasks = "multi-label classification", "label_accuracy", ("multi-label classification",)
    dataset_about, hint = "multi-label datasets (medmnist files with (N, K) 0/1 labels)", "pass a single-label --data"

    def loss(self, model, x, y):
        """The mean BCE of every (sample, label) pair, and the 0/1 decisions (for the running label accuracy)."""
        out = model(x)
        return binary_cross_entropy_with_logits(out, y), out.data > 0

    def partial_metrics(self, partial):
        return {"label_accuracy": partial["hits"] / max(partial["total"], 1)}

    def predict(self, model, x):
        """0/1 decisions (N, K) as int64: label k is predicted present where its score is above 0."""
        return (numpy.asarray(to_numpy(model(x).data)) > 0).astype(numpy.int64)

    def evaluate(self, model, loader):
        """Held-out label accuracy and exact match (every label of a sample right)."""
        hits = exact = total = 0
        images, targets, predictions = [], [], []
        for x, y in loader:
            pred, truth = self.predict(model, x.to(self.device)), y.numpy()
            hits, total = hits + int((pred == truth).sum()), total + truth.size
            exact += int((pred == truth).all(axis=1).sum())
            images.extend(x.numpy())
            targets.extend(truth.astype(numpy.int64))
            predictions.extend(pred)
        values = {"label_accuracy": hits / max(total, 1), "exact_match": exact / max(len(targets), 1)}
        return {"metrics": values, "images": images, "targets": targets, "predictions": predictions}

    def draw(self, model, result, out):
        """predictions.png: test images titled with the predicted labels (the true ones in brackets)."""

        def names(row):
            return ",".join(str(k) for k in numpy.flatnonzero(row)) or "-"

        targets, predictions = [names(t) for t in result["targets"]], [names(p) for p in result["predictions"]]
        plots().plot_classification(result["images"], targets, predictions, picture_path(out, self, 0))


class Segmentation(Classification):
    """Dice + cross-entropy on per-pixel scores (N, K, *S); Dice and IoU of the foreground classes."""

    name, metric_name, dataset_tasks, eval_batch = "segmentation", "dice", ("segmentation",), 1
    dataset_about = "segmentation datasets (nuclei, phantoms, phantoms3d, mni152)"
    hint = "pass --data nuclei"

    def loss(self, model, x, y):
        out = model(x)
        loss = dice_ce_loss(out, y, include_background=False, global_sum=self.global_sum(model))
        return loss, out.data.argmax(axis=1)

    def accumulate(self, partial, loss, pred, target):
        partial["loss_sum"] += float(loss)
        partial["count"] += 1
        counts = metrics_module.SegmentationCounts(self.num_classes).update(numpy.asarray(to_numpy(pred)), target)
        partial["intersection"] += int(counts.intersection[1:].sum())
        partial["sizes"] += int(counts.pred_size[1:].sum() + counts.target_size[1:].sum())

    def partial_metrics(self, partial):
        return {"dice": 2.0 * partial["intersection"] / max(partial["sizes"], 1)}

    def metrics(self, counts):
        dice, iou = counts.dice(), counts.iou()
        values = {"dice": float(numpy.nanmean(dice[1:])), "iou": float(numpy.nanmean(iou[1:]))}
        names = self.class_names
        values.update({"dice_" + names[k].replace(" ", "_"): float(dice[k]) for k in range(1, self.num_classes)})
        return values

    def pad_multiple(self, model):
        return 2**model.depth

    def draw(self, model, result, out):
        """predictions.png: image | ground truth | prediction overlays (3D: the middle slice)."""
        plots().plot_segmentation(
            result["images"], result["targets"], result["predictions"], picture_path(out, self, 0), self.num_classes
        )


def to_numpy(array):
    """``array`` (NumPy or CuPy) as a NumPy array."""
    from ...backend import to_numpy as convert

    return convert(array)


def plots():
    """The plots module, imported when a picture is first drawn."""
    from .. import plots as module

    return module


def picture_path(out, objective, index):
    """The run folder's path of the objective's ``index``-th picture."""
    import os

    return os.path.join(out, objective.pictures[index])
