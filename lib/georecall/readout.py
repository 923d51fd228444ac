"""The unembedding readout reduced to recall margins, one cache-sized tile of logits at a time.

For a residual x (resid_post at the query position) and the correct attribute a*, the margin is

    margin(x, a*) = <W_U[:, a*], x> - max_{a != a*} <W_U[:, a], x>        (> 0 iff the argmax is a*, no tie)

:func:`margins` computes exactly this, but never holds the [B, V] logits at once: the attributes are taken in
tiles of ``tile`` columns and the facts in blocks of ``block``, each [tile, block] piece of logits is one matrix
product, the correct attribute's entry is set to -inf in place, and a running maximum keeps the best wrong logit.
All-zero rows of W_U (coordinates the readout ignores) are dropped first (``models.readout_support``). The
numbers equal those of ``logits = x @ W_U`` up to floating-point summation order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._checks import check_int
from .models import readout_support

__all__ = ["Readout", "DEFAULT_TILE", "DEFAULT_BLOCK"]

DEFAULT_TILE = 4096  # attributes per piece of logits
DEFAULT_BLOCK = 256  # facts per piece: a [4096, 256] float32 piece is 4 MiB


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no single truth value
class Readout:
    """W_U restricted to its non-zero rows, laid out for the tiled margin computation. Build with :meth:`of`."""

    rows: torch.Tensor  # [k'] indices of the residual coordinates W_U reads
    W: torch.Tensor  # [V, k'] = W_U[rows].T, contiguous: attribute a's readout vector is W[a]
    tile: int = DEFAULT_TILE
    block: int = DEFAULT_BLOCK

    @classmethod
    def of(cls, W_U: torch.Tensor, *, tile: int = DEFAULT_TILE, block: int = DEFAULT_BLOCK) -> "Readout":
        """The readout of an unembedding matrix ``W_U`` [d, V] (e.g. ``model.W_U``)."""
        check_int("tile", tile, 1)
        check_int("block", block, 1)
        rows, W = readout_support(W_U)
        return cls(rows=rows, W=W, tile=tile, block=block)

    @property
    def n_out(self) -> int:
        return self.W.shape[0]

    @torch.no_grad()
    def margins(self, resid: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """margin(x_i, target_i) for every row of ``resid`` [B, d], as float64 [B] (see the module docstring)."""
        B = resid.shape[0]
        V, T, c = self.n_out, min(self.tile, self.n_out), self.block
        n_tiles, n_blocks = -(-V // T), -(-B // c)
        x = resid[:, self.rows].to(self.W.dtype)  # [B, k']
        target = target.to(x.device)
        right = (self.W[target] * x).sum(dim=1)  # [B] correct logit
        # Where each fact's correct entry sits: piece (block j // c, tile target // T), flat offset in that piece.
        j = torch.arange(B, device=x.device)
        width = torch.clamp(B - (j // c) * c, max=c)  # columns of the fact's block (the last block may be short)
        tile_of = torch.div(target, T, rounding_mode="floor")
        flat = (target - tile_of * T) * width + j % c
        piece = (j // c) * n_tiles + tile_of
        order = torch.argsort(piece, stable=True)
        per_piece = flat[order].split(torch.bincount(piece, minlength=n_blocks * n_tiles).tolist())
        buffer = torch.empty(T * c, dtype=x.dtype, device=x.device)
        tile_max = torch.empty(n_tiles, c, dtype=x.dtype, device=x.device)
        best_wrong = torch.empty(B, dtype=x.dtype, device=x.device)
        for b in range(n_blocks):
            xT = x[b * c : (b + 1) * c].T  # [k', cc]
            cc = xT.shape[1]
            for t in range(n_tiles):
                W_t = self.W[t * T : (t + 1) * T]  # [tt, k']
                logits = buffer[: W_t.shape[0] * cc].view(W_t.shape[0], cc)
                torch.mm(W_t, xT, out=logits)  # [tt, cc]: logits of these attributes for these facts
                hit = per_piece[b * n_tiles + t]
                if len(hit):
                    buffer.index_fill_(0, hit, -math.inf)  # the correct attribute does not compete with itself
                torch.amax(logits, dim=0, out=tile_max[t, :cc])
            torch.amax(tile_max[:, :cc], dim=0, out=best_wrong[b * c : b * c + cc])
        return (right - best_wrong).double()
