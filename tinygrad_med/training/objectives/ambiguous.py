"""Objectives for datasets with several raters' masks per image (data/ambiguous.py): the Probabilistic
U-Net and, beside it, any deterministic segmentation model.

Lecture: "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED - Probabilistic U-Net [Kohl et al., 2018]"
("use VAE to generate multiple segmentation hypotheses").
Reference: Kohl et al., arXiv:1806.05034, section 4 (the generalised energy distance, eq. 5).

    training     each step, each sample's target is one rater's mask drawn at random (the run's generator,
                 saved in checkpoints): over many steps the model sees the raters' distribution, which a
                 Probabilistic U-Net can learn and a deterministic U-Net can only average
    held out     against the set of R masks Y_1 .. Y_R of each image, from M hypotheses S_1 .. S_M
                 (M = 16 draws from the prior net; M = 1, the one output, for a deterministic model):
                 ged              D^2_GED = 2 E d(S, Y) - E d(S, S') - E d(Y, Y'),  d = 1 - IoU
                 sample_diversity E d(S, S') over pairs m != m' (0 for one hypothesis)
                 rater_diversity  E d(Y, Y') over pairs r != r' (what sample_diversity should match)
                 dice, iou        of the (mean) prediction against every rater's mask
"""

import numpy

from ... import random
from ...factory import tensor
from ..metrics import SegmentationCounts
from .base import Segmentation, picture_path, plots, to_numpy
from .generative import ProbabilisticSegmentation, generalized_energy_distance, pairwise_distances

__all__ = [
    "AmbiguousSegmentation",
    "AmbiguousProbabilisticSegmentation",
    "ON_AMBIGUOUS",
    "pairwise_distances",
    "generalized_energy_distance",
]

TASK = "ambiguous segmentation"


def one_rater(y):
    """Each sample's mask from one rater drawn at random: (N, R, *S) -> (N, *S) on y's device."""
    masks = to_numpy(y.data)
    pick = random.generator("cpu").integers(0, masks.shape[1], masks.shape[0])
    return tensor(masks[numpy.arange(masks.shape[0]), pick], device=y.device)


class AmbiguousSegmentation(Segmentation):
    """A deterministic model (unet, fcn, ...) trained on one random rater's mask per sample and step;
    held out, its single output is the only hypothesis of the generalised energy distance."""

    name, metric_name, dataset_tasks, eval_batch = TASK, "ged", (TASK,), 64
    blas_threads = 1  # 32 x 32 images: more BLAS threads only spin on 2 shared cores (Trainer.fit)
    dataset_about = "datasets with several raters' masks per image (lesions-ambiguous)"
    hint = "pass --data lesions-ambiguous"

    def loss(self, model, x, y):
        target = one_rater(y)
        loss, pred = super().loss(model, x, target)
        return loss, (pred, target.numpy())

    def accumulate(self, partial, loss, extra, target):
        super().accumulate(partial, loss, extra[0], extra[1])  # the running Dice against the rater drawn

    def hypotheses(self, model, x, rng):
        """(M, N, *S) label maps and the (mean) prediction (N, *S); here M = 1, the model's output."""
        pred = self.predict(model, x)
        return pred[None], pred

    def evaluate(self, model, loader):
        """ged, sample_diversity, rater_diversity; Dice/IoU of the (mean) prediction against every rater."""
        counts, rng = SegmentationCounts(self.num_classes), numpy.random.default_rng(0)
        images, targets, predictions, distances, samples = [], [], [], [], []
        for x, y in loader:
            hypotheses, pred = self.hypotheses(model, x.to(self.device), rng)
            masks = y.numpy()  # (N, R, *S)
            for n in range(masks.shape[0]):
                counts.update(numpy.repeat(pred[n][None], masks.shape[1], axis=0), masks[n])
                distances.append(generalized_energy_distance(hypotheses[:, n], masks[n], self.num_classes))
            images.extend(x.numpy())
            targets.extend(masks)
            predictions.extend(pred)
            samples.extend(numpy.moveaxis(hypotheses, 0, 1))  # (N, M, *S)
        values = self.metrics(counts)
        for k, name in enumerate(("ged", "sample_diversity", "rater_diversity")):
            values[name] = float(numpy.mean([d[k] for d in distances]))
        return {"metrics": values, "images": images, "targets": targets, "predictions": predictions, "samples": samples}

    def draw(self, model, result, out):
        """predictions.png: image | mask marked by most raters | prediction."""
        majority = [(2 * (masks > 0).sum(axis=0) >= len(masks)).astype(numpy.int64) for masks in result["targets"]]
        plots().plot_segmentation(
            result["images"], majority, result["predictions"], picture_path(out, self, 0), self.num_classes
        )


class AmbiguousProbabilisticSegmentation(AmbiguousSegmentation, ProbabilisticSegmentation):
    """The Probabilistic U-Net trained on one random rater's mask per sample and step (CE + beta KL); held
    out, 16 hypotheses from the prior net per image against the raters' masks. ProbabilisticSegmentation
    gives the running sums, ``sample`` and ``predict`` (the mean of the samples)."""

    name, sums = "ambiguous probabilistic segmentation", ("ce", "kl")
    pictures, prediction = ("predictions.png", "samples.png"), "labels"

    def model_options(self, dataset):
        """Widths 8-16-32 for the U-Net and both Gaussian nets: enough for discs in 32 x 32 images, and a
        step takes about half the time of the default 16-32-64 on 2 cores."""
        return {"spatial_dims": 2, "base_width": 8}

    def accumulate(self, partial, loss, values, target):
        ProbabilisticSegmentation.accumulate(self, partial, loss, values, target)

    def loss(self, model, x, y):
        loss, cross_entropy, kl = model.training_loss(x, one_rater(y))
        return loss, {"ce": cross_entropy.item(), "kl": kl.item()}

    def hypotheses(self, model, x, rng):
        return self.sample(model, x, rng)

    def draw(self, model, result, out):
        """predictions.png as the deterministic models'; samples.png: the first image whose raters disagree
        somewhere and all mark something (an ambiguous lesion beside a clear one), its raters' masks and
        sampled hypotheses."""
        super().draw(model, result, out)
        targets = result["targets"]
        disagree = [n for n, masks in enumerate(targets) if (masks != masks[:1]).any()]
        index = next((n for n in disagree if targets[n].all(axis=0).any()), disagree[0] if disagree else 0)
        plots_ambiguous().plot_raters_and_samples(
            result["images"][index], targets[index], result["samples"][index], picture_path(out, self, 1)
        )


# A model whose own objective is on the left trains with the one on the right on an ambiguous dataset.
ON_AMBIGUOUS = {ProbabilisticSegmentation.name: AmbiguousProbabilisticSegmentation.name}


def plots_ambiguous():
    """The module of samples.png, imported when it is first drawn (matplotlib)."""
    from .. import plots_ambiguous as module

    return module
