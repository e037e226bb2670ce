"""The generative models' objectives for ``tgm train``: autoencoder, VAE, Probabilistic U-Net.

Lecture: "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED" -- "Convolutional autoencoder" (input and
output images are the same; interpolating in the encoding space), "Variational autoencoder (VAE)"
(sample encodings, keep their distribution near N(0, I)) and "Probabilistic U-Net [Kohl et al.,
2018]" (a VAE's latent space generates several segmentation hypotheses).
Reference: Kingma and Welling, arXiv:1312.6114 (the ELBO); Kohl et al., arXiv:1806.05034 (the
Probabilistic U-Net and its generalised energy distance, section 4).

    reconstruction             loss = BCE(x_hat, x) summed over an image's pixels, averaged over the batch
                               held out: recon_bce (nats per image), mse (per pixel)
    variational reconstruction loss = -ELBO = BCE(x_hat(z), x) + KL(N(mu, sigma^2) || N(0, I)), z ~ q(z | x)
                               held out: recon_bce, kl, neg_elbo (nats per image; one z ~ q per image),
                               mse (of the reconstruction from the mean code mu)
    probabilistic segmentation loss = CE(logits(x, z), y) + beta KL(Q || P), z ~ Q(z | x, y) (training_loss)
                               held out, from M = 16 segmentations S_m drawn from the prior P(z | x):
                               dice, iou of the mean prediction (argmax of the mean softmax);
                               ged = D^2_GED = 2 E d(S, Y) - E d(S, S'), d = 1 - IoU (one annotation Y,
                               so the paper's E d(Y, Y') is 0); sample_diversity = E d(S, S'), S != S'

The random numbers of held-out metrics and pictures come from a generator seeded with 0, not from
the run's generator: ``tgm eval`` repeats the numbers of the run's summary, and evaluating does not
change the training that follows it (so --resume stays exact).
"""

import itertools

import numpy

from ...errors import ShapeError, fmt
from ...factory import tensor
from ...nn import functional as F
from ...ops.kl import kl_normal, reparameterize, vae_loss
from ..metrics import SegmentationCounts
from .base import Segmentation, picture_path, plots, to_numpy

__all__ = ["Reconstruction", "VariationalReconstruction", "ProbabilisticSegmentation", "energy_distance"]

SAMPLES = 16  # segmentations drawn per held-out image (Probabilistic U-Net)
_WHOLE_IMAGES = "whole-image datasets (digits, medmnist; their labels are not used)"


class RunningSums:
    """Training metrics that are means over the epoch's batches of values ``loss`` returns."""

    sums = ()

    def fresh_partial(self):
        return {"loss_sum": 0.0, "count": 0, **{name: 0.0 for name in self.sums}, "seconds": 0.0, "wait": 0.0}

    def accumulate(self, partial, loss, values, target):
        partial["loss_sum"] += float(loss)
        partial["count"] += 1
        for name in self.sums:
            partial[name] += float(values[name])

    def partial_metrics(self, partial):
        return {name: partial[name] / max(partial["count"], 1) for name in self.sums}


class Reconstruction(RunningSums):
    """Convolutional autoencoder: reconstruct the input through a low-dimensional code."""

    name, metric_name, sums, eval_batch = "reconstruction", "recon_bce", ("mse",), 256
    dataset_tasks, dataset_about, hint = (
        ("classification", "multi-label classification"),
        _WHOLE_IMAGES,
        "pass --data digits",
    )
    pictures, prediction = ("predictions.png", "interpolation.png"), "image"

    def __init__(self, dataset, device="cpu"):
        self.device = device

    def model_options(self, dataset):
        """The image size (H, W) of the dataset (the codes' linear layers depend on it).

        Raises:
            ShapeError if the dataset's images are not 2D (C, H, W).
        """
        shape = tuple(int(s) for s in numpy.shape(dataset[0][0]))
        if len(shape) != 3:
            raise ShapeError(
                fmt("tgm train", f"{self.name} models take 2D images (C, H, W); this dataset's are {shape}")
            )
        return {"input_size": shape[1:]}

    def loss(self, model, x, y):
        """BCE summed over pixels, per image; and the batch's mean squared error per pixel."""
        recon = model(x)
        loss = F.binary_cross_entropy(recon, x, reduction="sum") / x.shape[0]
        return loss, {"mse": float(((recon.data - x.data) ** 2).mean())}

    def reconstruct(self, model, x, rng):
        """A batch's reconstruction from its code, and the batch's sums of the held-out terms (recon_bce)."""
        recon = model(x)
        return recon, {"recon_bce": F.binary_cross_entropy(recon, x, reduction="sum").item()}

    def evaluate(self, model, loader):
        """recon_bce (and kl, neg_elbo for the VAE) per image, mse per pixel; inputs and reconstructions."""
        rng, totals, count, squared = numpy.random.default_rng(0), {}, 0, 0.0
        images, targets, predictions = [], [], []
        for x, y in loader:
            x = x.to(self.device)
            recon, sums = self.reconstruct(model, x, rng)
            for name, value in sums.items():
                totals[name] = totals.get(name, 0.0) + value
            squared += float(((recon.data - x.data) ** 2).sum())
            count += x.shape[0]
            images.extend(x.numpy())
            targets.extend(y.numpy())
            predictions.extend(recon.numpy())
        values = {name: total / max(count, 1) for name, total in totals.items()}
        if "kl" in values:
            values["neg_elbo"] = values["recon_bce"] + values["kl"]
        values["mse"] = squared / max(count * images[0].size, 1)
        return {"metrics": values, "images": images, "targets": targets, "predictions": predictions}

    def predict(self, model, x):
        """Reconstructions (N, C, H, W) in [0, 1] as a numpy array (the VAE decodes its mean code)."""
        return self.reconstruct(model, x, numpy.random.default_rng(0))[0].numpy()

    def pad_multiple(self, model):
        return 1

    def draw(self, model, result, out):
        """predictions.png: inputs over reconstructions; interpolation.png: decoded codes between two inputs."""
        images, recons = result["images"][:8], result["predictions"][:8]
        plots().plot_image_rows([("input", images), ("reconstruction", recons)], picture_path(out, self, 0))
        labels = result["targets"]
        other = next((k for k, label in enumerate(labels) if numpy.any(label != labels[0])), 0)  # another class
        pair = [tensor(result["images"][k][None], device=self.device) for k in (0, other)]
        line = model.interpolate(pair[0], pair[1], steps=8).numpy()  # (8, C, H, W), t = 0 .. 1
        rows = [(f"a, b: test images 0 and {other}", [result["images"][0], result["images"][other]])]
        rows.append(("decoded (1 - t) code(a) + t code(b), t = 0 .. 1", list(line)))
        plots().plot_image_rows(rows, picture_path(out, self, 1))


class VariationalReconstruction(Reconstruction):
    """Variational autoencoder: the negative ELBO (reconstruction BCE + KL to the prior N(0, I))."""

    name, metric_name, sums = "variational reconstruction", "neg_elbo", ("recon_bce", "kl")
    pictures = ("predictions.png", "interpolation.png", "samples.png")

    def loss(self, model, x, y):
        """-ELBO per image (vae_loss, batchmean), z ~ q(z | x) by the reparameterisation in VAE.forward."""
        recon, mu, logvar = model(x)
        loss = vae_loss(recon, x, mu, logvar, reduction="batchmean")
        kl = kl_normal(mu, logvar, reduction="batchmean").item()
        return loss, {"recon_bce": loss.item() - kl, "kl": kl}

    def reconstruct(self, model, x, rng):
        """The reconstruction from the mean code mu (pictures, mse); the ELBO's terms from one z ~ q(z | x)
        per image, drawn with ``rng``."""
        mu, logvar = model.encode(x)
        eps = tensor(rng.standard_normal(mu.shape), dtype=mu.dtype, device=mu.device)
        sampled = model.decode(reparameterize(mu, logvar, eps))
        sums = {
            "recon_bce": F.binary_cross_entropy(sampled, x, reduction="sum").item(),
            "kl": kl_normal(mu, logvar, reduction="sum").item(),
        }
        return model.decode(mu), sums

    def draw(self, model, result, out):
        """As Reconstruction, and samples.png: 16 images decoded from codes z ~ N(0, I) (the prior)."""
        super().draw(model, result, out)
        weight = next(iter(model.parameters()))
        z = tensor(numpy.random.default_rng(0).standard_normal((16, model.latent_dim)), dtype=weight.dtype)
        images = list(model.decode(z.to(self.device)).numpy())
        plots().plot_image_rows([("decoded z ~ N(0, I)", images[:8]), ("", images[8:])], picture_path(out, self, 2))


class ProbabilisticSegmentation(RunningSums, Segmentation):
    """Probabilistic U-Net: CE + KL(posterior || prior) in training; held out, SAMPLES segmentations
    per image from the prior net give the mean prediction's Dice and the generalised energy distance."""

    name, metric_name, sums = "probabilistic segmentation", "dice", ("ce", "kl")
    pictures, prediction = ("predictions.png", "samples.png"), "labels"

    def model_options(self, dataset):
        return {"spatial_dims": int(getattr(dataset, "spatial_dims", 2))}

    def loss(self, model, x, y):
        loss, cross_entropy, kl = model.training_loss(x, y)
        return loss, {"ce": cross_entropy.item(), "kl": kl.item()}

    def sample(self, model, x, rng):
        """(SAMPLES, N, *S) sampled label maps (uint8) and the mean prediction (N, *S): argmax of the
        mean softmax. The U-Net and the prior net run once; f_comb once per sample (as ProbUNet.sample,
        with the noise from ``rng``)."""
        features = model.unet.features(x)
        mu, logvar = model.prior(x)
        labels, mean = [], 0.0
        for _ in range(SAMPLES):
            eps = tensor(rng.standard_normal(mu.shape), dtype=mu.dtype, device=mu.device)
            probabilities = to_numpy(F.softmax(model.combine(features, reparameterize(mu, logvar, eps)), dim=1).data)
            labels.append(probabilities.argmax(axis=1).astype(numpy.uint8))  # (N, K, *S) -> (N, *S)
            mean = mean + probabilities / SAMPLES
        return numpy.stack(labels), numpy.asarray(mean).argmax(axis=1)

    def evaluate(self, model, loader):
        """Dice/IoU of the mean prediction, ged and sample_diversity; the first image's samples."""
        counts = SegmentationCounts(self.num_classes)
        rng, images, targets, predictions, distances, first = numpy.random.default_rng(0), [], [], [], [], None
        for x, y in loader:
            samples, mean = self.sample(model, x.to(self.device), rng)
            target = y.numpy()
            counts.update(mean, target)
            distances += [energy_distance(samples[:, n], target[n], self.num_classes) for n in range(len(target))]
            first = samples[:, 0] if first is None else first
            images.extend(x.numpy())
            targets.extend(target)
            predictions.extend(mean)
        values = self.metrics(counts)
        values["ged"] = float(numpy.mean([d[0] for d in distances]))
        values["sample_diversity"] = float(numpy.mean([d[1] for d in distances]))
        result = {"metrics": values, "images": images, "targets": targets, "predictions": predictions}
        return dict(result, samples=first)

    def predict(self, model, x):
        """The mean prediction's labels (N, *S) over SAMPLES draws from the prior."""
        return self.sample(model, x, numpy.random.default_rng(0))[1]

    def pad_multiple(self, model):
        return 2**model.unet.depth

    def draw(self, model, result, out):
        """predictions.png as for the U-Net (mean prediction); samples.png: sampled segmentations of one image."""
        super().draw(model, result, out)
        first = (result["images"][0], result["targets"][0], result["predictions"][0], result["samples"])
        plots().plot_sampled_segmentations(*first, picture_path(out, self, 1), self.num_classes)


def energy_distance(samples, truth, num_classes):
    """The squared generalised energy distance of sampled segmentations to one annotation, and their diversity.

    Reference: Kohl et al., arXiv:1806.05034, eq. 5 (one annotation Y, so E d(Y, Y') = 0).
    Forward:  d(A, B) = mean over the foreground classes k present in A or B of 1 - |A_k & B_k| / |A_k | B_k|
              (0 when neither holds a foreground pixel);
              D^2 = 2/M sum_m d(S_m, Y) - 1/(M(M-1)) sum_{m != m'} d(S_m, S_m')
    Shapes:   samples (M, *S) labels, truth (*S) labels -> (D^2, diversity = the second mean)
    """
    to_truth = numpy.mean([_distance(s, truth, num_classes) for s in samples])
    pairs = [_distance(a, b, num_classes) for a, b in itertools.combinations(samples, 2)]
    diversity = float(numpy.mean(pairs)) if pairs else 0.0
    return float(2.0 * to_truth - diversity), diversity


def _distance(a, b, num_classes):
    values = []
    for k in range(1, num_classes):
        union = numpy.count_nonzero((a == k) | (b == k))
        if union:
            values.append(1.0 - numpy.count_nonzero((a == k) & (b == k)) / union)
    return float(numpy.mean(values)) if values else 0.0
