"""The lecture's classification architectures: AlexNet, ZF Net, VGG, GoogLeNet, DenseNet, the 3D CNN.

Parameter counts are computed from our modules and compared with the published numbers:
torchvision's documented num_params (alexnet 61,100,840; vgg11 132,863,336; vgg13 133,047,848;
vgg16 138,357,544; vgg19 143,667,240; vgg16_bn 138,365,992; googlenet 6,624,904 as documented,
i.e. without the auxiliary heads, 13,004,888 with them; densenet121 7,978,856; densenet169
14,149,480) and counts written out here layer by layer from the papers' tables.  Building the
full-size models only to count their weights would spend seconds drawing 140M random numbers,
so those tests skip the random initialisation (the count does not depend on it).
Forward passes run on small inputs with small widths, on the CPU.
"""

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.errors import ShapeError
from tinygrad_med.models.alexnet import LRN_PAPER, AlexNet, alexnet, zfnet
from tinygrad_med.models.cnn3d import AlzheimerCNN3D, cnn3d_feature_size
from tinygrad_med.models.densenet import DenseNet, densenet121, densenet169
from tinygrad_med.models.googlenet import INCEPTION_TABLE, GoogLeNetOutputs, googlenet, googlenet_loss
from tinygrad_med.models.vgg import VGG, vgg11, vgg13, vgg16, vgg19
from tinygrad_med.nn.receptive_field import receptive_field


def _count(model):
    return sum(p.numel() for p in model.parameters())


def _conv(cin, cout, k, bias=True, d=2, groups=1):
    return cout * (cin // groups) * k**d + (cout if bias else 0)


def _fc(fin, fout):
    return fin * fout + fout


# ---------------------------------------------------------------------------------------------- counts
def test_alexnet_parameter_counts(no_random_init):
    assert _count(alexnet(variant="torchvision")) == 61_100_840  # torchvision.models.alexnet()
    fc = _fc(256 * 36, 4096) + _fc(4096, 4096) + _fc(4096, 1000)
    paper = _conv(3, 96, 11) + _conv(96, 256, 5) + _conv(256, 384, 3) + _conv(384, 384, 3) + _conv(384, 256, 3)
    assert _count(alexnet()) == paper + fc == 62_378_344  # the paper's layers on one GPU: the lecture's "~62M"
    two_gpus = (_conv(3, 96, 11) + _conv(96, 256, 5, groups=2) + _conv(256, 384, 3) + _conv(384, 384, 3, groups=2)
                + _conv(384, 256, 3, groups=2))  # fmt: skip
    assert _count(alexnet(groups=2)) == two_gpus + fc == 60_965_224  # the paper's "60 million parameters"


def test_zfnet_parameter_count_and_the_map_sizes_of_fig3(no_random_init):
    model = zfnet()
    layers = _conv(3, 96, 7) + _conv(96, 256, 5) + _conv(256, 384, 3) + _conv(384, 384, 3) + _conv(384, 256, 3)
    assert _count(model) == layers + _fc(256 * 36, 4096) + _fc(4096, 4096) + _fc(4096, 1000) == 62_357_608
    sizes = [row.output_size[0] for row in receptive_field(model, 224)[1:]]
    assert sizes == [110, 55, 26, 13, 13, 13, 13, 6]  # conv1, pool1, conv2, pool2, conv3-5, pool5 (Fig. 3)
    assert receptive_field(model, 224)[1].kernel == (7, 7) and receptive_field(model, 224)[1].stride == (2, 2)


def test_vgg_parameter_counts(no_random_init):
    assert _count(vgg11()) == 132_863_336
    assert _count(vgg13()) == 133_047_848
    assert _count(vgg16()) == 138_357_544  # Table 2: 138M
    assert _count(vgg19()) == 143_667_240  # Table 2: 144M
    assert _count(vgg16(batch_norm=True)) == 138_365_992  # torchvision.models.vgg16_bn
    assert _count(VGG("D", 3, 10)) == 138_357_544 - _fc(4096, 1000) + _fc(4096, 10)


def test_vgg_two_3x3_convolutions_see_what_one_5x5_sees_with_fewer_weights():
    block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
    assert receptive_field(block, 32)[-1].receptive_field == (5, 5)
    assert _count(block) - 16 == 2 * 9 * 8 * 8 < 25 * 8 * 8  # 18 C^2 against 25 C^2 weights


def _googlenet_paper_count(aux):
    """GoogLeNet from Table 1 of Szegedy et al. (arXiv:1409.4842): conv layers with biases, 5x5 branches."""
    rows = INCEPTION_TABLE.values()
    total, channels = _conv(3, 64, 7) + _conv(64, 64, 1) + _conv(64, 192, 3), 192
    for ch1, red3, ch3, red5, ch5, proj in rows:
        total += _conv(channels, ch1, 1) + _conv(channels, red3, 1) + _conv(red3, ch3, 3)
        total += _conv(channels, red5, 1) + _conv(red5, ch5, 5) + _conv(channels, proj, 1)
        channels = ch1 + ch3 + ch5 + proj
    total += _fc(1024, 1000)
    if aux:  # two heads: 1x1 conv 128, FC 2048 -> 1024, FC 1024 -> 1000 (section 5)
        total += sum(_conv(c, 128, 1) + _fc(128 * 16, 1024) + _fc(1024, 1000) for c in (512, 528))
    return total


def test_googlenet_parameter_counts(no_random_init):
    assert _count(googlenet(variant="torchvision", aux_logits=False)) == 6_624_904  # torchvision's num_params
    assert _count(googlenet(variant="torchvision")) == 13_004_888  # with the two auxiliary heads
    assert _count(googlenet(aux_logits=False)) == _googlenet_paper_count(False) == 6_998_552
    assert _count(googlenet()) == _googlenet_paper_count(True) == 13_378_280


def test_googlenet_against_the_params_column_of_table_1(no_random_init):
    """Table 1 counts weights (no biases) in units of 1024; its rows are approximate (4c: 463K listed,
    497.5K from its own columns), so the rows are compared within 8 % and the total within 3 %."""
    table_k = {"3a": 159, "3b": 380, "4a": 364, "4b": 437, "4c": 463, "4d": 580, "4e": 840, "5a": 1072, "5b": 1388}
    model = googlenet(aux_logits=False)
    blocks = {name: getattr(model, "inception" + name) for name in table_k}
    for name, listed in table_k.items():
        weights = sum(p.numel() for key, p in blocks[name].named_parameters() if key.endswith("weight"))
        assert abs(weights / 1024 - listed) <= 0.08 * listed, name
    weights = sum(p.numel() for key, p in model.named_parameters() if key.endswith("weight"))
    listed_total = (2.7 + 112 + sum(table_k.values()) + 1000) * 1024  # 6.96M; conv1's 2.7K is a misprint (9.4K)
    assert abs(weights - listed_total) <= 0.03 * listed_total


def test_googlenet_has_about_12x_fewer_parameters_than_alexnet(no_random_init):
    """The lecture's "12x fewer" uses the round numbers 60M / 5M (Inception-v3 paper, arXiv:1512.00567);
    exact counts give 9.2x (torchvision's layouts) and 8.9x (the papers' layouts), deployed without aux heads."""
    torchvision = _count(alexnet(variant="torchvision")) / _count(googlenet(variant="torchvision", aux_logits=False))
    paper = _count(alexnet()) / _count(googlenet(aux_logits=False))
    assert 9.2 < torchvision < 9.3 and 8.9 < paper < 9.0
    assert 8 < min(torchvision, paper) and max(torchvision, paper) < 13
    assert _count(googlenet(aux_logits=False)) < 7_000_000 < 60_000_000 < _count(alexnet())


def test_densenet_parameter_counts(no_random_init):
    assert _count(densenet121()) == 7_978_856
    assert _count(densenet169()) == 14_149_480
    growth, channels, expected = 32, 64, _conv(3, 64, 7, bias=False) + 2 * 64  # stem conv + BN
    for index, layers in enumerate((6, 12, 24, 16)):
        for _ in range(layers):  # BN, conv1x1 to 4k, BN, conv3x3 to k
            expected += 2 * channels + _conv(channels, 4 * growth, 1, False) + 2 * 4 * growth
            expected += _conv(4 * growth, growth, 3, False)
            channels += growth
        if index < 3:  # transition: BN, conv1x1 to half the channels
            expected += 2 * channels + _conv(channels, channels // 2, 1, False)
            channels //= 2
    assert channels == 1024 and _count(densenet121()) == expected + 2 * 1024 + _fc(1024, 1000)


# ---------------------------------------------------------------------------------------------- forward
@pytest.mark.parametrize(
    "build, size",
    [
        (lambda: alexnet(3, 5, hidden=16), 63),  # the smallest input AlexNet takes
        (lambda: alexnet(3, 5, variant="torchvision", hidden=16), 64),
        (lambda: alexnet(3, 5, groups=2, hidden=16), 70),
        (lambda: zfnet(3, 5, hidden=16), 53),
        (lambda: vgg11(3, 5, width=4, hidden=16), 32),
        (lambda: vgg16(1, 5, batch_norm=True, width=4, hidden=16), 40),
    ],
)
def test_alexnet_zfnet_vgg_classify_small_inputs(build, size):
    model = build()
    out = model(tm.randn(2, model.features[0].in_channels, size, size))
    assert out.shape == (2, 5) and numpy.isfinite(out.numpy()).all()
    out.sum().backward()  # through LRN, grouped convs, adaptive pooling, dropout
    assert all(p.grad is not None for p in model.parameters())


def test_the_lrn_flag():
    def lrns(model):
        return sum(isinstance(m, nn.LocalResponseNorm) for m in model.modules())

    assert lrns(alexnet(hidden=8)) == 2 and lrns(alexnet(variant="torchvision", hidden=8)) == 0
    assert lrns(alexnet(lrn=False, hidden=8)) == 0 and lrns(alexnet(variant="torchvision", lrn=True, hidden=8)) == 2
    assert lrns(zfnet(hidden=8)) == 2 and lrns(zfnet(lrn=False, hidden=8)) == 0
    assert lrns(googlenet(num_classes=2)) == 2 and lrns(googlenet(num_classes=2, variant="torchvision")) == 0
    layer = alexnet(hidden=8).features[2]
    assert (layer.size, layer.alpha, layer.beta, layer.k) == (5, 5e-4, 0.75, 2.0)  # the paper's n, alpha*n, beta, k
    assert LRN_PAPER["alpha"] / LRN_PAPER["size"] == pytest.approx(1e-4)


def test_googlenet_aux_outputs_in_training_only_and_every_parameter_gets_a_gradient():
    tm.manual_seed(0)
    model = googlenet(3, 4, variant="torchvision")
    x, target = tm.randn(2, 3, 32, 32), tm.tensor(numpy.array([1, 3]))
    outputs = model(x)
    assert isinstance(outputs, GoogLeNetOutputs) and [o.shape for o in outputs] == [(2, 4)] * 3
    googlenet_loss(outputs, target).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not numpy.abs(p.grad.numpy()).any()]
    assert not missing, missing
    model.eval()
    assert model(x).shape == (2, 4)  # eval: the logits alone
    model.train()
    assert googlenet(3, 4, aux_logits=False, variant="torchvision")(x).shape == (2, 4)


def test_googlenet_stage_widths_and_the_aux_heads_feed_the_middle_layers():
    tm.manual_seed(1)
    model = googlenet(1, 3, variant="paper")
    x = model.stem(tm.randn(2, 1, 64, 64))
    assert x.shape == (2, 192, 8, 8)  # 224 -> 28 in Table 1: H/8
    x = model.inception4a(model.maxpool3(model.inception3b(model.inception3a(x))))
    assert x.shape == (2, 512, 4, 4)  # 14 x 14 at 224: H/16
    x = model.inception4d(model.inception4c(model.inception4b(x)))
    assert x.shape == (2, 528, 4, 4)
    assert model.inception5b(model.inception5a(model.maxpool4(model.inception4e(x)))).shape == (2, 1024, 2, 2)
    assert model.aux1(tm.randn(2, 512, 14, 14)).shape == (2, 3)  # avgpool 5x5/3: 14 x 14 -> 4 x 4
    assert model.aux1.pool.kernel_size == 5 and model.aux1.pool.stride == 3
    small = googlenet(1, 3, variant="torchvision")  # adaptive aux pooling: any input size
    aux1 = small(tm.randn(2, 1, 32, 32)).aux_logits1
    aux1.sum().backward()  # an auxiliary loss alone reaches the stem: "inject gradient in middle layers"
    assert small.conv1.conv.weight.grad is not None and small.inception5a.branch1.conv.weight.grad is None


@pytest.mark.parametrize("variant, smallest", [("torchvision", 15), ("paper", 31)])
def test_googlenet_smallest_inputs(variant, smallest):
    model = googlenet(1, 2, aux_logits=False, variant=variant).eval()
    assert model(tm.randn(1, 1, smallest, smallest)).shape == (1, 2)
    with pytest.raises(ShapeError, match="max_pool2d: the window"):
        model(tm.randn(1, 1, smallest - 1, smallest - 1))


def test_googlenet_paper_aux_heads_take_inputs_223_to_270():
    """The paper's aux heads pool 5x5/3 into 128*4*4 inputs: maps of 14-16 px at H/16, inputs 223-270."""
    model = googlenet(1, 2, variant="paper")

    def to_4a(size):  # the input of aux1
        x = model.inception3b(model.inception3a(model.stem(tm.randn(1, 1, size, size))))
        return model.inception4a(model.maxpool3(x))

    with tm.no_grad():
        for size in (223, 270):
            assert model.aux1(to_4a(size)).shape == (1, 2)
        for size in (222, 271):
            x = to_4a(size)
            with pytest.raises(ShapeError, match="linear"):
                model.aux1(x)


def test_googlenet_loss_weights_the_aux_losses_by_0_3():
    logits, aux2, aux1 = (tm.randn(3, 4) for _ in range(3))
    target = tm.tensor(numpy.array([0, 1, 3]))
    ce = nn.functional.cross_entropy
    total = googlenet_loss(GoogLeNetOutputs(logits, aux2, aux1), target)
    expected = ce(logits, target).item() + 0.3 * (ce(aux1, target).item() + ce(aux2, target).item())
    assert total.item() == pytest.approx(expected, rel=1e-6)
    assert googlenet_loss(logits, target).item() == pytest.approx(ce(logits, target).item())


def test_densenet_blocks_grow_by_k_per_layer_and_small_inputs_work():
    tm.manual_seed(2)
    model = DenseNet(growth_rate=4, block_config=(2, 3), num_init_features=6, in_channels=1, num_classes=3,
                     stem="cifar")  # fmt: skip
    block, transition = model.features.denseblock1, model.features.transition1
    x = tm.randn(2, 6, 8, 8)
    assert block(x).shape == (2, 6 + 2 * 4, 8, 8) and transition(block(x)).shape == (2, 7, 4, 4)
    assert model(tm.randn(2, 1, 8, 8)).shape == (2, 3)
    assert densenet121(3, 5).eval()(tm.randn(1, 3, 32, 32)).shape == (1, 5)  # 32 -> 1 x 1 maps at the end


def test_alzheimer_3d_cnn_shapes_and_adaptation():
    assert cnn3d_feature_size((64, 64, 64)) == (6, 6, 6) and cnn3d_feature_size((22, 30, 46)) == (1, 2, 4)
    model = AlzheimerCNN3D(1, 3, input_size=(22, 30, 46), widths=(2, 3, 4), hidden=(8, 5))
    out = model(tm.randn(2, 1, 22, 30, 46))
    assert out.shape == (2, 3)
    assert _count(model) == _conv(1, 2, 3, d=3) + _conv(2, 3, 3, d=3) + _conv(3, 4, 3, d=3) + _fc(
        4 * 1 * 2 * 4, 8
    ) + _fc(8, 5) + _fc(5, 3)
    model.freeze_features()
    model(tm.randn(2, 1, 22, 30, 46)).sum().backward()
    grads = {name: p.grad is not None for name, p in model.named_parameters()}
    assert not any(v for k, v in grads.items() if k.startswith("features")) and all(
        v for k, v in grads.items() if k.startswith("classifier")
    )
    convs = _conv(1, 10, 3, d=3) + 2 * _conv(10, 10, 3, d=3)  # the defaults: 64^3 volumes -> 6^3 maps
    assert _count(AlzheimerCNN3D()) == convs + _fc(10 * 216, 2000) + _fc(2000, 500) + _fc(500, 3)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="variant must be 'paper' or 'torchvision', got 'caffe'"):
        AlexNet(variant="caffe")
    with pytest.raises(ValueError, match="groups must be 1 or 2"):
        AlexNet(groups=3)
    with pytest.raises(ValueError, match="config must be one of A, B, D, E, got 'C'"):
        VGG("C")
    with pytest.raises(ValueError, match="variant must be 'paper' or 'torchvision'"):
        googlenet(variant="v3")
    with pytest.raises(ValueError, match="stem must be 'imagenet' or 'cifar'"):
        DenseNet(stem="tiny")
    with pytest.raises(ShapeError, match=r"input_size \(20, 64, 64\) is too small"):
        AlzheimerCNN3D(input_size=(20, 64, 64))
    model = AlzheimerCNN3D(input_size=(22, 22, 22), widths=(1, 1, 1), hidden=(2,))
    with pytest.raises(ShapeError, match=r"expected volumes of size \(22, 22, 22\).*x.shape=\(1, 1, 22, 22, 23\)"):
        model(tm.randn(1, 1, 22, 22, 23))


def test_densenet_is_registered_for_tgm_train_on_small_images():
    from tinygrad_med.models import MODELS, create_model

    assert "densenet" in MODELS
    model = create_model("densenet", 1, 10)
    assert model(tm.randn(4, 1, 8, 8)).shape == (4, 10)  # the packaged 8 x 8 digits
    assert isinstance(model, DenseNet) and model.features.conv0.kernel_size == (3, 3)
    assert create_model("densenet", 1, 10, growth_rate=6).features.denseblock1.denselayer1.conv2.out_channels == 6
