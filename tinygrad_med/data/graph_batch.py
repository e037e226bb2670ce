"""A batch of graphs for the loaders: graphs of any size joined block-diagonally, their node features stacked.

Lecture: "Graph convolutions" (a mini-batch of surfaces is one graph with one block per surface).
A graph dataset's sample is ``((graph, features (V, F)), target)``; ``collate_graphs`` (the graph
objectives' collate_fn) joins a list of them into ``(GraphInput, targets)`` with targets stacked per
graph ((B,) class labels) or concatenated per node ((sum V,) vertex labels).
"""

import numpy

__all__ = ["GraphInput", "collate_graphs"]


class GraphInput:
    """What a graph model reads: ``graph`` (tinygrad_med.graph.Graph, B graphs block-diagonally) and ``x``
    (Tensor (V, F) node features). ``to(device)`` moves the features (the graph's arrays move on use)."""

    def __init__(self, graph, x):
        self.graph, self.x = graph, x

    def to(self, device):
        """The same graph with its features on ``device``."""
        return GraphInput(self.graph, self.x.to(device))

    def numpy(self):
        """The node features as a numpy array (V, F)."""
        return self.x.numpy()

    def __len__(self):
        return self.graph.num_graphs


def collate_graphs(samples):
    """[((graph, x (V_b, F)), target)] -> (GraphInput of the batch, targets Tensor).

    Targets that are arrays with one row per node are concatenated ((sum V_b,)); scalar targets are
    stacked ((B,)).
    """
    from ..graph import batch_graphs
    from ..tensor import Tensor

    graphs = [graph for (graph, _), _ in samples]
    graph = graphs[0] if len(graphs) == 1 else batch_graphs(graphs)
    x = numpy.concatenate([numpy.asarray(features, numpy.float32) for (_, features), _ in samples])
    targets = [numpy.asarray(target, numpy.int64) for _, target in samples]
    y = numpy.concatenate(targets) if targets[0].ndim else numpy.stack(targets)
    return GraphInput(graph, Tensor._wrap(x)), Tensor._wrap(y)
