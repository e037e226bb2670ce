"""Evaluation metrics for classification, segmentation (2D and 3D) and per-object detection.

Lecture: "SEMANTIC SEGMENTATION" (Dice overlap) and "OBJECT DETECTION" (IoU, matches at IoU >= 0.5).

All functions take numpy arrays or Tensors and return numpy values; they are not differentiable
(the differentiable soft Dice is tinygrad_med/ops/dice.py). A prediction may be given as labels
(same shape as the target) or as scores/logits with one more dim, the class dim 1 (N, C, ...),
which is arg-maxed first.

    Dice(A, B) = 2 |A ∩ B| / (|A| + |B|)        IoU(A, B) = |A ∩ B| / |A ∪ B|
    precision = TP / (TP + FP)                  recall = TP / (TP + FN)
"""

import numpy

from ..errors import ShapeError, fmt

__all__ = [
    "accuracy",
    "dice_per_class",
    "iou_per_class",
    "precision",
    "recall",
    "SegmentationCounts",
    "detection_f1",
    "dataset_report",
]


def _array(x):
    return x.numpy() if hasattr(x, "numpy") and not isinstance(x, numpy.ndarray) else numpy.asarray(x)


def _labels(pred, target, op):
    """Labels from ``pred`` (labels, or scores with class dim 1) checked against ``target``'s shape."""
    pred, target = _array(pred), _array(target)
    if pred.ndim == target.ndim + 1:
        pred = pred.argmax(axis=1)  # (N, C, ...) -> (N, ...)
    if pred.shape != target.shape:
        raise ShapeError(
            fmt(
                op,
                "pred must be labels of the target's shape, or scores (N, C, ...) with class dim 1",
                pred=pred,
                target=target,
            )
        )
    return pred, target


def accuracy(pred, target):
    """Fraction of samples (or pixels) whose predicted label equals the target.

    Shapes: pred (N,) labels or (N, C) scores; target (N,). Any extra dims are averaged too.
    """
    pred, target = _labels(pred, target, "accuracy")
    return float((pred == target).mean())


class SegmentationCounts:
    """Per-class intersection and sizes accumulated over batches, so that Dice/IoU are over the whole set.

    Args:
        num_classes: K; labels must be in 0..K-1.
    """

    def __init__(self, num_classes):
        self.num_classes = int(num_classes)
        self.intersection = numpy.zeros(self.num_classes, dtype=numpy.int64)
        self.pred_size = numpy.zeros(self.num_classes, dtype=numpy.int64)
        self.target_size = numpy.zeros(self.num_classes, dtype=numpy.int64)

    def update(self, pred, target):
        """Add one batch: pred labels or scores (N, C, ...), target labels (N, ...)."""
        pred, target = _labels(pred, target, "SegmentationCounts.update")
        k = self.num_classes
        if target.size and (target.min() < 0 or target.max() >= k):
            raise ShapeError(
                fmt(
                    "SegmentationCounts.update",
                    f"target labels must be in 0..{k - 1}",
                    target_min=int(target.min()),
                    target_max=int(target.max()),
                )
            )
        joint = numpy.bincount(pred.ravel().astype(numpy.int64) * k + target.ravel(), minlength=k * k)[: k * k]
        confusion = joint.reshape(k, k)  # rows: predicted class, columns: true class
        self.intersection += numpy.diag(confusion)
        self.pred_size += confusion.sum(axis=1)
        self.target_size += confusion.sum(axis=0)
        return self

    def dice(self):
        """Dice per class (K,); nan for a class absent from both prediction and target."""
        with numpy.errstate(invalid="ignore", divide="ignore"):
            return 2.0 * self.intersection / (self.pred_size + self.target_size)

    def iou(self):
        """IoU per class (K,); nan for a class absent from both."""
        with numpy.errstate(invalid="ignore", divide="ignore"):
            return self.intersection / (self.pred_size + self.target_size - self.intersection)

    def precision(self):
        with numpy.errstate(invalid="ignore", divide="ignore"):
            return self.intersection / self.pred_size

    def recall(self):
        with numpy.errstate(invalid="ignore", divide="ignore"):
            return self.intersection / self.target_size


def _counts(pred, target, num_classes, op):
    pred, target = _labels(pred, target, op)
    if num_classes is None:
        num_classes = int(max(pred.max(initial=0), target.max(initial=0))) + 1
    return SegmentationCounts(num_classes).update(pred, target)


def dice_per_class(pred, target, num_classes=None):
    """Dice per class over all pixels/voxels of the batch (2D or 3D); nan where a class is absent from both.

    Shapes: pred (N, ...) labels or (N, C, ...) scores; target (N, ...) -> (K,).
    """
    return _counts(pred, target, num_classes, "dice_per_class").dice()


def iou_per_class(pred, target, num_classes=None):
    """IoU (Jaccard) per class, as ``dice_per_class``; IoU = Dice / (2 - Dice)."""
    return _counts(pred, target, num_classes, "iou_per_class").iou()


def precision(pred, target, positive=1):
    """TP / (TP + FP) for the class ``positive`` (nan if nothing is predicted positive)."""
    pred, target = _labels(pred, target, "precision")
    predicted = pred == positive
    return float((predicted & (target == positive)).sum() / predicted.sum()) if predicted.any() else float("nan")


def recall(pred, target, positive=1):
    """TP / (TP + FN) for the class ``positive`` (nan if the target has no positives)."""
    pred, target = _labels(pred, target, "recall")
    actual = target == positive
    return float((actual & (pred == positive)).sum() / actual.sum()) if actual.any() else float("nan")


def detection_f1(pred_mask, target_instances, iou_threshold=0.5):
    """Per-object detection F1: connected components of the prediction matched to true instances.

    Each connected component (scipy.ndimage.label, face connectivity) of ``pred_mask > 0`` is a
    detected object; it is a true positive if its IoU with some true instance is above
    ``iou_threshold``. With a threshold >= 0.5 a match is one-to-one (two objects cannot both
    overlap a third by more than half its union), so no assignment step is needed.

    Args:
        pred_mask: predicted foreground (H, W) or (D, H, W), labels or bool.
        target_instances: instance ids of the same shape (0 background); a bool/binary mask is
            split into connected components first.
    Returns:
        dict with f1, precision, recall, tp, n_pred, n_true.
    """
    from scipy import ndimage

    pred_mask, target = _array(pred_mask), _array(target_instances)
    if pred_mask.shape != target.shape:
        raise ShapeError(
            fmt(
                "detection_f1",
                "pred_mask and target_instances differ in shape",
                pred_mask=pred_mask,
                target_instances=target,
            )
        )
    pred, n_pred = ndimage.label(pred_mask > 0)
    if target.max(initial=0) <= 1:
        target, _ = ndimage.label(target > 0)
    ids, target = numpy.unique(target, return_inverse=True)  # relabel to 0..n_true
    target = target.reshape(pred.shape)
    n_true = len(ids) - (1 if ids[0] == 0 else 0)
    if ids[0] != 0:
        target = target + 1
    tp = _matches(pred, n_pred, target, n_true, iou_threshold)
    precision_ = tp / n_pred if n_pred else float("nan")
    recall_ = tp / n_true if n_true else float("nan")
    f1 = 2.0 * tp / (n_pred + n_true) if n_pred + n_true else float("nan")
    return {
        "f1": f1,
        "precision": precision_,
        "recall": recall_,
        "tp": int(tp),
        "n_pred": int(n_pred),
        "n_true": int(n_true),
    }


def _matches(pred, n_pred, target, n_true, iou_threshold):
    """Number of (pred object, true object) pairs with IoU > threshold."""
    rows, cols = n_pred + 1, n_true + 1
    overlap = numpy.bincount(pred.ravel() * cols + target.ravel(), minlength=rows * cols).reshape(rows, cols)
    pred_size, true_size = overlap.sum(axis=1), overlap.sum(axis=0)
    union = pred_size[:, None] + true_size[None, :] - overlap
    iou = overlap[1:, 1:] / numpy.maximum(union[1:, 1:], 1)  # drop the background row/column
    return int((iou > iou_threshold).sum())


def dataset_report(name, test_set, predictions):
    """Dataset-specific extras for the summary: for nuclei, what an intensity threshold alone scores
    on the held-out strip (with the best threshold, chosen on the test labels: an upper bound for
    thresholding) and the per-nucleus detection F1 of the model and of that threshold."""
    if hasattr(test_set, "summary_extras"):  # the cortex: copying the left labels through the correspondence
        return test_set.summary_extras(predictions)
    if name != "nuclei" or getattr(test_set, "task", None) != "segmentation":
        return {}
    image, truth = test_set.image[0], test_set.labels
    thresholds = numpy.quantile(image, numpy.linspace(0.5, 0.95, 91))
    scores = [dice_per_class((image > t).astype(numpy.int64), truth, 2)[1] for t in thresholds]
    best = int(numpy.argmax(scores))
    model_f1 = detection_f1(predictions[0] == 1, test_set.instances)
    threshold_f1 = detection_f1(image > thresholds[best], test_set.instances)
    ceiling = detection_f1(truth, test_set.instances)
    return {
        "threshold_baseline_dice": float(scores[best]),
        "threshold_baseline_value": float(thresholds[best]),
        "detection_f1": model_f1["f1"],
        "detection_precision": model_f1["precision"],
        "detection_recall": model_f1["recall"],
        "threshold_baseline_detection_f1": threshold_f1["f1"],
        "ground_truth_mask_detection_f1": ceiling["f1"],
    }
