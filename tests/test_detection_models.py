"""Detection models (lecture: "Object detection" and "Instance segmentation - Mask R-CNN"): the RPN's anchor
matching, sampling, targets and loss against hand-made cases; Fast R-CNN's sampling, loss and postprocessing;
Mask R-CNN's mask targets and pasting; the synthetic dataset; every loss term falls and every parameter gets a
gradient; Faster R-CNN learns the synthetic discs and squares on the CPU; the eval-mode output format."""

import time

import numpy
import pytest
from conftest import assert_close

import tinygrad_med as tm
from tinygrad_med.data.detection import ShapesDetectionDataset, collate_detection, instances_to_targets
from tinygrad_med.errors import ShapeError
from tinygrad_med.models.faster_rcnn import (
    FasterRCNN,
    fastrcnn_loss,
    postprocess_detections,
    select_training_samples,
)
from tinygrad_med.models.mask_rcnn import MaskRCNN, maskrcnn_loss, paste_masks_in_image, project_masks_on_boxes
from tinygrad_med.models.rpn import match_boxes, rpn_loss, rpn_targets, sample_balanced
from tinygrad_med.ops.boxes import box_iou, decode_boxes


def _t(array, requires_grad=False):
    return tm.tensor(numpy.asarray(array, dtype=numpy.float64), requires_grad=requires_grad)


def _bce(logit, target):
    return numpy.log1p(numpy.exp(-abs(logit))) + max(logit, 0) - logit * target


def _smooth_l1(d, beta):
    d = abs(d)
    return 0.5 * d * d / beta if d < beta else d - 0.5 * beta


# ----------------------------------------------------------------------------- matching and sampling


def test_match_boxes_thresholds_and_low_quality_matches():
    iou = numpy.array([[0.9, 0.5, 0.2, 0.1], [0.1, 0.6, 0.25, 0.35]])  # (G=2, A=4)
    # anchor 0: 0.9 >= 0.7 -> gt 0; anchor 1: 0.6 in [0.3, 0.7) -> ignored; 2: 0.25 < 0.3 -> background; 3: ignored
    assert match_boxes(iou, 0.7, 0.3).tolist() == [0, -2, -1, -2]
    # gt 1's best anchor (1, IoU 0.6) is restored to its argmax, gt 1
    assert match_boxes(iou, 0.7, 0.3, allow_low_quality_matches=True).tolist() == [0, 1, -1, -2]
    ties = numpy.array([[0.6, 0.1, 0.6]])  # both anchors tied at gt 0's best IoU are restored
    assert match_boxes(ties, 0.7, 0.3, True).tolist() == [0, -1, 0]
    # torchvision's rule: a restored anchor takes its own argmax (gt 1), even when it is gt 0's best anchor
    shared = numpy.array([[0.20, 0.05], [0.25, 0.1]])
    assert match_boxes(shared, 0.7, 0.3, True).tolist() == [1, -1]
    assert match_boxes(numpy.zeros((0, 3)), 0.7, 0.3).tolist() == [-1, -1, -1]
    with pytest.raises(ValueError, match="low_threshold 0.8 > high_threshold 0.7"):
        match_boxes(iou, 0.7, 0.8)


def test_sample_balanced_counts_fraction_and_never_ignored():
    labels = numpy.concatenate([numpy.ones(10), numpy.zeros(100), -numpy.ones(20)])
    rng = numpy.random.default_rng(0)
    pos, neg = sample_balanced(labels, 32, 0.25, rng)
    assert (len(pos), len(neg)) == (8, 24)
    assert (labels[pos] == 1).all() and (labels[neg] == 0).all()
    assert len(set(pos) | set(neg)) == 32
    pos, neg = sample_balanced(labels[7:], 32, 0.25, rng)  # 3 positives: the rest are negatives
    assert (len(pos), len(neg)) == (3, 29)
    pos, neg = sample_balanced(numpy.array([1, 1, 0, 0, 0, -1]), 32, 0.5, rng)  # too few of both: take all
    assert pos.tolist() == [0, 1] and neg.tolist() == [2, 3, 4]
    again = sample_balanced(labels, 32, 0.25, numpy.random.default_rng(0))
    first = sample_balanced(labels, 32, 0.25, numpy.random.default_rng(0))
    assert all((a == b).all() for a, b in zip(again, first, strict=True))


def test_rpn_targets_on_hand_made_anchors():
    anchors = numpy.array([[0, 0, 10, 10], [0, 0, 20, 20], [30, 30, 40, 40], [5, 0, 15, 10]], numpy.float64)
    gt = numpy.array([[0, 0, 10, 10]], numpy.float64)
    labels, targets = rpn_targets(anchors, gt)
    # IoUs 1, 100/400 = 0.25, 0, 50/150 = 0.33: positive, negative, negative, ignored
    assert labels.tolist() == [1, 0, 0, -1]
    assert numpy.allclose(targets[0], 0)
    shifted = numpy.array([[1, 0, 11, 10]], numpy.float64)  # IoU 9/11 with anchor 0: still positive
    labels, targets = rpn_targets(anchors, shifted)
    assert labels[0] == 1 and numpy.allclose(decode_boxes(targets[:1], anchors[:1]), shifted)
    labels, _ = rpn_targets(anchors, numpy.zeros((0, 4)))  # no objects: every anchor is background
    assert labels.tolist() == [0, 0, 0, 0]


def test_rpn_loss_matches_the_formula():
    objectness = _t([[0.3, -1.2, 2.0, 0.5]], requires_grad=True)  # (N=1, A=4)
    deltas = _t(numpy.arange(16).reshape(1, 4, 4) / 40.0, requires_grad=True)
    labels = [numpy.array([1.0, 0.0, -1.0, 1.0])]
    targets = [numpy.full((4, 4), 0.1)]
    losses = rpn_loss(objectness, deltas, labels, targets, batch_size_per_image=256)
    sampled = [0, 1, 3]  # every non-ignored anchor fits in the sample
    expected_obj = numpy.mean([_bce(objectness.numpy()[0, a], labels[0][a]) for a in sampled])
    expected_box = sum(_smooth_l1(deltas.numpy()[0, a, k] - 0.1, 1 / 9) for a in (0, 3) for k in range(4)) / 3
    assert losses["loss_objectness"].item() == pytest.approx(expected_obj, rel=1e-12)
    assert losses["loss_rpn_box_reg"].item() == pytest.approx(expected_box, rel=1e-12)
    (losses["loss_objectness"] + losses["loss_rpn_box_reg"]).backward()
    assert objectness.grad.numpy()[0, 2] == 0 and numpy.all(deltas.grad.numpy()[0, [1, 2]] == 0)


def test_detection_losses_pass_gradcheck():
    rng = numpy.random.default_rng(5)
    labels, targets = [rng.choice([-1.0, 0.0, 1.0], 12), rng.choice([0.0, 1.0], 12)], [rng.normal(size=(12, 4))] * 2
    objectness, deltas = _t(rng.normal(size=(2, 12)), True), _t(rng.normal(size=(2, 12, 4)), True)

    def rpn(o, d):  # a fresh generator per call: the same anchors are sampled on every evaluation
        losses = rpn_loss(o, d, labels, targets, 8, 0.5, numpy.random.default_rng(0))
        return losses["loss_objectness"] + losses["loss_rpn_box_reg"]

    tm.gradcheck(rpn, [objectness, deltas], atol=1e-7, rtol=1e-5)  # |d - t| ~ 1 stays away from the kink at 1/9
    logits, regression = _t(rng.normal(size=(5, 3)), True), _t(rng.normal(size=(5, 12)), True)
    roi_labels, roi_targets = numpy.array([0, 2, 1, 1, 0]), rng.normal(size=(5, 4))

    def fast_rcnn(c, r):
        losses = fastrcnn_loss(c, r, roi_labels, roi_targets)
        return losses["loss_classifier"] + losses["loss_box_reg"]

    tm.gradcheck(fast_rcnn, [logits, regression], atol=1e-7, rtol=1e-5)
    mask_logits, mask_targets = _t(rng.normal(size=(2, 3, 4, 4)), True), rng.uniform(size=(2, 4, 4))
    tm.gradcheck(lambda m: maskrcnn_loss(m, numpy.array([1, 2]), mask_targets), [mask_logits], atol=1e-7, rtol=1e-5)


def test_anchors_cover_the_image_and_every_synthetic_object():
    model = FasterRCNN(3)
    anchors = model.rpn.anchors((8, 8)).numpy()
    assert anchors.shape == (8 * 8 * 6, 4)
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    assert centres.min() == 0 and centres.max() == 56  # one anchor centre per stride-8 cell, as torchvision
    assert anchors[:, :2].min() < 0 and anchors[:, 2:].max() > 64  # the large anchors reach past every border
    dataset = ShapesDetectionDataset(40)
    best = numpy.concatenate([box_iou(dataset[i][1]["boxes"], anchors).max(axis=1) for i in range(40)])
    assert best.min() > 0.25 and numpy.median(best) > 0.5  # low-quality matching makes every object positive


# ----------------------------------------------------------------------------- Fast R-CNN


def test_select_training_samples_labels_and_targets():
    target = {"boxes": numpy.array([[10, 10, 30, 30], [40, 40, 60, 50]], numpy.float32), "labels": numpy.array([2, 1])}
    proposals = [numpy.array([[10, 10, 30, 30], [11, 10, 31, 30], [0, 0, 5, 5], [40, 42, 60, 52]], numpy.float32)]
    boxes, matched, labels, deltas = select_training_samples(proposals, [target], batch_size_per_image=64)
    by_box = {tuple(b): (m, lab, d) for b, m, lab, d in zip(boxes[0], matched[0], labels[0], deltas[0], strict=True)}
    assert len(boxes[0]) == 6  # 4 proposals + the 2 ground-truth boxes appended
    assert by_box[(10, 10, 30, 30)][1] == 2 and numpy.allclose(by_box[(10, 10, 30, 30)][2], 0)
    assert by_box[(11, 10, 31, 30)][:2] == (0, 2)  # IoU 19/21 with gt 0
    assert by_box[(0, 0, 5, 5)][1] == 0  # background
    assert by_box[(40, 42, 60, 52)][:2] == (1, 1)  # IoU 8/12
    many = [numpy.tile(target["boxes"][:1], (100, 1))]
    _, _, labels, _ = select_training_samples(many, [target], batch_size_per_image=16, positive_fraction=0.25)
    assert (labels[0] > 0).sum() == 4 and len(labels[0]) == 4  # 25% of 16 positives, no negatives exist


def test_fastrcnn_loss_uses_only_the_true_class_deltas():
    rng = numpy.random.default_rng(3)
    logits, regression = _t(rng.normal(size=(3, 3)), True), _t(rng.normal(size=(3, 12)) * 0.1, True)
    labels, targets = numpy.array([0, 2, 1]), rng.normal(size=(3, 4)) * 0.1
    losses = fastrcnn_loss(logits, regression, labels, targets)
    log_p = logits.numpy() - numpy.log(numpy.exp(logits.numpy()).sum(1, keepdims=True))
    assert losses["loss_classifier"].item() == pytest.approx(-log_p[[0, 1, 2], labels].mean(), rel=1e-12)
    reg = regression.numpy().reshape(3, 3, 4)
    box = sum(_smooth_l1(reg[k, labels[k], j] - targets[k, j], 1 / 9) for k in (1, 2) for j in range(4)) / 3
    assert losses["loss_box_reg"].item() == pytest.approx(box, rel=1e-12)
    losses["loss_box_reg"].backward()
    used = numpy.zeros((3, 3, 4), bool)
    used[1, 2], used[2, 1] = True, True
    assert numpy.all(regression.grad.numpy().reshape(3, 3, 4)[~used] == 0)


def test_postprocess_detections_per_class_nms_and_score_threshold():
    proposals = [numpy.array([[10, 10, 30, 30], [11, 11, 31, 31], [12, 12, 32, 32], [40, 40, 50, 50]], numpy.float32)]
    # class 1: RoI 0 (0.8) suppresses RoI 1 (0.7, IoU 0.82); class 2: RoI 2 (0.6) suppresses RoI 1 (0.2) but is
    # kept beside RoI 0 (NMS is per class); below the threshold 0.15: RoI 0's and 2's other class, all of RoI 3
    logits = _t(numpy.log([[0.1, 0.8, 0.1], [0.1, 0.7, 0.2], [0.3, 0.1, 0.6], [0.97, 0.02, 0.01]]))
    (out,) = postprocess_detections(logits, _t(numpy.zeros((4, 12))), proposals, (64, 64), score_thresh=0.15)
    assert out["labels"].numpy().tolist() == [1, 2]
    assert numpy.allclose(out["scores"].numpy(), [0.8, 0.6])
    assert numpy.allclose(out["boxes"].numpy(), [[10, 10, 30, 30], [12, 12, 32, 32]])
    (out,) = postprocess_detections(logits, _t(numpy.zeros((4, 12))), proposals, (64, 64), 0.15, 0.5, 1)
    assert out["labels"].numpy().tolist() == [1]


# ----------------------------------------------------------------------------- Mask R-CNN pieces


def test_project_masks_on_boxes_and_mask_loss():
    mask = numpy.zeros((1, 32, 32))
    mask[0, 8:24, 8:24] = 1
    inside = project_masks_on_boxes(mask, numpy.array([[8, 8, 24, 24]]), numpy.array([0]), 8)
    assert numpy.allclose(inside, 1)
    whole = project_masks_on_boxes(mask, numpy.array([[0, 0, 32, 32]]), numpy.array([0]), 4)
    expected = numpy.zeros((4, 4), bool)
    expected[1:3, 1:3] = True
    assert ((whole[0] > 0.5) == expected).all()
    logits = _t(numpy.random.default_rng(0).normal(size=(2, 3, 4, 4)), True)
    targets = numpy.stack([expected, ~expected]).astype(numpy.float64)
    loss = maskrcnn_loss(logits, numpy.array([2, 1]), targets)
    chosen = logits.numpy()[[0, 1], [2, 1]]
    assert loss.item() == pytest.approx(numpy.mean(numpy.vectorize(_bce)(chosen, targets)), rel=1e-12)
    loss.backward()
    assert numpy.all(logits.grad.numpy()[0, [0, 1]] == 0) and numpy.all(logits.grad.numpy()[1, [0, 2]] == 0)


def test_paste_masks_fills_exactly_the_box():
    masks = numpy.ones((2, 28, 28))
    masks[1, :, 14:] = 0  # left half only
    boxes = numpy.array([[10, 20, 30, 40], [0, 0, 16, 8]], numpy.float64)
    pasted = paste_masks_in_image(masks, boxes, (64, 48))
    assert pasted.shape == (2, 1, 64, 48)
    box = numpy.zeros((64, 48), bool)
    box[20:40, 10:30] = True
    assert ((pasted[0, 0] > 0.5) == box).all()
    left = numpy.zeros((64, 48), bool)
    left[0:8, 0:8] = True
    assert ((pasted[1, 0] > 0.5) == left).all()
    assert paste_masks_in_image(masks[:1], numpy.array([[70, 70, 80, 80]]), (64, 48)).max() == 0  # outside


# ----------------------------------------------------------------------------- data


def test_instances_to_targets_hand_case():
    instances = numpy.zeros((6, 8), numpy.int64)
    instances[1:3, 2:5] = 7
    instances[4:6, 0:1] = 3
    classes = numpy.where(instances == 7, 2, numpy.where(instances == 3, 1, 0))
    target = instances_to_targets(instances, classes)
    assert target["ids"].tolist() == [3, 7]
    assert target["boxes"].tolist() == [[0, 4, 1, 6], [2, 1, 5, 3]]  # (x1, y1, x2, y2), x2/y2 exclusive
    assert target["labels"].tolist() == [1, 2] and target["boxes"].dtype == numpy.float32
    assert target["masks"].shape == (2, 6, 8) and (target["masks"][1] == (instances == 7)).all()
    assert instances_to_targets(instances)["labels"].tolist() == [1, 1]
    with pytest.raises(ShapeError, match=r"\(H, W\) integer instance image"):
        instances_to_targets(numpy.zeros((2, 3, 4), numpy.int64))


def test_shapes_dataset_is_seeded_and_targets_match_the_masks():
    dataset = ShapesDetectionDataset(20, objects=(1, 3))
    image, target = dataset[5]
    again_image, again = dataset[5]
    assert image.shape == (1, 64, 64) and image.dtype == numpy.float32 and (image == again_image).all()
    for i in range(20):
        _, target = dataset[i]
        assert 1 <= len(target["labels"]) <= 3 and set(target["labels"].tolist()) <= {1, 2}
        for box, mask in zip(target["boxes"], target["masks"], strict=True):
            rows, cols = numpy.nonzero(mask)
            assert box.tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
        assert target["masks"].sum(axis=0).max() == 1  # objects never overlap
    test_image, _ = ShapesDetectionDataset(20, split="test")[5]
    assert not (test_image == image).all()


def test_nuclei_instances_become_detection_targets():
    from tinygrad_med.data.nuclei import instance_boxes, load_nuclei

    try:
        _, instances = load_nuclei()
    except Exception as error:  # MissingPackageError without stardist/tifffile
        pytest.skip(str(error))
    target = instances_to_targets(instances)
    boxes, ids = instance_boxes(instances)
    assert len(target["labels"]) == 125 and (target["boxes"] == boxes).all() and (target["ids"] == ids).all()
    assert target["masks"].shape == (125, 512, 512) and (target["masks"].sum(axis=(1, 2)) > 0).all()


# ----------------------------------------------------------------------------- models


def _batch(count=2, objects=(1, 3), seed=0):
    images, targets = collate_detection([ShapesDetectionDataset(count, objects=objects, base_seed=seed)[i]
                                         for i in range(count)])  # fmt: skip
    return tm.tensor(images), targets


def _fixed_losses(model, images, targets, proposals):
    """Every loss term on fixed inputs: the RPN on its anchors, the RoI heads on fixed proposals; seeded sampling."""
    tm.manual_seed(1)
    features = model.backbone(images)
    _, losses = model.rpn(features, (64, 64), targets)
    _, box_losses = model.roi_heads(features, proposals, (64, 64), targets)
    return {**losses, **box_losses}


def test_every_parameter_gets_a_gradient_and_every_loss_term_falls():
    tm.manual_seed(0)
    model, (images, targets) = MaskRCNN(3), _batch()
    losses = model(images, targets)
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"}
    sum(losses.values(), tm.tensor(0.0)).backward()
    assert [name for name, p in model.named_parameters() if p.grad is None or not p.grad.numpy().any()] == []
    rng = numpy.random.default_rng(0)
    corners = [rng.uniform(0, 40, (8, 2)) for _ in targets]  # 8 random 16 x 16 boxes and the jittered objects
    proposals = [numpy.concatenate([t["boxes"] + rng.normal(0, 3, t["boxes"].shape), numpy.hstack([c, c + 16])])
                 for t, c in zip(targets, corners, strict=True)]  # fmt: skip
    optimizer = tm.optim.Adam(model.parameters(), lr=3e-3)
    history = []
    for _ in range(20):  # the multitask loss, with the RoI heads on fixed proposals so that each term is comparable
        losses = _fixed_losses(model, images, targets, proposals)
        history.append({key: value.item() for key, value in losses.items()})
        optimizer.zero_grad()
        sum(losses.values(), tm.tensor(0.0)).backward()
        optimizer.step()
    for key in history[0]:
        assert history[-1][key] < 0.7 * history[0][key], (key, history[0][key], history[-1][key])


def _top_detection_quality(model, dataset):
    """(mean IoU of each image's top detection with its one object, recall at IoU 0.5, class accuracy of the top)."""
    images, targets = collate_detection([dataset[i] for i in range(len(dataset))])
    model.eval()
    with tm.no_grad():
        detections = model(tm.tensor(images))
    model.train()
    ious, right = [], []
    for found, target in zip(detections, targets, strict=True):
        iou = box_iou(found["boxes"].numpy()[:1], target["boxes"])[0, 0] if found["boxes"].shape[0] else 0.0
        ious.append(iou)
        right.append(iou >= 0.5 and found["labels"].numpy()[0] == target["labels"][0])
    return float(numpy.mean(ious)), float(numpy.mean(numpy.asarray(ious) >= 0.5)), float(numpy.mean(right))


@pytest.fixture(scope="module")
def trained():
    """Faster R-CNN trained for 60 steps of 4 synthetic images (one object each), with its test scores before/after."""
    tm.manual_seed(0)
    model, test = FasterRCNN(3), ShapesDetectionDataset(32, objects=1, split="test")
    untrained = _top_detection_quality(model, test)
    train, optimizer = ShapesDetectionDataset(240, objects=1), tm.optim.Adam(model.parameters(), lr=3e-3)
    start = time.time()
    for step in range(60):
        images, targets = collate_detection([train[4 * step + i] for i in range(4)])
        losses = model(tm.tensor(images), targets)
        optimizer.zero_grad()
        sum(losses.values(), tm.tensor(0.0)).backward()
        optimizer.step()
    seconds = time.time() - start
    return model, test, untrained, _top_detection_quality(model, test), seconds


def test_faster_rcnn_learns_the_synthetic_dataset(trained):
    _, _, untrained, learned, seconds = trained
    print(f"\nFaster R-CNN, 60 steps x 4 images in {seconds:.1f} s: (mean IoU of top detection, recall@0.5, "
          f"top class right) untrained {numpy.round(untrained, 3)} -> trained {numpy.round(learned, 3)}")  # fmt: skip
    assert learned[0] > untrained[0] + 0.3 and learned[0] > 0.5
    assert learned[1] > untrained[1] + 0.5 and learned[1] >= 0.7


def test_eval_mode_output_format(trained):
    model, test, *_ = trained
    images, _ = collate_detection([test[i] for i in range(3)])
    model.eval()
    with tm.no_grad():
        detections = model(tm.tensor(images))
    model.train()
    assert isinstance(detections, list) and len(detections) == 3
    for found in detections:
        assert set(found) == {"boxes", "labels", "scores"}
        boxes, labels, scores = (found[key].numpy() for key in ("boxes", "labels", "scores"))
        assert boxes.shape == (len(labels), 4) and scores.shape == (len(labels),) and 0 < len(labels) <= 100
        assert labels.dtype == numpy.int64 and set(labels.tolist()) <= {1, 2}
        assert (numpy.diff(scores) <= 0).all() and scores.min() > 0.05 and scores.max() <= 1
        assert (boxes >= 0).all() and (boxes <= 64).all() and (boxes[:, 2:] >= boxes[:, :2]).all()


def test_mask_rcnn_eval_pastes_masks_of_the_image_size():
    tm.manual_seed(0)
    model, (images, _) = MaskRCNN(3, box_options={"score_thresh": 0.0}), _batch()
    model.eval()
    with tm.no_grad():
        detections = model(images)
    assert [set(d) for d in detections] == [{"boxes", "labels", "scores", "masks"}] * 2
    for found in detections:
        masks = found["masks"].numpy()
        assert masks.shape == (found["boxes"].shape[0], 1, 64, 64) and masks.min() >= 0 and masks.max() <= 1


def test_images_without_objects_train_as_background_and_may_have_no_detections():
    tm.manual_seed(0)
    model, (images, targets) = MaskRCNN(3), _batch()
    empty = {"boxes": numpy.zeros((0, 4), numpy.float32), "labels": numpy.zeros(0, numpy.int64),
             "masks": numpy.zeros((0, 64, 64), numpy.uint8)}  # fmt: skip
    losses = model(images, [targets[0], empty])
    assert all(numpy.isfinite(value.item()) for value in losses.values())
    losses = model(images, [empty, empty])  # nothing to regress or segment: those terms are 0
    assert losses["loss_rpn_box_reg"].item() == losses["loss_box_reg"].item() == losses["loss_mask"].item() == 0
    sum(losses.values(), tm.tensor(0.0)).backward()
    model.roi_heads.score_thresh = 1.0  # no detection survives
    model.eval()
    with tm.no_grad():
        detections = model(images)
    assert [d["masks"].shape for d in detections] == [(0, 1, 64, 64)] * 2
    assert [d["boxes"].shape for d in detections] == [(0, 4)] * 2


def test_bad_inputs_name_what_was_expected():
    model, (images, targets) = FasterRCNN(3), _batch()
    with pytest.raises(ShapeError, match=r"expected images of shape \(N, C, H, W\)"):
        model(images[0], targets)
    with pytest.raises(ValueError, match="targets are required in training mode"):
        model(images)
    with pytest.raises(ShapeError, match="got 1 targets for 2 images"):
        model(images, targets[:1])
    bad = [{"boxes": numpy.zeros((2, 3)), "labels": numpy.zeros(2)}] * 2
    with pytest.raises(ShapeError, match=r"targets\[0\]: expected boxes \(G, 4\) and labels \(G,\)"):
        model(images, bad)
    no_masks = [{key: t[key] for key in ("boxes", "labels")} for t in targets]
    with pytest.raises(ShapeError, match=r"targets\[0\]: expected masks of shape \(G, H, W\)"):
        MaskRCNN(3)(images, no_masks)


def _run_mask_rcnn(device, images, targets):
    """(losses, gradient of every parameter, detections) of one train and one eval pass, in float64 on ``device``."""
    tm.manual_seed(0)
    model = MaskRCNN(3, box_options={"score_thresh": 0.0}).double().to(device.device)
    losses = model(device.tensor(images), targets)
    sum(losses.values(), device.tensor(numpy.zeros(()))).backward()
    grads = {name: p.grad.numpy() for name, p in model.named_parameters()}
    model.eval()
    with tm.no_grad():
        (found,) = model(device.tensor(images))
    return {k: v.item() for k, v in losses.items()}, grads, {k: v.numpy() for k, v in found.items()}


def test_mask_rcnn_gpu_path_matches_the_cpu(device):
    images, targets = collate_detection([ShapesDetectionDataset(1, objects=2)[0]])
    images = images.astype(numpy.float64)
    losses, grads, found = _run_mask_rcnn(device, images, targets)
    expected = device.reference(_run_mask_rcnn, device, images, targets)
    assert losses == pytest.approx(expected[0], rel=1e-9)
    for name, grad in grads.items():
        assert_close(grad, expected[1][name], rtol=1e-7, atol=1e-10)
    assert found.keys() == expected[2].keys() and len(found["scores"]) > 0
    for key, value in found.items():
        assert_close(value, expected[2][key], rtol=1e-7, atol=1e-10)
