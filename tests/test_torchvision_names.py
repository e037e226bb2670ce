"""The classic models use torchvision's names, shapes and initialisation.

tests/data/torchvision_state_dict_keys.json holds torchvision's (key, shape) lists (written by
tests/data/make_torchvision_state_dict_keys.py), so the name checks run without torchvision; where
torchvision is importable, its random-init state_dict loads as it is and the logits agree in float64.
"""

import json
import math
from pathlib import Path

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med import models, nn

TORCHVISION = json.loads((Path(__file__).parent / "data" / "torchvision_state_dict_keys.json").read_text())["models"]

BUILDS = {
    "resnet18": lambda: models.resnet18(),
    "resnet34": lambda: models.resnet34(),
    "resnet50": lambda: models.resnet50(),
    "googlenet": lambda: models.googlenet(aux_logits=False, variant="torchvision"),
    "googlenet_aux": lambda: models.googlenet(variant="torchvision"),
    "densenet121": lambda: models.densenet121(),
    "vgg16_bn": lambda: models.vgg16(batch_norm=True),
    "alexnet": lambda: models.alexnet(variant="torchvision"),
}


@pytest.mark.parametrize("name", list(BUILDS))
def test_state_dict_keys_and_shapes_are_torchvisions_in_order(name, no_random_init):
    ours = [[key, list(value.shape)] for key, value in BUILDS[name]().state_dict().items()]
    assert len(ours) == len(TORCHVISION[name])
    assert ours == TORCHVISION[name]


def test_resnet_family_parameter_counts(no_random_init):
    """torchvision's documented num_params for ResNet-18/34/50/101/152."""
    counts = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
              "resnet101": 44_549_160, "resnet152": 60_192_808}  # fmt: skip
    for name, count in counts.items():
        assert getattr(models, name)().num_parameters() == count, name
    wide = models.resnet50(width_per_group=128)  # torchvision's wide_resnet50_2
    assert wide.num_parameters() == 68_883_240 and wide.layer1[0].conv2.weight.shape == (128, 128, 3, 3)
    resnext = models.resnet50(groups=32, width_per_group=4)  # resnext50_32x4d
    assert resnext.num_parameters() == 25_028_904 and resnext.layer1[0].conv2.groups == 32
    with pytest.raises(ValueError, match="BasicBlock: only supports groups=1 and base_width=64"):
        models.resnet18(groups=2)


def test_small_resnets_keep_working():
    tm.manual_seed(0)
    for build in (models.resnet18, models.resnet50):
        model = build(1, 3, "cifar", width=4)
        out = model(tm.randn(2, 1, 8, 8))
        assert out.shape == (2, 3)
        out.sum().backward()
        assert all(p.grad is not None for p in model.parameters())
    assert models.create_model("resnet18", 1, 10).conv1.kernel_size == (3, 3)  # the registry's digits default


def _std(tensor):
    return float(tensor.numpy().std())


def test_resnet_initialisation_is_torchvisions():
    tm.manual_seed(1)
    model = models.resnet50(width=16)
    conv = model.layer3[0].conv2.weight  # (64, 64, 3, 3): fan_out = 64 * 9
    assert _std(conv) == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.03)
    assert abs(float(conv.numpy().mean())) < 0.01 * _std(conv) * 10
    assert (model.bn1.weight.numpy() == 1).all() and (model.layer1[0].bn3.weight.numpy() == 1).all()
    bound = 1 / math.sqrt(model.fc.in_features)  # the Linear keeps the layer default
    assert 0.9 * bound < numpy.abs(model.fc.weight.numpy()).max() <= bound
    zero = models.resnet50(width=4, zero_init_residual=True)
    assert (zero.layer2[1].bn3.weight.numpy() == 0).all() and (zero.layer2[1].bn2.weight.numpy() == 1).all()
    assert (zero.layer2[0].downsample[1].weight.numpy() == 1).all()  # the shortcut's BN is not a branch end
    basic = models.resnet18(width=4, zero_init_residual=True)
    assert (basic.layer1[0].bn2.weight.numpy() == 0).all() and (basic.layer1[0].bn1.weight.numpy() == 1).all()


def test_vgg_densenet_googlenet_initialisation_is_torchvisions():
    tm.manual_seed(2)
    vgg = models.vgg11(width=16, hidden=256)
    conv = vgg.features[3].weight  # (32, 16, 3, 3)
    assert _std(conv) == pytest.approx(math.sqrt(2 / (32 * 9)), rel=0.05)
    assert _std(vgg.classifier[0].weight) == pytest.approx(0.01, rel=0.02)
    assert not any(vgg.state_dict()[key].numpy().any() for key in vgg.state_dict() if key.endswith("bias"))
    dense = models.DenseNet(12, (4, 4), 24, num_classes=5)
    conv = dense.features.denseblock2.denselayer1.conv1.weight  # (48, 36, 1, 1): fan_in = 36, not fan_out 48
    assert _std(conv) == pytest.approx(math.sqrt(2 / 36), rel=0.05)
    assert not dense.classifier.bias.numpy().any() and dense.classifier.weight.numpy().any()
    google = models.googlenet(num_classes=10, variant="torchvision")
    weights = numpy.concatenate([p.numpy().ravel() for k, p in google.named_parameters() if ".conv.weight" in k])
    assert weights.std() == pytest.approx(0.01, rel=0.01) and numpy.abs(weights).max() < 0.07
    paper = models.googlenet(num_classes=10)  # no batch norm: the layer defaults
    assert paper.conv2.conv.weight.numpy().std() == pytest.approx(1 / math.sqrt(3 * 64), rel=0.1)


def test_trunc_normal_has_the_truncated_moments():
    """N(0.5, 1) truncated to [0, 1.5]: mean and variance from the closed form, every draw inside."""
    tm.manual_seed(3)
    draws = nn.init.trunc_normal_(tm.zeros(200_000, dtype=numpy.float64), mean=0.5, std=1.0, a=0.0, b=1.5).numpy()
    assert draws.min() >= 0.0 and draws.max() <= 1.5
    alpha, beta = -0.5, 1.0
    pdf = [math.exp(-(z**2) / 2) / math.sqrt(2 * math.pi) for z in (alpha, beta)]
    mass = (math.erf(beta / math.sqrt(2)) - math.erf(alpha / math.sqrt(2))) / 2
    mean = 0.5 + (pdf[0] - pdf[1]) / mass
    variance = 1 + (alpha * pdf[0] - beta * pdf[1]) / mass - ((pdf[0] - pdf[1]) / mass) ** 2
    assert draws.mean() == pytest.approx(mean, abs=0.004) and draws.var() == pytest.approx(variance, rel=0.01)


def _torchvision():
    torchvision = pytest.importorskip("torchvision")
    return torchvision.models


@pytest.mark.parametrize(
    "name, size",
    [("resnet18", 32), ("resnet50", 32), ("googlenet", 32), ("densenet121", 32), ("alexnet", 63)],
)
def test_torchvision_random_init_loads_as_it_is_and_the_logits_agree_in_float64(name, size):
    tv = _torchvision()
    import torch

    torch.manual_seed(0)
    reference = tv.googlenet(aux_logits=False, init_weights=True) if name == "googlenet" else getattr(tv, name)()
    reference = reference.double()
    with torch.no_grad():
        reference.train()(torch.randn(4, 3, size, size, dtype=torch.float64))  # running statistics off 0 and 1
    ours = BUILDS[name]().double()
    assert ours.load_state_dict(reference.state_dict()) == ([], [])  # torch tensors, as they are
    x = numpy.random.default_rng(0).standard_normal((2, 3, size, size))
    with torch.no_grad():
        expected = reference.eval()(torch.from_numpy(x)).numpy()
    with tm.no_grad():
        got = ours.eval()(tm.tensor(x)).numpy()
    scale = numpy.abs(expected).max()
    assert numpy.abs(got - expected).max() <= 1e-12 * scale


def test_resnet18_weights_travel_through_safetensors_to_torch_and_back(tmp_path):
    """tm.save -> .safetensors -> safetensors.torch.load_file (what a PyTorch user calls) gives torchvision's keys
    and shapes; those torch tensors load back into a fresh model as they are, with the same logits."""
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    model = models.resnet18(num_classes=5)
    path = tmp_path / "resnet18.safetensors"
    tm.save(model.state_dict(), str(path))
    weights = st_torch.load_file(str(path))
    assert all(isinstance(v, torch.Tensor) for v in weights.values())
    expected = {key: shape for key, shape in TORCHVISION["resnet18"]}
    expected["fc.weight"], expected["fc.bias"] = [5, 512], [5]
    assert {key: list(value.shape) for key, value in weights.items()} == expected
    twin = models.resnet18(num_classes=5)
    twin.load_state_dict(weights)
    model.eval(), twin.eval()
    x = tm.randn(1, 3, 64, 64)
    numpy.testing.assert_array_equal(model(x).numpy(), twin(x).numpy())


def test_resnet18_safetensors_loads_into_torchvision_with_the_same_logits(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    tv = pytest.importorskip("torchvision")
    model = models.resnet18(num_classes=5).eval()
    tm.save(model.state_dict(), str(tmp_path / "resnet18.safetensors"))
    weights = st_torch.load_file(str(tmp_path / "resnet18.safetensors"))
    x = tm.randn(1, 3, 64, 64)
    reference = tv.models.resnet18(num_classes=5).eval()
    reference.load_state_dict(weights)
    with torch.no_grad():
        logits = reference(torch.from_numpy(x.numpy())).numpy()
    numpy.testing.assert_allclose(model(x).numpy(), logits, rtol=1e-4, atol=1e-4)
