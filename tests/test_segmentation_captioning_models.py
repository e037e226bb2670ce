"""FCN, HyperDense-Net, nn.Embedding and the image-to-text model (models/fcn.py, hyperdense.py, captioning.py).

FCN: output shapes, the transposed convolutions start as bilinear interpolation (against
ops/resample.py::interpolate), an untrained FCN-8s equals FCN-32s (zero-initialised skips).
HyperDense-Net: the per-layer channel counts of the dense connectivity, and modality B reaching
path A.  Embedding: naive-loop forward, gradcheck, padding_idx, scale_grad_by_freq, max_norm, bad
input.  Captioning: the vocabulary, teacher-forced shapes and loss, greedy decoding stopping at
<end>, and learning "<digit name> <parity>" from the packaged 8x8 digits in a few seconds.
"""

import numpy
import pytest
import threadpoolctl
from conftest import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.models import FCN, HyperDenseNet, ImageCaptioner, Vocabulary, create_model
from tinygrad_med.models.fcn import bilinear_kernel, bilinear_upsampling_weight
from tinygrad_med.nn import functional as F


def _count(model):
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------------------- FCN
@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
def test_fcn_output_has_the_input_size_and_gradients_reach_the_first_conv(variant):
    model = FCN(1, 3, variant=variant, widths=(2, 2, 4, 4, 4), convs=1, fc_width=8)
    out = model(tm.randn(2, 1, 32, 64))
    assert out.shape == (2, 3, 32, 64)
    (out * out).sum().backward()
    assert numpy.abs(model.stages[0][0].weight.grad.numpy()).sum() > 0
    if variant == "8s":  # the zero-initialised skip scores still receive a gradient
        assert numpy.abs(model.score_pool3.weight.grad.numpy()).sum() > 0
    assert "final_upsampling" in dict(model.named_buffers())  # fixed, not trained
    assert all("final_upsampling" not in name for name, _ in model.named_parameters())


def test_fcn_parameter_count_follows_the_architecture():
    widths, fc, K = (2, 3, 4, 5, 5), 8, 3
    model = FCN(1, K, variant="8s", widths=widths, convs=2, fc_width=fc, norm="none")
    backbone, channels = 0, 1
    for w in widths:  # two 3x3 convs with bias per stage
        backbone += channels * w * 9 + w + w * w * 9 + w
        channels = w
    head = (widths[4] * fc * 9 + fc) + (fc * fc + fc) + (fc * K + K)  # fc6 3x3, fc7 1x1, score_fr
    skips = (widths[3] * K + K) + (widths[2] * K + K) + 2 * K * K * 4 * 4  # two 1x1 scores, two 4x4 up2
    assert _count(model) == backbone + head + skips


def test_untrained_fcn8s_starts_from_fcn32s_scores_because_the_skip_scores_start_at_zero():
    small = {"widths": (2, 2, 3, 3, 3), "convs": 1, "fc_width": 4}
    fcn32, fcn8 = FCN(1, 2, "32s", **small), FCN(1, 2, "8s", **small)
    fcn8.load_state_dict(fcn32.state_dict(), strict=False)  # same backbone, fc and score_fr
    fcn32.eval(), fcn8.eval()
    x = tm.randn(1, 1, 128, 96)
    with tm.no_grad():
        features = x
        for stage in fcn32.stages:
            features = stage(features)
        score = fcn32.score_fr(fcn32.fc(features))  # (1, 2, 4, 3): FCN-32s's coarse scores
        up2 = tm.Tensor(bilinear_upsampling_weight(2, 2))
        up8 = tm.Tensor(bilinear_upsampling_weight(2, 8))
        chain = F.conv_transpose2d(F.conv_transpose2d(score, up2, None, 2, 1), up2, None, 2, 1)
        expected = F.conv_transpose2d(chain, up8, None, 8, 4)  # bilinear x2, x2, x8 of the same scores
        assert_close(fcn8(x), expected)
        # the two nets differ only by resampling x32 in one step or three: close in the interior
        a, b = fcn32(x).numpy()[..., 32:-32, 32:-32], fcn8(x).numpy()[..., 32:-32, 32:-32]
    assert a.size and numpy.abs(a - b).max() < 0.03 * numpy.abs(a).max()


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_bilinear_transposed_convolution_is_bilinear_interpolation_inside_the_borders(factor):
    x = numpy.random.default_rng(factor).normal(size=(2, 3, 5, 4))
    ramp = numpy.broadcast_to(numpy.arange(5.0)[:, None] * 2 - numpy.arange(4.0) * 0.5, (1, 3, 5, 4))
    weight = tm.Tensor(bilinear_upsampling_weight(3, factor).astype(numpy.float64))
    margin = factor // 2  # outputs whose source coordinate (o + 1/2)/f - 1/2 lies inside the input
    for data in (x, ramp.copy()):
        up = F.conv_transpose2d(tm.Tensor(data), weight, None, factor, factor // 2).numpy()
        ref = F.interpolate(tm.Tensor(data), scale_factor=factor, mode="bilinear", align_corners=False).numpy()
        assert up.shape == ref.shape == data.shape[:2] + (5 * factor, 4 * factor)
        inner = (Ellipsis, slice(margin, -margin), slice(margin, -margin))
        numpy.testing.assert_allclose(up[inner], ref[inner], atol=1e-12)
    # on a constant image every interior output is the constant; at the border a zero is mixed in
    const = F.conv_transpose2d(tm.Tensor(numpy.full((1, 3, 4, 4), 2.0)), weight, None, factor, factor // 2).numpy()
    numpy.testing.assert_allclose(const[..., margin:-margin, margin:-margin], 2.0)
    assert const[0, 0, 0, 0] < 2.0


def test_fcn_upsampling_layers_start_as_bilinear_and_depthwise_final_equals_full():
    model = FCN(1, 3, "8s", widths=(2, 2, 2, 2, 2), convs=1, fc_width=4)
    numpy.testing.assert_array_equal(model.up2_pool5.weight.numpy(), bilinear_upsampling_weight(3, 2))
    assert model.up2_pool5.bias is None and model.up2_pool5.weight.requires_grad
    full = tm.Tensor(bilinear_upsampling_weight(3, 8))
    x = tm.randn(1, 3, 3, 3)
    depthwise = F.conv_transpose2d(x, model.final_upsampling, None, 8, 4, 0, 3)
    assert_close(depthwise, F.conv_transpose2d(x, full, None, 8, 4))
    assert bilinear_kernel(2).tolist() == [[w * v for v in (0.25, 0.75, 0.75, 0.25)] for w in (0.25, 0.75, 0.75, 0.25)]


def test_fcn_bad_input():
    with pytest.raises(ShapeError, match=r"divisible by 32.*\(1, 1, 48, 40\)"):
        FCN(1, 2, widths=(2, 2, 2, 2, 2), convs=1, fc_width=4)(tm.randn(1, 1, 48, 40))
    with pytest.raises(ValueError, match="variant"):
        FCN(variant="4s")
    with pytest.raises(ValueError, match="even integer"):
        bilinear_kernel(3)


# ------------------------------------------------------------------------------ HyperDense-Net
def test_hyperdense_channel_counts_follow_the_dense_connectivity_formula():
    M, widths, head = 3, (2, 3, 4, 5), (6,)
    model = HyperDenseNet(M, 4, widths=widths, head_widths=head, spatial_dims=2)
    for path in model.paths:
        counts = [layer.conv.in_channels for layer in path]
        assert counts == [1] + [M * sum(widths[:l]) for l in range(1, len(widths))] == [1, 6, 15, 27]
        assert [layer.conv.out_channels for layer in path] == list(widths)
    first_head_conv = next(m for m in model.head.modules() if isinstance(m, nn.Conv2d))
    assert first_head_conv.in_channels == M * sum(widths) == 42


def test_hyperdense_modality_b_reaches_the_later_features_of_path_a():
    model = HyperDenseNet(2, 3, widths=(2, 2, 3), head_widths=(4,), spatial_dims=2)
    model.eval()  # batch norm with running statistics: the samples do not mix
    x = numpy.random.default_rng(0).normal(size=(1, 2, 8, 8)).astype(numpy.float32)
    changed = x.copy()
    changed[:, 1] += numpy.random.default_rng(1).normal(size=(8, 8)).astype(numpy.float32)  # modality B only
    a, b = model.features(tm.Tensor(x)), model.features(tm.Tensor(changed))
    numpy.testing.assert_array_equal(a[0][0].numpy(), b[0][0].numpy())  # layer 0 of path A sees A alone
    for layer in (1, 2):
        assert numpy.abs(a[0][layer].numpy() - b[0][layer].numpy()).max() > 1e-4
    assert numpy.abs(model(tm.Tensor(x)).numpy() - model(tm.Tensor(changed)).numpy()).max() > 1e-4


def test_hyperdense_shapes_3d_same_2d_valid_and_bad_input():
    model = HyperDenseNet(2, 3, widths=(2, 2), head_widths=(4,))
    out = model(tm.randn(1, 2, 4, 6, 4))
    assert out.shape == (1, 3, 4, 6, 4)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    valid = HyperDenseNet(2, 3, widths=(2, 2, 2), head_widths=(4,), spatial_dims=2, padding="valid")
    assert valid(tm.randn(2, 2, 11, 9)).shape == (2, 3, 5, 3)  # 3 valid 3x3 convs: -6 per axis
    with pytest.raises(ShapeError, match=r"2 modalities.*\(1, 3, 8, 8\)"):
        valid(tm.randn(1, 3, 8, 8))
    with pytest.raises(ShapeError, match="'valid' needs"):
        valid(tm.randn(1, 2, 6, 9))
    with pytest.raises(ValueError, match="padding"):
        HyperDenseNet(padding="full")


@settings(max_examples=12, deadline=None)
@given(
    modalities=st.integers(1, 3),
    widths=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    size=st.tuples(st.integers(7, 10), st.integers(7, 10)),
    valid=st.booleans(),
)
def test_hyperdense_shapes_and_channels_for_random_configurations(modalities, widths, size, valid):
    # Batch 2: 'valid' with three layers shrinks 7x7 to 1x1, and training-mode batch norm needs more
    # than one value per channel (batch 1 at 1x1 is refused, as in PyTorch; see the test below).
    model = HyperDenseNet(
        modalities, 2, widths=widths, head_widths=(3,), spatial_dims=2, padding="valid" if valid else "same"
    )
    features = model.features(tm.randn(2, modalities, *size))
    for path in features:
        for layer, feature in enumerate(path):
            shrink = 2 * (layer + 1) if valid else 0
            assert feature.shape == (2, widths[layer], size[0] - shrink, size[1] - shrink)
    for path in model.paths:
        assert [layer.conv.in_channels for layer in path] == [1] + [
            modalities * sum(widths[:l]) for l in range(1, len(widths))
        ]
    shrink = 2 * len(widths) if valid else 0
    assert model(tm.randn(2, modalities, *size)).shape == (2, 2, size[0] - shrink, size[1] - shrink)


def test_hyperdense_valid_down_to_one_pixel_needs_more_than_one_image_in_training():
    model = HyperDenseNet(1, 2, widths=(1, 1, 1), head_widths=(3,), spatial_dims=2, padding="valid")
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        model(tm.randn(1, 1, 7, 7))
    assert model(tm.randn(2, 1, 7, 7)).shape == (2, 2, 1, 1)
    model.eval()  # running statistics: one image is fine
    assert model(tm.randn(1, 1, 7, 7)).shape == (1, 2, 1, 1)


def test_registered_segmentation_models_build_with_the_training_loops_arguments():
    assert create_model("fcn", 1, 2)(tm.randn(1, 1, 32, 32)).shape == (1, 2, 32, 32)
    assert create_model("hyperdense2d", 1, 3, widths=(2, 2), head_widths=(4,))(tm.randn(1, 1, 5, 7)).shape == (
        1,
        3,
        5,
        7,
    )
    assert isinstance(create_model("hyperdense", 2, 3), HyperDenseNet)


# ------------------------------------------------------------------------------------ Embedding
def test_embedding_forward_is_the_row_lookup(device):
    weight = numpy.random.default_rng(0).normal(size=(6, 3)).astype(numpy.float32)
    ids = numpy.array([[5, 0, 2], [2, 2, 1]])
    y = F.embedding(device.tensor(ids), device.tensor(weight, requires_grad=True))
    expected = numpy.zeros((2, 3, 3), numpy.float32)
    for i in range(2):
        for j in range(3):
            expected[i, j] = weight[ids[i, j]]
    assert_close(y, expected, rtol=0, atol=0)
    W = device.tensor(weight, requires_grad=True)
    F.embedding(device.tensor(ids), W, padding_idx=1).backward(device.tensor(numpy.ones((2, 3, 3), numpy.float32)))
    # row 2 is used three times, rows 0 and 5 once, the padding row 1 never gets a gradient
    assert_close(W.grad, numpy.array([1, 0, 3, 0, 0, 1], numpy.float32)[:, None].repeat(3, 1), rtol=0, atol=0)


def test_embedding_gradcheck_and_scale_grad_by_freq():
    ids = tm.tensor(numpy.array([[1, 3, 1], [0, 4, 1]]))
    weight = tm.Tensor(numpy.random.default_rng(1).uniform(-1, 1, (5, 3)), requires_grad=True)
    assert tm.gradcheck(lambda w: F.embedding(ids, w) * tm.Tensor(numpy.arange(18.0).reshape(2, 3, 3)), [weight]).passed
    w = tm.Tensor(numpy.ones((5, 2)), requires_grad=True)
    F.embedding(ids, w, scale_grad_by_freq=True).sum().backward()
    numpy.testing.assert_allclose(w.grad.numpy()[:, 0], [1, 1, 0, 1, 1])  # id 1 appears 3 times: 3 * 1/3


def test_embedding_module_padding_idx_init_max_norm_and_from_pretrained():
    layer = nn.Embedding(7, 4, padding_idx=-1)
    assert layer.padding_idx == 6 and layer.weight.shape == (7, 4)
    numpy.testing.assert_array_equal(layer.weight.numpy()[6], 0)
    assert numpy.abs(layer.weight.numpy()[:6]).std() > 0.3  # N(0, 1)
    layer(tm.tensor(numpy.array([6, 6, 2]))).sum().backward()
    numpy.testing.assert_array_equal(layer.weight.grad.numpy()[6], 0)
    numpy.testing.assert_array_equal(layer.weight.grad.numpy()[2], 1)
    table = tm.Tensor(numpy.array([[3.0, 4.0], [0.3, 0.4]]))
    capped = nn.Embedding.from_pretrained(table, max_norm=1.0)
    assert not capped.weight.requires_grad
    out = capped(tm.tensor(numpy.array([0, 1]))).numpy()
    numpy.testing.assert_allclose(out, [[0.6, 0.8], [0.3, 0.4]], rtol=1e-6)  # row 0 renormed in place
    numpy.testing.assert_allclose(capped.weight.numpy()[0], [0.6, 0.8], rtol=1e-6)


def test_embedding_bad_input():
    weight = tm.randn(4, 2)
    with pytest.raises(IndexError, match=r"ids must be in \[0, 4\); got ids from 0 to 4"):
        F.embedding(tm.tensor(numpy.array([0, 4])), weight)
    with pytest.raises(DTypeError, match="integer ids"):
        F.embedding(tm.tensor(numpy.array([0.0, 1.0])), weight)
    with pytest.raises(ShapeError, match=r"2-D.*\(4, 2, 1\)"):
        F.embedding(tm.tensor(numpy.array([0])), tm.randn(4, 2, 1))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)


# ----------------------------------------------------------------------------------- captioning
NAMES = "zero one two three four five six seven eight nine".split()


def _caption(digit):
    return f"{NAMES[digit]} {'even' if digit % 2 == 0 else 'odd'}"


def test_vocabulary_encodes_pads_and_decodes():
    vocab = Vocabulary.build(["a b b", "c b"])
    assert vocab.itos == ["<pad>", "<start>", "<end>", "<unk>", "b", "a", "c"]  # most frequent first
    assert vocab.encode("a c zz", length=7) == [1, 5, 6, 3, 2, 0, 0]
    batch = vocab.encode_batch(["a", "c b a"])
    assert batch.dtype == numpy.int64 and batch.tolist() == [[1, 5, 2, 0, 0], [1, 6, 4, 5, 2]]
    assert vocab.decode([1, 6, 4, 2, 5, 0]) == "c b"  # stops at <end>
    with pytest.raises(ValueError, match="needs 5 tokens > length 4"):
        vocab.encode("a b c", length=4)


def test_captioner_teacher_forcing_shapes_and_loss_ignores_padding():
    model = ImageCaptioner(9, embed_size=6, hidden_size=5, widths=(3,))
    images, captions = tm.randn(2, 1, 8, 8), tm.tensor(numpy.array([[1, 4, 5, 2, 0], [1, 6, 2, 0, 0]]))
    logits = model(images, captions)
    assert logits.shape == (2, 4, 9)
    targets = captions.numpy()[:, 1:]
    logp = logits.numpy() - numpy.log(numpy.exp(logits.numpy()).sum(-1, keepdims=True))
    real = targets != 0
    expected = -numpy.take_along_axis(logp, targets[..., None], -1)[..., 0][real].mean()
    numpy.testing.assert_allclose(model.loss(images, captions).item(), expected, rtol=1e-5)
    with pytest.raises(ShapeError, match=r"captions must be \(N, T >= 2\)"):
        model(images, tm.tensor(numpy.array([[1, 2]])))


def test_greedy_decoding_stops_at_the_end_token():
    model = ImageCaptioner(6, embed_size=4, hidden_size=4, widths=(2,))
    model.output.bias.data[...] = numpy.array([0, 0, 50, 0, 0, 0], numpy.float32)  # <end> always wins
    assert model.generate(tm.randn(3, 1, 8, 8), max_length=10).tolist() == [[2], [2], [2]]
    model.output.bias.data[...] = numpy.array([0, 0, 0, 0, 50, 0], numpy.float32)  # never <end>
    assert model.generate(tm.randn(2, 1, 8, 8), max_length=5).shape == (2, 5)


def test_captioner_learns_digit_name_and_parity_from_the_packaged_digits():
    """Exact-match accuracy on the 359 held-out digits: chance is 10 %, 4 epochs on the CPU reach ~90 %."""
    from tinygrad_med.data.digits import load_digits, stratified_split

    pytest.importorskip("sklearn")
    images, labels = load_digits()
    train, test = stratified_split(labels)
    captions = [_caption(d) for d in labels]
    vocab = Vocabulary.build(captions)
    ids = vocab.encode_batch(captions)  # (1797, 4): <start> name parity <end>
    model = ImageCaptioner(len(vocab))
    optimizer = tm.optim.Adam(model.parameters(), lr=3e-3)
    rng = numpy.random.default_rng(0)
    # (64 x 64) products: BLAS worker threads only spin here (9 s instead of 1.2 s on a loaded 2-core box)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        for _ in range(4):
            order = rng.permutation(train)
            for start in range(0, len(order) - 63, 64):
                batch = order[start : start + 64]
                loss = model.loss(tm.Tensor(images[batch]), tm.Tensor(ids[batch]))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        generated = model.generate(tm.Tensor(images[test]), max_length=10)
    assert generated.shape[1] < 10  # decoding stopped early: every caption produced <end>
    for row in generated:
        end = list(row).index(vocab.end_id)  # raises if a caption has no <end>
        assert (row[end + 1 :] == vocab.pad_id).all()
    accuracy = numpy.mean([vocab.decode(row) == captions[i] for row, i in zip(generated, test, strict=True)])
    assert accuracy > 0.6, accuracy
