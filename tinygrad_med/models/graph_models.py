"""The lecture's graph networks on the cortex: per-vertex parcellation and whole-graph classification.

Lecture: "Graph convolutions - Cortical surface parcellation [Gopinath et al., 2019]" (graph
convolutions on the surface's own features label every vertex) and "Cortical surface classification"
(graph convolutions, then adaptive pooling: soft grouping of the nodes into learned clusters, features
averaged per cluster, a fixed-size output whatever the input size, then a classifier).

    SpectralGCN     ChebConv blocks (K-order Chebyshev polynomials of the scaled Laplacian)   'spectral_gcn'
    GeometricGCN    the slide's Gaussian-kernel convolution on the edges' pseudo-coordinates  'geometric_gcn'
    VertexMLP       the same features, one vertex at a time (the baseline: no graph)          'vertex_mlp'
    GraphClassifier graph convolutions + AdaptiveGraphPool (DiffPool) + a classifier           'graph_classifier'

Every model is called as ``model(x, graph)`` with x (V, F) node features and a tinygrad_med.graph.Graph
(one or a block-diagonal batch); the per-vertex models return scores (V, num_classes), the classifier
(B, num_classes) and keeps DiffPool's two auxiliary losses in ``aux_loss`` after each forward.
The weights do not depend on the mesh: a model trained on one mesh runs on any other.
Reference: Gopinath, Desrosiers, Lombaert, Medical Image Analysis 2019 (arXiv:1810.06408);
Defferrard et al., arXiv:1606.09375; Monti et al., arXiv:1611.08402; Ying et al., arXiv:1806.08804.
"""

from .. import nn
from ..nn import functional as F
from ..ops.shape import cat

__all__ = ["SpectralGCN", "GeometricGCN", "VertexMLP", "GraphClassifier", "conv_blocks"]


class _VertexNet(nn.Module):
    """conv blocks (conv, batch norm over the vertices, ReLU, residual after the first) and a Linear head.

    Shapes: x (V, in_channels) -> scores (V, num_classes).
    """

    def _build(self, convs, hidden, num_classes, dropout):
        self.convs = nn.ModuleList(convs)
        self.norms = nn.ModuleList([nn.BatchNorm1d(hidden) for _ in convs])
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_classes)

    def conv(self, index, h, graph):
        return self.convs[index](h, graph)

    def forward(self, x, graph):
        return self.head(self.dropout(conv_blocks(self, x, graph)))


def conv_blocks(model, x, graph):
    """h = relu(norm_0(conv_0(x))), then h = h + relu(norm_l(conv_l(h))) (residual: deeper blocks refine, the
    first changes the width); ``model.conv(l, h, graph)`` and ``model.norms`` give the blocks."""
    h = x
    for index, norm in enumerate(model.norms):
        z = F.relu(norm(model.conv(index, h, graph)))
        h = z if index == 0 else h + z
    return h


class SpectralGCN(_VertexNet):
    """Chebyshev spectral graph convolutions for per-vertex labels.

    Lecture: "Graph convolutions - Spectral graph convolution" (a K-order polynomial of the Laplacian
    is a filter that reaches K - 1 edges, with K weights per channel pair whatever the mesh size).
    Shapes: x (V, in_channels) -> (V, num_classes); ``layers`` ChebConv(K) blocks of width ``hidden``.
    """

    def __init__(self, in_channels, num_classes, hidden=32, layers=3, K=8, dropout=0.1):
        super().__init__()
        widths = [in_channels] + [hidden] * layers
        self._build([nn.ChebConv(widths[i], hidden, K) for i in range(layers)], hidden, num_classes, dropout)


class GeometricGCN(_VertexNet):
    """The slide's geometric graph convolution (learned Gaussian kernels on u_ij) for per-vertex labels.

    Lecture: "Graph convolutions - Geometric graph convolution": z_ip = sum_{j in N(i)} sum_q sum_k
    w_pqk y_jq phi_ij(theta_k) + b_p, mu_k and Sigma_k learned. Each block adds a root weight for the
    vertex itself (z_i += W_root y_i, as PyTorch Geometric's GMMConv; the slide's sum runs over the
    neighbours only). Shapes: x (V, in_channels) -> (V, num_classes); the graph needs pseudo-coordinates.
    """

    def __init__(self, in_channels, num_classes, hidden=32, layers=3, kernel_size=4, dim=3, dropout=0.1):
        super().__init__()
        widths = [in_channels] + [hidden] * layers
        convs = [nn.GaussianGraphConv(widths[i], hidden, dim, kernel_size) for i in range(layers)]
        self._build(convs, hidden, num_classes, dropout)
        self.roots = nn.ModuleList([nn.Linear(widths[i], hidden, bias=False) for i in range(layers)])

    def conv(self, index, h, graph):
        return self.convs[index](h, graph) + self.roots[index](h)


class VertexMLP(nn.Module):
    """The baseline without a graph: the same per-vertex features through an MLP, one vertex at a time.

    Shapes: x (V, in_channels) -> (V, num_classes); ``graph`` is accepted and ignored.
    """

    def __init__(self, in_channels, num_classes, hidden=64, layers=3, dropout=0.1):
        super().__init__()
        blocks, width = [], in_channels
        for _ in range(layers - 1):
            blocks += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
            width = hidden
        self.body = nn.Sequential(*blocks, nn.Dropout(dropout), nn.Linear(width, num_classes))

    def forward(self, x, graph=None):
        return self.body(x)


class GraphClassifier(nn.Module):
    """Graph convolutions, the slide's adaptive pooling to ``clusters`` soft clusters, and a classifier.

    Lecture: "Graph convolutions - Cortical surface classification: adaptive pooling" (soft grouping
    of nodes into learned clusters; features averaged within each cluster; fixed-size output).
    Forward:  h = ChebConv blocks(x);  S = softmax(GCN(h));  X' = S^T h / S^T 1 (the cluster means);
              scores = MLP(flatten(X'));  aux_loss = link_loss + entropy_loss (DiffPool's, section 3.3)
    Shapes:   x (V, in_channels) of B graphs of any sizes -> (B, num_classes)
    """

    def __init__(self, in_channels, num_classes, hidden=32, layers=3, K=3, clusters=8, dropout=0.1):
        super().__init__()
        widths = [in_channels] + [hidden] * layers
        self.convs = nn.ModuleList([nn.ChebConv(widths[i], hidden, K) for i in range(layers)])
        self.norms = nn.ModuleList([nn.BatchNorm1d(hidden) for _ in range(layers)])
        self.pool = nn.AdaptiveGraphPool(hidden, clusters)
        self.classifier = nn.Sequential(
            nn.Linear(clusters * hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
        )
        self.clusters, self.aux_loss = clusters, None

    def conv(self, index, h, graph):
        return self.convs[index](h, graph)

    def forward(self, x, graph):
        h = conv_blocks(self, x, graph)
        z = cat([h, h[:, :1] * 0 + 1], 1)  # (V, hidden + 1): the last column pools each cluster's size
        pooled, _, link_loss, entropy_loss = self.pool(h, graph, z=z)  # (B, C, hidden + 1)
        means = pooled[:, :, :-1] / (pooled[:, :, -1:] + 1e-6)  # (B, C, hidden): the slide's per-cluster average
        self.aux_loss = link_loss + entropy_loss
        return self.classifier(means.reshape(means.shape[0], -1))
