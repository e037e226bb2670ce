"""The detectors tell a disc from a square on the shapes (lecture: "Object detection - Fast R-CNN"): the
RoI head on the shapes' stride-4 backbone, trained for a few steps on boxes that overlap the objects as
the RPN's proposals do (IoU >= 0.5, not only the exact true boxes), labels held-out jittered boxes well
above chance; and class-agnostic NMS reports one object once, not once per class."""

import numpy

import tinygrad_med as tm
from tinygrad_med.data.detection import SHAPES_WIDTHS, ShapesDetectionDataset
from tinygrad_med.models import create_model
from tinygrad_med.models.faster_rcnn import postprocess_detections
from tinygrad_med.nn import functional as F
from tinygrad_med.ops.boxes import box_iou
from tinygrad_med.tensor import Tensor


def _jittered(boxes, labels, rng, copies=4):
    """``copies`` boxes per true box, each corner moved by up to 15 % of the side, kept at IoU >= 0.5."""
    out, out_labels = [], []
    for box, label in zip(boxes, labels, strict=True):
        side = numpy.array([box[2] - box[0], box[3] - box[1]] * 2)
        kept = 0
        while kept < copies:
            moved = box + rng.uniform(-0.15, 0.15, 4) * side
            if box_iou(moved[None].astype(float), box[None].astype(float))[0, 0] >= 0.5:
                out.append(moved)
                out_labels.append(label)
                kept += 1
    return numpy.asarray(out, numpy.float32), numpy.asarray(out_labels, numpy.int64)


def _batch(dataset, indices, rng):
    images, boxes, labels = [], [], []
    for k in indices:
        image, target = dataset[int(k)]
        jittered, classes = _jittered(target["boxes"], target["labels"], rng)
        images.append(image)
        boxes.append(Tensor(jittered))
        labels.append(classes)
    return Tensor(numpy.stack(images)), boxes, numpy.concatenate(labels)


def _class_logits(model, images, boxes):
    heads = model.roi_heads
    return heads.box_predictor(heads.box_head(heads.box_roi_pool(model.backbone(images), boxes)))[0]


def test_the_roi_head_learns_disc_against_square_on_jittered_proposals():
    tm.manual_seed(0)
    model = create_model("fasterrcnn", 1, 3, widths=SHAPES_WIDTHS)
    train, test = ShapesDetectionDataset(64, size=64), ShapesDetectionDataset(16, size=64, split="test")
    rng = numpy.random.default_rng(0)
    optimizer = tm.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        images, boxes, labels = _batch(train, rng.choice(len(train), 4, replace=False), rng)
        loss = F.cross_entropy(_class_logits(model, images, boxes), Tensor(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    images, boxes, labels = _batch(test, range(len(test)), rng)
    with tm.no_grad():
        logits = _class_logits(model, images, boxes).numpy()
    accuracy = float((logits[:, 1:].argmax(axis=1) + 1 == labels).mean())
    # Measured: 0.99 after 60 steps with the shapes' stride-4 backbone; the stride-8 backbone the shapes
    # had before reached 0.82 (0.62 after 40 steps), and chance is 0.5 (discs and squares equally often).
    assert accuracy >= 0.9, accuracy


def test_class_agnostic_nms_reports_an_object_once_and_per_class_nms_twice():
    proposals = [numpy.array([[10, 10, 30, 30], [11, 10, 31, 30]], numpy.float32)]  # one object, two proposals
    logits = Tensor(numpy.log(numpy.array([[0.05, 0.6, 0.35], [0.05, 0.4, 0.55]], numpy.float32)))
    deltas = Tensor(numpy.zeros((2, 12), numpy.float32))
    per_class = postprocess_detections(logits, deltas, proposals, (64, 64), score_thresh=0.3)[0]
    agnostic = postprocess_detections(logits, deltas, proposals, (64, 64), score_thresh=0.3, class_agnostic_nms=True)
    assert sorted(per_class["labels"].numpy().tolist()) == [1, 2]  # the object as a disc and as a square
    assert agnostic[0]["labels"].numpy().tolist() == [1] and agnostic[0]["scores"].numpy()[0] > 0.59


def test_with_one_foreground_class_class_agnostic_nms_changes_nothing():
    """The nuclei have one class: their detections (and the README's figures) are the same either way."""
    rng = numpy.random.default_rng(3)
    corners = rng.uniform(0, 40, (30, 2))
    proposals = [numpy.concatenate([corners, corners + rng.uniform(6, 20, (30, 2))], axis=1).astype(numpy.float32)]
    logits = Tensor(rng.standard_normal((30, 2)).astype(numpy.float32))
    deltas = Tensor((0.1 * rng.standard_normal((30, 8))).astype(numpy.float32))
    per_class = postprocess_detections(logits, deltas, proposals, (64, 64))[0]
    agnostic = postprocess_detections(logits, deltas, proposals, (64, 64), class_agnostic_nms=True)[0]
    assert len(per_class["scores"].numpy()) > 3
    for key in ("boxes", "labels", "scores"):
        assert numpy.array_equal(per_class[key].numpy(), agnostic[key].numpy())
