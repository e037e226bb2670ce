"""nn.Module / Parameter semantics, Linear and the containers, and nn.init's formulas and statistics."""

import copy
import math
from collections import OrderedDict

import numpy
import pytest
from conftest import assert_close

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.errors import CheckpointError, ShapeError
from tinygrad_med.nn import init


class Block(nn.Module):
    """A Linear, a child Sequential, a persistent and a non-persistent buffer."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.scale = nn.Parameter(tm.ones(3))
        self.register_buffer("running_mean", tm.zeros(3))
        self.register_buffer("count", tm.tensor(0))  # int64: never cast by to(dtype)
        self.register_buffer("cache", tm.zeros(2), persistent=False)
        self.head = nn.Sequential(nn.Linear(3, 2), nn.Identity())

    def forward(self, x):
        return self.head(self.fc(x) * self.scale)


# --------------------------------------------------------------------------- registration


def test_parameter_is_a_tensor_that_requires_grad_and_shares_data():
    source = tm.randn(2, 3)
    param = nn.Parameter(source)
    assert isinstance(param, tm.Tensor) and param.requires_grad
    assert param.data is source.data
    assert not nn.Parameter(tm.randn(2), requires_grad=False).requires_grad
    assert repr(nn.Parameter(tm.zeros(2))) == "Parameter containing:\ntensor([0., 0.], requires_grad=True)"
    assert nn.Parameter().shape == (0,)


def test_setattr_registers_parameters_modules_and_buffers():
    block = Block()
    assert list(block._parameters) == ["scale"]
    assert list(block._modules) == ["fc", "head"]
    assert list(block._buffers) == ["running_mean", "count", "cache"]
    assert "fc" not in block.__dict__ and block.fc is block._modules["fc"]  # found through __getattr__
    block.plain = 3
    assert block.plain == 3 and "plain" not in block._parameters
    with pytest.raises(AttributeError, match="'Block' object has no attribute 'missing'"):
        _ = block.missing


def test_assignment_rules_follow_pytorch():
    block = Block()
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'scale'"):
        block.scale = tm.ones(3)
    block.scale = None
    assert "scale" not in dict(block.named_parameters())
    block.running_mean = tm.ones(3)  # a Tensor may replace a buffer
    numpy.testing.assert_array_equal(block.running_mean.numpy(), 1)
    with pytest.raises(TypeError, match="buffer 'running_mean'"):
        block.running_mean = numpy.ones(3)
    with pytest.raises(TypeError, match="child module 'fc'"):
        block.fc = 3
    block.fc = nn.Parameter(tm.zeros(1))  # re-registering under another kind moves it
    assert "fc" in block._parameters and "fc" not in block._modules
    del block.fc
    assert "fc" not in block._parameters


def _reassigned(lib, zeros):
    """The same registrations and re-registrations on ``lib``'s Module (tinygrad_med or torch): the orders after."""
    module = lib.nn.Module()
    module.a, module.b, module.c = lib.nn.Linear(2, 2), lib.nn.ReLU(), lib.nn.Linear(2, 1)
    module.p, module.q = lib.nn.Parameter(zeros(1)), lib.nn.Parameter(zeros(2))
    module.register_buffer("r", zeros(1))
    module.register_buffer("s", zeros(2))
    orders = []
    for step in range(4):
        if step == 0:  # the same kind again: each name keeps its place
            module.a = lib.nn.Linear(2, 2)
            module.add_module("b", lib.nn.Tanh())
            module.p = lib.nn.Parameter(zeros(1))
            module.register_parameter("q", lib.nn.Parameter(zeros(2)))
            module.register_buffer("r", zeros(1))
            module.register_buffer("s", zeros(2), persistent=False)  # its place, and no longer saved
        elif step == 1:  # None, then a value again
            module.a, module.p = None, None
            module.a, module.p = lib.nn.Linear(2, 2), lib.nn.Parameter(zeros(1))
        elif step == 2:  # another kind: the name leaves one registry and goes to the end of the other
            module.c, module.r = lib.nn.Parameter(zeros(3)), lib.nn.Identity()
            with pytest.raises(TypeError, match="as parameter 'q'"):
                module.q = lib.nn.Identity()
        else:
            module.register_module("a", lib.nn.ReLU())
            del module.b
        registries = (module._modules, module._parameters, module._buffers, module.state_dict())
        orders.append([list(registry) for registry in registries] + [[n for n, _ in module.named_parameters()]])
    return orders


def test_reassigned_names_keep_their_place_as_in_pytorch():
    """setattr, add_module/register_module, register_parameter, register_buffer on a registered name keep
    its position in the order (parameters(), state_dict()), exactly as torch.nn.Module."""
    torch = pytest.importorskip("torch")
    expected = _reassigned(torch, torch.zeros)
    assert _reassigned(tm, tm.zeros) == expected
    assert expected[0][0] == ["a", "b", "c"] and expected[0][1] == ["p", "q"]  # not moved to the end


def test_container_item_assignment_keeps_the_position_as_in_pytorch():
    """seq[i] = m, modules[i] = m, modules_dict[key] = m replace in place: the forward order is kept."""
    torch = pytest.importorskip("torch")

    def orders(lib):
        seq = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.ReLU(), lib.nn.Linear(2, 1))
        seq[0] = lib.nn.Tanh()
        listed = lib.nn.ModuleList([lib.nn.ReLU(), lib.nn.Tanh()])
        listed[0] = lib.nn.Identity()
        named = lib.nn.ModuleDict({"a": lib.nn.ReLU(), "b": lib.nn.Tanh()})
        named["a"] = lib.nn.Identity()
        return [[(name, type(m).__name__) for name, m in c.named_children()] for c in (seq, listed, named)]

    expected = orders(torch)
    assert orders(tm) == expected and expected[0][0] == ("0", "Tanh")


def test_registration_before_init_and_bad_names_are_errors():
    class Forgot(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tm.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Forgot()
    module = nn.Module()
    with pytest.raises(KeyError, match="contain '.'"):
        module.register_buffer("a.b", tm.zeros(1))
    module.add_module("child", nn.Identity())
    with pytest.raises(KeyError, match="attribute 'child' already exists"):
        module.register_buffer("child", tm.zeros(1))
    with pytest.raises(KeyError, match="attribute 'forward' already exists"):
        module.register_parameter("forward", None)
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter"):
        module.register_parameter("w", tm.zeros(1))
    with pytest.raises(TypeError, match="is not a Module subclass"):
        module.add_module("m", 3)
    with pytest.raises(NotImplementedError, match="Module has no forward"):
        module(tm.zeros(1))


def test_named_parameters_buffers_and_modules_order():
    block = Block()
    assert [name for name, _ in block.named_parameters()] == [
        "scale",
        "fc.weight",
        "fc.bias",
        "head.0.weight",
        "head.0.bias",
    ]
    assert [name for name, _ in block.named_parameters(recurse=False)] == ["scale"]
    assert [name for name, _ in block.named_parameters(prefix="model")][:2] == ["model.scale", "model.fc.weight"]
    assert [name for name, _ in block.named_buffers()] == ["running_mean", "count", "cache"]
    assert [name for name, _ in block.named_modules()] == ["", "fc", "head", "head.0", "head.1"]
    assert [name for name, _ in block.named_children()] == ["fc", "head"]
    assert list(block.children()) == [block.fc, block.head]
    assert block.get_submodule("head.0") is block.head[0]
    assert block.num_parameters() == 3 + 4 * 3 + 3 + 3 * 2 + 2


def test_shared_parameter_and_module_are_listed_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, shared)
    assert len(list(model.parameters())) == 2
    assert [name for name, _ in model.named_modules()] == ["", "0"]
    model[1].weight = model[0].weight  # same object under two names
    assert model.num_parameters() == 6


def test_train_eval_propagate_to_every_descendant():
    block = Block()
    assert all(m.training for m in block.modules())
    assert block.eval() is block
    assert not any(m.training for m in block.modules())
    block.head.train()
    assert block.head[1].training and not block.fc.training
    with pytest.raises(ValueError, match="mode is expected to be a bool"):
        block.train("yes")

    class FrozenStats(nn.Module):  # a layer that stays in eval mode, like a frozen batch norm
        def train(self, mode=True):
            return super().train(False)

    model = nn.Sequential(nn.Linear(2, 2), FrozenStats())
    model.train()
    assert model.training and model[0].training and not model[1].training


def test_zero_grad_sets_none_or_fresh_zeros():
    block = Block()
    block(tm.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in block.parameters())
    block.zero_grad(set_to_none=False)
    for param in block.parameters():
        assert param.grad.shape == param.shape and not param.grad.numpy().any()
    block.zero_grad()
    assert all(p.grad is None for p in block.parameters())


def test_deepcopy_gives_independent_parameters():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    twin = copy.deepcopy(model)
    assert repr(twin) == repr(model) and isinstance(twin[0].weight, nn.Parameter)
    assert twin[0].weight is not model[0].weight
    with tm.no_grad():
        twin[0].weight.fill_(0.0)
    assert model[0].weight.numpy().any()


def test_requires_grad_and_apply():
    block = Block()
    block.requires_grad_(False)
    assert not any(p.requires_grad for p in block.parameters())
    visited = []
    assert block.apply(lambda m: visited.append(type(m).__name__)) is block
    assert visited == ["Linear", "Linear", "Identity", "Sequential", "Block"]  # children first, as PyTorch


def test_to_dtype_keeps_identity_and_casts_grads_but_not_integer_buffers():
    block = Block()
    block(tm.randn(5, 4)).sum().backward()
    params_before = list(block.parameters())  # what an optimizer would hold
    grads_before = [p.grad for p in params_before]
    assert block.to(tm.float64) is block
    assert [id(p) for p in block.parameters()] == [id(p) for p in params_before]
    assert all(p.dtype == tm.float64 and p.grad.dtype == tm.float64 for p in params_before)
    assert all(p.grad is g for p, g in zip(params_before, grads_before, strict=True))
    assert block.running_mean.dtype == tm.float64 and block.count.dtype == tm.int64
    assert block.float().fc.weight.dtype == tm.float32
    assert block.double().head[0].bias.dtype == tm.float64
    assert block.to(tm.zeros(1)).scale.dtype == tm.float32  # to(tensor): its dtype and device
    with pytest.raises(tm.DTypeError, match="floating point"):
        block.to(tm.int64)


def test_to_device_moves_parameters_in_place(device):
    block = Block()
    weight = block.fc.weight
    x = numpy.random.default_rng(0).standard_normal((5, 4)).astype(numpy.float32)
    expected = block(tm.tensor(x)).numpy()
    block.to(device.device)
    assert block.fc.weight is weight and weight.device == device.device
    assert block.running_mean.device == device.device and block.cache.device == device.device
    assert_close(block(device.tensor(x)), expected)
    block.cpu()
    assert weight.device == "cpu"


# --------------------------------------------------------------------------- state dict


def test_state_dict_keys_order_and_detached_shared_values():
    block = Block()
    state = block.state_dict()
    assert isinstance(state, OrderedDict)
    assert list(state) == [
        "scale",
        "running_mean",
        "count",
        "fc.weight",
        "fc.bias",
        "head.0.weight",
        "head.0.bias",
    ]  # own params, own persistent buffers, then children
    assert not state["fc.weight"].requires_grad and not isinstance(state["fc.weight"], nn.Parameter)
    assert state["fc.weight"].data is block.fc.weight.data  # a view, as in PyTorch
    assert block.state_dict(keep_vars=True)["scale"] is block.scale


def test_load_state_dict_round_trip_from_numpy_keeps_destination_dtype():
    source, target = Block(), Block().double()
    state = {key: value.numpy() for key, value in source.state_dict().items()}
    result = target.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert target.fc.weight.dtype == tm.float64
    x = tm.randn(3, 4)
    assert_close(target(x.double()), source(x), rtol=1e-6, atol=1e-6)


def test_load_state_dict_shape_mismatch_names_key_and_both_shapes_and_changes_nothing():
    block = Block()
    before = {key: value.numpy().copy() for key, value in block.state_dict().items()}
    state = {key: value.numpy() * 0 + 7 for key, value in block.state_dict().items()}
    state["fc.weight"] = numpy.zeros((3, 5), numpy.float32)
    with pytest.raises(CheckpointError, match=r"'fc.weight'.*shape \(3, 5\).*current model is \(3, 4\)"):
        block.load_state_dict(state, strict=False)  # shape errors are raised even when not strict
    for key, value in block.state_dict().items():
        numpy.testing.assert_array_equal(value.numpy(), before[key])


def test_load_state_dict_strict_missing_and_unexpected_keys():
    block = Block()
    state = block.state_dict()
    del state["fc.bias"]
    state["extra"] = tm.zeros(1)
    with pytest.raises(CheckpointError, match=r"missing key\(s\) in state_dict: 'fc.bias'.*unexpected.*'extra'"):
        block.load_state_dict(state)
    result = block.load_state_dict(state, strict=False)
    assert result == (["fc.bias"], ["extra"]) and result.missing_keys == ["fc.bias"]
    with pytest.raises(CheckpointError, match="'count' has dtype <U3"):
        block.load_state_dict({**state, "count": numpy.array("abc")}, strict=False)
    with pytest.raises(TypeError, match="dict-like"):
        block.load_state_dict([1, 2])


# --------------------------------------------------------------------------- repr


def test_repr_snapshot():
    expected = (
        "Block(\n"
        "  (fc): Linear(in_features=4, out_features=3, bias=True)\n"
        "  (head): Sequential(\n"
        "    (0): Linear(in_features=3, out_features=2, bias=True)\n"
        "    (1): Identity()\n"
        "  )\n"
        ")"
    )
    assert repr(Block()) == expected
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(nn.Linear(2, 1, bias=False)) == "Linear(in_features=2, out_features=1, bias=False)"


# --------------------------------------------------------------------------- Linear


def test_linear_forward_matches_the_formula(device):
    layer = nn.Linear(5, 3)
    x = numpy.random.default_rng(1).standard_normal((2, 4, 5)).astype(numpy.float32)
    W, b = layer.weight.numpy(), layer.bias.numpy()
    expected = numpy.zeros((2, 4, 3), numpy.float32)
    for i in range(2):
        for j in range(4):
            for k in range(3):
                expected[i, j, k] = sum(x[i, j, m] * W[k, m] for m in range(5)) + b[k]
    layer.to(device.device)
    assert_close(layer(device.tensor(x)), expected)


def test_linear_gradcheck_float64():
    layer = nn.Linear(4, 3).double()
    x = tm.Tensor(numpy.random.default_rng(2).standard_normal((5, 4)), requires_grad=True)
    tm.gradcheck(lambda x, W, b: nn.functional.linear(x, W, b), [x, layer.weight, layer.bias])
    layer(x).sum().backward()  # the module path fills .grad with the same formula
    numpy.testing.assert_allclose(layer.weight.grad.numpy(), numpy.ones((5, 3)).T @ x.numpy())
    numpy.testing.assert_allclose(layer.bias.grad.numpy(), numpy.full(3, 5.0))


def test_linear_default_init_bounds_and_std():
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform(a=sqrt(5)): gain sqrt(1/3), bound sqrt(3)*gain/sqrt(fan_in)
    weight, bias = layer.weight.numpy(), layer.bias.numpy()
    assert numpy.abs(weight).max() <= bound and numpy.abs(bias).max() <= bound
    assert weight.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert layer.weight.dtype == tm.float32 and nn.Linear(2, 2, dtype=tm.float64).bias.dtype == tm.float64
    assert nn.Linear(3, 2, bias=False).bias is None and len(list(nn.Linear(3, 2, bias=False).parameters())) == 1
    with pytest.raises(ShapeError, match="x has 5 features but W expects 4"):
        nn.Linear(4, 2)(tm.zeros(3, 5))


# --------------------------------------------------------------------------- containers


def test_sequential_indexing_slicing_and_mutation():
    layers = [nn.Linear(4, 4), nn.Identity(), nn.Linear(4, 2)]
    model = nn.Sequential(*layers)
    assert len(model) == 3 and list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[2]
    head = model[1:]
    assert isinstance(head, nn.Sequential) and list(head._modules) == ["1", "2"] and head[1] is layers[2]
    x = tm.randn(2, 4)
    assert_close(model(x), layers[2](layers[0](x)))
    model.append(nn.Flatten())
    assert len(model) == 4 and isinstance(model[3], nn.Flatten)
    model[1] = nn.Linear(4, 4)
    assert isinstance(model[1], nn.Linear) and len(list(model.parameters())) == 6
    del model[0]
    assert list(model._modules) == ["0", "1", "2"]
    with pytest.raises(IndexError, match="index 5 is out of range for length 3"):
        model[5]
    with pytest.raises(TypeError, match="indices must be integers or slices, got str"):
        model["0"]
    assert model[numpy.int64(-1)] is model[2]
    assert len(model.extend([nn.Identity(), nn.Identity()])) == 5
    named = nn.Sequential(OrderedDict([("conv", nn.Linear(2, 2)), ("act", nn.Identity())]))
    assert list(dict(named.named_parameters())) == ["conv.weight", "conv.bias"] and named.act is named[1]


def test_module_list_dict_and_parameter_list_register_their_items():
    blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    blocks.append(nn.Identity())
    blocks.insert(0, nn.Linear(2, 1))
    assert len(blocks) == 5 and blocks[0].out_features == 1 and isinstance(blocks[-1], nn.Identity)
    del blocks[1]
    assert list(blocks._modules) == ["0", "1", "2", "3"] and len(list(blocks.parameters())) == 6
    assert isinstance(blocks[1:3], nn.ModuleList) and len(blocks[1:3]) == 2
    heads = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.Identity()})
    heads["c"] = nn.Linear(2, 1)
    assert list(heads) == ["a", "b", "c"] and "b" in heads and heads.pop("b") is not None
    assert [name for name, _ in heads.named_parameters()] == ["a.weight", "a.bias", "c.weight", "c.bias"]
    params = nn.ParameterList([tm.zeros(2), nn.Parameter(tm.ones(3))])
    assert all(isinstance(p, nn.Parameter) for p in params) and len(params) == 2
    assert [name for name, _ in params.named_parameters()] == ["0", "1"]
    assert "(1): Parameter containing: [float32 of size 3]" in repr(params)


def test_flatten_and_unflatten_shapes():
    x = tm.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    assert nn.Unflatten(-1, (5, -1))(tm.zeros(2, 10)).shape == (2, 5, 2)
    with pytest.raises(ShapeError, match=r"unflattened_size \(4, 4\) does not fit dim 1 of size 60"):
        nn.Unflatten(1, (4, 4))(tm.zeros(2, 60))


# --------------------------------------------------------------------------- init


def test_calculate_gain_matches_pytorch_documentation():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_fan_in_and_fan_out_for_linear_and_conv_weights():
    assert init._calculate_fan_in_and_fan_out(tm.zeros(30, 20)) == (20, 30)
    assert init._calculate_fan_in_and_fan_out(tm.zeros(16, 3, 5, 5)) == (75, 400)
    assert init._calculate_fan_in_and_fan_out(tm.zeros(8, 4, 3, 3, 3)) == (108, 216)
    with pytest.raises(ShapeError, match=r"fewer than 2 dimensions \(tensor.shape=\(5,\)\)"):
        init.xavier_uniform_(tm.zeros(5))


UNIFORM_STD = 1 / math.sqrt(3)  # std of U(-1, 1)

# name -> (fill, expected std, expected bound or None) for a (256, 64, 3, 3) conv weight: fan_in 576, fan_out 2304
INITS = {
    "xavier_uniform": (lambda w: init.xavier_uniform_(w, gain=2.0), 2 * math.sqrt(2 / 2880), None),
    "xavier_normal": (lambda w: init.xavier_normal_(w), math.sqrt(2 / 2880), None),
    "kaiming_uniform": (lambda w: init.kaiming_uniform_(w, nonlinearity="relu"), math.sqrt(2 / 576), None),
    "kaiming_normal_fan_out": (
        lambda w: init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"),
        math.sqrt(2 / 2304),
        None,
    ),
    "kaiming_leaky": (lambda w: init.kaiming_normal_(w, a=0.1), math.sqrt(2 / 1.01) / math.sqrt(576), None),
    "uniform": (lambda w: init.uniform_(w, -2, 2), 2 * UNIFORM_STD, 2.0),
    "normal": (lambda w: init.normal_(w, 1.0, 0.5), 0.5, None),
}


@pytest.mark.parametrize("name", sorted(INITS))
def test_init_statistics_match_the_formulas(name):
    fill, std, bound = INITS[name]
    weight = nn.Parameter(tm.zeros(256, 64, 3, 3))  # 147,456 draws: std known to well under 1%
    assert fill(weight) is weight
    values = weight.numpy()
    assert values.std() == pytest.approx(std, rel=0.02)
    if name.endswith("uniform"):
        assert numpy.abs(values).max() <= math.sqrt(3) * std * (1 + 1e-6)
        assert numpy.abs(values).max() >= 0.99 * math.sqrt(3) * std
    if bound is not None:
        assert numpy.abs(values).max() <= bound
    expected_mean = 1.0 if name == "normal" else 0.0
    assert abs(values.mean() - expected_mean) < 0.02 * std  # standard error of the mean is std / 384


def test_init_is_in_place_seeded_and_works_on_parameters_under_grad():
    weight = nn.Parameter(tm.zeros(8, 8, dtype=tm.float64))
    array = weight.data
    tm.manual_seed(3)
    init.kaiming_uniform_(weight)
    first = weight.numpy().copy()
    tm.manual_seed(3)
    init.kaiming_uniform_(weight)
    assert weight.data is array and weight.dtype == tm.float64
    numpy.testing.assert_array_equal(weight.numpy(), first)
    init.constant_(weight, 0.5)
    assert (weight.numpy() == 0.5).all()
    assert init.ones_(weight).numpy().sum() == 64 and init.zeros_(weight).numpy().sum() == 0
    with pytest.raises(ValueError, match="mode 'fan_avg' not supported"):
        init.kaiming_normal_(weight, mode="fan_avg")
    assert init.kaiming_uniform_(nn.Parameter(tm.zeros(0, 3))).shape == (0, 3)


# --------------------------------------------------------------------------- PyTorch interop


def test_torch_state_dict_loads_and_gives_the_same_outputs():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Flatten(), torch.nn.Linear(5, 2))
    ours = nn.Sequential(nn.Linear(6, 5), nn.Flatten(), nn.Linear(5, 2))
    assert list(ours.state_dict()) == list(reference.state_dict())
    result = ours.load_state_dict({k: v.numpy() for k, v in reference.state_dict().items()})
    assert result == ([], [])
    x = numpy.random.default_rng(4).standard_normal((3, 6)).astype(numpy.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    assert_close(ours(tm.tensor(x)), expected, rtol=1e-5, atol=1e-6)
    assert repr(ours).replace("tinygrad", "") == repr(reference)


def test_init_gains_agree_with_torch():
    torch = pytest.importorskip("torch")
    for name, param in [
        ("linear", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.3),
        ("selu", None),
        ("conv3d", None),
    ]:
        assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    weight = torch.empty(16, 3, 5, 5)
    assert init._calculate_fan_in_and_fan_out(tm.zeros(16, 3, 5, 5)) == torch.nn.init._calculate_fan_in_and_fan_out(
        weight
    )


def test_every_public_name_has_a_docstring():
    from tinygrad_med import serialization
    from tinygrad_med.nn import linear, module

    for namespace in (module, linear, init, serialization):
        for name in namespace.__all__:
            assert getattr(namespace, name).__doc__, f"{namespace.__name__}.{name} has no docstring"
