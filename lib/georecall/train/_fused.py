"""Hand-written forward and backward of the one-layer transformer at the answer position, for M stacked models.

Training data whose only target sits at the last position (``FactSet.last_position_only``: the ``[s, r]`` facts and
the noisy T = 32 format) needs the residual stream at that one position. With x_t = W_E[tok_t] + W_pos[t]
(t = 1..T, x_T the query position) and per head h:

    QK_h = W_Q[h] W_K[h]^T / sqrt(d_head)   [d, d]     OV_h = W_V[h] W_O[h]   [d, d]
    s_{h,t} = (x_T QK_h) . x_t              (the key projection is folded into the query: no key is ever formed)
    p_h = softmax_t(s_h),   xbar_h = sum_t p_{h,t} x_t
    resid_mid = x_T + sum_h xbar_h OV_h     (values are projected once per head, after the weighted sum)
    resid_post = resid_mid + ReLU(resid_mid W_in + b_in) W_out,   logits = resid_post W_U

This is ``models.Transformer.forward(tokens, last_only=True)`` up to float reassociation. The loss is the mean
cross-entropy over targeted sequences, and its gradient w.r.t. the logits, w_i (softmax(z_i) - onehot(y_i)) with
w_i = 1 / (targeted sequences), is formed one row block at a time: the [M, B, V] logits never exist at once, each
block stays in cache, and the block's softmax turns straight into its gradient. The backward is written out by
the chain rule through the same formulas (``tests/unit/test_fused.py`` checks it against autograd in float64):

    dW_U = resid_post^T G,  d resid_post = G W_U^T,  d pre = (d resid_post W_out^T) * [pre > 0], ...
    d xbar_h = d resid_mid OV_h^T,  dp_{h,t} = d xbar_h . x_t,  ds_h = p_h * (dp_h - <p_h, dp_h>)
    dx_t = sum_h (p_{h,t} d xbar_h + ds_{h,t} (x_T QK_h)),  dx_T += d resid_mid + sum_h (sum_t ds_{h,t} x_t) QK_h^T
    dW_Q[h] = dQK_h W_K[h] / sqrt(d_head),  dW_K[h] = dQK_h^T W_Q[h] / sqrt(d_head),  dQK_h = x_T^T (sum_t ds x_t)
    dW_V[h] = dOV_h W_O[h]^T,  dW_O[h] = W_V[h]^T dOV_h,  dOV_h = xbar_h^T d resid_mid
    dW_E[v] = sum of dx_t over (sequence, t) with tok_t = v,  dW_pos[t] = sum over sequences of dx_t

Where CPU kernels are slow on these shapes the same sums are formed differently (each helper says why): sequences
of at most ``SHORT`` positions go position by position instead of through thousands of [1, T] x [T, d] products,
a two-position softmax is a logistic of the score difference, and products whose output has a number of columns
that is not a multiple of 16 (the [n, d] results at small d) are computed transposed (``_bmm``).

Parameters arrive as a dict name -> [M, *shape] (TransformerLens names, as ``batched.PARAM_NAMES``); gradients
are returned in the same form. Without ``unembed.W_U`` the readout is tied: W_U = W_E[:V_out]^T.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..model.transformer import Transformer
from ..tasks.bijection import IGNORE, FactSet

__all__ = ["supported", "Activations", "forward", "readout_grad", "readout_eval", "backward", "BLOCK_ELEMENTS"]

BLOCK_ELEMENTS = 2**20  # logits per block (M * rows * V_out), 4 MiB: best or near best of 2^17..2^22 at six shapes
SHORT = 4  # sequences of at most this many positions go position by position (``_mix``, ``_outer``)
NARROW = 16  # products whose output has a number of columns that is not a multiple of this go transposed (``_bmm``)


def supported(model, data: FactSet) -> bool:
    """True when the hand-written step computes exactly what ``model(tokens, last_only=True)`` trains on.

    That is: a plain one-layer ``models.Transformer`` (no subclass overriding the forward), no hooks attached
    anywhere, a floating dtype, and data whose only targets are at the last position.
    """
    if type(model) is not Transformer or not model.embed.W_E.dtype.is_floating_point or model.config.n_layers != 1:
        return False
    if any(m._forward_hooks or m._forward_pre_hooks for m in model.modules()):
        return False
    return data.last_position_only


@dataclass
class Activations:
    """What the backward needs from one forward pass (shapes for M models, B sequences, T positions, H heads)."""

    rows: torch.Tensor | None  # [M*B*T] row of each token in the embedding table (None: W_E given pre-gathered)
    x: torch.Tensor  # [M*B, T, d] residual stream before the block
    xq: torch.Tensor  # [M, B, d] x at the query (last) position
    QK: torch.Tensor  # [M, d, H*d] the scaled QK_h side by side
    qk: torch.Tensor  # [M*B, H, d] x_T QK_h
    p: torch.Tensor  # [M*B, H, T] attention pattern
    xbar: torch.Tensor  # [M, B, H*d] attention-weighted inputs
    OV: torch.Tensor  # [M, H*d, d] the OV_h stacked
    resid_mid: torch.Tensor  # [M, B, d]
    post: torch.Tensor  # [M, B, m] ReLU(pre)
    resid_post: torch.Tensor  # [M, B, d]


def _circuits(P: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, float]:
    """QK [M, d, H*d] (scaled, QK[:, :, h*d:(h+1)*d] = QK_h) and OV [M, H*d, d]."""
    W_Q, W_K, W_V, W_O = (P[f"blocks.0.attn.W_{n}"] for n in "QKVO")  # [M, H, d, dh] x3, [M, H, dh, d]
    M, H, d, dh = W_Q.shape
    scale = 1.0 / math.sqrt(dh)
    QK = torch.matmul(W_Q, W_K.transpose(-1, -2)).mul_(scale)  # [M, H, d, d]
    QK = QK.permute(0, 2, 1, 3).reshape(M, d, H * d)
    OV = torch.matmul(W_V, W_O).reshape(M, H * d, d)  # [M, H*d, d]
    return QK, OV, scale


def _narrow(columns: int) -> bool:
    """True when a product with this many output columns is faster transposed (see ``_bmm``)."""
    return columns % NARROW != 0


def _bmm(a: torch.Tensor, b: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
    """add + a @ b for a [M, n, k], b [M, k, c] (``add`` broadcastable to [M, n, c], or None).

    MKL's batched product is several times slower (up to 5x at n = 1024) when the output has few columns that are
    not a multiple of 16, which is every [n, d] result at d = 2..12, where most capacity thresholds lie. Such a
    product is computed as (b^T a^T)^T and returned as a transposed view [M, n, c] (strides (c n, 1, n)); the
    same sums of products, in another order.
    """
    c = b.shape[-1]
    if not _narrow(c) or c >= a.shape[1]:
        return torch.bmm(a, b) if add is None else torch.baddbmm(add, a, b)
    if add is None:
        return torch.bmm(b.mT, a.mT).mT
    return torch.baddbmm(add.mT, b.mT, a.mT).mT


def _scores(q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """q_h . x_t for q [MB, H, d], x [MB, T, d] -> [MB, H, T] (one dot product per row, head and position)."""
    return torch.einsum("bhd,btd->bht", q, x)


def _softmax(s: torch.Tensor) -> torch.Tensor:
    """softmax over the last axis. Over two positions it is the logistic of the difference,
    (sigmoid(s_0 - s_1), sigmoid(s_1 - s_0)): the same function, without a reduction over thousands of 2-long rows."""
    if s.shape[-1] == 2:
        diff = s[..., 1] - s[..., 0]
        return torch.stack((torch.sigmoid(-diff), torch.sigmoid(diff)), dim=-1)
    return s.softmax(dim=-1)


def _softmax_backward(dp: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """ds = p * (dp - <p, dp>) over the last axis; over two positions ds_1 = -ds_0 = p_0 p_1 (dp_1 - dp_0)."""
    if p.shape[-1] == 2:
        g = (dp[..., 1] - dp[..., 0]).mul_(p[..., 0]).mul_(p[..., 1])
        return torch.stack((-g, g), dim=-1)
    return torch.ops.aten._softmax_backward_data(dp, p, -1, p.dtype)


def _mix(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sum_t p[:, h, t] x[:, t] for p [MB, H, T], x [MB, T, d] -> [MB, H, d]: a batched product for long
    sequences; for short ones (``SHORT``) T multiply-adds over all rows, since on CPU thousands of tiny [1, T] x
    [T, d] products cost several times more."""
    T = x.shape[1]
    if T > SHORT:
        return torch.bmm(p, x)
    out = p[:, :, 0, None] * x[:, None, 0]
    for t in range(1, T):
        out.addcmul_(p[:, :, t, None], x[:, None, t])
    return out


def _outer(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """sum_h a[:, h, t] b[:, h] for a [MB, H, T], b [MB, H, d] -> [MB, T, d], added to ``out`` if given
    (H multiply-adds over all rows, not K = H products)."""
    H = a.shape[1]
    start = 0
    if out is None:
        out = a[:, 0, :, None] * b[:, 0, None, :]
        start = 1
    for h in range(start, H):
        out.addcmul_(a[:, h, :, None], b[:, h, None, :])
    return out


def embedding_rows(tokens: torch.Tensor, rows_per_model: int) -> torch.Tensor:
    """Row of each token of ``tokens`` [M, B, T] in the [M*V, d] stack of embedding tables, flattened."""
    M = tokens.shape[0]
    offset = torch.arange(M, device=tokens.device).mul_(rows_per_model)
    return (tokens + offset[:, None, None]).reshape(-1)


def forward(
    P: dict[str, torch.Tensor],
    tokens: torch.Tensor,
    rows: torch.Tensor | None = None,
    embedded: torch.Tensor | None = None,
) -> Activations:
    """The forward pass at the last position of ``tokens`` [M, B, T]; ``rows`` = ``embedding_rows`` if precomputed.

    ``embedded`` [M, B, T, d], if given, is W_E[tokens] gathered beforehand (valid while W_E is frozen and the
    batch fixed: the gather, a scattered read of M B T rows, is then paid once, not at every step).
    """
    W_E = P["embed.W_E"]  # [M, V, d]
    M, V, d = W_E.shape
    _, B, T = tokens.shape
    if embedded is not None:
        x = torch.add(embedded, P["pos_embed.W_pos"][:, None, :T])
    else:
        if rows is None:
            rows = embedding_rows(tokens, V)
        x = W_E.reshape(M * V, d).index_select(0, rows).view(M, B, T, d)
        x += P["pos_embed.W_pos"][:, None, :T]
    xq = x[:, :, T - 1]  # [M, B, d] (strided view)
    x = x.view(M * B, T, d)
    QK, OV, _ = _circuits(P)
    H = QK.shape[2] // d
    qk = torch.bmm(xq, QK).view(M * B, H, d)  # x_T QK_h
    p = _softmax(_scores(qk, x))  # [M*B, H, T]
    xbar = _mix(p, x).view(M, B, H * d)
    resid_mid = _bmm(xbar, OV, add=xq)  # [M, B, d]
    post = _bmm(resid_mid, P["blocks.0.mlp.W_in"], add=P["blocks.0.mlp.b_in"][:, None, :]).relu_()  # [M, B, m]
    resid_post = _bmm(post, P["blocks.0.mlp.W_out"], add=resid_mid)  # [M, B, d]
    return Activations(rows, x, xq, QK, qk, p, xbar, OV, resid_mid, post, resid_post)


def unembedding(P: dict[str, torch.Tensor], d_vocab_out: int) -> torch.Tensor:
    """W_U [M, d, V_out]; the tied view W_E[:, :V_out]^T without ``unembed.W_U``."""
    if "unembed.W_U" in P:
        return P["unembed.W_U"]
    return P["embed.W_E"][:, :d_vocab_out].transpose(1, 2)


def _row_blocks(M: int, B: int, V: int, block_elements: int) -> list[tuple[int, int]]:
    """Row ranges [i, j) of at most ``block_elements`` logits each (M * rows * V), of nearly equal size."""
    rows = max(1, min(B, block_elements // max(1, M * V)))
    count = -(-B // rows)
    rows = -(-B // count)
    return [(i, min(B, i + rows)) for i in range(0, B, rows)]


def readout_grad(
    resid: torch.Tensor,
    W_U: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor | float,
    *,
    need_W_U: bool = True,
    block_elements: int = BLOCK_ELEMENTS,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(d loss / d resid [M, B, d], d loss / d W_U [M, d, V] or None) for loss_m = sum_b w_mb CE(resid_mb W_U_m, y_mb).

    ``targets`` [M, B] are class indices (any value where the weight is 0); ``weight`` is a float (the same w for
    every row) or [M, B]. G = w (softmax(z) - onehot(y)) is formed one block of rows at a time (``block_elements``
    logits per block), then dW_U = resid^T G and d resid = G W_U^T; a float weight is applied once at the end.
    """
    M, B, d = resid.shape
    V = W_U.shape[2]
    narrow = _narrow(d)  # d resid = G W_U^T has d columns: computed as W_U G^T into a [M, d, B] buffer (_bmm)
    dresid = torch.empty(M, d, B, dtype=resid.dtype, device=resid.device).mT if narrow else torch.empty_like(resid)
    dW_U = torch.empty(M, d, V, dtype=resid.dtype, device=resid.device) if need_W_U else None
    blocks = _row_blocks(M, B, V, block_elements)
    c = blocks[0][1] - blocks[0][0]
    buf = torch.empty(M * c * V, dtype=resid.dtype, device=resid.device)  # logits, then (in place) their gradient
    minus = torch.full((M, c, 1), -1.0, dtype=resid.dtype, device=resid.device)
    W_UT = None if narrow else W_U.transpose(1, 2).contiguous()  # [M, V, d]: BLAS streams it without repacking
    uniform = not isinstance(weight, torch.Tensor)
    for k, (i, j) in enumerate(blocks):
        n = j - i
        z = torch.bmm(resid[:, i:j], W_U, out=buf[: M * n * V].view(M, n, V))
        g = torch.ops.aten._softmax.out(z, -1, False, out=z)  # row by row, so in place is exact
        g.scatter_add_(2, targets[:, i:j, None], minus[:, :n])  # softmax - onehot
        if not uniform:
            g.mul_(weight[:, i:j, None])
        if dW_U is not None:
            dW_U.baddbmm_(resid[:, i:j].transpose(1, 2), g, beta=0.0 if k == 0 else 1.0)
        if narrow:
            dresid.mT[:, :, i:j] = torch.bmm(W_U, g.mT)
        elif M == 1:
            torch.mm(g[0], W_UT[0], out=dresid[0, i:j])
        else:
            dresid[:, i:j] = torch.bmm(g, W_UT)
    if uniform:
        dresid.mul_(weight)
        if dW_U is not None:
            dW_U.mul_(weight)
    return dresid, dW_U


@torch.no_grad()
def readout_eval(
    resid: torch.Tensor, W_U: torch.Tensor, targets: torch.Tensor, *, block_elements: int = BLOCK_ELEMENTS
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(summed CE [M] float64, targeted rows [M], correct [M, B] bool) of logits resid W_U against ``targets`` [M, B].

    CE_mb = logsumexp_v z_mbv - z_mb,y over rows whose target is not ``IGNORE``; a row is correct when the argmax
    is its target (rows without a target count as correct, as in ``train.loss_and_correct``).
    """
    M, B, _ = resid.shape
    V = W_U.shape[2]
    mask = targets != IGNORE
    y = targets.clamp(min=0)
    total = torch.zeros(M, dtype=torch.float64, device=resid.device)
    correct = torch.empty(M, B, dtype=torch.bool, device=resid.device)
    for i, j in _row_blocks(M, B, V, 4 * block_elements):
        z = torch.bmm(resid[:, i:j], W_U)  # [M, n, V]
        nll = torch.logsumexp(z, dim=-1) - z.gather(2, y[:, i:j, None])[..., 0]  # [M, n]
        total += (nll * mask[:, i:j]).sum(dim=1).double()
        correct[:, i:j] = (z.argmax(dim=-1) == y[:, i:j]) | ~mask[:, i:j]
    return total, mask.sum(dim=1), correct


def backward(
    P: dict[str, torch.Tensor],
    a: Activations,
    dresid_post: torch.Tensor,
    dW_U: torch.Tensor | None,
    trainable: set[str],
    grads: dict[str, torch.Tensor],
) -> None:
    """Write d loss / d theta into ``grads[name]`` ([M, *shape], any strides) for every name in ``trainable``.

    ``dresid_post`` and ``dW_U`` come from :func:`readout_grad`. With a tied readout (no ``unembed.W_U``) dW_U is
    added to the first V_out rows of dW_E (transposed).
    """
    W_E = P["embed.W_E"]
    M, V, d = W_E.shape
    MB, T, _ = a.x.shape
    B = MB // M
    H = a.QK.shape[2] // d
    W_in, W_out = P["blocks.0.mlp.W_in"], P["blocks.0.mlp.W_out"]
    if "blocks.0.mlp.W_out" in trainable:
        torch.bmm(a.post.transpose(1, 2), dresid_post, out=grads["blocks.0.mlp.W_out"])
    dpre = torch.ops.aten.threshold_backward(_bmm(dresid_post, W_out.transpose(1, 2)), a.post, 0)  # [M, B, m]
    if "blocks.0.mlp.b_in" in trainable:
        torch.sum(dpre, dim=1, out=grads["blocks.0.mlp.b_in"])
    if "blocks.0.mlp.W_in" in trainable:
        torch.bmm(a.resid_mid.transpose(1, 2), dpre, out=grads["blocks.0.mlp.W_in"])
    dmid = _bmm(dpre, W_in.transpose(1, 2), add=dresid_post)  # [M, B, d]
    # attention: resid_mid = x_T + xbar OV, xbar_h = sum_t p_{h,t} x_t, s_{h,t} = qk_h . x_t, qk = x_T QK
    dOV = torch.bmm(a.xbar.transpose(1, 2), dmid).view(M, H, d, d)  # [M, H, d, d]
    dxbar = torch.bmm(dmid, a.OV.transpose(1, 2)).view(MB, H, d)
    dp = _scores(dxbar, a.x)  # [M*B, H, T]
    ds = _softmax_backward(dp, a.p)  # [M*B, H, T]
    dqk = _mix(ds, a.x).view(M, B, H * d)  # [M, B, H*d]
    dQK = torch.bmm(a.xq.transpose(1, 2), dqk).view(M, d, H, d).permute(0, 2, 1, 3)  # [M, H, d, d]
    dxq = _bmm(dqk, a.QK.transpose(1, 2), add=dmid)  # [M, B, d]: the query position's own terms
    if "embed.W_E" in trainable:  # dx at every position, for the embedding's scatter-add
        dx = _outer(ds, a.qk, out=_outer(a.p, dxbar))  # [M*B, T, d]
        dx.view(M, B, T, d)[:, :, T - 1].add_(dxq)
    if "pos_embed.W_pos" in trainable:
        g_pos = grads["pos_embed.W_pos"]
        if "embed.W_E" in trainable:
            g_pos[:, :T] = dx.view(M, B, T, d).sum(dim=1)
        else:  # sum over sequences of dx_t without forming dx: two [T, B*H] x [B*H, d] products per model
            pT = a.p.view(M, B * H, T).transpose(1, 2)
            g = torch.bmm(pT, dxbar.view(M, B * H, d)).baddbmm_(
                ds.view(M, B * H, T).transpose(1, 2), a.qk.view(M, B * H, d)
            )
            g[:, T - 1] += dxq.sum(dim=1)
            g_pos[:, :T] = g
        g_pos[:, T:].zero_()
    W_Q, W_K, W_V, W_O = (P[f"blocks.0.attn.W_{n}"] for n in "QKVO")
    scale = 1.0 / math.sqrt(W_Q.shape[-1])
    if "blocks.0.attn.W_Q" in trainable:  # QK_h = scale W_Q[h] W_K[h]^T
        torch.matmul(dQK, W_K, out=grads["blocks.0.attn.W_Q"]).mul_(scale)
    if "blocks.0.attn.W_K" in trainable:
        torch.matmul(dQK.transpose(-1, -2), W_Q, out=grads["blocks.0.attn.W_K"]).mul_(scale)
    if "blocks.0.attn.W_V" in trainable:  # OV_h = W_V[h] W_O[h]
        torch.matmul(dOV, W_O.transpose(-1, -2), out=grads["blocks.0.attn.W_V"])
    if "blocks.0.attn.W_O" in trainable:
        torch.matmul(W_V.transpose(-1, -2), dOV, out=grads["blocks.0.attn.W_O"])
    if "embed.W_E" in trainable:
        g_E = grads["embed.W_E"]
        if g_E.is_contiguous():
            g_E.zero_().view(M * V, d).index_add_(0, a.rows, dx.view(-1, d))
        else:
            g_E.copy_(
                torch.zeros(M * V, d, dtype=dx.dtype, device=dx.device)
                .index_add_(0, a.rows, dx.view(-1, d))
                .view(M, V, d)
            )
        if "unembed.W_U" not in P and dW_U is not None:  # tied readout
            g_E[:, : dW_U.shape[2]] += dW_U.transpose(1, 2)
    if "unembed.W_U" in trainable and dW_U is not None:
        grads["unembed.W_U"].copy_(dW_U)
