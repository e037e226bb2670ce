"""Embedding: a lookup table of learned vectors, one row per token id (the input of an LSTM decoder).

Lecture: "Recurrent neural networks" (report generation: the words of the report enter the LSTM
as learned vectors).

Forward is a gather and backward the matching scatter-add: a row of W picked k times receives
the sum of the k rows of gy that used it, and rows not picked receive 0.  Written with ``xp``
array code on both devices (``xp.add.at`` is NumPy's and CuPy's unbuffered scatter-add); the
gather has no arithmetic worth its own kernel.
"""

from .. import backend
from ..errors import DeviceError, DTypeError, ShapeError, fmt
from ..function import Function, increment_version, no_grad

__all__ = ["embedding"]


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    """Look up the rows of ``weight`` named by the integer ids in ``input`` (torch.nn.functional.embedding).

    Lecture: "Recurrent neural networks" (report generation: token ids -> word vectors for the LSTM).
    Forward:  y[..., :] = W[input[...], :]
    Backward: gW[v, :] = sum over positions p with input[p] = v of gy[p, :]  (a scatter-add;
              divided by the count of v in input when scale_grad_by_freq), gW[padding_idx, :] = 0;
              no gradient for input (integer ids).
    Shapes:   input (*) int, weight (V, D) -> y (*, D)
    Args:
        input: integer tensor of ids in [0, V).
        weight: (V, D) float tensor, the embedding matrix.
        padding_idx: this row gets no gradient (it stays as initialised; nn.Embedding zeros it);
            negative values count from the end, as in PyTorch.
        max_norm: if given, rows used by ``input`` whose norm_type-norm exceeds max_norm are rescaled
            to norm max_norm, in place in ``weight`` and outside the graph (as PyTorch).
        scale_grad_by_freq: divide each row's gradient by how often its id occurs in ``input``.
        sparse: must be False (there are no sparse gradients here).
    Raises:
        DTypeError if input is not integer or weight not float; ShapeError if weight is not 2-D;
        IndexError for an id outside [0, V); ValueError for sparse=True or padding_idx out of range.
    """
    op = "embedding"
    if weight.ndim != 2:
        raise ShapeError(fmt(op, "weight must be 2-D (num_embeddings, embedding_dim)", weight=weight))
    if weight.dtype.kind != "f":
        raise DTypeError(fmt(op, f"weight must be a float tensor, got {weight.dtype}", weight=weight))
    if input.dtype.kind not in "iu":
        raise DTypeError(fmt(op, f"input must hold integer ids (int64), got {input.dtype}", input=input))
    if input.device != weight.device:
        raise DeviceError(
            fmt(op, f"input is on {input.device} but weight is on {weight.device}", hint="move them with .to()")
        )
    if sparse:
        raise ValueError(fmt(op, "sparse=True is not supported (gradients are dense)"))
    V = weight.shape[0]
    padding_idx = padding_index(op, padding_idx, V)
    if input.numel() and (int(input.data.min()) < 0 or int(input.data.max()) >= V):
        low, high = int(input.data.min()), int(input.data.max())
        raise IndexError(fmt(op, f"ids must be in [0, {V}); got ids from {low} to {high}", input=input))
    if max_norm is not None:
        _renorm_rows(weight.data, input.data, float(max_norm), float(norm_type))
        increment_version(weight)
    return Embedding.apply(weight, input, padding_idx=padding_idx, scale_grad_by_freq=bool(scale_grad_by_freq))


class Embedding(Function):
    """y = W[ids]; backward scatter-adds gy into the used rows of W (add.at handles repeated ids).

    Lecture:  "Recurrent neural networks - Generation of Medical Imaging Reports [Zhang et al., 2017]" (word
              embeddings)
    Forward:  y = W[ids]
    Backward: gW[v] = sum of gy at the positions where ids == v (0 for padding_idx; / count if
              scale_grad_by_freq)
    Shapes:   W (V, D), ids (*) -> y (*, D)
    """

    def forward(self, weight, ids, padding_idx, scale_grad_by_freq):
        self.ids, self.V, self.padding_idx, self.scale = ids, weight.shape[0], padding_idx, scale_grad_by_freq
        return weight[ids]  # (*,) ids -> (*, D)

    def backward(self, gy):
        xp = backend.get_xp(gy)
        ids = self.ids.reshape(-1)  # (P,)
        rows = gy.reshape(ids.shape[0], -1)  # (*, D) -> (P, D)
        if self.scale:
            counts = xp.bincount(ids, minlength=self.V)  # how often each id occurs in this input
            rows = rows / counts[ids][:, None].astype(gy.dtype)
        gW = xp.zeros((self.V, rows.shape[1]), dtype=gy.dtype)
        xp.add.at(gW, ids, rows)  # gW[v] = sum of the rows of gy whose id is v
        if self.padding_idx is not None:
            gW[self.padding_idx] = 0
        return gW, None


def padding_index(op, padding_idx, V):
    if padding_idx is None:
        return None
    if not -V <= padding_idx < V:
        raise ValueError(fmt(op, f"padding_idx must be within [-{V}, {V}), got {padding_idx}"))
    return padding_idx % V


def _renorm_rows(W, ids, max_norm, norm_type):
    """W[v] *= max_norm / (||W[v]|| + 1e-7) for each used row v whose norm exceeds max_norm (PyTorch's rule)."""
    xp = backend.get_xp(W)
    with no_grad():
        used = xp.unique(ids.reshape(-1))
        norms = (xp.abs(W[used]) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
        scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(W.dtype)
        W[used] *= scale[:, None]
