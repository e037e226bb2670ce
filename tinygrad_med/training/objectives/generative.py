"""The generative models' objectives for ``tgm train``: autoencoder, VAE, Probabilistic U-Net.

Lecture: "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED" -- "Convolutional autoencoder" (input and
output images are the same; interpolating in the encoding space), "Variational autoencoder (VAE)"
(sample encodings, keep their distribution near N(0, I)) and "Probabilistic U-Net [Kohl et al.,
2018]" (a VAE's latent space generates several segmentation hypotheses).
Reference: Kingma and Welling, arXiv:1312.6114 (the ELBO); Kohl et al., arXiv:1806.05034 (the
Probabilistic U-Net and its generalised energy distance, section 4).

    reconstruction             loss = BCE(x_hat, x) summed over an image's pixels, averaged over the batch
                               held out: recon_bce (nats per image), mse (per pixel)
    variational reconstruction loss = BCE(x_hat(z), x) + sum_j max(KL_j, FREE_BITS), z ~ q(z | x), KL_j
                               the batch's mean KL(N(mu_j, sigma_j^2) || N(0, 1)) of latent dimension j:
                               free bits (Kingma et al., arXiv:1606.04934, eq. 15): a dimension's first
                               FREE_BITS nats cost nothing, so the encoder is not pushed to the prior before
                               the decoder can use its codes (the plain -ELBO collapsed: held-out KL ~2 nats,
                               every prior sample the same grey blob)
                               held out: recon_bce, kl, neg_elbo (the true -ELBO, nats per image; one z ~ q
                               per image), mse (of the reconstruction from the mean code mu); prior_spread
                               (mean pairwise distance of PRIOR_SAMPLES images decoded from z ~ N(0, I));
                               confident_samples (their share a softmax regression fitted to the training
                               images labels with probability >= CONFIDENT: "looks like a digit"), and
                               confident_test_images (the same share of the test images: its ceiling)
    probabilistic segmentation loss = CE(logits(x, z), y) + beta KL(Q || P), z ~ Q(z | x, y) (training_loss)
                               held out, from M = 16 segmentations S_m drawn from the prior P(z | x):
                               dice, iou of the mean prediction (argmax of the mean softmax);
                               ged = D^2_GED = 2 E d(S, Y) - E d(S, S'), d = 1 - IoU (one annotation Y,
                               so the paper's E d(Y, Y') is 0); sample_diversity = E d(S, S'), S != S'

The random numbers of held-out metrics and pictures come from a generator seeded with 0, not from
the run's generator: ``tgm eval`` repeats the numbers of the run's summary, and evaluating does not
change the training that follows it (so --resume stays exact).
"""

import numpy

from ...errors import ShapeError, fmt
from ...factory import tensor
from ...nn import functional as F
from ...ops.kl import kl_normal, reparameterize
from ..metrics import SegmentationCounts
from .base import Segmentation, picture_path, plots, to_numpy

__all__ = [
    "Reconstruction",
    "VariationalReconstruction",
    "ProbabilisticSegmentation",
    "energy_distance",
    "generalized_energy_distance",
    "pairwise_distances",
]

SAMPLES = 16  # segmentations drawn per held-out image (Probabilistic U-Net)
FREE_BITS = 1.5  # nats per latent dimension the VAE's KL term leaves unpenalised (Kingma et al. 2016)
PRIOR_SAMPLES, CONFIDENT = 64, 0.9  # the VAE's held-out prior samples and the classifier confidence counted
LATENT_EXTENT, LATENT_GRID = 2.5, 12  # latent.png's decoded grid: LATENT_GRID x LATENT_GRID points in +-extent
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
    """Variational autoencoder: the negative ELBO (reconstruction BCE + KL to the prior N(0, I)), trained
    with free bits; held out, the ELBO's terms and how many prior samples a digit classifier recognises."""

    name, metric_name, sums = "variational reconstruction", "neg_elbo", ("recon_bce", "kl")
    pictures = ("predictions.png", "interpolation.png", "samples.png", "latent.png")
    view = "generative"  # the digits' recipe for the VAEs (data/registry.py): more epochs than the classifiers'

    def __init__(self, dataset, device="cpu"):
        super().__init__(dataset, device)
        self.train_set = dataset  # the classifier of the prior samples is fitted to it at the first evaluation

    def loss(self, model, x, y):
        """BCE + free-bits KL per image (batchmean), z ~ q(z | x) by the reparameterisation in VAE.forward;
        the running sums are the ELBO's true terms."""
        recon, mu, logvar = model(x)
        bce = F.binary_cross_entropy(recon, x, reduction="sum") / x.shape[0]
        per_dimension = kl_normal(mu, logvar, reduction="none").mean(dim=0)  # (N, L) -> (L,) nats
        loss = bce + per_dimension.clamp(min=FREE_BITS).sum()
        return loss, {"recon_bce": bce.item(), "kl": float(per_dimension.data.sum())}

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

    def evaluate(self, model, loader):
        """As Reconstruction, with the test set's mean codes (for latent.png) and, from PRIOR_SAMPLES
        images decoded from z ~ N(0, I): their mean pairwise distance (prior_spread, 0 when every sample
        is the same image) and the share a classifier of the training images labels with probability
        >= CONFIDENT (confident_samples; a softmax regression fitted here, see digit_classifier)."""
        result = super().evaluate(model, loader)
        images = numpy.stack(result["images"])
        result["codes"] = to_numpy(model.code(tensor(images, device=self.device)).data)
        samples = self.prior_samples(model, PRIOR_SAMPLES).reshape(PRIOR_SAMPLES, -1)
        gaps = numpy.sqrt(((samples[:, None] - samples[None]) ** 2).sum(axis=-1))  # (S, S) Euclidean
        result["metrics"]["prior_spread"] = float(gaps[numpy.triu_indices(PRIOR_SAMPLES, 1)].mean())
        if not hasattr(self, "classifier"):
            self.classifier = digit_classifier(self.train_set)  # None where the images have no class labels
        if self.classifier is not None:
            for name, shown in (("confident_samples", samples), ("confident_test_images", images)):
                confidence = self.classifier(shown).max(axis=1)
                result["metrics"][name] = float((confidence >= CONFIDENT).mean())
        return result

    def prior_samples(self, model, count):
        """``count`` images (count, C, H, W) decoded from z ~ N(0, I) drawn with a generator seeded 0."""
        weight = next(iter(model.parameters()))
        z = numpy.random.default_rng(0).standard_normal((count, model.latent_dim))
        return to_numpy(model.decode(tensor(z, dtype=weight.dtype, device=self.device)).data)

    def draw(self, model, result, out):
        """As Reconstruction, and samples.png: 16 images decoded from codes z ~ N(0, I) (the prior);
        latent.png for a 2-D code: the test set's mean codes coloured by class beside decoded grid points."""
        super().draw(model, result, out)
        images = list(self.prior_samples(model, 16))
        plots().plot_image_rows([("decoded z ~ N(0, I)", images[:8]), ("", images[8:])], picture_path(out, self, 2))
        if model.latent_dim != 2:
            self.pictures = VariationalReconstruction.pictures[:3]  # latent.png only for a 2-D code
        else:
            from ..plots_latent import plot_latent_space

            axis = numpy.linspace(-LATENT_EXTENT, LATENT_EXTENT, LATENT_GRID)
            grid = numpy.stack(numpy.meshgrid(axis, axis[::-1]), axis=-1).reshape(-1, 2)  # rows from +z2 down
            weight = next(iter(model.parameters()))
            decoded = to_numpy(model.decode(tensor(grid, dtype=weight.dtype, device=self.device)).data)
            labels = numpy.asarray(result["targets"]).reshape(len(result["targets"]), -1)[:, 0]
            plot_latent_space(result["codes"], labels, decoded, LATENT_EXTENT, picture_path(out, self, 3))


def digit_classifier(dataset, steps=1000, lr=1.0, weight_decay=1e-4):
    """A softmax regression fitted to a labelled image dataset's training images (full-batch gradient
    descent in NumPy from zero weights: no random numbers), or None for a dataset without one class
    label per image. Returns probabilities(images (S, ...)) -> (S, K).

    It stands in for "does this look like a digit?" (the share of prior samples it labels with
    confidence >= CONFIDENT): on the digits' test split it is right on 95 % of the images and labels
    80 % of them with confidence >= 0.9 (reported as confident_test_images, the ceiling of the share).
    Forward:  p = softmax(x W + b) on the flattened images; W, b minimise mean CE + weight_decay |W|^2 / 2
    """
    labels = numpy.asarray([dataset[k][1] for k in range(len(dataset))])
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        return None
    images = numpy.stack([numpy.asarray(dataset[k][0], numpy.float64).reshape(-1) for k in range(len(dataset))])
    classes = int(labels.max()) + 1
    onehot = numpy.eye(classes)[labels]
    weight, bias = numpy.zeros((images.shape[1], classes)), numpy.zeros(classes)

    def probabilities(x):
        logits = numpy.asarray(x, numpy.float64).reshape(len(x), -1) @ weight + bias
        e = numpy.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    for _ in range(steps):
        error = (probabilities(images) - onehot) / len(images)  # dCE/dlogits, (N, K)
        weight -= lr * (images.T @ error + weight_decay * weight)
        bias -= lr * error.sum(axis=0)
    return probabilities


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
    Forward:  D^2 = 2/M sum_m d(S_m, Y) - 1/(M(M-1)) sum_{m != m'} d(S_m, S_m')  (d: pairwise_distances)
    Shapes:   samples (M, *S) labels, truth (*S) labels -> (D^2, diversity = the second mean)
    """
    ged, diversity, _ = generalized_energy_distance(samples, numpy.asarray(truth)[None], num_classes)
    return ged, diversity


def pairwise_distances(a, b, num_classes):
    """d(a_i, b_j) = 1 - IoU for every pair of label maps, averaged over the foreground classes present.

    Forward:  d(A, B) = mean over the classes k >= 1 present in A or B of 1 - |A_k & B_k| / |A_k | B_k|,
              0 when neither holds a foreground pixel (all pairs at once:
              |A_k & B_k| is a matrix product of the flattened 0/1 maps)
    Shapes:   a (M, *S), b (R, *S) labels -> (M, R) float64
    """
    a, b = numpy.asarray(a).reshape(len(a), -1), numpy.asarray(b).reshape(len(b), -1)
    total, present = numpy.zeros((len(a), len(b))), numpy.zeros((len(a), len(b)))
    for k in range(1, num_classes):
        a_k, b_k = (a == k).astype(numpy.float64), (b == k).astype(numpy.float64)
        intersection = a_k @ b_k.T  # (M, P) @ (P, R) -> (M, R)
        union = a_k.sum(axis=1)[:, None] + b_k.sum(axis=1)[None, :] - intersection
        total += numpy.where(union > 0, 1.0 - intersection / numpy.maximum(union, 1.0), 0.0)
        present += union > 0
    return numpy.where(present > 0, total / numpy.maximum(present, 1.0), 0.0)


def generalized_energy_distance(samples, annotations, num_classes):
    """The squared generalised energy distance between hypotheses and annotations, and their diversities.

    Reference: Kohl et al., arXiv:1806.05034, eq. 5.
    Forward:  D^2 = 2/(M R) sum_{m,r} d(S_m, Y_r) - E_{m != m'} d(S_m, S_m') - E_{r != r'} d(Y_r, Y_r')
              (an expectation over no pair, M = 1 or R = 1, is 0)
    Shapes:   samples (M, *S), annotations (R, *S) labels -> (D^2, sample diversity, annotation diversity)
    """

    def diversity(maps):
        distances = pairwise_distances(maps, maps, num_classes)
        pairs = len(maps) * (len(maps) - 1)
        return float(distances.sum() / pairs) if pairs else 0.0  # the diagonal d(S, S) is 0

    cross = float(pairwise_distances(samples, annotations, num_classes).mean())
    sample_diversity, annotation_diversity = diversity(samples), diversity(annotations)
    return 2.0 * cross - sample_diversity - annotation_diversity, sample_diversity, annotation_diversity
