"""The forward pass of M stacked same-shape transformers of L blocks, the autograd path of ``batched.train_batched``.

Every weight carries a leading instance axis M (``batched.stack_params``); block l of model m computes, as
``models.Transformer`` does,

    x_0        = W_E[t] + W_pos
    resid_mid  = x_l + sum_h softmax_causal(q_h k_h^T / sqrt(d_head)) v_h W_O[h]
    x_{l+1}    = resid_mid + ReLU(resid_mid W_in + b_in) W_out
    logits     = x_L W_U

The number of blocks L is read from the names in ``params`` (``blocks.l.attn.W_Q``).
"""

from __future__ import annotations

import math

import torch

__all__ = ["batched_forward", "batched_resid", "n_blocks"]


def n_blocks(params: dict[str, torch.Tensor]) -> int:
    """L, the number of blocks whose weights ``params`` holds: blocks 0 .. L-1, each with every weight."""
    L = 0
    while f"blocks.{L}.attn.W_Q" in params:
        L += 1
    names = ("attn.W_Q", "attn.W_K", "attn.W_V", "attn.W_O", "mlp.W_in", "mlp.b_in", "mlp.W_out")
    wanted = {f"blocks.{layer}.{n}" for layer in range(L) for n in names}
    held = {n for n in params if n.startswith("blocks.")}
    if L == 0 or held != wanted:
        raise ValueError(f"params must hold every weight of blocks 0 .. L-1 and no other block; got {sorted(held)}")
    return L


def _block(params: dict[str, torch.Tensor], layer: int, x: torch.Tensor, last_only: bool) -> torch.Tensor:
    """Block ``layer`` on the residual stream x [M, B, T, d]: its resid_post [M, B, Tq, d] (Tq = 1 when
    ``last_only``: only the last position queries and goes through the MLP)."""
    T = x.shape[2]
    x_q = x[:, :, -1:, :] if last_only else x  # [M, B, Tq, d]
    W_Q, W_K, W_V, W_O = (params[f"blocks.{layer}.attn.W_{n}"] for n in "QKVO")  # [M, H, d, dh] x3, [M, H, dh, d]
    scale = 1.0 / math.sqrt(W_Q.shape[-1])
    k = torch.einsum("mbtd,mhde->mbthe", x, W_K)  # [M, B, T, H, dh] (one bmm, no permute)
    v = torch.einsum("mbtd,mhde->mbthe", x, W_V)  # [M, B, T, H, dh]
    if last_only:  # one query that sees every position: elementwise products beat M*B*H tiny matmuls
        q = torch.einsum("mbd,mhde->mbhe", x_q[:, :, 0], W_Q)  # [M, B, H, dh]
        scores = (q[:, :, None] * k).sum(-1) * scale  # [M, B, T, H]
        pattern = scores.softmax(dim=2)  # [M, B, T, H]
        z = (pattern[..., None] * v).sum(2)  # [M, B, H, dh]
        attn_out = torch.einsum("mbhe,mhed->mbd", z, W_O)[:, :, None]  # [M, B, 1, d]
    else:
        q = torch.einsum("mbtd,mhde->mbthe", x_q, W_Q)  # [M, B, T, H, dh]
        scores = torch.einsum("mbqhe,mbkhe->mbhqk", q, k) * scale  # [M, B, H, T, T]
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()  # [T, T]
        pattern = scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)  # [M, B, H, T, T]
        z = torch.einsum("mbhqk,mbkhe->mbqhe", pattern, v)  # [M, B, T, H, dh]
        attn_out = torch.einsum("mbqhe,mhed->mbqd", z, W_O)  # [M, B, T, d]
    resid_mid = x_q + attn_out  # [M, B, Tq, d]
    W_in, b_in, W_out = (params[f"blocks.{layer}.mlp.{n}"] for n in ("W_in", "b_in", "W_out"))
    pre = torch.einsum("mbqd,mdf->mbqf", resid_mid, W_in) + b_in[:, None, None, :]  # [M, B, Tq, m]
    return resid_mid + torch.einsum("mbqf,mfd->mbqd", torch.relu(pre), W_out)  # [M, B, Tq, d]


def batched_forward(
    params: dict[str, torch.Tensor], tokens: torch.Tensor, *, last_only: bool = False, d_vocab_out: int | None = None
) -> torch.Tensor:
    """Logits [M, B, Tq, V_out] of M stacked models on ``tokens`` [M, B, T]; the formula of ``models.Transformer``.

    ``last_only`` queries (and reads out) the last position only (Tq = 1); every block but the last still runs on
    all positions, which the next block's attention reads. Without ``unembed.W_U`` in ``params`` the readout is
    tied, W_U = W_E[:d_vocab_out]^T.
    """
    resid_post = batched_resid(params, tokens, last_only=last_only)  # [M, B, Tq, d]
    W_E = params["embed.W_E"]  # [M, V, d]
    W_U = params["unembed.W_U"] if "unembed.W_U" in params else W_E[:, :d_vocab_out].transpose(1, 2)  # [M, d, V_out]
    return torch.einsum("mbqd,mdv->mbqv", resid_post, W_U)  # [M, B, Tq, V_out]


def batched_resid(params: dict[str, torch.Tensor], tokens: torch.Tensor, *, last_only: bool = False) -> torch.Tensor:
    """x_L [M, B, Tq, d], the last block's resid_post: :func:`batched_forward` without the readout."""
    L = n_blocks(params)
    M, B, T = tokens.shape
    W_E = params["embed.W_E"]  # [M, V, d]
    m_idx = torch.arange(M, device=tokens.device)[:, None, None]  # [M, 1, 1]
    x = W_E[m_idx, tokens] + params["pos_embed.W_pos"][:, None, :T, :]  # [M, B, T, d]
    for layer in range(L - 1):
        x = _block(params, layer, x, False)  # [M, B, T, d]
    return _block(params, L - 1, x, last_only)  # [M, B, Tq, d]
