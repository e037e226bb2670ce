"""Graphs for graph convolutions: construction, Laplacians, batching, meshes.

Lecture: "Graph convolutions: learning beyond images".  This package holds the graph itself
(host-side NumPy/SciPy, no autograd); the differentiable ops that use it are in
tinygrad_med/ops/graph.py (spmm, gaussian_kernel, segment max; kernels/graph.cu), the graph
convolutions built from them in tinygrad_med/ops/graph_conv.py, and the layers in tinygrad_med/nn/graph.py.

    structure.py   CSR, Graph (from_dense / from_scipy / from_edge_index), batch_graphs
    operators.py   laplacian, gcn_operator, scaled_laplacian, eigh, degree_pseudo_coordinates
    mesh.py        mesh_graph (pseudo-coordinates u_ij), mesh_edges, vertex_normals, icosphere, grid_mesh,
                   fsaverage5 (the cortical mesh shipped with nilearn)

    g = Graph.from_dense(A)                   # A[i, j] != 0: j is a neighbour of i
    L = laplacian(A, normalized=True)         # I - D^-1/2 A D^-1/2
    batch = batch_graphs([g1, g2])            # block diagonal, batch.batch = node -> graph
"""

from .mesh import fsaverage5, grid_mesh, icosphere, mesh_edges, mesh_graph, vertex_normals
from .operators import degree_pseudo_coordinates, eigh, gcn_operator, laplacian, scaled_laplacian
from .structure import CSR, Graph, batch_graphs

__all__ = [
    "CSR",
    "Graph",
    "batch_graphs",
    "laplacian",
    "gcn_operator",
    "scaled_laplacian",
    "eigh",
    "degree_pseudo_coordinates",
    "mesh_graph",
    "mesh_edges",
    "vertex_normals",
    "icosphere",
    "grid_mesh",
    "fsaverage5",
]
