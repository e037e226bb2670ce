"""Patches of the cortex graph, each labelled by the network at its centre: graph classification.

Lecture: "Graph convolutions - Cortical surface classification [Gopinath et al., 2019]" (what about
classification? pool the graph: adaptive pooling gives a fixed-size output whatever the input size).
A patch is a disk grown breadth-first on the mesh graph from a centre vertex until it holds between
``min_size`` and ``max_size`` vertices (its size drawn per patch), with the cortex features of
data/cortex.py; its class is the Yeo network of the centre. Patches of the left hemisphere train (new
ones every epoch), a fixed set of the right hemisphere's tests.
"""

import numpy
import scipy.sparse

from ..errors import fmt
from .cortex import CortexDataset
from .dataset import Dataset

__all__ = ["CortexPatches", "grow_disk"]


def grow_disk(adjacency, centre, size):
    """The first ``size`` vertices (int64, centre first) reached breadth-first from ``centre``: a geodesic disk
    in hops, its last ring cut to the size. ``adjacency`` is a scipy CSR matrix (V, V)."""
    indptr, indices = adjacency.indptr, adjacency.indices
    seen = {int(centre)}
    order, frontier = [int(centre)], [int(centre)]
    while frontier and len(order) < size:
        ring = []
        for vertex in frontier:
            for neighbour in indices[indptr[vertex] : indptr[vertex + 1]]:
                if int(neighbour) not in seen:
                    seen.add(int(neighbour))
                    ring.append(int(neighbour))
        order += ring
        frontier = ring
    return numpy.asarray(order[:size], numpy.int64)


class CortexPatches(Dataset):
    """Disks of the left ('train') or right ('test') hemisphere: ((graph, features (V_p, F)), class).

    Args:
        split: 'train' (``count`` new patches every epoch, from ``self.rng``) or 'test' (a fixed set).
        labels: the atlas whose label at the centre is the class ('yeo7' or 'yeo17').
        count: patches per epoch (train) or in the set (test); min_size, max_size: vertices per patch.
    Attributes:
        task 'graph classification', num_classes, in_channels, class_names.
    """

    task = "graph classification"

    def __init__(self, split="train", labels="yeo7", count=512, min_size=40, max_size=160):
        if not 1 <= min_size <= max_size:
            raise ValueError(fmt("cortex-patches", f"need 1 <= min_size <= max_size, got {min_size} and {max_size}"))
        surface = CortexDataset(split, labels, samples_per_epoch=1, noise=0.0)
        self.split, self.count, self.sizes = split, int(count), (int(min_size), int(max_size))
        self.features, self.labels = surface.features, surface.labels
        self.num_classes, self.in_channels = surface.num_classes, surface.in_channels
        self.class_names = surface.class_names
        self.adjacency = surface.graph.adjacency.scipy().tocsr()
        self.centres = numpy.flatnonzero(self.labels >= 0)

    def __len__(self):
        return self.count

    def patch(self, index):
        """(vertices of the patch (V_p,) int64, centre vertex) of patch ``index`` (the test set's never change)."""
        rng = self.rng(index) if self.split == "train" else numpy.random.default_rng([7, int(index)])
        centre = int(self.centres[rng.integers(len(self.centres))])
        return grow_disk(self.adjacency, centre, int(rng.integers(self.sizes[0], self.sizes[1] + 1))), centre

    def __getitem__(self, index):
        from ..graph import Graph

        vertices, centre = self.patch(index)
        sub = self.adjacency[vertices][:, vertices]
        graph = Graph.from_scipy(scipy.sparse.csr_matrix(sub))
        return (graph, self.features[vertices]), numpy.int64(self.labels[centre])
