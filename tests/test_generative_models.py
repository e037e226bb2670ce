"""Generative models (lecture: "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED"): the KL terms against a
Monte-Carlo estimate and gradient checks, the reparameterisation trick, the ELBO, the convolutional
autoencoder and the VAE (shapes, a short training run on the digits), and the Probabilistic U-Net
(shapes, gradients into all three nets, several hypotheses for an ambiguous image)."""

import numpy
import pytest
from conftest import assert_close

import tinygrad_med as tm
from tinygrad_med.data.digits import load_digits, stratified_split
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.models.autoencoder import VAE, ConvAutoencoder
from tinygrad_med.models.prob_unet import AxisAlignedGaussian, ProbUNet
from tinygrad_med.nn import functional as F
from tinygrad_med.ops.kl import kl_normal, kl_normal_normal, reparameterize, vae_loss


def _t(array, requires_grad=False):
    return tm.tensor(numpy.asarray(array, dtype=numpy.float64), requires_grad=requires_grad)


def _log_normal(z, mu, logvar):
    """log N(z; mu, exp(logvar)) per dimension, straight from the density."""
    return -0.5 * (numpy.log(2 * numpy.pi) + logvar + (z - mu) ** 2 / numpy.exp(logvar))


def _monte_carlo_kl(mu_q, logvar_q, mu_p, logvar_p, samples=400_000):
    """KL(q || p) = E_q[log q(z) - log p(z)], estimated from samples of q; returns (estimate, standard error)."""
    rng = numpy.random.default_rng(7)
    z = mu_q + numpy.exp(logvar_q / 2) * rng.standard_normal((samples,) + mu_q.shape)
    log_ratio = (_log_normal(z, mu_q, logvar_q) - _log_normal(z, mu_p, logvar_p)).reshape(samples, -1).sum(1)
    return log_ratio.mean(), log_ratio.std() / numpy.sqrt(samples)


# ----------------------------------------------------------------------------- KL terms


def test_kl_normal_matches_the_loop_formula_and_a_monte_carlo_estimate():
    rng = numpy.random.default_rng(0)
    mu, logvar = rng.normal(size=(2, 3)), rng.uniform(-1, 1, (2, 3))
    loop = 0.0
    for n in range(2):
        for j in range(3):
            loop += -0.5 * (1 + logvar[n, j] - mu[n, j] ** 2 - numpy.exp(logvar[n, j]))
    assert kl_normal(_t(mu), _t(logvar)).item() == pytest.approx(loop, rel=1e-12)
    estimate, stderr = _monte_carlo_kl(mu, logvar, numpy.zeros_like(mu), numpy.zeros_like(mu))
    assert abs(loop - estimate) < 5 * stderr
    assert kl_normal(_t(mu), _t(logvar), reduction="batchmean").item() == pytest.approx(loop / 2)
    assert kl_normal(_t(mu), _t(logvar), reduction="none").shape == (2, 3)


def test_kl_normal_normal_closed_form_monte_carlo_and_special_cases():
    rng = numpy.random.default_rng(1)
    mu_q, logvar_q, mu_p, logvar_p = (
        rng.normal(size=(2, 3)),
        rng.uniform(-1, 1, (2, 3)),
        rng.normal(size=(2, 3)),
        rng.uniform(-1, 1, (2, 3)),
    )
    var_q, var_p = numpy.exp(logvar_q), numpy.exp(logvar_p)
    closed = 0.5 * numpy.sum(numpy.log(var_p / var_q) + (var_q + (mu_q - mu_p) ** 2) / var_p - 1)
    value = kl_normal_normal(_t(mu_q), _t(logvar_q), _t(mu_p), _t(logvar_p)).item()
    assert value == pytest.approx(closed, rel=1e-12)
    estimate, stderr = _monte_carlo_kl(mu_q, logvar_q, mu_p, logvar_p)
    assert abs(closed - estimate) < 5 * stderr
    # equal Gaussians: zero divergence and zero gradient; a standard-normal prior gives kl_normal
    q = [_t(mu_q, True), _t(logvar_q, True)]
    same = kl_normal_normal(q[0], q[1], _t(mu_q), _t(logvar_q))
    same.backward()
    assert same.item() == pytest.approx(0.0, abs=1e-12)
    assert numpy.abs(q[0].grad.numpy()).max() < 1e-12 and numpy.abs(q[1].grad.numpy()).max() < 1e-12
    zeros = _t(numpy.zeros(3))  # broadcast over the batch
    assert kl_normal_normal(q[0], q[1], zeros, zeros).item() == pytest.approx(kl_normal(q[0], q[1]).item(), rel=1e-12)
    assert value != pytest.approx(kl_normal_normal(_t(mu_p), _t(logvar_p), _t(mu_q), _t(logvar_q)).item())  # asymmetric


def test_gradchecks_in_float64():
    rng = numpy.random.default_rng(2)
    mu_q, logvar_q, mu_p, logvar_p = (_t(rng.normal(size=(3, 4)) * 0.7, True) for _ in range(4))
    assert tm.gradcheck(kl_normal, [mu_q, logvar_q]).passed
    assert tm.gradcheck(lambda a, b: kl_normal(a, b, reduction="none"), [mu_q, logvar_q]).passed
    assert tm.gradcheck(kl_normal_normal, [mu_q, logvar_q, mu_p, logvar_p]).passed
    recon, x = _t(rng.uniform(0.1, 0.9, (3, 1, 2, 2)), True), _t(rng.uniform(0, 1, (3, 1, 2, 2)))
    for reconstruction in ("bce", "mse"):
        loss = lambda r, m, v, how=reconstruction: vae_loss(r, x, m, v, beta=0.5, reconstruction=how)  # noqa: E731
        assert tm.gradcheck(loss, [recon, mu_q, logvar_q]).passed


def test_reparameterize_with_a_fixed_eps_gradients_and_distribution():
    rng = numpy.random.default_rng(3)
    mu, logvar, eps = _t(rng.normal(size=(3, 4)), True), _t(rng.normal(size=(3, 4)), True), _t(rng.normal(size=(3, 4)))
    z = reparameterize(mu, logvar, eps)
    assert_close(z, mu.numpy() + numpy.exp(logvar.numpy() / 2) * eps.numpy(), rtol=1e-12, atol=1e-12)
    assert tm.gradcheck(lambda m, v: reparameterize(m, v, eps), [mu, logvar]).passed
    z.sum().backward()
    assert_close(mu.grad, numpy.ones((3, 4)), rtol=0, atol=0)
    assert_close(logvar.grad, numpy.exp(logvar.numpy() / 2) * eps.numpy() / 2, rtol=1e-12, atol=1e-12)
    # eps from the seeded generator: repeatable, and z ~ N(mu, exp(logvar))
    many_mu, many_logvar = _t(numpy.full((20000, 2), [1.0, -2.0])), _t(numpy.full((20000, 2), [0.0, numpy.log(4.0)]))
    tm.manual_seed(5)
    first = reparameterize(many_mu, many_logvar).numpy()
    tm.manual_seed(5)
    assert numpy.array_equal(first, reparameterize(many_mu, many_logvar).numpy())
    assert numpy.allclose(first.mean(0), [1.0, -2.0], atol=0.05) and numpy.allclose(first.std(0), [1.0, 2.0], rtol=0.03)


def test_vae_loss_is_reconstruction_plus_beta_kl():
    rng = numpy.random.default_rng(4)
    recon, x = _t(rng.uniform(0.1, 0.9, (4, 1, 3, 3))), _t(rng.uniform(0, 1, (4, 1, 3, 3)))
    mu, logvar = _t(rng.normal(size=(4, 2))), _t(rng.normal(size=(4, 2)))
    kl = kl_normal(mu, logvar).item()
    bce = F.binary_cross_entropy(recon, x, reduction="sum").item()
    mse = F.mse_loss(recon, x, reduction="sum").item()
    assert vae_loss(recon, x, mu, logvar).item() == pytest.approx(bce + kl)
    assert vae_loss(recon, x, mu, logvar, beta=4.0, reduction="batchmean").item() == pytest.approx((bce + 4 * kl) / 4)
    assert vae_loss(recon, x, mu, logvar, reconstruction="mse").item() == pytest.approx(mse + kl)


def test_kl_and_vae_loss_agree_across_devices(device):
    rng = numpy.random.default_rng(5)
    arrays = [rng.normal(size=(3, 4)).astype(numpy.float32) for _ in range(4)]
    recon_x = [rng.uniform(0.1, 0.9, (3, 1, 2, 2)).astype(numpy.float32) for _ in range(2)]

    def run(make):
        mu_q, logvar_q, mu_p, logvar_p = (make(a, requires_grad=True) for a in arrays)
        recon = make(recon_x[0], requires_grad=True)
        loss = kl_normal_normal(mu_q, logvar_q, mu_p, logvar_p) + vae_loss(recon, make(recon_x[1]), mu_q, logvar_q)
        loss.backward()
        return [loss, mu_q.grad, logvar_q.grad, mu_p.grad, logvar_p.grad, recon.grad]

    expected = device.reference(run, lambda a, requires_grad=False: tm.tensor(a, requires_grad=requires_grad))
    for actual, wanted in zip(run(device.tensor), expected, strict=True):
        assert_close(actual, wanted)


def test_bad_inputs_name_the_problem():
    mu = _t(numpy.zeros((2, 3)))
    with pytest.raises(ShapeError, match=r"kl_normal: mu and logvar must have the same shape.*\(2, 4\)"):
        kl_normal(mu, _t(numpy.zeros((2, 4))))
    with pytest.raises(DTypeError, match="kl_normal: logvar must be a float Tensor"):
        kl_normal(mu, tm.tensor(numpy.zeros((2, 3), dtype=numpy.int64)))
    with pytest.raises(ValueError, match="reduction must be one of sum, batchmean, none"):
        kl_normal(mu, mu, reduction="mean")
    with pytest.raises(ShapeError, match=r"kl_normal_normal: mu_p and logvar_p must broadcast.*\(2, 5\)"):
        kl_normal_normal(mu, mu, _t(numpy.zeros((2, 5))), mu)
    with pytest.raises(ShapeError, match=r"reparameterize: eps must be a Tensor of mu's shape.*\(3, 3\)"):
        reparameterize(mu, mu, _t(numpy.zeros((3, 3))))
    x = _t(numpy.full((2, 1, 2, 2), 0.5))
    with pytest.raises(ShapeError, match=r"vae_loss: recon and x must have one shape.*\(2, 1, 2, 3\)"):
        vae_loss(_t(numpy.full((2, 1, 2, 3), 0.5)), x, mu, mu)
    with pytest.raises(ValueError, match="reconstruction must be 'bce' or 'mse'"):
        vae_loss(x, x, mu, mu, reconstruction="l1")


# ----------------------------------------------------------------------------- autoencoder and VAE


def test_autoencoder_and_vae_shapes():
    x = tm.rand(5, 1, 8, 8)
    autoencoder = ConvAutoencoder(latent_dim=4)
    assert autoencoder.encode(x).shape == (5, 4) and autoencoder(x).shape == (5, 1, 8, 8)
    assert autoencoder.interpolate(x[:1], x[1:2], steps=6).shape == (6, 1, 8, 8)
    ends = autoencoder.interpolate(x[:1], x[1:2], steps=3)
    assert_close(ends[2:], autoencoder(x[1:2]))
    vae = VAE(in_channels=2, latent_dim=3, input_size=(16, 12), widths=(4, 8))
    x = tm.rand(2, 2, 16, 12)
    recon, mu, logvar = vae(x)
    assert recon.shape == (2, 2, 16, 12) and mu.shape == (2, 3) and logvar.shape == (2, 3)
    assert float(recon.numpy().min()) >= 0 and float(recon.numpy().max()) <= 1
    assert not numpy.array_equal(vae(x)[0].numpy(), recon.numpy())  # training: a fresh sample of z
    vae.eval()
    assert numpy.array_equal(vae(x)[0].numpy(), vae.decode(mu).numpy())  # eval: z = mu
    samples = vae.sample(7)
    assert samples.shape == (7, 2, 16, 12) and not samples.requires_grad


def test_autoencoder_refuses_sizes_that_do_not_halve():
    with pytest.raises(ShapeError, match=r"ConvAutoencoder|ConvEncoder.*divisible by 2\*\*len\(widths\) = 4.*\(6, 8\)"):
        ConvAutoencoder(input_size=(6, 8))
    with pytest.raises(ShapeError, match=r"VAE: input must be \(N, 1, 8, 8\).*\(2, 1, 16, 16\)"):
        VAE()(tm.rand(2, 1, 16, 16))
    with pytest.raises(ShapeError, match=r"codes must be \(N, 8\)"):
        ConvAutoencoder().decode(tm.rand(2, 3))


def _train_on_digits(model, loss_of, steps=150, batch_size=64):
    """Adam on the digits' training split; returns the held-out loss before and after."""
    images, labels = load_digits()
    train, test = stratified_split(labels)
    held_out = tm.tensor(images[test])
    rng = numpy.random.default_rng(0)
    optimizer = tm.optim.Adam(model.parameters(), lr=3e-3)

    def held_out_loss():
        tm.manual_seed(1)  # the same eps for the VAE before and after
        with tm.no_grad():
            return loss_of(model, held_out).item()

    before = held_out_loss()
    for _ in range(steps):
        x = tm.tensor(images[rng.choice(train, batch_size, replace=False)])
        loss = loss_of(model, x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return before, held_out_loss()


def test_autoencoder_learns_to_reconstruct_digits():
    def loss_of(model, x):  # BCE summed over the 64 pixels, averaged over images
        return F.binary_cross_entropy(model(x), x, reduction="sum") / x.shape[0]

    before, after = _train_on_digits(ConvAutoencoder(latent_dim=8), loss_of)
    assert after < 0.55 * before, (before, after)  # measured: 47.3 -> 20.1 nats per image


def test_vae_elbo_falls_on_digits_and_samples_are_images():
    def loss_of(model, x):
        recon, mu, logvar = model(x)
        return vae_loss(recon, x, mu, logvar, reduction="batchmean")

    vae = VAE(latent_dim=8)
    before, after = _train_on_digits(vae, loss_of)
    assert after < 0.65 * before, (before, after)  # measured: 48.4 -> 26.9 nats per image (-ELBO)
    samples = vae.sample(16).numpy()
    assert samples.shape == (16, 1, 8, 8) and 0.05 < samples.mean() < 0.6  # the digits' mean is 0.30


# ----------------------------------------------------------------------------- Probabilistic U-Net


def test_prob_unet_shapes_and_latent_samples_change_the_segmentation():
    model = ProbUNet(in_channels=1, num_classes=3, latent_dim=4, base_width=4, depth=2)
    x, target = tm.rand(2, 1, 8, 8), numpy.random.default_rng(0).integers(0, 3, (2, 8, 8))
    assert model(x).shape == (2, 3, 8, 8)
    mu, logvar = model.prior(x)
    assert mu.shape == (2, 4) and logvar.shape == (2, 4)
    samples = model.sample(x, 5)
    assert samples.shape == (5, 2, 3, 8, 8)
    logits = samples.numpy()
    assert all(not numpy.allclose(logits[0], logits[m]) for m in range(1, 5))
    z = tm.randn(2, 4)
    assert numpy.array_equal(model(x, z).numpy(), model(x, z).numpy())  # given z, the output is fixed
    loss, cross_entropy, kl = model.training_loss(x, target)
    assert loss.shape == () and loss.item() == pytest.approx(cross_entropy.item() + kl.item(), rel=1e-5)
    gaussian_3d = AxisAlignedGaussian(2, 3, base_width=2, depth=1, spatial_dims=3)
    assert [t.shape for t in gaussian_3d(tm.rand(2, 2, 4, 4, 4))] == [(2, 3), (2, 3)]
    model_3d = ProbUNet(1, 2, latent_dim=2, base_width=2, depth=1, spatial_dims=3, fcomb_layers=1)
    assert model_3d.sample(tm.rand(1, 1, 4, 4, 4), 2).shape == (2, 1, 2, 4, 4, 4)


def test_prob_unet_loss_reaches_every_parameter_of_all_three_nets():
    model = ProbUNet(num_classes=2, latent_dim=3, base_width=4, depth=1, beta=2.0)
    x, target = tm.randn(3, 1, 8, 8), numpy.random.default_rng(1).integers(0, 2, (3, 8, 8))
    loss, _, _ = model.training_loss(x, target)
    loss.backward()
    for net in ("unet", "prior", "posterior", "fcomb"):
        for name, parameter in getattr(model, net).named_parameters():
            assert parameter.grad is not None and numpy.abs(parameter.grad.numpy()).max() > 0, f"{net}.{name}"
    # the cross-entropy alone (beta = 0) reaches the posterior through the reparameterised z, not the prior
    model.zero_grad()
    model.training_loss(x, target, beta=0.0)[0].backward()
    assert all(numpy.abs(p.grad.numpy()).max() > 0 for p in model.posterior.to_gaussian.parameters())
    assert all(p.grad is None or not p.grad.numpy().any() for p in model.prior.parameters())


def test_prob_unet_learns_two_hypotheses_for_an_ambiguous_image():
    """A bright 4 x 4 square that half of the annotators mark: samples from the prior should show both."""
    rng = numpy.random.default_rng(0)

    def batch(n, size=8):
        x = 0.1 * rng.standard_normal((n, 1, size, size)).astype(numpy.float32)
        target = numpy.zeros((n, size, size), numpy.int64)
        for i in range(n):
            row, col = rng.integers(0, size - 3, 2)
            x[i, 0, row : row + 4, col : col + 4] += 1.0
            target[i, row : row + 4, col : col + 4] = rng.random() < 0.5
        return tm.tensor(x), target

    model = ProbUNet(num_classes=2, latent_dim=2, base_width=4, depth=1)
    optimizer = tm.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(250):
        loss, _, _ = model.training_loss(*batch(8))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    x, _ = batch(4)
    with tm.no_grad():
        marked = (model.sample(x, 16).numpy().argmax(2) == 1).sum(axis=(2, 3))  # (16 samples, 4 images)
    assert ((marked >= 12).any(0) & (marked <= 4).any(0)).all(), marked  # square marked in some, empty in others


def test_prob_unet_bad_input():
    model = ProbUNet(num_classes=2, base_width=2, depth=1)
    x = tm.rand(2, 1, 4, 4)
    with pytest.raises(ShapeError, match=r"target must be integer labels \(N, \*S\) = \(2, 4, 4\).*\(2, 4, 5\)"):
        model.training_loss(x, numpy.zeros((2, 4, 5), numpy.int64))
    with pytest.raises(ShapeError, match=r"target labels must be in 0..1"):
        model.training_loss(x, numpy.full((2, 4, 4), 2))
    with pytest.raises(ShapeError, match=r"z must be \(N, 6\)"):
        model(x, tm.zeros(2, 5))
    with pytest.raises(ShapeError, match="divisible by 2\\*\\*depth = 2"):
        model(tm.rand(2, 1, 5, 4))
    with pytest.raises(ValueError, match="latent_dim >= 1"):
        ProbUNet(latent_dim=0)
