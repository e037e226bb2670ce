"""The detection models' objectives for ``tgm train``: Faster R-CNN (boxes) and Mask R-CNN (boxes and masks).

Lecture: "OBJECT DETECTION" -- Faster R-CNN [Ren et al., 2015] (RPN + Fast R-CNN, the multi-task
loss; a detection is right when its IoU with a true object is above 0.5) and "INSTANCE SEGMENTATION -
Mask R-CNN [He et al., 2017]" (a third branch: a mask per detected object).
Reference: Ren et al., arXiv:1506.01497; He et al., arXiv:1703.06870.

    detection              loss = loss_objectness + loss_rpn_box_reg + loss_classifier + loss_box_reg
                           (the model's loss dict in training mode, summed; each term logged as train_TERM)
                           held out: f1, precision, recall of the boxes scored >= SCORE_THRESH, a box
                           matched to at most one true box of its class (greedy by score) when their
                           IoU is > 0.5; box_precision, box_recall with the same matching blind to the
                           class; class_accuracy = (class-aware matches) / (class-blind matches)
    instance segmentation  loss = the sum above + loss_mask
                           held out: f1, precision, recall of the pasted masks (metrics.detection_f1:
                           connected components with IoU > 0.5 to a true instance, whatever the
                           class), mask_dice (mean Dice of those matched pairs); box_f1, class_precision,
                           class_recall (detection's f1, precision, recall), box_precision, box_recall
                           and class_accuracy as for detection

The micro-averaged counts run over every held-out image: precision = TP / predicted objects, recall =
TP / true objects, F1 = 2 TP / (predicted + true); a ratio with nothing to count is 0.
A batch's targets stay a list of per-image dicts (boxes, labels, masks as NumPy arrays), because the
number of objects differs from image to image (data/detection.py::collate_detection). Evaluation draws
no random numbers, and the training samples of anchors and RoIs come from tinygrad_med.random's
generator, which the checkpoint holds, so --resume stays exact.
"""

import json
import os

import numpy

from ...data.detection import collate_detection
from ...ops.boxes import box_iou
from ...tensor import Tensor
from ..metrics import detection_f1
from .base import Classification, picture_path, plots, to_numpy
from .generative import RunningSums

__all__ = ["Detection", "InstanceSegmentation", "DetectionTargets", "collate", "instance_image", "DETECTION_MODELS"]

DETECTION_MODELS = ("fasterrcnn", "maskrcnn")
SCORE_THRESH = 0.5  # detections scored below this are not counted, drawn or written
_ABOUT = "detection datasets (nuclei as instances, shapes)"


class DetectionTargets(list):
    """A batch's targets: one dict per image ("boxes" (G, 4), "labels" (G,), "masks" (G, H, W) arrays).

    Has the two methods the training loop calls on a batch's labels: ``to(device)`` (the detection
    models read their targets on the host, so the list stays as it is) and ``numpy()``.
    """

    def to(self, device):
        return self

    def numpy(self):
        return self


def collate(samples):
    """[(image (C, H, W), target dict), ...] -> images Tensor (N, C, H, W) and DetectionTargets (N dicts)."""
    images, targets = collate_detection(samples)
    return Tensor._wrap(images), DetectionTargets(targets)


class Detection(RunningSums, Classification):
    """Faster R-CNN: the summed multi-task loss; held-out box F1 / precision / recall at IoU 0.5.

    The interface is objectives.Classification's (whose __init__, model_options and pad_multiple it
    keeps; the running sums are the loss terms); ``collate_fn`` batches the data, ``view`` names the
    dataset view a detection model trains on (the nuclei image's instances as boxes and masks), and
    ``models`` the registered models that can use this objective.
    """

    name, metric_name, eval_batch, view = "detection", "f1", 8, "detection"
    sums = ("objectness", "rpn_box_reg", "classifier", "box_reg")
    dataset_tasks, dataset_about, hint = ("detection",), _ABOUT, "pass --data nuclei"
    pictures, prediction, models = ("predictions.png",), "detections", DETECTION_MODELS
    collate_fn = staticmethod(collate)

    def model_options(self, dataset):
        """The detector's options the dataset asks for (``dataset.detector_options``; the shapes: a
        stride-4 backbone, data/detection.py), else none (the registered defaults)."""
        return dict(getattr(dataset, "detector_options", {}))

    def loss(self, model, x, y):
        """The sum of the model's loss dict, and each term's value (loss_objectness -> objectness, ...)."""
        losses = model(x, list(y))
        total = sum(list(losses.values())[1:], next(iter(losses.values())))
        return total, {name[len("loss_") :]: term.item() for name, term in losses.items()}

    def evaluate(self, model, loader):
        """Held-out counts over every image; the images, targets and kept detections (for the pictures)."""
        counts = {"tp": 0, "n_pred": 0, "n_true": 0, "box_tp": 0, "box_any_tp": 0, "box_pred": 0, "dice": []}
        images, targets, predictions = [], [], []
        for x, y in loader:
            found = model(x.to(self.device))
            for image, target, detections in zip(x.numpy(), y, found, strict=True):
                kept = keep(detections)
                self.count(kept, target, counts)
                images.append(image)
                targets.append(target)
                predictions.append(kept)
        return {"metrics": self.metrics(counts), "images": images, "targets": targets, "predictions": predictions}

    def count(self, kept, target, counts):
        """Add one image's box matches (greedy by score, same class, IoU > 0.5) to ``counts``, and the
        matches whatever the class (box_any_tp: the boxes alone)."""
        tp = matched_boxes(kept["boxes"], target["boxes"], kept["labels"], target["labels"])
        counts["box_tp"] += tp
        counts["box_any_tp"] += matched_boxes(kept["boxes"], target["boxes"])
        counts["box_pred"] += len(kept["boxes"])
        counts["n_true"] += len(target["boxes"])

    def metrics(self, counts):
        """f1, precision, recall (a match needs the true class); box_precision, box_recall (any class);
        class_accuracy: the share of those class-blind matches whose class is right as well."""
        values = _ratios(counts["box_tp"], counts["box_pred"], counts["n_true"])
        located = _ratios(counts["box_any_tp"], counts["box_pred"], counts["n_true"])
        values.update(box_precision=located["precision"], box_recall=located["recall"])
        values["class_accuracy"] = counts["box_tp"] / counts["box_any_tp"] if counts["box_any_tp"] else 0.0
        return values

    def predict(self, model, x):
        """The detections scored >= SCORE_THRESH of each image: dicts of NumPy arrays."""
        return [keep(d) for d in model(x)]

    def draw(self, model, result, out):
        """predictions.png: held-out images, true boxes (green) under the detections (red, with scores)."""
        plots().plot_detections(
            result["images"], result["targets"], result["predictions"], picture_path(out, self, 0), self.class_names
        )

    def write_prediction(self, model, batch, output):
        """``tgm predict``: the first image's detections as JSON (boxes, labels, scores) beside ``output``,
        and its instance-label image (object k at the pixels of its mask or box) as ``output``:
        a 16-bit PNG or uint16 .npy. An existing JSON file there is refused, not overwritten.
        Returns the line to print."""
        from ..predict_io import check_unnamed, write_mask, write_text

        description = output.rsplit(".", 1)[0] + ".json"
        check_unnamed(description)  # the user named ``output``, not this file: never overwritten
        kept = self.predict(model, batch)[0]
        labels = instance_image(kept, tuple(batch.shape[-2:]))
        classes = [self.class_names[int(k)] for k in kept["labels"]]
        text = json.dumps({"boxes": kept["boxes"].tolist(), "labels": kept["labels"].tolist(), "classes": classes,
                           "scores": kept["scores"].tolist(), "score_threshold": SCORE_THRESH,
                           "instance_image": os.path.basename(output)}, indent=1)  # fmt: skip
        write_mask(labels, output, 65536)  # 16-bit instance ids
        write_text(description, text)
        shown = f"instance labels 0..{labels.max()}, shape {labels.shape}"
        return f"wrote {description}: {len(classes)} detections; {output}: {shown}"


class InstanceSegmentation(Detection):
    """Mask R-CNN: the summed multi-task loss with loss_mask; held-out F1 of the pasted masks, mask Dice."""

    name, metric_name = "instance segmentation", "f1"
    sums = Detection.sums + ("mask",)

    def count(self, kept, target, counts):
        """Box matches as Detection, and the mask objects' matches and Dice (detection_f1's matching)."""
        super().count(kept, target, counts)
        shape = target["masks"].shape[1:]
        predicted = instance_image(kept, shape)
        ids = numpy.arange(1, len(target["masks"]) + 1, dtype=numpy.int64)[:, None, None]
        truth = (target["masks"] * ids).sum(axis=0)  # (G, H, W) -> (H, W) ids 1..G
        found = detection_f1(predicted, truth)
        counts["tp"] += found["tp"]
        counts["n_pred"] += found["n_pred"]
        counts["dice"] += matched_dice(predicted, truth)

    def metrics(self, counts):
        values = _ratios(counts["tp"], counts["n_pred"], counts["n_true"])
        values["mask_dice"] = float(numpy.mean(counts["dice"])) if counts["dice"] else 0.0
        boxes = super().metrics(counts)
        values.update(box_f1=boxes["f1"], class_precision=boxes["precision"], class_recall=boxes["recall"])
        values.update({name: boxes[name] for name in ("box_precision", "box_recall", "class_accuracy")})
        return values


def keep(detections):
    """One image's detection dict (Tensors) -> NumPy arrays of the detections scored >= SCORE_THRESH;
    masks (D, H, W) probabilities when the model predicts them."""
    scores = numpy.asarray(to_numpy(detections["scores"].data))
    chosen = scores >= SCORE_THRESH
    kept = {"boxes": numpy.asarray(to_numpy(detections["boxes"].data)).reshape(-1, 4)[chosen], "scores": scores[chosen],
            "labels": numpy.asarray(to_numpy(detections["labels"].data), numpy.int64)[chosen]}  # fmt: skip
    if "masks" in detections:
        kept["masks"] = numpy.asarray(to_numpy(detections["masks"].data))[chosen, 0]  # (D, 1, H, W) -> (D, H, W)
    return kept


def instance_image(kept, shape):
    """One (H, W) int64 instance image: detection k (by decreasing score) as id k + 1 at its mask (>= 0.5)
    or, without masks, its box; a pixel goes to the first detection that claims it, and pixels where two
    instances touch are cleared so that connected components (metrics.detection_f1) see them apart."""
    labels = numpy.zeros(shape, numpy.int64)
    rows, cols = numpy.mgrid[0 : shape[0], 0 : shape[1]] + 0.5  # pixel centres
    for k in range(len(kept["scores"])):
        if "masks" in kept:
            inside = kept["masks"][k] >= 0.5
        else:
            x0, y0, x1, y1 = kept["boxes"][k]
            inside = (cols >= x0) & (cols < x1) & (rows >= y0) & (rows < y1)
        labels[inside & (labels == 0)] = k + 1
    padded = numpy.pad(labels, 1)
    for shifted in (padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]):
        labels[(shifted > 0) & (shifted != labels) & (labels > 0)] = 0
    return labels


def matched_boxes(predicted, truth, predicted_labels=None, true_labels=None, iou_threshold=0.5):
    """True positives among ``predicted`` boxes (sorted by decreasing score): each takes the unmatched true
    box of its class (when labels are given) it overlaps most, if their IoU is above the threshold (the
    PASCAL VOC matching)."""
    if len(predicted) == 0 or len(truth) == 0:
        return 0
    iou = numpy.asarray(box_iou(numpy.asarray(predicted, numpy.float64), numpy.asarray(truth, numpy.float64)))
    if predicted_labels is not None:
        iou = numpy.where(numpy.asarray(predicted_labels)[:, None] == numpy.asarray(true_labels)[None, :], iou, 0.0)
    free, tp = numpy.ones(len(truth), bool), 0
    for row in iou:
        candidates = numpy.where(free, numpy.nan_to_num(row), -1.0)
        best = int(candidates.argmax())
        if candidates[best] > iou_threshold:
            free[best], tp = False, tp + 1
    return tp


def matched_dice(predicted, truth, iou_threshold=0.5):
    """Dice of every (predicted component, true instance) pair with IoU above the threshold (one-to-one
    for a threshold >= 0.5), with the components detection_f1 counts (scipy.ndimage.label); truth holds
    ids 1..K (0 background)."""
    from scipy import ndimage

    components, count = ndimage.label(predicted > 0)
    cols = int(truth.max(initial=0)) + 1
    joint = numpy.bincount(components.ravel() * cols + truth.ravel(), minlength=(count + 1) * cols)
    joint = joint.reshape(count + 1, cols)  # pixel counts of (component, true id), 0 = background
    overlap, pred_size, true_size = joint[1:, 1:], joint.sum(axis=1)[1:, None], joint.sum(axis=0)[None, 1:]
    pairs = overlap / numpy.maximum(pred_size + true_size - overlap, 1) > iou_threshold
    return [float(d) for d in (2.0 * overlap / numpy.maximum(pred_size + true_size, 1))[pairs]]


def _ratios(tp, n_pred, n_true):
    return {"f1": 2.0 * tp / (n_pred + n_true) if n_pred + n_true else 0.0,
            "precision": tp / n_pred if n_pred else 0.0, "recall": tp / n_true if n_true else 0.0}  # fmt: skip
