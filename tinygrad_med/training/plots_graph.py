"""Pictures of the graph runs: labels painted on a cortical surface, and a confusion matrix.

predictions.png (parcellation)     true and predicted labels on the inflated surface, lateral and medial
predictions.png (classification)   the held-out confusion matrix
"""

import numpy

__all__ = ["plot_surface_labels", "plot_confusion", "label_colors"]


def label_colors(num_classes):
    """(num_classes + 1, 4) RGBA: one colour per class, the last (label -1) light grey."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if num_classes <= 10 else "tab20" if num_classes <= 20 else "hsv"]
    colors = cmap(numpy.arange(num_classes) % cmap.N if num_classes <= 20 else numpy.linspace(0, 1, num_classes))
    return numpy.concatenate([colors, [[0.85, 0.85, 0.85, 1.0]]])


def plot_surface_labels(vertices, faces, panels, path, num_classes, class_names=None):
    """One row per (title, labels (V,)) panel: lateral and medial views of the surface, each face coloured
    by its first vertex's label (-1 grey). A view projects onto the (y, z) plane the faces whose normals
    point away from (lateral, -x) or towards (medial, +x) the midline, far faces first: the left
    hemisphere's orientation (the right one is mirrored onto it by data/cortex.py). A legend names up to 20
    ``class_names``.
    """
    from matplotlib.collections import PolyCollection

    from .plots import pyplot

    plt = pyplot()
    vertices, faces = numpy.asarray(vertices, numpy.float64), numpy.asarray(faces, numpy.int64)
    p0, p1, p2 = (vertices[faces[:, k]] for k in range(3))
    facing = numpy.cross(p1 - p0, p2 - p0)[:, 0]  # x component of each face normal
    depth = vertices[faces, 0].mean(1)  # (F,) x of each face's centre
    colors = label_colors(num_classes)
    fig, axes = plt.subplots(len(panels), 2, figsize=(10, 3.6 * len(panels)), squeeze=False)
    for row, (title, labels) in enumerate(panels):
        face_labels = numpy.asarray(labels, numpy.int64)[faces[:, 0]]
        for col, (view, keep, flip) in enumerate([("lateral", facing < 0, -1.0), ("medial", facing > 0, 1.0)]):
            chosen = numpy.flatnonzero(keep)
            chosen = chosen[numpy.argsort(depth[chosen] * flip)]  # painter's order: far faces first
            y = vertices[:, 1] * -flip  # lateral: anterior to the left; medial: anterior to the right
            polygons = numpy.stack([y[faces[chosen]], vertices[faces[chosen], 2]], axis=2)  # (F', 3, 2)
            axis = axes[row][col]
            axis.add_collection(PolyCollection(polygons, facecolors=colors[face_labels[chosen]], edgecolors="none"))
            axis.set_xlim(y.min(), y.max())
            axis.set_ylim(vertices[:, 2].min(), vertices[:, 2].max())
            axis.set_aspect("equal")
            axis.set_title(f"{title}: {view}")
            axis.axis("off")
    if class_names is not None and len(class_names) <= 20:
        from matplotlib.patches import Patch

        handles = [Patch(color=colors[k], label=name) for k, name in enumerate(class_names)]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 7), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05 if class_names is not None and len(class_names) <= 20 else 0, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(confusion, class_names, path):
    """The confusion matrix as an image, rows true, columns predicted, with the counts written in."""
    from .plots import pyplot

    plt = pyplot()
    K = len(confusion)
    fig, axis = plt.subplots(figsize=(1.0 + 0.7 * K, 0.8 + 0.6 * K))
    axis.imshow(confusion, cmap="Blues")
    for i in range(K):
        for j in range(K):
            axis.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=8)
    names = [str(n)[:12] for n in class_names]
    axis.set_xticks(range(K), names, rotation=60, ha="right")
    axis.set_yticks(range(K), names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
