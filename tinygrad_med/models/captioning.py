"""Image-to-text ("report generation"): a CNN encoder and an LSTM decoder that writes a caption token by token.

Lecture: "Recurrent neural networks - Generation of Medical Imaging Reports [Zhang et al., 2017]"
(an image goes in, a sentence of a report comes out; the LSTM keeps what it has written so far in
its memory).

The model is Show and Tell (Vinyals, Toshev, Bengio and Erhan, "Show and Tell: A Neural Image
Caption Generator", CVPR 2015, arXiv:1411.4555), the encoder-decoder that the report-generation
papers the lecture cites build on:

    x_{-1} = W_I CNN(image)          the image enters the LSTM once, as its first input
    x_t    = W_e S_t  (t = 0..T-1)    the embedding of token S_t; S_0 = <start>
    p_{t+1} = softmax(W_o h_t)        the next token's distribution

Training uses teacher forcing: the decoder reads the true caption shifted by one and is scored by
cross-entropy on every next token (padding ignored).  Inference is greedy: feed back the most
likely token until every caption has produced <end> (or max_length tokens).

Differences from the paper, for small CPU runs: a small conv encoder (conv-BN-ReLU-pool blocks and
adaptive average pooling) trained from scratch instead of a pre-trained Inception; no beam search.
"""

import numpy

from .. import nn
from ..data.captions import Vocabulary
from ..errors import ShapeError, fmt
from ..function import no_grad
from ..nn import functional as F
from ..ops.shape import cat
from ..tensor import Tensor

__all__ = ["Vocabulary", "ImageCaptioner"]


class ImageCaptioner(nn.Module):
    """CNN encoder + LSTM decoder (Show and Tell, arXiv:1411.4555; see the module docstring).

    Lecture: "Recurrent neural networks" (LSTM; generation of medical imaging reports).
    Reference: Vinyals et al., CVPR 2015, arXiv:1411.4555; LSTM: Hochreiter and Schmidhuber 1997.
    Shapes:   images (N, in_channels, H, W), captions (N, T) int64 [<start>, w_1, ..., <end>, <pad>...]
              -> forward: logits (N, T - 1, vocab_size), the scores of captions[:, 1:]
              -> generate: ids (N, T') int64, T' <= max_length, <pad> after each <end>
    Args:
        vocab_size: number of tokens (len(Vocabulary)).
        in_channels: image channels.
        embed_size, hidden_size: token/image vector size and LSTM state size.
        widths: channels of the encoder's conv-BN-ReLU-maxpool blocks.
        pool_size: the encoder's adaptive average pooling output (pool_size x pool_size).
        pad_id, start_id, end_id: the special tokens' ids (Vocabulary's by default).
    Raises:
        ShapeError in forward for images that are not 4-D or captions not (N, T >= 2) int64 of the
        batch size; ValueError for bad arguments.
    """

    def __init__(
        self,
        vocab_size,
        in_channels=1,
        embed_size=64,
        hidden_size=64,
        widths=(16, 32),
        pool_size=2,
        pad_id=0,
        start_id=1,
        end_id=2,
    ):
        super().__init__()
        if vocab_size < 3 or not widths or pool_size < 1:
            raise ValueError(
                fmt(
                    "ImageCaptioner",
                    f"need vocab_size >= 3, widths, pool_size >= 1; got {vocab_size}, {widths}, {pool_size}",
                )
            )
        layers, channels = [], in_channels
        for width in widths:
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            layers += [nn.MaxPool2d(2, ceil_mode=True)]
            channels = width
        layers += [nn.AdaptiveAvgPool2d(pool_size), nn.Flatten(), nn.Linear(channels * pool_size**2, embed_size)]
        self.encoder = nn.Sequential(*layers)  # (N, C, H, W) -> (N, embed_size): W_I CNN(image)
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=pad_id)
        self.lstm = nn.LSTM(embed_size, hidden_size, batch_first=True)
        self.output = nn.Linear(hidden_size, vocab_size)
        self.vocab_size, self.pad_id, self.start_id, self.end_id = vocab_size, pad_id, start_id, end_id

    def forward(self, images, captions):
        """Teacher forcing: scores of captions[:, 1:] given the image and the true captions[:, :-1]."""
        self._check(images, captions)
        image = self.encoder(images).unsqueeze(1)  # (N, 1, E): x_{-1}
        words = self.embedding(captions[:, :-1])  # (N, T - 1, E): x_0 .. x_{T-2}
        hidden, _ = self.lstm(cat([image, words], dim=1))  # (N, T, H)
        return self.output(hidden[:, 1:])  # h_0 .. h_{T-2} -> (N, T - 1, V): p_1 .. p_{T-1}

    def loss(self, images, captions):
        """Mean cross-entropy of every next token, <pad> targets ignored."""
        logits = self(images, captions)  # (N, T - 1, V)
        target = captions[:, 1:].reshape(-1)  # (N * (T - 1),)
        return F.cross_entropy(logits.reshape(-1, self.vocab_size), target, ignore_index=self.pad_id)

    def generate(self, images, max_length=20):
        """Greedy decoding: token ids (N, T') int64 (numpy), stopping once every caption has produced <end>."""
        if images.ndim != 4:
            raise ShapeError(fmt("ImageCaptioner.generate", "images must be (N, C, H, W)", images=images))
        was_training = self.training
        self.eval()
        N = images.shape[0]
        tokens = numpy.full(N, self.start_id, dtype=numpy.int64)
        finished = numpy.zeros(N, dtype=bool)
        result = []
        with no_grad():
            _, state = self.lstm(self.encoder(images).unsqueeze(1))  # the image step sets (h, c)
            for _ in range(max_length):
                x = self.embedding(Tensor(tokens, device=images.device).unsqueeze(1))  # (N, 1, E)
                hidden, state = self.lstm(x, state)
                tokens = numpy.asarray(self.output(hidden[:, 0]).numpy().argmax(axis=1), dtype=numpy.int64)
                tokens[finished] = self.pad_id  # a finished caption only pads
                result.append(tokens)
                finished |= tokens == self.end_id
                if finished.all():
                    break
        self.train(was_training)
        return numpy.stack(result, axis=1)  # (N, T')

    def _check(self, images, captions):
        if images.ndim != 4:
            raise ShapeError(fmt("ImageCaptioner", "images must be (N, C, H, W)", images=images))
        if captions.ndim != 2 or captions.shape[0] != images.shape[0] or captions.shape[1] < 2:
            raise ShapeError(
                fmt(
                    "ImageCaptioner",
                    "captions must be (N, T >= 2) token ids for the N images",
                    images=images,
                    captions=captions,
                )
            )
