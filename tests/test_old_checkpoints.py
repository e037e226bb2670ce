"""State dicts and run folders saved before the classic models took torchvision's names still load.

tests/data/old_state_dict_keys.json holds the old code's (key, shape) lists (commit 639a349, written by
tests/data/make_old_state_dict_keys.py), so the old layout here is the old code's, not the upgrade rules
of tinygrad_med/models/old_keys.py run backwards.  The i-th old key is the i-th key today (the pairing
by position was checked once against the old code: equal eval-mode outputs after copying, max |diff| 0 for
DenseNet, GoogLeNet and the detection backbones, 1.2e-7 for ResNet-18's float32 logits).
"""

import json
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med import models
from tinygrad_med.cli import main
from tinygrad_med.errors import CheckpointError
from tinygrad_med.training.loop import Trainer, make_config

OLD = json.loads((Path(__file__).parent / "data" / "old_state_dict_keys.json").read_text())["models"]
UPGRADE_WARNING = "old layout of names .* saving .* again writes the new names"


def _build(name):
    """Today's model, from the old constructor call (the same call builds it today)."""
    return eval(OLD[name]["built_as"], vars(models))  # a fixed call from the committed file


def _old_keys(name):
    """The old code's [key, shape] list, in order (each "key 64,1,3,3" in the file)."""
    pairs = (entry.split(" ") for entry in OLD[name]["keys"])
    return [[key, [int(size) for size in shape.split(",") if size]] for key, shape in pairs]


def _old_state(name, seed=0):
    """Random values under the old code's keys, in its order."""
    rng = numpy.random.default_rng(seed)
    return OrderedDict((key, rng.standard_normal(shape, numpy.float32)) for key, shape in _old_keys(name))


@pytest.mark.parametrize("name", list(OLD))
def test_old_keys_map_one_to_one_onto_todays_in_order(name, no_random_init):
    model = _build(name)
    own = [(key, list(value.shape)) for key, value in model.state_dict().items()]
    old = _old_keys(name)
    with pytest.warns(DeprecationWarning, match=UPGRADE_WARNING):
        renamed = list(model._upgrade_state_dict(OrderedDict((key, None) for key, _ in old)))
    assert renamed == [key for key, _ in own]  # the i-th old key is the i-th key today
    assert [shape for _, shape in old] == [shape for _, shape in own]
    # so the parameters come in the same order: an optimizer's state_dict (keyed by index) needs no change
    params = [key for key in renamed if not key.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert params == [key for key, _ in model.named_parameters()]


@pytest.mark.parametrize("name", ["resnet18_digits", "densenet_digits", "googlenet_paper_aux", "maskrcnn"])
def test_an_old_state_dict_loads_its_values_under_todays_names(name, no_random_init):
    model, old = _build(name), _old_state(name)
    with pytest.warns(DeprecationWarning, match=type(model).__name__ + r"\.load_state_dict: .*old layout"):
        model.load_state_dict(old)
    for (key, value), loaded in zip(old.items(), model.state_dict().values(), strict=True):
        numpy.testing.assert_array_equal(loaded.numpy(), value.astype(loaded.numpy().dtype), err_msg=key)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # today's names load without a warning
        _build(name).load_state_dict(model.state_dict())


def _neither_layout(old, case):
    """The old layout with one key under today's name, less one key, or with a key of neither layout."""
    state = OrderedDict(old)
    if case == "mixed":
        state["features.conv0.weight"] = state.pop("features.0.weight")
    elif case == "partial":
        del state["features.0.weight"]
    else:
        state["features.7.weight"] = numpy.zeros(3, numpy.float32)
    return state


@pytest.mark.parametrize(
    "case, shown",
    [("mixed", "unexpected .*'features.1.layers.0.norm1.weight'"), ("partial", "missing .*'features.conv0.weight'"),
     ("extra", "unexpected .*'features.7.weight'")],
)  # fmt: skip
def test_a_state_dict_in_neither_layout_keeps_the_clear_error(case, shown):
    model, old = _build("densenet_digits"), _old_state("densenet_digits")
    before = {key: value.numpy().copy() for key, value in model.state_dict().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not taken for the old layout: no DeprecationWarning
        with pytest.raises(CheckpointError, match=f"error.s. loading state_dict for DenseNet: .*{shown}"):
            model.load_state_dict(_neither_layout(old, case))
    for key, value in model.state_dict().items():
        numpy.testing.assert_array_equal(value.numpy(), before[key])  # a failed load changes nothing


def test_an_old_state_dict_with_a_wrong_shape_names_todays_key():
    model = _build("densenet_digits")
    wrong = OrderedDict(_old_state("densenet_digits"), **{"features.0.weight": numpy.zeros((24, 1, 5, 5))})
    with pytest.warns(DeprecationWarning), pytest.raises(CheckpointError, match="'features.conv0.weight'.*5, 5"):
        model.load_state_dict(wrong)


def test_eval_and_resume_read_an_old_densenet_run_folder(tmp_path, capsys):
    """A run folder whose checkpoint holds the model under the old keys (the rest as tgm train writes it)."""
    config = make_config("densenet", "digits", epochs=1, batch_size=64, prefetch=0)
    (tmp_path / "new").mkdir(), (tmp_path / "old").mkdir()
    trainer = Trainer(config, tmp_path / "new", progress=False)
    trainer.train_step(*next(iter(trainer.train_loader)))  # the optimizer has state (Adam's moments)
    trainer.save_checkpoint()
    checkpoint = tm.load(tmp_path / "new" / "checkpoint.npz")
    old_keys = [key for key, _ in _old_keys("densenet_digits")]
    checkpoint["model"] = OrderedDict(zip(old_keys, checkpoint["model"].values(), strict=True))
    tm.save(checkpoint, tmp_path / "old" / "checkpoint.npz")

    resumed = Trainer(config, tmp_path / "old", progress=False)
    with pytest.warns(DeprecationWarning, match=UPGRADE_WARNING):
        resumed.load_state(checkpoint, "checkpoint.npz")  # what --resume, eval and predict call
    for ours, theirs in zip(resumed.model.state_dict().values(), trainer.model.state_dict().values(), strict=True):
        numpy.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    state, expected = resumed.optimizer.state_dict()["state"], trainer.optimizer.state_dict()["state"]
    assert state.keys() == expected.keys() and len(state) == len(list(trainer.model.parameters()))
    for index, buffers in expected.items():  # Adam's step and moments, by parameter index
        for name, value in buffers.items():
            numpy.testing.assert_array_equal(state[index][name], value, err_msg=f"{index} {name}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert main(["eval", str(tmp_path / "old")]) == 0
    accuracy = trainer.evaluate()["metrics"]["accuracy"]
    assert json.loads(capsys.readouterr().out) == {"test_accuracy": accuracy}
