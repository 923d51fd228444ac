"""Hand-built one-layer transformers for h-hop recall, without and with chain-of-thought [recon].

Both builders return an ordinary ``models.Transformer``: positions, routing, gating and readout all happen inside
its forward pass (``multihop.evaluate_multihop`` scores them like any trained model). Sign codes u_a in
{±1/sqrt(k)}^k, k = ceil(log2 N), and the gate threshold B = 1/sqrt(k) are those of the single-hop block
construction (``construct.block_recipe``); sizes are ``theory.multihop.no_cot_dimension`` / ``cot_dimension``.

Which "depth". The paper's abstract (Ravfogel et al. 2026, arXiv 2605.12426) states a capacity-depth tradeoff for
chains of relational queries in a single-layer transformer. We read depth as the number of hops h that one query
chains, with the layer count fixed at one: that is the setting the abstract names, it is the quantity in its
example ("the mother of the wife of x", h = 2), and it is the only reading in which "with and without
chain-of-thought" are two answers to the same question. Depth as layers (L layers answering h hops) is not built.

**No CoT: path superposition + AND-gated selector** (:func:`build_no_cot`). Tokens [x, N+r_1, ..., N+r_h];
residual coordinates [S (R^h k) | gate blocks G_1..G_h (R each) | O (k) | positions P_1..P_{h-1} | padding]:

    W_E[x]     = e_x = sum_{p in [R]^h} Q_p u_{pi_p(x)}     (Q_p: isometry onto the k-block of path p in S)
    W_E[N + r] = one-hot of r in G_h;   W_pos[i] = one-hot P_i for i = 1..h-1, W_pos[0] = W_pos[h] = 0
    attention, h heads of d/h, read at the last position (which holds r_h):
      head h (uniform, W_Q = W_K = 0): weight 1/(h+1) on every position, copies its slice of S scaled by h+1
      head i < h (sharp): score beta * (<P_i, x_j> - |G_h(x_j)|), i.e. 0 at x and at r_i, -beta at the other
        relations; weight ~1/2 on each of x and r_i; copies its slice of S (x 2) and G_h -> G_i (x 2), so r_i
        lands in gate block i. r_h reaches G_h through the residual.
    MLP, width 2 R^h k, unit pair per (path p = (p_1..p_h), coordinate j), b_in = -h B:
      h^±_{p,j} = ReLU(±<Q_p eps_j, x> + B sum_i x[G_i, p_i] - h B)
      the gate sum reaches h B only when every hop matches (p = (r_1..r_h)); otherwise it is at most (h-1) B and,
      since |<Q_p eps_j, e_x>| <= B, the pair stays silent: an AND over the h relation tokens.
      W_out: h^+ - h^- -> P_O eps_j;   W_U[:, a] = P_O u_a  =>  logit_a = <u_a, u_{pi_{r_h} o ... o pi_{r_1}(x)}>.

Deviation from the textbook routing (one uniform head carrying all of S): here ``d_head = d / n_heads``, so one
head cannot carry the R^h k coordinates of S unless d >= h R^h k. Each head therefore carries a 1/h slice of S
(the sharp heads by attending to x as well as to their hop), which keeps d = R^h k + h R + k + h - 1 (padded to a
multiple of h). The sharp heads' leak, (h - 1) e^{-beta} per weight, costs margin of order h^2 R^h k e^{-beta};
beta = 40 puts it below float64 rounding.

**CoT: the single-hop selector, applied once per generated token** (:func:`build_cot`). Tokens
[x, N+r_1, y_1, ..., N+r_h] (``multihop.generate`` feeds each prediction back); residual
[S (R k) | gates (R) | O (k) | 2 positional coordinates]:

    W_E, MLP, W_U: the single-hop block construction (e_x = sum_r Q_r u_{pi_r(x)}, gate v_r, width 2 R k);
    W_pos[t] = (cos t theta, sin t theta), theta = 2 pi / n_ctx (positions on a circle);
    one head: q_t = s R_{-theta} W_pos[t], k_j = W_pos[j], so q.k / sqrt(d) = beta cos((t - 1 - j) theta) / (1 - cos
    theta), largest at j = t - 1 by the logit gap beta: previous-token attention; W_V W_O = Pi_S copies e_{y_{i-1}}
    into r_i's position, whose own embedding opens gate r_i.

The attention output at r_i's position is a convex combination of entity embeddings (relations carry no S), so
every closed gate stays shut exactly and the margin is 2/k up to e^{-beta}. d = R k + R + k + 2 for every h: only
n_ctx = 2h grows.

**h = 1.** The no-CoT model *is* the block construction ``construct.build_block``: the same weights except W_O's
rows past d_s, which multiply head coordinates W_V leaves at zero (W_V W_O = 2 Pi_S in both). The CoT model computes
the same logits (up to e^{-beta}) with prev-token attention instead of uniform attention, in 2 more dimensions.
"""

from __future__ import annotations

import math

import torch

from .._checks import check_int
from ..model.compat import check_permutations
from ..model.multihop import paths
from ..model.recall import DEFAULT_MAX_BYTES
from ..model.transformer import ModelConfig, Transformer
from ..tasks.bijection import BijectionTask
from ..theory.multihop import check_hops, code_length, cot_dimension, cot_width, no_cot_dimension, no_cot_width
from .bijection import sign_codes

__all__ = ["DEFAULT_BETA", "build_no_cot", "build_cot", "path_embeddings", "no_cot_layout", "model_bytes"]

DEFAULT_BETA = 40.0  # attention logit gap: leak e^-40 ~ 4e-18, below float64 rounding of the 2/k margin


def _perms_of(task) -> torch.Tensor:
    if isinstance(task, BijectionTask):
        return task.perms.long()
    return check_permutations("task perms", torch.as_tensor(task))


def _check_beta(beta) -> float:
    if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 1):
        raise ValueError(f"beta (attention logit gap) must be a finite number >= 1, got {beta!r}")
    return float(beta)


def model_bytes(N: int, R: int, d: int, m: int, n_ctx: int, dtype: torch.dtype) -> int:
    """Bytes of a built model: (N + R) d + n_ctx d + 4 d^2 + 2 d m + m + d N parameters in ``dtype``, plus the
    float32 initialisation they replace."""
    n = (N + R) * d + n_ctx * d + 4 * d * d + 2 * d * m + m + d * N
    return n * (torch.finfo(dtype).bits // 8 + 4)


def _check_fits(N, R, h, d, m, n_ctx, dtype, max_bytes) -> None:
    check_int("max_bytes", max_bytes, 1)
    need = model_bytes(N, R, d, m, n_ctx, dtype)
    if need > max_bytes:
        raise ValueError(
            f"N={N}, R={R}, h={h} needs d={d}, m={m}: the model takes {need / 2**30:.2f} GiB in {dtype}, "
            f"above max_bytes={max_bytes / 2**30:.2f} GiB; lower R or h, or raise max_bytes"
        )


def path_embeddings(perms: torch.Tensor, h: int, codes: torch.Tensor) -> torch.Tensor:
    """e_x = sum_p Q_p u_{pi_p(x)}, [N, R^h k]: path q (lexicographic, ``multihop.paths``) owns coordinates
    q k .. q k + k - 1, and pi_p = pi_{r_h} o ... o pi_{r_1}."""
    perms = _perms_of(perms)
    check_hops(h)
    N = perms.shape[1]
    answers = perms  # [R^i, N]: answers[q, x] = pi_q(x) for the paths of length i
    for _ in range(h - 1):
        answers = perms[:, answers].permute(1, 0, 2).reshape(-1, N)  # [R^i * R, N]: path q then r -> q R + r
    return codes[answers.T].reshape(N, -1)  # [N, R^h, k] -> [N, R^h k]


def no_cot_layout(R: int, k: int, h: int, d: int) -> dict:
    """Residual coordinates of the no-CoT construction: S [0, R^h k), gate block G_i (i = 1..h) of R, output
    block O of k, positional coordinates P_1..P_{h-1}; the rest (< h) is padding. Returns index tensors."""
    d_s = R**h * k
    gate0 = d_s
    out0 = d_s + h * R
    pos0 = out0 + k
    return dict(
        S=torch.arange(d_s),
        G=[torch.arange(gate0 + i * R, gate0 + (i + 1) * R) for i in range(h)],  # G[i - 1] = gate block of hop i
        O=torch.arange(out0, out0 + k),
        P=[pos0 + i - 1 for i in range(1, h)],  # P[i - 1] = positional coordinate of position i
        slices=torch.tensor_split(torch.arange(d_s), h),  # head i carries slices[i - 1] of S
    )


def build_no_cot(
    task, h: int, *, beta: float = DEFAULT_BETA, dtype: torch.dtype = torch.float64, max_bytes: int = DEFAULT_MAX_BYTES
) -> Transformer:
    """The path-superposition construction for h-hop queries without chain-of-thought (see the module docstring):
    n_heads = h, n_ctx = h + 1, d = ``theory.multihop.no_cot_dimension(N, R, h)``, m = 2 R^h k; 100% accuracy with
    margin 2/k up to O(h^2 R^h k e^{-beta}). ``task`` is a ``BijectionTask`` or a perms tensor [R, N].

    >>> from georecall.tasks.bijection import make_task
    >>> m = build_no_cot(make_task(256, 3, seed=0), 2)
    >>> m.config.d_model, m.config.d_mlp, m.config.n_heads, m.config.n_ctx
    (88, 144, 2, 3)
    """
    perms = _perms_of(task)
    check_hops(h)
    beta = _check_beta(beta)
    R, N = perms.shape
    k = code_length(N)
    d, m = no_cot_dimension(N, R, h), no_cot_width(N, R, h)
    _check_fits(N, R, h, d, m, h + 1, dtype, max_bytes)
    u = sign_codes(N, k, dtype=torch.float64)  # [N, k]
    B = 1.0 / math.sqrt(k)  # max |u_a[j]|: the largest read of any closed block
    L = no_cot_layout(R, k, h, d)
    cfg = ModelConfig(d_vocab=N + R, d_vocab_out=N, n_ctx=h + 1, d_model=d, n_heads=h, d_mlp=m)
    dh = cfg.d_head
    model = Transformer(cfg).to(dtype)
    with torch.no_grad():
        for prm in model.parameters():
            prm.zero_()
        model.embed.W_E[:N, L["S"]] = path_embeddings(perms, h, u).to(dtype)  # e_x
        model.embed.W_E[N + torch.arange(R), L["G"][h - 1]] = 1.0  # a relation token writes its one-hot into G_h
        for i in range(1, h):
            model.pos_embed.W_pos[i, L["P"][i - 1]] = 1.0
        attn = model.blocks[0].attn
        for i in range(1, h + 1):  # head i - 1 serves hop i
            sl = L["slices"][i - 1]
            n_sl = len(sl)
            attn.W_V[i - 1, sl, torch.arange(n_sl)] = 1.0  # its slice of S
            if i == h:  # uniform over the h + 1 positions; only x holds S
                attn.W_O[i - 1, torch.arange(n_sl), sl] = float(h + 1)
                continue
            attn.W_O[i - 1, torch.arange(n_sl), sl] = 2.0  # weight ~1/2 on x
            attn.W_V[i - 1, L["G"][h - 1], n_sl + torch.arange(R)] = 1.0  # the attended relation's one-hot ...
            attn.W_O[i - 1, n_sl + torch.arange(R), L["G"][i - 1]] = 2.0  # ... into gate block i
            # score = beta * (<P_i, x_j> - sum G_h(x_j)): query beta * sqrt(dh) at any relation position
            attn.W_Q[i - 1, L["G"][h - 1], 0] = beta * math.sqrt(dh)
            attn.W_K[i - 1, L["G"][h - 1], 0] = -1.0
            attn.W_K[i - 1, L["P"][i - 1], 0] = 1.0
        mlp = model.blocks[0].mlp
        eye = torch.eye(k, dtype=dtype)
        for q, p in enumerate(paths(R, h).tolist()):
            plus = torch.arange(2 * q * k, 2 * q * k + k)  # h^+_{q, 0..k-1}
            minus = plus + k  # h^-_{q, 0..k-1}
            block = L["S"][q * k : (q + 1) * k]
            mlp.W_in[block[:, None], plus[None, :]] = eye  # <Q_p eps_j, x>
            mlp.W_in[block[:, None], minus[None, :]] = -eye
            for i, r in enumerate(p):  # + B x[G_i, p_i] for every hop: the AND
                mlp.W_in[L["G"][i][r], 2 * q * k : 2 * (q + 1) * k] = B
            mlp.W_out[plus[:, None], L["O"][None, :]] = eye  # h^+ - h^- -> P_O eps_j
            mlp.W_out[minus[:, None], L["O"][None, :]] = -eye
        mlp.b_in.fill_(-h * B)
        model.unembed.W_U[L["O"]] = u.T.to(dtype)  # W_U[:, a] = P_O u_a
    model.eval()
    return model


def build_cot(
    task,
    h: int = 1,
    *,
    beta: float = DEFAULT_BETA,
    dtype: torch.dtype = torch.float64,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Transformer:
    """The chain-of-thought construction (see the module docstring): one head, n_ctx = 2h (the input of the last
    decoding step), d = R k + R + k + 2 and m = 2 R k for every h. Decode with ``multihop.generate``.

    >>> from georecall.tasks.bijection import make_task
    >>> [build_cot(make_task(256, 3, seed=0), h).config.d_model for h in (1, 2, 3)]
    [37, 37, 37]
    """
    perms = _perms_of(task)
    check_hops(h)
    beta = _check_beta(beta)
    R, N = perms.shape
    k = code_length(N)
    d, m, n_ctx = cot_dimension(N, R, h), cot_width(N, R, h), 2 * h
    _check_fits(N, R, h, d, m, n_ctx, dtype, max_bytes)
    u = sign_codes(N, k, dtype=torch.float64)
    B = 1.0 / math.sqrt(k)
    d_s = R * k
    gates = torch.arange(d_s, d_s + R)
    out = torch.arange(d_s + R, d_s + R + k)
    pos = torch.tensor([d - 2, d - 1])
    cfg = ModelConfig(d_vocab=N + R, d_vocab_out=N, n_ctx=n_ctx, d_model=d, n_heads=1, d_mlp=m)
    model = Transformer(cfg).to(dtype)
    theta = 2 * math.pi / n_ctx
    with torch.no_grad():
        for prm in model.parameters():
            prm.zero_()
        model.embed.W_E[:N, :d_s] = path_embeddings(perms, 1, u).to(dtype)  # e_x = sum_r Q_r u_{pi_r(x)}
        model.embed.W_E[N + torch.arange(R), gates] = 1.0  # v_r
        t = torch.arange(n_ctx, dtype=torch.float64)
        model.pos_embed.W_pos[:, pos] = torch.stack([torch.cos(t * theta), torch.sin(t * theta)], 1).to(dtype)
        attn = model.blocks[0].attn
        s = beta * math.sqrt(d) / (1.0 - math.cos(theta))  # logit gap beta between t - 1 and any other position
        c, sn = math.cos(theta), math.sin(theta)
        # q = s * rotation by -theta of (cos t theta, sin t theta) = s * (cos (t-1) theta, sin (t-1) theta);
        # row-vector convention: x @ W_Q
        attn.W_Q[0, pos[:, None], pos[None, :]] = torch.tensor([[c, -sn], [sn, c]], dtype=dtype) * s
        attn.W_K[0, pos, pos] = 1.0
        attn.W_V[0, torch.arange(d_s), torch.arange(d_s)] = 1.0  # Pi_S
        attn.W_O[0, torch.arange(d_s), torch.arange(d_s)] = 1.0  # weight ~1 on the previous token
        mlp = model.blocks[0].mlp
        eye = torch.eye(k, dtype=dtype)
        for r in range(R):
            plus = torch.arange(2 * r * k, 2 * r * k + k)
            minus = plus + k
            block = torch.arange(r * k, (r + 1) * k)
            mlp.W_in[block[:, None], plus[None, :]] = eye
            mlp.W_in[block[:, None], minus[None, :]] = -eye
            mlp.W_in[gates[r], 2 * r * k : 2 * (r + 1) * k] = B
            mlp.W_out[plus[:, None], out[None, :]] = eye
            mlp.W_out[minus[:, None], out[None, :]] = -eye
        mlp.b_in.fill_(-B)
        model.unembed.W_U[out] = u.T.to(dtype)
    model.eval()
    return model
