"""The graph objectives for ``tgm train``: per-vertex parcellation of a cortex and classification of graphs.

Lecture: "Graph convolutions - Cortical surface parcellation [Gopinath et al., 2019]" and "Cortical
surface classification" (adaptive pooling).

    vertex parcellation   loss = mean cross-entropy over the labelled vertices (label -1 ignored)
                          training: accuracy, dice (pooled over the parcels)
                          held out (the right hemisphere): dice = mean Dice over the parcels, accuracy;
                          summary.json adds the ceiling of copying the left labels through the fs_LR
                          vertex correspondence (CortexDataset.summary_extras)
                          predictions.png: predicted and true parcels on the inflated surface, lateral
                          and medial views
    graph classification  loss = cross-entropy of each graph's class + DiffPool's link and entropy
                          losses (model.aux_loss); held out: accuracy, balanced accuracy;
                          predictions.png: the confusion matrix

A sample is ``((graph, features), target)``; ``collate_fn`` (data/graph_batch.py) joins a batch into
one block-diagonal graph, and the models are called as ``model(x, graph)``.
"""

import json

import numpy

from ...data.cortex import parcellation_scores
from ...data.graph_batch import collate_graphs
from ...ops.cross_entropy import cross_entropy
from ..predict_io import save_npy, write_atomically, write_text
from .base import Classification, picture_path, to_numpy

__all__ = ["VertexParcellation", "GraphClassification", "VERTEX_MODELS", "GRAPH_MODELS"]

VERTEX_MODELS = ("spectral_gcn", "geometric_gcn", "vertex_mlp")
GRAPH_MODELS = ("graph_classifier",)
IGNORE = -1  # the label of the medial wall and of unlabelled cortex


class VertexParcellation(Classification):
    """Per-vertex cross-entropy on a mesh graph; mean Dice over parcels and accuracy on the held-out hemisphere.

    The interface is objectives.Classification's; ``models`` names the registered models that can use it,
    ``collate_fn`` batches graphs, ``predict_test`` is what ``tgm predict`` writes (labels per vertex, .npy).
    """

    name, metric_name, eval_batch = "vertex parcellation", "dice", 1
    dataset_tasks, dataset_about, hint = (
        ("vertex parcellation",),
        "mesh graphs with vertex labels",
        "pass --data cortex",
    )
    models, pictures, prediction = VERTEX_MODELS, ("predictions.png",), "labels"
    graph_prediction = "vertex labels"  # what tgm predict writes (predict_io.FORMATS)
    blas_threads = 1  # (V x 32) x (32 x 32) products: more BLAS threads only spin on 2 shared cores
    collate_fn = staticmethod(collate_graphs)

    def __init__(self, dataset, device="cpu"):
        super().__init__(dataset, device)
        self.surface = getattr(dataset, "inflated", None)

    def loss(self, model, x, y):
        """Cross-entropy over the labelled vertices, and the predicted labels (for the running metrics)."""
        out = model(x.x, x.graph)
        labelled = int((numpy.asarray(y.numpy() if hasattr(y, "numpy") else y) != IGNORE).sum())
        loss = self.global_mean(cross_entropy(out, y, ignore_index=IGNORE), labelled, model)  # over every rank's
        return loss, out.data.argmax(axis=1)

    def accumulate(self, partial, loss, pred, target):
        scores = parcellation_scores(numpy.asarray(to_numpy(pred)), target, self.num_classes)
        labelled = int((target >= 0).sum())
        partial["loss_sum"] += float(loss)
        partial["count"] += 1
        partial["hits"] += int(round(scores["accuracy"] * labelled))
        partial["total"] += labelled
        partial["intersection"] += float(numpy.nansum(scores["dice_per_class"]))
        partial["sizes"] += int(numpy.isfinite(scores["dice_per_class"]).sum())

    def partial_metrics(self, partial):
        return {
            "accuracy": partial["hits"] / max(partial["total"], 1),
            "dice": partial["intersection"] / max(partial["sizes"], 1),
        }

    def evaluate(self, model, loader):
        """Mean Dice over parcels and accuracy on the held-out split's labelled vertices."""
        targets, predictions, features = [], [], []
        for x, y in loader:
            predictions.append(self.predict(model, x.to(self.device)))
            targets.append(y.numpy())
            features.append(x.numpy())
        pred, truth = numpy.concatenate(predictions), numpy.concatenate(targets)
        scores = parcellation_scores(pred, truth, self.num_classes)
        values = {"dice": scores["dice"], "accuracy": scores["accuracy"]}
        if self.num_classes <= 17:  # per-network Dice (Yeo); 180 areas would flood the log
            names = [n.replace(" ", "_") for n in self.class_names]
            values.update({f"dice_{n}": float(d) for n, d in zip(names, scores["dice_per_class"], strict=True)})
        return {"metrics": values, "images": features, "targets": targets, "predictions": predictions}

    def predict(self, model, x):
        """Predicted labels (V,) of a GraphInput."""
        return numpy.asarray(to_numpy(model(x.x, x.graph).data.argmax(axis=1)))

    def predict_test(self, model, test_set, output):
        """``tgm predict`` without --input: the held-out hemisphere's labels per vertex, written to ``output`` (.npy,
        checked by predict_io.check_output) atomically."""
        x, y = collate_graphs([test_set[0]])
        pred = self.predict(model, x.to(self.device))
        write_atomically(output, save_npy(pred))
        scores = parcellation_scores(pred, y.numpy(), self.num_classes)
        return f"wrote {output}: labels per vertex {pred.shape}, held-out dice {scores['dice']:.4f}"

    def draw(self, model, result, out):
        """predictions.png: true and predicted parcels on the inflated surface, lateral and medial views."""
        from ..plots_graph import plot_surface_labels

        if self.surface is None:
            return
        truth = result["targets"][0]
        shown = numpy.where(truth >= 0, result["predictions"][0], IGNORE)  # not scored on the medial wall: grey
        panels = [("true", truth), ("predicted", shown)]
        plot_surface_labels(*self.surface, panels, picture_path(out, self, 0), self.num_classes, self.class_names)


class GraphClassification(Classification):
    """Cross-entropy (+ DiffPool's auxiliary losses) per graph; held-out accuracy and a confusion matrix."""

    name, metric_name, eval_batch = "graph classification", "accuracy", 32
    dataset_tasks, dataset_about = ("graph classification",), "graphs with one class each"
    hint, models, pictures = "pass --data cortex-patches", GRAPH_MODELS, ("predictions.png",)
    blas_threads = 1
    collate_fn = staticmethod(collate_graphs)
    aux_weight = 0.1  # weight of link + entropy loss (Ying et al. add them unweighted; they dominate small batches)
    graph_prediction = "graph classes"

    def loss(self, model, x, y):
        out = model(x.x, x.graph)
        loss = cross_entropy(out, y)
        if getattr(model, "aux_loss", None) is not None:
            loss = loss + self.aux_weight * model.aux_loss
        return loss, out.data.argmax(axis=1)

    def evaluate(self, model, loader):
        """Accuracy and balanced accuracy (mean recall over the classes present) of the held-out graphs."""
        targets, predictions = [], []
        for x, y in loader:
            predictions.append(self.predict(model, x.to(self.device)))
            targets.append(y.numpy())
        pred, truth = numpy.concatenate(predictions), numpy.concatenate(targets)
        confusion = numpy.bincount(truth * self.num_classes + pred, minlength=self.num_classes**2)
        confusion = confusion.reshape(self.num_classes, self.num_classes)  # rows: true, columns: predicted
        present = confusion.sum(1) > 0
        recall = numpy.diag(confusion)[present] / confusion.sum(1)[present]
        values = {"accuracy": float((pred == truth).mean()), "balanced_accuracy": float(recall.mean())}
        return {"metrics": values, "images": [], "targets": truth, "predictions": pred, "confusion": confusion}

    def predict(self, model, x):
        """The class of every graph of a GraphInput batch, (B,)."""
        return numpy.asarray(to_numpy(model(x.x, x.graph).data.argmax(axis=1)))

    def predict_test(self, model, test_set, output):
        """``tgm predict`` without --input: the class of every held-out graph, as JSON in ``output`` (checked by
        predict_io.check_output), written atomically."""
        x, y = collate_graphs([test_set[i] for i in range(len(test_set))])
        pred = self.predict(model, x.to(self.device))
        write_text(output, json.dumps({"predicted": pred.tolist(), "true": y.numpy().tolist()}))
        return f"wrote {output}: {len(pred)} graphs, accuracy {float((pred == y.numpy()).mean()):.4f}"

    def draw(self, model, result, out):
        """predictions.png: the held-out confusion matrix (rows true, columns predicted)."""
        from ..plots_graph import plot_confusion

        plot_confusion(result["confusion"], self.class_names, picture_path(out, self, 0))
