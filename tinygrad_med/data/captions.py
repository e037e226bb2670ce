"""The digits as captioned images: the "captions" view of the digits dataset, and the word table.

Lecture: "Recurrent neural networks - Generation of Medical Imaging Reports [Zhang et al., 2017]".
Image i's caption is its digit's name and parity, "seven odd". The vocabulary is built from the
training split's captions (most frequent word first, ties by word: the same on every machine); the
captioning objective (training/objectives/captioning.py) keeps it in the checkpoint, and the model
(models/captioning.py) decodes with it.
"""

from collections import Counter

import numpy

from ..errors import fmt
from .dataset import Dataset
from .digits import DigitsDataset

__all__ = ["Vocabulary", "DigitCaptions", "digit_caption", "DIGIT_NAMES"]

DIGIT_NAMES = "zero one two three four five six seven eight nine".split()


def digit_caption(digit):
    """The caption of a digit: its name and parity ('seven odd', 'zero even')."""
    return f"{DIGIT_NAMES[int(digit)]} {'even' if int(digit) % 2 == 0 else 'odd'}"


class DigitCaptions(Dataset):
    """The digits' training or test split with captions: (image float32 (1, 8, 8), tokens int64 (T,)).

    tokens = [<start>, words, <end>, <pad>...] in the vocabulary of the training split's captions,
    T = the split's longest caption + 2. ``num_classes`` is the vocabulary size (the decoder
    classifies every next token); ``captions`` holds the sentences.
    """

    def __init__(self, split="train"):
        digits = DigitsDataset(split)
        self.split, self.images, self.labels = split, digits.images, digits.labels
        self.captions = [digit_caption(d) for d in self.labels]
        training = self.captions if split == "train" else [digit_caption(d) for d in DigitsDataset("train").labels]
        self.vocabulary = Vocabulary.build(training)
        self.tokens = self.vocabulary.encode_batch(self.captions)  # (N, T)
        self.num_classes, self.in_channels, self.task = len(self.vocabulary), 1, "captioning"

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.tokens[index]


class Vocabulary:
    """Word <-> id table with the special tokens <pad> = 0, <start> = 1, <end> = 2, <unk> = 3.

    Args:
        words: the ordinary words, in id order (duplicates and specials are dropped).
    """

    PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"

    def __init__(self, words=()):
        self.itos = [self.PAD, self.START, self.END, self.UNK]
        for word in words:
            if word not in self.itos:
                self.itos.append(word)
        self.stoi = {word: index for index, word in enumerate(self.itos)}
        self.pad_id, self.start_id, self.end_id, self.unk_id = 0, 1, 2, 3

    @classmethod
    def build(cls, sentences, min_count=1):
        """From whitespace-tokenised sentences: words seen >= min_count times, most frequent first (ties by word)."""
        counts = Counter(word for sentence in sentences for word in sentence.split())
        return cls(sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w)))

    def __len__(self):
        return len(self.itos)

    def encode(self, sentence, length=None):
        """[<start>, ids of the words (<unk> if unknown), <end>], padded with <pad> to ``length``.

        Raises:
            ValueError if the encoded sentence is longer than ``length``.
        """
        ids = [self.start_id] + [self.stoi.get(w, self.unk_id) for w in sentence.split()] + [self.end_id]
        if length is not None:
            if len(ids) > length:
                raise ValueError(fmt("Vocabulary.encode", f"{sentence!r} needs {len(ids)} tokens > length {length}"))
            ids += [self.pad_id] * (length - len(ids))
        return ids

    def encode_batch(self, sentences):
        """int64 (N, T) ids, every sentence padded to the longest (T = its words + 2)."""
        length = max(len(s.split()) for s in sentences) + 2
        return numpy.array([self.encode(s, length) for s in sentences], dtype=numpy.int64)

    def decode(self, ids):
        """The words of ``ids`` up to the first <end>, skipping <start> and <pad>."""
        words = []
        for index in numpy.asarray(ids).reshape(-1).tolist():
            if index == self.end_id:
                break
            if index not in (self.start_id, self.pad_id):
                words.append(self.itos[index])
        return " ".join(words)
