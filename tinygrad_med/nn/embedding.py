"""Embedding: a learned vector per token id, as torch.nn.Embedding.

Lecture: "Recurrent neural networks" (report generation: the words of a report enter the LSTM
decoder as learned vectors).  The lookup and its scatter-add backward are in ops/embedding.py.
"""

from .. import factory
from ..errors import ShapeError, fmt
from ..function import increment_version, no_grad
from ..ops.embedding import embedding, padding_index
from . import init
from .module import Module, Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """A (num_embeddings, embedding_dim) table looked up by integer ids (torch.nn.Embedding).

    Lecture: "Recurrent neural networks" (report generation).
    Forward:  y[..., :] = weight[input[...], :]
    Backward: gW[v] = sum of gy over the positions whose id is v (scatter-add), 0 for padding_idx
    Shapes:   input (*) int64 -> y (*, embedding_dim); weight (num_embeddings, embedding_dim)
    Init:     weight ~ N(0, 1), row padding_idx set to 0, as PyTorch.
    Args:
        num_embeddings, embedding_dim: vocabulary size V and vector size D.
        padding_idx: the id of the padding token: its row starts at 0 and never receives a gradient.
        max_norm, norm_type, scale_grad_by_freq, sparse: as nn.functional.embedding.
        _weight: an initial (V, D) weight to use instead of a random one.
        device, dtype: where and in which float type the weight lives (default cpu, float32).
    Raises:
        ValueError for padding_idx outside [-V, V); ShapeError for a _weight of the wrong shape.
    """

    def __init__(
        self,
        num_embeddings,
        embedding_dim,
        padding_idx=None,
        max_norm=None,
        norm_type=2.0,
        scale_grad_by_freq=False,
        sparse=False,
        _weight=None,
        _freeze=False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        padding_idx = padding_index("Embedding", padding_idx, num_embeddings)
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(factory.empty(num_embeddings, embedding_dim, dtype=dtype, device=device))
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ShapeError(
                    fmt("Embedding", f"_weight must be ({num_embeddings}, {embedding_dim})", _weight=_weight)
                )
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self):
        """weight ~ N(0, 1); the padding row is zeroed."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight.data[self.padding_idx] = 0
                increment_version(self.weight)

    def forward(self, input):
        return embedding(
            input, self.weight, self.padding_idx, self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse
        )

    @classmethod
    def from_pretrained(
        cls,
        embeddings,
        freeze=True,
        padding_idx=None,
        max_norm=None,
        norm_type=2.0,
        scale_grad_by_freq=False,
        sparse=False,
    ):
        """An Embedding holding the given (V, D) tensor; frozen (no gradient) unless freeze=False."""
        if embeddings.ndim != 2:
            raise ShapeError(fmt("Embedding.from_pretrained", "embeddings must be 2-D (V, D)", embeddings=embeddings))
        V, D = embeddings.shape
        return cls(
            V, D, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse, _weight=embeddings, _freeze=freeze
        )

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text + ("" if self.padding_idx is None else f", padding_idx={self.padding_idx}")
