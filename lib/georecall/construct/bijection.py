"""Hand-built weights: one-layer transformers that answer every fact of a bijection task [recon].

A construction is a :class:`Recipe`, everything that does *not* depend on the bijections (attribute codes
u_a, placements Q_r, gate threshold B), plus the bijections themselves, which enter only through the
subject rows of ``W_E``. :func:`build` turns (recipe, perms) into an ordinary ``models.Transformer`` whose
forward pass does the recall (our reconstruction of a gated superposition of relation-specific codes):

    residual coordinates:  [ subject space S (d_s) | gates (R) | output block O (k) ],   d = d_s + R + k
    W_E[s]      = e_s = sum_r Q_r u_{pi_r(s)}        (superposition of relation-specific codes)
    W_E[N + r]  = v_r, the unit vector on gate coordinate r
    W_pos = 0,  W_Q = W_K = 0 (uniform attention over [s, r]),  W_V W_O = 2 Pi_S
        => resid_mid at the last position = e_s + v_r
    MLP, width m = 2 R k, b_in = -B:
        h^±_{r'j} = ReLU(±<Q_{r'} eps_j, x> + B <v_{r'}, x> - B),   W_out: h^+ - h^- -> P_O eps_j
        gate open (r' = r): h^+ - h^- = (Q_r^T x)_j;  gate closed (r' != r): both 0 as long as |z| <= B
    W_U[:, a] = P_O u_a  =>  logit_a = <u_a, Q_r^T e_s>

Two recipes: :func:`block_recipe` (Q_r = isometries onto disjoint k-blocks, d_s = R k, sign codes of
length k = ceil(log2 N): exact, margin >= 2/k) and :func:`dense_recipe` (Gaussian Q_r in d_s dimensions,
any d_s, cross-talk noise of variance ~ R/d_s). Unit index of the MLP: unit r*2k + j is h^+_{rj}, unit
r*2k + k + j is h^-_{rj}, so the 2k units of relation r are contiguous.

Scoring a built model is :func:`georecall.model.recall.evaluate_recall`'s job; the chapter's tables and the
explorer's snapshot live in :mod:`georecall.construct.views`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import repro
from .._checks import check_int
from ..model.compat import check_permutations
from ..model.recall import DEFAULT_MAX_BYTES
from ..model.transformer import ModelConfig, Transformer
from ..tasks.bijection import BijectionTask
from ..theory import bijection as theory

__all__ = [
    "BLOCK",
    "DENSE",
    "SIGN",
    "GAUSSIAN",
    "DEFAULT_MAX_BYTES",
    "Recipe",
    "sign_codes",
    "gaussian_codes",
    "block_placements",
    "dense_placements",
    "safe_gate",
    "block_recipe",
    "dense_recipe",
    "subject_embeddings",
    "build",
    "build_block",
    "build_dense",
    "model_bytes",
]

BLOCK, DENSE = "block", "dense"  # placement kinds
SIGN, GAUSSIAN = "sign", "gaussian"  # code kinds
_MAX_CODE_LENGTH = 4096


# --- codes and placements ----------------------------------------------------------------------------


def sign_codes(N: int, k: int | None = None, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """N distinct sign codes u_a in {±1/sqrt(k)}^k, [N, k]: u_a[j] = (2 * bit_j(a) - 1) / sqrt(k).

    Needs N <= 2^k (default k = ceil(log2 N)). Every code has unit norm and two distinct codes have
    <u_a, u_b> = 1 - 2 * hamming(a, b) / k <= 1 - 2/k.

    >>> sign_codes(3, 2, dtype=torch.float64) * 2**0.5
    tensor([[-1., -1.],
            [ 1., -1.],
            [-1.,  1.]], dtype=torch.float64)
    """
    check_int("N (n_subjects)", N, 1)
    k = theory.code_length(N) if k is None else check_int("k (code length)", k, 1, _MAX_CODE_LENGTH)
    if k < 63 and N > 2**k:
        raise ValueError(
            f"k (code length) = {k} gives only 2^{k} = {2**k} sign codes, fewer than N = {N}; "
            f"use k >= {theory.code_length(N)}"
        )
    a = torch.arange(N, dtype=torch.int64)[:, None]  # [N, 1]
    j = torch.arange(min(k, 62), dtype=torch.int64)[None, :]  # [1, k']; bits above 62 are 0 for any N here
    bits = ((a >> j) & 1).to(dtype)  # [N, k']
    codes = torch.full((N, k), -1.0, dtype=dtype)
    codes[:, : bits.shape[1]] = 2 * bits - 1
    return codes / math.sqrt(k)  # [N, k]


def gaussian_codes(N: int, k: int, *, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """N random unit vectors in R^k, [N, k] (Gaussian rows normalised), from the ``"codes"`` stream of ``seed``.

    |<u_a, u_b>| concentrates at O(sqrt(log N / k)); k = C log N / eps^2 makes every overlap <= eps.
    """
    check_int("N (n_subjects)", N, 1)
    check_int("k (code length)", k, 1, _MAX_CODE_LENGTH)
    g = repro.generator(seed, "codes")
    u = torch.randn(N, k, generator=g, dtype=torch.float64)  # [N, k]
    return (u / u.norm(dim=1, keepdim=True)).to(dtype)


def block_placements(
    R: int, k: int, *, d_subject: int | None = None, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Q_r, [R, d_s, k]: the isometry of R^k onto block S_r = coordinates r*k .. r*k+k-1 (d_s = R*k by default;
    a larger d_s leaves the coordinates past R*k unused)."""
    check_int("R (n_relations)", R, 1)
    check_int("k (code length)", k, 1, _MAX_CODE_LENGTH)
    d_subject = R * k if d_subject is None else check_int("d_subject (d_s)", d_subject, R * k)
    Q = torch.zeros(R, d_subject, k, dtype=dtype)
    for r in range(R):
        Q[r, r * k : (r + 1) * k] = torch.eye(k, dtype=dtype)
    return Q  # [R, d_s, k]


def dense_placements(
    R: int, d_subject: int, k: int, *, seed: int = 0, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Q_r, [R, d_s, k], i.i.d. N(0, 1/d_s) entries (so Q_r^T Q_r -> I_k), from the ``"placement"`` stream."""
    check_int("R (n_relations)", R, 1)
    check_int("d_subject (d_s)", d_subject, 1)
    check_int("k (code length)", k, 1, _MAX_CODE_LENGTH)
    g = repro.generator(seed, "placement")
    return (torch.randn(R, d_subject, k, generator=g, dtype=torch.float64) / math.sqrt(d_subject)).to(dtype)


def safe_gate(codes: torch.Tensor, placements: torch.Tensor) -> float:
    """The smallest bijection-independent B that keeps every closed gate shut, for any bijections:

        |<Q_{r'} eps_j, e_s>| = |sum_r <Q_r^T Q_{r'} eps_j, u_{pi_r(s)}>| <= B,
        B = max_{r', j} sum_r max_a |<Q_r^T Q_{r'} eps_j, u_a>|.

    For block placements this is max_a ||u_a||_inf (1/sqrt(k) for sign codes).
    """
    codes64, Q = codes.double(), placements.double()  # [N, k], [R, d_s, k]
    R = Q.shape[0]
    total = torch.zeros(R, Q.shape[2], dtype=torch.float64)  # [r', j]
    for r in range(R):
        cross = torch.einsum("dk,qdj->qkj", Q[r], Q)  # [r', k, j] = (Q_r^T Q_{r'})
        nz = cross.abs().amax(dim=(0, 2)) > 0  # code coordinates of block r that any unit reads
        if not nz.any():
            continue
        proj = torch.einsum("nk,qkj->qnj", codes64[:, nz], cross[:, nz])  # [r', N, j]
        total += proj.abs().amax(dim=1)
    return float(total.max())


# --- recipes -------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False)
class Recipe:
    """Everything in a construction except the bijections: codes, placements, gate threshold.

    Two tasks with the same (N, R) built from one recipe get identical weights outside the subject rows of W_E.
    """

    kind: str  # BLOCK (disjoint k-blocks, exact) or DENSE (Gaussian Q_r, cross-talk)
    codes: torch.Tensor  # [N, k] attribute codes u_a, one per row
    placements: torch.Tensor  # [R, d_s, k] Q_r: where relation r's code lives in the subject space
    gate: float  # B: gate threshold; closed gates stay shut while |<Q_{r'} eps_j, e_s>| <= B
    code_kind: str = SIGN  # SIGN or GAUSSIAN, for labels

    def __post_init__(self) -> None:
        if self.kind not in (BLOCK, DENSE):
            raise ValueError(f"kind must be {BLOCK!r} or {DENSE!r}, got {self.kind!r}")
        if self.codes.ndim != 2 or self.placements.ndim != 3 or self.codes.shape[1] != self.placements.shape[2]:
            raise ValueError(
                f"codes [N, k] and placements [R, d_s, k] must agree on k; "
                f"got {tuple(self.codes.shape)} and {tuple(self.placements.shape)}"
            )
        if not (math.isfinite(self.gate) and self.gate > 0):
            raise ValueError(f"gate (B) must be a finite number > 0, got {self.gate}")

    @property
    def N(self) -> int:
        return self.codes.shape[0]

    @property
    def R(self) -> int:
        return self.placements.shape[0]

    @property
    def k(self) -> int:
        return self.codes.shape[1]

    @property
    def d_subject(self) -> int:
        return self.placements.shape[1]

    @property
    def d_model(self) -> int:
        """d = d_s + R + k (block: R k + R + k)."""
        return self.d_subject + self.R + self.k

    @property
    def d_mlp(self) -> int:
        """m = 2 R k: one ReLU pair per (relation, code coordinate)."""
        return theory.gated_width(self.R, self.k)

    @property
    def dtype(self) -> torch.dtype:
        return self.codes.dtype

    def describe(self) -> str:
        return (
            f"{self.kind} construction, {self.code_kind} codes: N={self.N}, R={self.R}, k={self.k}, "
            f"d={self.d_model}, m={self.d_mlp}, B={self.gate:.3g}"
        )


def model_bytes(N: int, R: int, d: int, m: int, dtype: torch.dtype = torch.float64) -> int:
    """Bytes of a built model: its parameters in ``dtype`` plus the float32 initialisation they replace."""
    n = theory.param_count(d, m, d_vocab=N + R, d_vocab_out=N, n_ctx=2)  # W_E, W_pos, attention, MLP, W_U
    return n * (torch.finfo(dtype).bits // 8) + n * 4


def _check_build_fits(N: int, R: int, d: int, m: int, dtype: torch.dtype, max_bytes: int) -> None:
    need = model_bytes(N, R, d, m, dtype)
    if need > max_bytes:
        raise ValueError(
            f"N={N}, R={R} needs d={d}, m={m}: the model alone takes {need / 2**30:.2f} GiB in {dtype}, "
            f"above max_bytes={max_bytes / 2**30:.2f} GiB; lower N (n_subjects) or R, or raise max_bytes"
        )


def block_recipe(
    N: int,
    R: int,
    *,
    k: int | None = None,
    codes: str = SIGN,
    d_model: int | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Recipe:
    """The exact block construction: d = R k + R + k, m = 2 R k, k = ceil(log2 N) by default.

    Sign codes (default) need N <= 2^k; B = 1/sqrt(k); 100% accuracy with margin >= 2/k. ``codes="gaussian"``
    uses unit Gaussian codes (seeded), exact as long as the codes are distinct in argmax. A ``d_model`` above
    R k + R + k pads the subject space with unused coordinates; below it is an error (use :func:`dense_recipe`).
    """
    check_int("N (n_subjects)", N, 2)
    check_int("R (n_relations)", R, 1)
    k = theory.code_length(N) if k is None else check_int("k (code length)", k, 1, _MAX_CODE_LENGTH)
    need = theory.gated_dimension(R, k)
    d_model = need if d_model is None else check_int("d_model (d)", d_model, 1)
    if d_model < need:
        raise ValueError(
            f"d_model (d) = {d_model} is below what the block construction needs: d = R*k + R + k = {need} "
            f"(R={R}, k={k}); the dense placement works at smaller d, with cross-talk"
        )
    _check_build_fits(N, R, d_model, theory.gated_width(R, k), dtype, max_bytes)
    if codes == SIGN:
        u = sign_codes(N, k, dtype=torch.float64)
        gate = 1.0 / math.sqrt(k)  # = max |u_a[j]|, exactly the read of any closed block
    elif codes == GAUSSIAN:
        u = gaussian_codes(N, k, seed=seed)
        gate = float(u.abs().max())
    else:
        raise ValueError(f"codes must be {SIGN!r} or {GAUSSIAN!r}, got {codes!r}")
    Q = block_placements(R, k, d_subject=d_model - R - k, dtype=dtype)
    return Recipe(kind=BLOCK, codes=u.to(dtype), placements=Q, gate=gate, code_kind=codes)


def dense_recipe(
    N: int,
    R: int,
    *,
    d_model: int,
    k: int | None = None,
    codes: str = GAUSSIAN,
    gate: float | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Recipe:
    """Dense random placement: Q_r ~ N(0, 1/d_s) in d_s = d_model - R - k subject dimensions.

    Defaults: unit Gaussian codes of length k = 2 ceil(log2 N) (k of order log N with room for a margin;
    ``codes="sign"`` uses k = ceil(log2 N)); B = :func:`safe_gate` (bijection-independent, so every closed
    gate is shut whatever the bijections). Accuracy rises with d_s as the cross-talk, variance ~ R/d_s, falls.
    """
    check_int("N (n_subjects)", N, 2)
    check_int("R (n_relations)", R, 1)
    if codes not in (SIGN, GAUSSIAN):
        raise ValueError(f"codes must be {SIGN!r} or {GAUSSIAN!r}, got {codes!r}")
    if k is None:
        k = theory.code_length(N) * (2 if codes == GAUSSIAN else 1)
    check_int("k (code length)", k, 1, _MAX_CODE_LENGTH)
    check_int("d_model (d)", d_model, 1)
    d_s = d_model - R - k
    if d_s < 1:
        raise ValueError(
            f"d_model (d) = {d_model} is too small for the dense construction: it needs d >= R + k + 1 = {R + k + 1} "
            f"(R={R} gates, k={k} output coordinates)"
        )
    _check_build_fits(N, R, d_model, theory.gated_width(R, k), dtype, max_bytes)
    u = sign_codes(N, k) if codes == SIGN else gaussian_codes(N, k, seed=seed)
    Q = dense_placements(R, d_s, k, seed=seed)
    B = safe_gate(u, Q) if gate is None else float(gate)
    return Recipe(kind=DENSE, codes=u.to(dtype), placements=Q.to(dtype), gate=B, code_kind=codes)


# --- building ------------------------------------------------------------------------------------------


def subject_embeddings(recipe: Recipe, perms: torch.Tensor) -> torch.Tensor:
    """e_s = sum_r Q_r u_{pi_r(s)}, [N, d_s]: the only part of a construction that depends on the bijections."""
    perms = check_permutations("perms", torch.as_tensor(perms), recipe.N, recipe.R)
    k = recipe.k
    E = torch.zeros(recipe.N, recipe.d_subject, dtype=recipe.dtype)  # [N, d_s]
    for r in range(recipe.R):
        u_r = recipe.codes[perms[r]]  # [N, k]: u_{pi_r(s)}
        if recipe.kind == BLOCK:
            E[:, r * k : (r + 1) * k] += u_r  # Q_r is the isometry onto block r: place, no arithmetic
        else:
            E += u_r @ recipe.placements[r].T  # [N, d_s]
    return E


def build(recipe: Recipe, perms: torch.Tensor) -> Transformer:
    """A ``models.Transformer`` (n_heads = 1, d_head = d, n_ctx = 2) in ``recipe.dtype`` whose forward pass
    answers fact (s, r) with pi_r(s) = perms[r, s]. Every parameter is set; only ``W_E[:N]`` uses ``perms``.
    """
    N, R, k, d_s = recipe.N, recipe.R, recipe.k, recipe.d_subject
    d, m, B, dt = recipe.d_model, recipe.d_mlp, recipe.gate, recipe.dtype
    gates = torch.arange(d_s, d_s + R)  # gate coordinate of relation r
    out = torch.arange(d_s + R, d)  # output block O
    cfg = ModelConfig(d_vocab=N + R, d_vocab_out=N, n_ctx=2, d_model=d, n_heads=1, d_mlp=m)
    model = Transformer(cfg).to(dt)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.W_E[:N, :d_s] = subject_embeddings(recipe, perms)  # e_s
        model.embed.W_E[N + torch.arange(R), gates] = 1.0  # v_r
        # attention: W_Q = W_K = 0 -> weights 1/2 on [s, r]; W_V W_O = 2 Pi_S copies e_s into the last position
        attn = model.blocks[0].attn
        attn.W_V[0, torch.arange(d_s), torch.arange(d_s)] = 1.0  # Pi_S
        attn.W_O[0] = 2.0 * torch.eye(d, dtype=dt)
        mlp = model.blocks[0].mlp
        for r in range(R):
            plus = slice(r * 2 * k, r * 2 * k + k)  # units h^+_{r, 0..k-1}
            minus = slice(r * 2 * k + k, (r + 1) * 2 * k)  # units h^-_{r, 0..k-1}
            mlp.W_in[:d_s, plus] = recipe.placements[r]  # <Q_r eps_j, x>
            mlp.W_in[:d_s, minus] = -recipe.placements[r]
            mlp.W_in[gates[r], r * 2 * k : (r + 1) * 2 * k] = B  # + B <v_r, x>
            mlp.W_out[plus, out] = torch.eye(k, dtype=dt)  # h^+ - h^- -> P_O eps_j
            mlp.W_out[minus, out] = -torch.eye(k, dtype=dt)
        mlp.b_in.fill_(-B)
        model.unembed.W_U[out] = recipe.codes.T  # W_U[:, a] = P_O u_a
    model.eval()
    return model


def _perms_of(task) -> torch.Tensor:
    if isinstance(task, BijectionTask):
        return task.perms
    return check_permutations("task perms", torch.as_tensor(task))


def build_block(
    task,
    *,
    k: int | None = None,
    codes: str = SIGN,
    d_model: int | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Transformer:
    """The exact block construction for ``task`` (a ``BijectionTask`` or a perms tensor [R, N]) [recon].

    d = R k + R + k (R subject blocks, R gates, k output coordinates; attention needs none), m = 2 R k,
    k = ceil(log2 N), B = 1/sqrt(k). 100% accuracy with min margin 2/k.

    >>> from georecall.tasks import bijection as tasks
    >>> model = build_block(tasks.make_task(300, 5, seed=0))
    >>> model.config.d_model, model.config.d_mlp
    (59, 90)
    """
    perms = _perms_of(task)
    recipe = block_recipe(
        perms.shape[1], perms.shape[0], k=k, codes=codes, d_model=d_model, seed=seed, dtype=dtype, max_bytes=max_bytes
    )
    return build(recipe, perms)


def build_dense(
    task,
    *,
    d_model: int,
    k: int | None = None,
    codes: str = GAUSSIAN,
    gate: float | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Transformer:
    """The dense random-placement construction for ``task`` [recon]; see :func:`dense_recipe`."""
    perms = _perms_of(task)
    recipe = dense_recipe(
        perms.shape[1],
        perms.shape[0],
        d_model=d_model,
        k=k,
        codes=codes,
        gate=gate,
        seed=seed,
        dtype=dtype,
        max_bytes=max_bytes,
    )
    return build(recipe, perms)
