"""The image-to-text objective for ``tgm train captioner``: the digits as captioned images.

Lecture: "Recurrent neural networks - Generation of Medical Imaging Reports [Zhang et al., 2017]" (an
image goes in, a sentence comes out, written token by token by an LSTM).
Reference: Vinyals et al., "Show and Tell", arXiv:1411.4555 (the model, models/captioning.py);
Papineni et al., "BLEU", ACL 2002 (BLEU-1 below).

    captioning   loss = mean cross-entropy of every next token of the true caption given the image and
                 the caption's previous tokens (teacher forcing), <pad> targets ignored
                 training: token_accuracy (teacher-forced next tokens right, of the non-<pad> ones)
                 held out, from greedy captions (ImageCaptioner.generate): exact_match (the whole
                 caption right), token_accuracy (position by position against the true words and
                 <end>), bleu1 (corpus BLEU-1)

The data is the "captions" view of the digits (same split): image i's caption is its digit's name and
parity, "seven odd". The vocabulary is built from the training split's captions (most frequent word
first, ties by word: the same on every machine), and the checkpoint keeps it (Trainer.state's
"objective"), so ``tgm eval``, ``tgm predict`` and ``--resume`` decode with the words the run trained on.
"""

import json
import os
from collections import Counter

import numpy

from ...data.captions import DigitCaptions, digit_caption
from ...errors import CheckpointError, fmt
from ...nn import functional as F
from .base import Classification, picture_path
from .generative import RunningSums

__all__ = ["Captioning", "DigitCaptions", "digit_caption", "bleu1", "CAPTIONING_MODELS"]

CAPTIONING_MODELS = ("captioner",)


class Captioning(RunningSums, Classification):
    """Teacher-forced token cross-entropy; held-out exact match, token accuracy and BLEU-1 of greedy captions.

    The interface is objectives.Classification's; ``view`` names the dataset view the captioner trains
    on, ``models`` the registered models that can use it, ``state`` / ``load_state`` the vocabulary the
    checkpoint keeps, and ``write_prediction`` what ``tgm predict`` writes (the caption as JSON or text).
    """

    name, metric_name, eval_batch, view = "captioning", "exact_match", 256, "captions"
    sums, models = ("token_accuracy",), CAPTIONING_MODELS
    dataset_tasks, dataset_about, hint = ("captioning",), "captioned images (digits as captions)", "pass --data digits"
    pictures, prediction = ("predictions.png",), "caption"
    blas_threads = 1  # (32 x 64) x (64 x 256) products: more BLAS threads only spin (Trainer.fit)

    def __init__(self, dataset, device="cpu"):
        self.vocabulary, self.device = dataset.vocabulary, device
        self.max_length = int(dataset.tokens.shape[1]) + 2  # the longest caption's words and <end>, and 3 more

    def loss(self, model, x, y):
        """Cross-entropy of captions[:, 1:] given the image and captions[:, :-1]; the next tokens' accuracy."""
        logits = model(x, y)  # (N, T - 1, V)
        target = y[:, 1:].reshape(-1)  # (N * (T - 1),)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target, ignore_index=self.vocabulary.pad_id)
        wanted = numpy.asarray(target.numpy())
        real = wanted != self.vocabulary.pad_id
        loss = self.global_mean(loss, int(real.sum()), model)  # the mean over every rank's real tokens
        hits = (numpy.asarray(logits.numpy()).reshape(len(wanted), -1).argmax(axis=1) == wanted)[real]
        return loss, {"token_accuracy": float(hits.mean())}

    def evaluate(self, model, loader):
        """Greedy captions of the whole held-out split: exact_match, token_accuracy, bleu1; images, true and
        generated captions (for the picture)."""
        images, targets, predictions, hits, total = [], [], [], 0, 0
        for x, y in loader:
            generated = model.generate(x.to(self.device), max_length=self.max_length)  # (N, T')
            for row, truth in zip(generated, y.numpy(), strict=True):
                reference = truth[1 : list(truth).index(self.vocabulary.end_id) + 1]  # the words and <end>
                found = numpy.full(len(reference), -1, numpy.int64)
                found[: min(len(row), len(reference))] = row[: len(reference)]
                hits, total = hits + int((found == reference).sum()), total + len(reference)
                targets.append(self.vocabulary.decode(truth))
                predictions.append(self.vocabulary.decode(row))
            images.extend(x.numpy())
        exact = numpy.mean([p == t for p, t in zip(predictions, targets, strict=True)]) if targets else 0.0
        values = {"exact_match": float(exact), "token_accuracy": hits / max(total, 1)}
        values["bleu1"] = bleu1(predictions, targets)
        return {"metrics": values, "images": images, "targets": targets, "predictions": predictions}

    def predict(self, model, x):
        """The greedy caption of every image of the batch, as strings."""
        return [self.vocabulary.decode(row) for row in model.generate(x, max_length=self.max_length)]

    def draw(self, model, result, out):
        """predictions.png: up to 16 held-out images titled with their generated caption (red when wrong,
        with the true caption below)."""
        plot_captions(result["images"], result["targets"], result["predictions"], picture_path(out, self, 0))

    def write_prediction(self, model, batch, output):
        """``tgm predict``: the first image's caption as plain text (``output`` ending in .txt) or as JSON
        (caption, tokens, words) beside ``output``. Returns the line to print."""
        from ..predict_io import check_unnamed, write_text

        path = output if output.lower().endswith((".txt", ".json")) else os.path.splitext(output)[0] + ".json"
        if path != output:
            check_unnamed(path)
        ids = model.generate(batch, max_length=self.max_length)[0]
        caption = self.vocabulary.decode(ids)
        tokens = [int(i) for i in ids]
        words = [self.vocabulary.itos[i] for i in tokens]
        text = (
            caption + "\n"
            if path.lower().endswith(".txt")
            else json.dumps({"caption": caption, "tokens": tokens, "words": words}, indent=1)
        )
        write_text(path, text)
        return f"wrote {path}: {caption!r}"

    def state(self):
        """What the checkpoint keeps of the objective: the vocabulary's words in id order."""
        return {"vocabulary": list(self.vocabulary.itos)}

    def load_state(self, state):
        """Check that the checkpoint's vocabulary is the one this run encodes its captions with.

        Raises:
            CheckpointError naming both word lists if they differ (the training split's captions
            changed since the checkpoint was written: its token ids would mean other words).
        """
        words = list(state["vocabulary"])
        if words != self.vocabulary.itos:
            raise CheckpointError(fmt("tgm", f"the checkpoint's vocabulary {words} is not the one built from "
                                      f"the training captions now: {self.vocabulary.itos}"))  # fmt: skip


def bleu1(candidates, references):
    """Corpus BLEU-1 of whitespace-tokenised candidate sentences against one reference each.

    Reference: Papineni et al., "BLEU: a Method for Automatic Evaluation of Machine Translation", ACL 2002.
    Forward:  p_1 = sum_s sum_w min(count_w(cand_s), count_w(ref_s)) / sum_s |cand_s|  (clipped unigram precision)
              BP = 1 if c > r else exp(1 - r / c), c = sum_s |cand_s|, r = sum_s |ref_s|  (brevity penalty)
              BLEU-1 = BP * p_1 (0 when c = 0)
    Shapes:   two equally long lists of strings -> a float in [0, 1]
    """
    clipped, c, r = 0, 0, 0
    for candidate, reference in zip(candidates, references, strict=True):
        words, truth = Counter(candidate.split()), Counter(reference.split())
        clipped += sum(min(n, truth[w]) for w, n in words.items())
        c, r = c + sum(words.values()), r + sum(truth.values())
    if c == 0:
        return 0.0
    return float((1.0 if c > r else numpy.exp(1.0 - r / c)) * clipped / c)


def plot_captions(images, targets, predictions, path):
    """A 4 x 4 grid of up to 16 images titled with their generated caption; red, over the true one, when wrong."""
    from ..plots import middle_slice, pyplot

    plt = pyplot()
    fig, axes = plt.subplots(4, 4, figsize=(7, 7.4))
    for index, axis in enumerate(axes.ravel()):
        axis.axis("off")
        if index < min(16, len(images)):
            axis.imshow(middle_slice(images[index]), cmap="gray")
            right = predictions[index] == targets[index]
            title = predictions[index] or "(empty)"
            axis.set_title(title if right else f"{title}\ntrue: {targets[index]}", fontsize=8,
                           color="black" if right else "red")  # fmt: skip
    fig.suptitle("held-out digits: generated captions (red: wrong)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
