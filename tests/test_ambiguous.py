"""The ambiguous lesion dataset (data/ambiguous.py) and its objectives (training/objectives/ambiguous.py):
the raters follow the documented probabilities, the generalised energy distance matches hand-computed
values, and a Probabilistic U-Net trained on random raters' masks samples hypotheses that differ where
the raters do, while a deterministic U-Net has one."""

import numpy
import pytest

from tinygrad_med.data import registry
from tinygrad_med.data.ambiguous import GRADES, AmbiguousLesions, make_ambiguous_lesions
from tinygrad_med.training.loop import Trainer, make_config
from tinygrad_med.training.objectives import make_objective
from tinygrad_med.training.objectives.ambiguous import generalized_energy_distance, pairwise_distances
from tinygrad_med.training.objectives.generative import energy_distance

# ----------------------------------------------------------------------------- the dataset's rules


def test_raters_mark_each_grade_with_its_set_probability():
    """Over 300 images x 4 raters (about 3,600 rater-lesion decisions), each grade's marking frequency is
    within 0.05 of its probability (binomial standard error <= 0.015 per grade)."""
    marked, seen = numpy.zeros(len(GRADES)), numpy.zeros(len(GRADES))
    for seed in range(300):
        _, masks, grades, discs = make_ambiguous_lesions(seed)
        for grade, disc in zip(grades, discs, strict=True):
            marks = masks[:, disc]  # (R, pixels of the lesion): a rater marks all of it or none
            assert (marks == marks[:, :1]).all()
            marked[grade] += marks[:, 0].sum()
            seen[grade] += len(marks)
    frequency = marked / seen
    assert numpy.allclose(frequency, [p for _, _, p in GRADES], atol=0.05), frequency
    assert seen.min() > 800


def test_share_of_raters_converges_to_the_probability_map_and_nothing_is_marked_off_the_lesions():
    dataset = AmbiguousLesions(4, split="test", raters=2000)
    for index in range(4):
        _, masks = dataset[index]
        truth = dataset.probability_map(index)
        assert numpy.abs(masks.mean(axis=0) - truth).max() < 0.05
        assert not masks[:, truth == 0].any()


def test_lesion_contrast_follows_the_grade():
    image, _, grades, discs = make_ambiguous_lesions(3, noise=0.0)
    for grade, disc in zip(grades, discs, strict=True):
        assert numpy.allclose(image[disc], 0.2 + GRADES[grade][1], atol=1e-6)
    assert numpy.allclose(image[~discs.any(axis=0)], 0.2, atol=1e-6)


def test_dataset_is_deterministic_by_seed_and_splits_differ():
    a, b = AmbiguousLesions(3), AmbiguousLesions(3)
    for (xa, ya), (xb, yb) in zip((a[i] for i in range(3)), (b[i] for i in range(3)), strict=True):
        assert numpy.array_equal(xa, xb) and numpy.array_equal(ya, yb)
    image, masks = a[0]
    assert image.shape == (1, 32, 32) and image.dtype == numpy.float32
    assert masks.shape == (4, 32, 32) and set(numpy.unique(masks)) <= {0, 1}
    assert not numpy.array_equal(AmbiguousLesions(1, split="test")[0][0], image)
    assert not numpy.array_equal(AmbiguousLesions(1, base_seed=5)[0][0], image)


def test_dataset_bad_input():
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        AmbiguousLesions(2, split="val")
    with pytest.raises(ValueError, match="size >= 16"):
        make_ambiguous_lesions(0, size=8)
    with pytest.raises(IndexError, match="index 2 out of range for 2"):
        AmbiguousLesions(2)[2]


def test_registered_as_lesions_ambiguous_with_its_task():
    dataset = registry.get_dataset("lesions-ambiguous", "test")
    assert dataset.task == "ambiguous segmentation" and dataset.num_classes == 2
    assert make_objective("prob_unet", dataset).name == "ambiguous probabilistic segmentation"
    assert make_objective("unet", dataset).name == "ambiguous segmentation"


# ----------------------------------------------------------------------------- the energy distance


def _square(top, left, side, size=8):
    mask = numpy.zeros((size, size), numpy.int64)
    mask[top : top + side, left : left + side] = 1
    return mask


def test_distance_on_hand_made_masks():
    a, b, empty = _square(0, 0, 2), _square(0, 0, 2), numpy.zeros((8, 8), numpy.int64)
    b[2, 0:2] = 1  # 4 pixels inside 6: IoU 2/3
    d = pairwise_distances(numpy.stack([a, b, empty]), numpy.stack([a, b, empty]), 2)
    assert numpy.allclose(d, [[0, 1 / 3, 1], [1 / 3, 0, 1], [1, 1, 0]])
    two_classes = a + 2 * _square(4, 4, 2)  # class 1 the same, class 2 absent from a: mean of 0 and 1
    assert pairwise_distances(two_classes[None], a[None], 3)[0, 0] == pytest.approx(0.5)


def test_generalized_energy_distance_on_hand_made_sets():
    a, b = _square(0, 0, 2), _square(0, 0, 2)
    b[2, 0:2] = 1  # d(a, b) = 1/3
    # one hypothesis a against raters {a, a, b, b}: cross 1/6; rater pairs differ in 8 of 12 ordered pairs
    ged, sample_diversity, rater_diversity = generalized_energy_distance(a[None], numpy.stack([a, a, b, b]), 2)
    assert sample_diversity == 0.0 and rater_diversity == pytest.approx(8 / 12 / 3)
    assert ged == pytest.approx(2 / 6 - 8 / 36)
    # hypotheses {a, b} against the same raters: cross 1/6, and the hypotheses' own diversity 1/3 lowers D^2
    ged, sample_diversity, _ = generalized_energy_distance(numpy.stack([a, b]), numpy.stack([a, a, b, b]), 2)
    assert sample_diversity == pytest.approx(1 / 3) and ged == pytest.approx(2 / 6 - 1 / 3 - 8 / 36)


def test_generalized_energy_distance_with_one_annotation_is_energy_distance():
    rng = numpy.random.default_rng(0)
    samples, truth = rng.integers(0, 3, (5, 6, 6)), rng.integers(0, 3, (6, 6))
    ged, diversity, rater_diversity = generalized_energy_distance(samples, truth[None], 3)
    assert (ged, diversity) == pytest.approx(energy_distance(samples, truth, 3)) and rater_diversity == 0.0


# ----------------------------------------------------------------------------- training on random raters


def _train(model, tmp_path, monkeypatch, seed=0):
    """``model`` on 256 training and 32 held-out 16 x 16 images with two lesions each, 8 epochs of batch 16
    (128 steps; a 16 x 16 step costs about a quarter of a 32 x 32 one) at lr 1e-2.

    Measured, seeds 0, 1, 2 (Probabilistic U-Net): Dice of the mean of the samples 0.89, 0.89, 0.90; GED^2
    0.062, 0.061, 0.030; sample diversity 0.259, 0.184, 0.260 (the raters' 0.1875). The U-Net: GED^2 0.46,
    0.20, 0.62 (one output, diversity 0). At lr 3e-3 the Probabilistic U-Net with seed 1 still marked no
    lesion after 128 steps (Dice 0)."""

    def make(split, path=None):
        return AmbiguousLesions(256 if split == "train" else 32, split=split, size=16, lesions=2)

    monkeypatch.setitem(registry.DATASETS, "lesions-ambiguous", dict(registry.DATASETS["lesions-ambiguous"], make=make))
    config = make_config(model, "lesions-ambiguous", epochs=8, batch_size=16, lr=1e-2, seed=seed, prefetch=0)
    trainer = Trainer(config, str(tmp_path / model), progress=False)
    trainer.draw_curves = trainer.draw_predictions = lambda *args: None  # matplotlib: not tested here
    return trainer, trainer.fit()


@pytest.mark.slow
def test_prob_unet_samples_differ_where_the_raters_do_and_the_unet_has_one_hypothesis(tmp_path, monkeypatch):
    _, unet = _train("unet", tmp_path, monkeypatch)
    trainer, prob = _train("prob_unet", tmp_path, monkeypatch)
    assert unet["test_sample_diversity"] == 0.0
    assert unet["test_rater_diversity"] == prob["test_rater_diversity"] > 0.15
    assert prob["test_dice"] > 0.6, prob
    assert prob["test_sample_diversity"] > 0.08, prob
    assert prob["test_ged"] < unet["test_ged"] - 0.05, (prob["test_ged"], unet["test_ged"])


def test_prob_unet_run_resumes_exactly_with_its_random_raters(tmp_path, monkeypatch):
    """The rater drawn for each sample comes from the run's generator, which the checkpoint holds: a run
    stopped after 3 steps and resumed ends with the same weights as one that was never stopped."""
    import os
    import signal

    from tinygrad_med.cli import main
    from tinygrad_med.training.loop import load_checkpoint

    def make(split, path=None):
        return AmbiguousLesions(16 if split == "train" else 4, split=split, size=16, lesions=2)

    monkeypatch.setitem(registry.DATASETS, "lesions-ambiguous", dict(registry.DATASETS["lesions-ambiguous"], make=make))
    argv = ["train", "prob_unet", "--data", "lesions-ambiguous", "--epochs", "2", "--batch-size", "4", "--quiet"]
    straight, resumed = str(tmp_path / "a"), str(tmp_path / "b")
    assert main(argv + ["--out", straight]) == 0

    def press_ctrl_c(trainer):
        if trainer.epoch * len(trainer.train_loader) + trainer.step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    config = make_config("prob_unet", "lesions-ambiguous", epochs=2, batch_size=4, prefetch=0)
    assert Trainer(config, resumed, progress=False).fit(on_step=press_ctrl_c)["interrupted"]
    assert main(argv + ["--out", resumed, "--resume"]) == 0
    a, b = (load_checkpoint(os.path.join(out, "checkpoint.npz"))["model"] for out in (straight, resumed))
    assert all(numpy.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    pictures = {"samples.png", "predictions.png", "summary.json"}
    assert pictures <= set(os.listdir(straight))
