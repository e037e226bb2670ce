"""Models: output shapes (2D and 3D), parameter counts against the papers' architectures, registry, bad input."""

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med.errors import ShapeError
from tinygrad_med.models import MODELS, SmallCNN, UNet, UNet3D, UnknownNameError, create_model, resnet18


def _count(model):
    return sum(p.numel() for p in model.parameters())


def _conv(cin, cout, k, d=2, bias=True):
    return cin * cout * k**d + (cout if bias else 0)


def test_resnet18_has_the_papers_parameter_count():
    assert _count(resnet18(3, 1000)) == 11_689_512  # torchvision.models.resnet18()
    cifar = resnet18(3, 10, stem="cifar")
    assert _count(cifar) == 11_173_962  # the 3x3 stem, 10 classes (the usual CIFAR ResNet-18)
    assert cifar.maxpool is None and cifar.conv1.kernel_size == (3, 3) and cifar.conv1.stride == (1, 1)
    with pytest.raises(ValueError, match="stem must be"):
        resnet18(stem="tiny")


def test_resnet18_cifar_forward_and_backward():
    model = resnet18(1, 4, stem="cifar", width=4)
    out = model(tm.randn(2, 1, 8, 8))
    assert out.shape == (2, 4)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def _unet_count(widths, cin, classes, d=2):
    """Conv-BN-ReLU blocks (conv without bias, BN with 2 per channel), transposed 2x2 convs, 1x1 head."""

    def block(a, b):
        return _conv(a, b, 3, d, False) + 2 * b + _conv(b, b, 3, d, False) + 2 * b

    total = block(cin, widths[0]) + sum(block(widths[i], widths[i + 1]) for i in range(len(widths) - 1))
    for i in reversed(range(len(widths) - 1)):
        total += _conv(widths[i + 1], widths[i], 2, d) + block(2 * widths[i], widths[i])
    return total + _conv(widths[0], classes, 1, d)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_unet_2d_shapes_and_parameter_count(depth):
    model = UNet(1, 2, base_width=4, depth=depth)
    assert model(tm.randn(2, 1, 16, 24)).shape == (2, 2, 16, 24)
    assert _count(model) == _unet_count([4 * 2**i for i in range(depth + 1)], 1, 2)
    assert _count(UNet(1, 2)) == _unet_count([16, 32, 64], 1, 2)  # the default 16-32-64


def test_unet3d_shapes_and_gradients_reach_the_first_layer():
    model = UNet3D(1, 3, base_width=2)
    x = tm.randn(1, 1, 8, 8, 4)
    out = model(x)
    assert out.shape == (1, 3, 8, 8, 4) and _count(model) == _unet_count([2, 4, 8], 1, 3, d=3)
    out.sum().backward()
    first = model.down[0].body[0].weight
    assert first.grad is not None and numpy.abs(first.grad.numpy()).sum() > 0


def test_unet_refuses_sizes_that_do_not_halve():
    with pytest.raises(ShapeError, match=r"divisible by 2\*\*depth = 4.*x.shape=\(1, 1, 10, 16\)"):
        UNet(1, 2, base_width=2)(tm.randn(1, 1, 10, 16))
    with pytest.raises(ValueError, match="spatial_dims 2 or 3"):
        UNet(spatial_dims=1)


def test_small_cnn_and_mlp_classify():
    assert SmallCNN(1, 10, width=4)(tm.randn(3, 1, 8, 8)).shape == (3, 10)
    assert create_model("mlp", 1, 10)(tm.randn(3, 1, 8, 8)).shape == (3, 10)


def test_registry_builds_every_model_and_lists_valid_names():
    expected = {"cnn", "fcn", "hyperdense", "hyperdense2d", "mlp", "resnet18", "unet", "unet3d", "vnet"}
    assert expected <= set(MODELS)  # other families add their models too
    assert isinstance(create_model("unet", 1, 2), UNet) and isinstance(create_model("unet3d", 1, 3), UNet3D)
    with pytest.raises(UnknownNameError, match="unknown model 'vgg'; valid models: " + ", ".join(sorted(MODELS))):
        create_model("vgg", 1, 2)


def test_vnet_shapes_parameter_count_and_refusals():
    from tinygrad_med.models import VNet

    model = VNet(1, 3, base_width=2, depth=2, kernel_size=3, convs=1, norm="none")
    out = model(tm.randn(1, 1, 8, 4, 8))
    assert out.shape == (1, 3, 8, 4, 8)
    widths = [2, 4, 8]
    expected = _conv(1, 2, 3, 3) + 2  # input stage conv + PReLU slopes
    for a, b in zip(widths, widths[1:], strict=False):
        expected += _conv(a, b, 2, 3) + b + _conv(b, b, 3, 3) + b  # down conv + PReLU, stage conv + PReLU
        expected += _conv(b, a, 2, 3) + a + _conv(2 * a, a, 3, 3) + a  # up conv + PReLU, stage conv + PReLU
    assert _count(model) == expected + _conv(2, 3, 1, 3)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert _count(VNet(kernel_size=5, norm="none", convs=1)) > _count(VNet(kernel_size=3, norm="none", convs=1))
    with pytest.raises(ShapeError, match=r"divisible by 2\*\*depth = 4"):
        model(tm.randn(1, 1, 8, 6, 8))
    with pytest.raises(ValueError, match="odd kernel_size"):
        VNet(kernel_size=4)


def test_norm_choices_and_instance_norm_behaves_the_same_in_eval():
    model = UNet3D(1, 3, base_width=2, norm="instance")  # no running statistics
    x = tm.randn(2, 1, 8, 8, 8)
    train_out = model(x).numpy()
    assert numpy.allclose(model.eval()(x).numpy(), train_out, atol=1e-5)
    block_widths = 4 + 8 + 16 + 8 + 4  # two convs per block: BN's 2 per channel out, a bias of 1 per channel in
    assert (
        _count(UNet(1, 2, base_width=4, norm="none"))
        == _count(UNet(1, 2, base_width=4)) - 2 * block_widths * 2 + 2 * block_widths
    )
    with pytest.raises(ValueError, match="norm must be one of batch, instance, none; got 'group'"):
        UNet(norm="group")
