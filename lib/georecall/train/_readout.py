"""The blocked cross-entropy readout of the autograd path of ``batched.train_batched`` (data with targets at several
positions, e.g. the multi-hop CoT format), for M stacked models; the answer-position step is ``_fused``'s own.

:class:`BlockedCrossEntropy` takes the residual stream [M, B, T, d] and W_U of a training step with more than
``batched.FULL_LOGITS`` logits per model (smaller steps keep the full logits and ``batched._MeanCrossEntropy``, bit
for bit as before): the same loss, with only the targeted positions read out and the logits formed one row block at
a time (``_fused.readout_grad``), so the [M, B, T, V] logits never exist. At N = 1024, h = 2 (CoT, 3 stacked
models) a step took 0.37 s with full logits and 0.095 s this way (one core, ``benchmarks/profile_multihop.py``).
"""

from __future__ import annotations

import torch

from ..tasks.bijection import IGNORE
from ._fused import BLOCK_ELEMENTS, _row_blocks, readout_grad

__all__ = ["BlockedCrossEntropy"]


class BlockedCrossEntropy(torch.autograd.Function):
    """Per-model mean CE [M] of the logits z = resid W_U, for autograd:

        loss_m = sum_{b,t} w_mbt (logsumexp_v z_mbtv - z_mbt,y),   w = mask / (targeted positions of model m)

    ``apply(resid [M, B, T, d], W_U [M, d, V], targets [M, B, T])`` (``IGNORE`` where untargeted): the function of
    ``batched._loss_and_correct(resid W_U, targets)[0]`` up to float reassociation. Only the positions targeted in some
    sequence are read out; the forward sums the loss block by block, the backward recomputes each block's logits
    inside ``readout_grad`` (G = w (softmax(z) - onehot(y)), d resid = G W_U^T, dW_U = resid^T G)."""

    @staticmethod
    def forward(ctx, resid: torch.Tensor, W_U: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        M, B, T, d = resid.shape
        cols = (targets != IGNORE).any(dim=0).any(dim=0).nonzero()[:, 0]  # the targeted positions
        mask = targets[:, :, cols] != IGNORE  # [M, B, t]
        w = mask.to(resid.dtype) / mask.sum(dim=(1, 2)).clamp(min=1)[:, None, None].to(resid.dtype)  # [M, B, t]
        w = w.reshape(M, -1)
        r, y = resid[:, :, cols].reshape(M, -1, d), targets[:, :, cols].clamp(min=0).reshape(M, -1)
        total = torch.zeros(M, dtype=resid.dtype, device=resid.device)
        for i, j in _row_blocks(M, r.shape[1], W_U.shape[2], BLOCK_ELEMENTS):
            z = torch.bmm(r[:, i:j], W_U)  # [M, n, V]
            total += ((torch.logsumexp(z, dim=-1) - z.gather(2, y[:, i:j, None])[..., 0]) * w[:, i:j]).sum(dim=1)
        ctx.save_for_backward(r, W_U, y, w, cols)
        ctx.shape = (M, B, T, d)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        r, W_U, y, w, cols = ctx.saved_tensors
        M, B, T, d = ctx.shape
        dr, dW_U = readout_grad(r, W_U, y, w * grad[:, None], need_W_U=ctx.needs_input_grad[1])
        dresid = torch.zeros(M, B, T, d, dtype=r.dtype, device=r.device)
        dresid[:, :, cols] = dr.reshape(M, B, len(cols), d)
        return dresid, dW_U, None
