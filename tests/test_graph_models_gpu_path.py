"""The cortex graph models through the GPU code path (CSR kernels, graph convolutions, DiffPool), equal to the CPU.

Each model runs in float64 on a small icosphere graph: forward, cross-entropy, backward, on the plain CPU path and on
the `device` fixture (`emulated` runs the CUDA kernels on the CPU, `cuda` a GPU). Scores, the loss and every
parameter's gradient must agree, and every parameter must get a gradient.
"""

import numpy
import pytest
from conftest import Device, assert_close

import tinygrad_med as tm
from tinygrad_med.data.graph_batch import collate_graphs
from tinygrad_med.graph import icosphere, mesh_graph
from tinygrad_med.models.graph_models import GeometricGCN, GraphClassifier, SpectralGCN
from tinygrad_med.ops.cross_entropy import cross_entropy


def _step(make, graph, x, labels, device, classify):
    """(scores, loss, {name: grad}) of one forward/backward of a freshly seeded float64 model on ``device``."""
    tm.manual_seed(0)
    model = make(3, 4, hidden=6, layers=2, dropout=0.0)
    model = model.to(tm.float64).to(device.device)
    scores = model(device.tensor(x), graph)
    loss = cross_entropy(scores, device.tensor(labels))
    if classify:
        loss = loss + model.aux_loss
    loss.backward()
    grads = {name: p.grad.numpy() for name, p in model.named_parameters()}
    return scores.numpy(), loss.numpy(), grads


@pytest.mark.parametrize("make", [SpectralGCN, GeometricGCN, GraphClassifier])
def test_graph_models_on_the_gpu_path_equal_the_cpu(device, make):
    vertices, faces = icosphere(1)
    x = numpy.random.default_rng(0).standard_normal((len(vertices), 3))
    if make is GraphClassifier:  # two graphs in one block-diagonal batch, one class each
        samples = [((mesh_graph(vertices, faces, None), x), 1), ((mesh_graph(vertices, faces, None), -x), 3)]
        batch, labels = collate_graphs([((g, tm.tensor(f)), tm.tensor(y)) for (g, f), y in samples])
        graph, x, labels = batch.graph, batch.x.numpy().astype(numpy.float64), labels.numpy()
    else:
        graph = mesh_graph(vertices, faces, None)
        labels = numpy.random.default_rng(1).integers(0, 4, len(vertices))
        if make is GeometricGCN:
            from tinygrad_med.data.cortex import spectral_pseudo_coordinates

            graph = spectral_pseudo_coordinates(graph, vertices)
    classify = make is GraphClassifier
    expected = device.reference(_step, make, graph, x, labels, Device("cpu"), classify)
    scores, loss, grads = _step(make, graph, x, labels, device, classify)
    assert_close(scores, expected[0], rtol=1e-9, atol=1e-10)
    assert_close(loss, expected[1], rtol=1e-9, atol=1e-10)
    assert grads.keys() == expected[2].keys()
    for name, grad in grads.items():
        assert numpy.abs(grad).max() > 0, f"{name} got no gradient"
        assert_close(grad, expected[2][name], rtol=1e-8, atol=1e-10)
