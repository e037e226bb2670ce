"""Triangle meshes as graphs, with per-edge pseudo-coordinates u_ij; two generated meshes.

Lecture: "Graph convolutions - Motivation: learning on surfaces (cortex)": the surface is a mesh,
its vertices the nodes, its triangle sides the edges (both directions), and the geometric
convolution weighs neighbour j of vertex i by Gaussians of the pseudo-coordinate u_ij, the
position of j seen from i:

    'cartesian'  u_ij = (v_j - v_i) / h                          3-D, in the global frame
    'local'      u_ij = (<v_j - v_i, e1_i>, <v_j - v_i, e2_i>) / h  2-D, in i's tangent plane
    'polar'      u_ij = (rho, theta) of the 'local' vector (MoNet's choice; theta in (-pi, pi])

h is the mean edge length (so u is scale free), n_i the area-weighted vertex normal and
(e1_i, e2_i, n_i) an orthonormal frame with e1_i the projection onto the tangent plane of the
coordinate axis least aligned with n_i (a fixed, deterministic choice: the frame's rotation about
n_i is arbitrary, as in MoNet, where it is resolved by angular max pooling - not done here).

Reference: Monti et al., arXiv:1611.08402, section 3 (pseudo-coordinates u(x, y)).
"""

import numpy

from ..errors import ShapeError, fmt
from .structure import Graph, coo_to_csr

__all__ = ["mesh_graph", "mesh_edges", "vertex_normals", "icosphere", "grid_mesh", "fsaverage5"]

PSEUDO_KINDS = ("local", "polar", "cartesian")


def mesh_graph(vertices, faces, pseudo="local"):
    """The graph of a triangle mesh with pseudo-coordinates u_ij on its edges.

    Shapes:   vertices (V, 3), faces (F, 3) int -> Graph with V nodes, E = 2 x (number of triangle
              sides) directed edges of weight 1, pseudo (E, 3) for 'cartesian', (E, 2) otherwise.
    Args:
        vertices: float (V, 3) positions.
        faces: int (F, 3) vertex indices of each triangle.
        pseudo: 'local', 'polar', 'cartesian' or None (no pseudo-coordinates).
    Raises:
        ShapeError on wrong shapes or out-of-range face indices; ValueError on an unknown kind.
    """
    vertices, faces = _check_mesh(vertices, faces)
    if pseudo is not None and pseudo not in PSEUDO_KINDS:
        raise ValueError(fmt("mesh_graph", f"pseudo must be one of {PSEUDO_KINDS} or None, got {pseudo!r}"))
    sources, targets = mesh_edges(faces, len(vertices))
    csr, _ = coo_to_csr(targets, sources, numpy.ones(targets.size), len(vertices))
    if pseudo is None:
        return Graph(csr)
    i, j = csr.row, csr.indices  # edge j -> i in CSR order
    delta = vertices[j] - vertices[i]  # (E, 3)
    h = numpy.linalg.norm(delta, axis=1).mean() if len(delta) else 1.0
    delta = delta / (h if h > 0 else 1.0)
    if pseudo == "cartesian":
        return Graph(csr, pseudo=delta)
    e1, e2 = _tangent_frames(vertex_normals(vertices, faces))
    local = numpy.stack([(delta * e1[i]).sum(1), (delta * e2[i]).sum(1)], axis=1)  # (E, 2)
    if pseudo == "polar":
        local = numpy.stack([numpy.hypot(local[:, 0], local[:, 1]), numpy.arctan2(local[:, 1], local[:, 0])], 1)
    return Graph(csr, pseudo=local)


def mesh_edges(faces, num_vertices):
    """(sources, targets) int64: every side of every triangle once in each direction, no duplicates."""
    faces = numpy.asarray(faces, dtype=numpy.int64)
    a = faces[:, [0, 1, 2]].ravel()
    b = faces[:, [1, 2, 0]].ravel()
    keys = numpy.unique(numpy.concatenate([a * num_vertices + b, b * num_vertices + a]))
    return keys // num_vertices, keys % num_vertices


def vertex_normals(vertices, faces):
    """Unit normals (V, 3): the sum of the adjacent faces' cross products (area weighted).

    A vertex in no face (or a degenerate one) gets the z axis.
    """
    vertices, faces = numpy.asarray(vertices, numpy.float64), numpy.asarray(faces, numpy.int64)
    p0, p1, p2 = (vertices[faces[:, k]] for k in range(3))
    face_normals = numpy.cross(p1 - p0, p2 - p0)  # length = 2 x triangle area
    normals = numpy.zeros_like(vertices)
    for k in range(3):
        numpy.add.at(normals, faces[:, k], face_normals)
    length = numpy.linalg.norm(normals, axis=1, keepdims=True)
    normals = numpy.where(length > 0, normals / numpy.where(length > 0, length, 1), [0.0, 0.0, 1.0])
    return normals


def icosphere(subdivisions=2):
    """A unit sphere mesh: an icosahedron whose triangles are split in four ``subdivisions`` times.

    Shapes: V = 10 * 4^s + 2 vertices, F = 20 * 4^s faces (s = 5: 10242 vertices, the fsaverage5
    cortical mesh's size; s = 7: 163842, fsaverage's).
    """
    vertices, faces = _icosahedron()
    for _ in range(subdivisions):
        vertices, faces = _subdivide(vertices, faces)
    return vertices / numpy.linalg.norm(vertices, axis=1, keepdims=True), faces


def _icosahedron():
    """The regular icosahedron: 12 vertices (+-1, +-t, 0) and their cyclic permutations, t the golden ratio
    (radius sqrt(1 + t^2), projected onto the unit sphere by icosphere), and its 20 triangles."""
    t = (1.0 + 5.0**0.5) / 2.0
    vertices = [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
                [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]]  # fmt: skip
    faces = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
             [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
             [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
             [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]]  # fmt: skip
    return numpy.array(vertices, dtype=numpy.float64), numpy.array(faces, dtype=numpy.int64)


def grid_mesh(rows, cols):
    """A flat rows x cols grid of vertices in the z = 0 plane, each square split into two triangles.

    Interior vertices have 6 neighbours, so E is about 6 V directed edges (317 x 317: 100489
    vertices and 600,400 edges, the benchmark's mesh).
    """
    r, c = numpy.meshgrid(numpy.arange(rows), numpy.arange(cols), indexing="ij")
    vertices = numpy.stack([c.ravel(), r.ravel(), numpy.zeros(rows * cols)], axis=1).astype(numpy.float64)
    top_left = (r[:-1, :-1] * cols + c[:-1, :-1]).ravel()
    lower = numpy.stack([top_left, top_left + cols + 1, top_left + cols], axis=1)  # counter-clockwise:
    upper = numpy.stack([top_left, top_left + 1, top_left + cols + 1], axis=1)  # normals point to +z
    return vertices, numpy.concatenate([lower, upper]).astype(numpy.int64)


def fsaverage5(hemi="left", surface="pial", feature="sulc"):
    """The fsaverage5 cortical surface that ships inside nilearn's wheel (offline; nibabel reads it).

    Lecture: "Graph convolutions - Motivation: learning on surfaces (cortex)".
    Returns:  (vertices (10242, 3) float64 in mm, faces (20480, 3) int64, per-vertex feature (10242,) float64
              or None): surface 'pial', 'white', 'infl', 'sphere' or 'flat'; feature 'sulc', 'curv',
              'thick', 'area' or None.
    Raises:   ImportError naming the packages if nilearn or nibabel is missing.
    """
    try:
        import nibabel
        import nilearn
    except ImportError as error:
        raise ImportError(
            fmt("fsaverage5", f"needs nilearn and nibabel ({error})", hint="pip install nilearn nibabel")
        ) from error
    from pathlib import Path

    folder = Path(nilearn.__file__).parent / "datasets" / "data" / "fsaverage5"
    mesh = nibabel.load(folder / f"{surface}_{hemi}.gii.gz")
    vertices, faces = (numpy.asarray(d.data) for d in mesh.darrays[:2])
    values = (
        None if feature is None else numpy.asarray(nibabel.load(folder / f"{feature}_{hemi}.gii.gz").darrays[0].data)
    )
    return vertices.astype(numpy.float64), faces.astype(numpy.int64), None if values is None else values.astype(float)


def _subdivide(vertices, faces):
    """Split every triangle into four at its edges' midpoints (each midpoint made once)."""
    V = len(vertices)
    pairs = numpy.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])  # (3F, 2)
    keys = numpy.minimum(pairs[:, 0], pairs[:, 1]) * V + numpy.maximum(pairs[:, 0], pairs[:, 1])
    unique, midpoint_of = numpy.unique(keys, return_inverse=True)
    a, b = unique // V, unique % V
    vertices = numpy.concatenate([vertices, (vertices[a] + vertices[b]) / 2])
    m01, m12, m20 = (V + midpoint_of).reshape(3, -1)
    v0, v1, v2 = faces.T
    faces = numpy.concatenate(
        [numpy.stack(f, axis=1) for f in ((v0, m01, m20), (v1, m12, m01), (v2, m20, m12), (m01, m12, m20))]
    )
    return vertices, faces


def _tangent_frames(normals):
    """(e1, e2) (V, 3) each: an orthonormal tangent frame at each vertex (see the module docstring)."""
    axes = numpy.eye(3)[numpy.argmin(numpy.abs(normals), axis=1)]  # axis least aligned with n
    e1 = axes - (axes * normals).sum(1, keepdims=True) * normals
    e1 /= numpy.linalg.norm(e1, axis=1, keepdims=True)
    return e1, numpy.cross(normals, e1)


def _check_mesh(vertices, faces):
    vertices, faces = numpy.asarray(vertices, numpy.float64), numpy.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ShapeError(fmt("mesh_graph", "expected vertices of shape (V, 3)", vertices=vertices))
    if faces.ndim != 2 or faces.shape[1] != 3 or not numpy.issubdtype(faces.dtype, numpy.integer):
        raise ShapeError(fmt("mesh_graph", "expected integer faces of shape (F, 3)", faces=faces))
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ShapeError(
            fmt("mesh_graph", f"face indices must lie in [0, {len(vertices)})", faces=faces, vertices=vertices)
        )
    return vertices, faces.astype(numpy.int64)
