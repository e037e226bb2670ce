"""A whole training step through every GPU code path at once (U-Net: conv, batch norm, ReLU, max pooling,
transposed conv, concatenation, cross-entropy, Adam), compared with the CPU path.

On the `emulated` device the kernels run on the CPU; on `cuda` they run on the GPU.
"""

import numpy
from conftest import assert_close

import tinygrad_med as tm
from tinygrad_med.models import UNet


def _one_step(device_name, x, y):
    tm.manual_seed(0)
    target = "cuda" if device_name == "cuda" else "cpu"
    model = UNet(1, 2, base_width=4, depth=1).to(target)
    opt = tm.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = tm.Tensor(x, device=target), tm.Tensor(y, device=target)
    loss = tm.nn.functional.cross_entropy(model(xt), yt)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss, [p.numpy() for p in model.parameters()]


def test_unet_training_step_matches_the_cpu_path(device):
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((2, 1, 8, 8)).astype(numpy.float32)
    y = rng.integers(0, 2, (2, 8, 8))
    ref_loss, ref_params = device.reference(_one_step, "cpu", x, y)
    loss, params = _one_step(device.device, x, y)
    assert_close(loss, ref_loss, rtol=1e-4, atol=1e-5)
    for got, expected in zip(params, ref_params, strict=True):
        assert_close(got, expected, rtol=1e-3, atol=1e-4)  # one Adam step of lr 1e-2 after float32 sums
