"""tgm train / eval / predict for the image-to-text model (objectives_captioning.py): the captioner trains
on the digits' "captions" view from the command line, writes its log, checkpoint (with its vocabulary)
and pictures, resumes exactly after Ctrl-C, reports the same held-out numbers from ``tgm eval``, writes
a caption from ``tgm predict``; a captioner on another dataset, or a classifier on the captions, is
refused before the run folder is touched."""

import json
import math
import os
import re
import signal

import numpy
import pytest

from tinygrad_med.cli import main
from tinygrad_med.data.registry import get_dataset
from tinygrad_med.errors import CheckpointError
from tinygrad_med.serialization import load, save
from tinygrad_med.tensor import Tensor
from tinygrad_med.training.loop import Trainer, load_checkpoint, make_config
from tinygrad_med.training.objectives import make_objective
from tinygrad_med.training.objectives.captioning import Captioning, DigitCaptions, bleu1, digit_caption

pytest.importorskip("sklearn")  # the digits ship inside scikit-learn's wheel

ARGV = ["train", "captioner", "--epochs", "2", "--batch-size", "64", "--quiet"]  # 22 batches an epoch


def _press_ctrl_c_at(step_count):
    def on_step(trainer):
        if trainer.epoch * len(trainer.train_loader) + trainer.step == step_count:
            os.kill(os.getpid(), signal.SIGINT)

    return on_step


def _timeless(history):
    return [{k: v for k, v in h.items() if k not in ("seconds", "data_wait_share")} for h in history]


def test_the_captioner_trains_resumes_evaluates_and_predicts_from_the_cli(tmp_path, capsys):
    straight, resumed = str(tmp_path / "a"), str(tmp_path / "b")
    assert main(ARGV + ["--out", straight]) == 0
    config = make_config("captioner", epochs=2, batch_size=64, prefetch=0)
    assert config["data"] == "digits"
    assert Trainer(config, resumed, progress=False).fit(on_step=_press_ctrl_c_at(30))["interrupted"]  # mid-epoch 2
    assert main(ARGV + ["--out", resumed, "--resume"]) == 0
    a, b = (load_checkpoint(os.path.join(out, "checkpoint.npz")) for out in (straight, resumed))
    assert a["model"].keys() == b["model"].keys()
    assert all(numpy.array_equal(a["model"][k].numpy(), b["model"][k].numpy()) for k in a["model"])
    assert _timeless(a["history"]) == _timeless(b["history"])  # the same losses and held-out metrics
    words = DigitCaptions("train").vocabulary.itos
    assert a["objective"]["vocabulary"] == words and words[:4] == ["<pad>", "<start>", "<end>", "<unk>"]

    for name in ("checkpoint.npz", "log.jsonl", "curves.png", "predictions.png", "summary.json"):
        assert os.path.getsize(os.path.join(straight, name)) > 0, name
    log = [json.loads(line) for line in open(os.path.join(straight, "log.jsonl"), encoding="utf-8")]
    assert [line["epoch"] for line in log] == [1, 2] and log[1]["train_loss"] < log[0]["train_loss"]
    assert {"train_token_accuracy", "test_exact_match", "test_token_accuracy", "test_bleu1"} <= set(log[-1])
    summary = json.load(open(os.path.join(straight, "summary.json"), encoding="utf-8"))
    assert summary["test_exact_match"] > 0.3  # chance is 0.1 (ten captions); two epochs reach ~0.8
    assert summary["test_exact_match"] <= summary["test_token_accuracy"] <= 1.0

    capsys.readouterr()
    assert main(["eval", straight]) == 0
    reported = json.loads(capsys.readouterr().out)
    assert reported == {k: v for k, v in summary.items() if k.startswith("test_")}

    assert main(["predict", straight]) == 0  # the first held-out digit, JSON beside the checkpoint
    found = json.load(open(os.path.join(straight, "prediction.json"), encoding="utf-8"))
    assert found["words"][-1] == "<end>" and found["caption"] == " ".join(found["words"][:-1])
    assert f"'{found['caption']}'" in capsys.readouterr().out
    image = get_dataset("digits", "test")[0][0]
    numpy.save(tmp_path / "digit.npy", image[0])
    out = tmp_path / "caption.txt"
    assert main(["predict", straight, "--input", str(tmp_path / "digit.npy"), "--output", str(out)]) == 0
    assert out.read_text().strip() in {digit_caption(d) for d in range(10)} | {found["caption"]}


def test_a_checkpoint_with_another_vocabulary_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "captioner", "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    checkpoint = load(run / "checkpoint.npz")
    words = checkpoint["objective"]["vocabulary"]
    checkpoint["objective"]["vocabulary"] = words[:4] + words[5:] + words[4:5]  # the same words, other ids
    save(checkpoint, tmp_path / "other.npz")
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "other.npz")]) == 2
    assert "vocabulary" in capsys.readouterr().err
    trainer = Trainer(make_config("captioner", epochs=1), tmp_path / "unused", progress=False)
    with pytest.raises(CheckpointError, match="is not the one built from the training captions"):
        trainer.objective.load_state(checkpoint["objective"])


@pytest.mark.parametrize(
    "model, data, expected",
    [
        ("captioner", "nuclei", r"'captioner' \(captioning\) trains on captioned images.*'nuclei' is a segmentation"),
        ("captioner", "shapes", r"trains on captioned images .*'shapes' is a detection dataset"),
        ("captioner", "phantoms", r"'phantoms' is a segmentation dataset.*pass --data digits"),
    ],
)
def test_a_bad_model_dataset_pair_is_refused_before_the_run_folder_is_touched(tmp_path, capsys, model, data, expected):
    out = tmp_path / "run"
    assert main(["train", model, "--data", data, "--out", str(out), "--quiet"]) == 2
    assert not out.exists()
    assert re.search(expected, capsys.readouterr().err)


def test_a_classifier_or_autoencoder_on_the_captions_is_refused():
    captions = DigitCaptions("test")
    with pytest.raises(ValueError, match=r"for captioning: only the models captioner train on it, not 'cnn'"):
        make_objective("cnn", captions)
    with pytest.raises(ValueError, match=r"'vae' .* this dataset is for captioning"):
        make_objective("vae", captions)


def test_the_captions_view_shares_the_digits_split_and_the_training_vocabulary():
    train, test = (get_dataset("digits", split, view="captions") for split in ("train", "test"))
    digits = get_dataset("digits", "test")
    assert len(test) == len(digits) == 359 and numpy.array_equal(test[5][0], digits[5][0])
    assert test.vocabulary.itos == train.vocabulary.itos and train.num_classes == len(train.vocabulary) == 16
    assert test.captions[5] == digit_caption(digits[5][1]) and test.vocabulary.decode(test[5][1]) == test.captions[5]
    assert train.tokens.shape == (len(train), 4) and test[0][1].dtype == numpy.int64  # <start> name parity <end>
    assert make_config("captioner")["epochs"] == 10


class _Fixed:
    """A stand-in model whose greedy captions are given."""

    def __init__(self, ids):
        self.ids = numpy.array(ids, numpy.int64)

    def generate(self, images, max_length=20):
        return self.ids[:, :max_length]


def test_held_out_metrics_from_greedy_captions():
    captions = DigitCaptions("train")
    vocab, objective = captions.vocabulary, Captioning(captions)
    truth = ["seven odd", "two even", "four even"]
    said = [["seven", "odd", "<end>"], ["two", "odd", "<end>"], ["four", "<end>", "<pad>"]]
    model = _Fixed([[vocab.stoi[w] for w in row] for row in said])
    loader = [(Tensor(numpy.zeros((3, 1, 8, 8), numpy.float32)), Tensor(vocab.encode_batch(truth)))]
    result = objective.evaluate(model, loader)
    assert result["predictions"] == ["seven odd", "two odd", "four"] and result["targets"] == truth
    metrics = result["metrics"]
    assert metrics["exact_match"] == pytest.approx(1 / 3)
    assert metrics["token_accuracy"] == pytest.approx((3 + 2 + 1) / 9)  # words and <end>, position by position
    assert metrics["bleu1"] == pytest.approx(math.exp(1 - 6 / 5) * 4 / 5)  # c = 5 < r = 6: brevity penalty


def test_bleu1_is_the_clipped_unigram_precision_times_the_brevity_penalty():
    assert bleu1(["the the the the"], ["the cat the"]) == pytest.approx(2 / 4)  # clipped at the reference's count
    assert bleu1(["cat"], ["the cat"]) == pytest.approx(math.exp(1 - 2 / 1))
    assert bleu1(["a b", "c"], ["a b", "c"]) == 1.0 and bleu1([""], ["a"]) == 0.0


def test_training_holds_blas_to_one_thread_and_gives_it_back(tmp_path):
    """The captioner's products are small: BLAS workers would only spin (Trainer.fit, objective.blas_threads)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"]

    before, seen = blas_threads(), []

    def on_step(trainer):
        seen.extend(blas_threads())
        trainer.request_stop()

    trainer = Trainer(make_config("captioner", epochs=1, prefetch=0), tmp_path, progress=False)
    assert trainer.fit(on_step=on_step)["interrupted"]
    assert seen and set(seen) == {1} and blas_threads() == before
