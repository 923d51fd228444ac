"""Hand-built weights: one-layer transformers that answer every fact of a bijection task [recon].

A construction is a :class:`Recipe`, everything that does *not* depend on the bijections (attribute codes
u_a, placements Q_r, gate threshold B), plus the bijections themselves, which enter only through the
subject rows of ``W_E``. :func:`build` turns (recipe, perms) into an ordinary ``models.Transformer`` whose
forward pass does the recall (science.md §4.2):

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
any d_s, cross-talk noise; science.md §4.3). Unit index of the MLP: unit r*2k + j is h^+_{rj}, unit
r*2k + k + j is h^-_{rj}, so the 2k units of relation r are contiguous.

Evaluation (:func:`evaluate_recall`) runs the facts through ``model(tokens, last_only=True)`` in cache-sized
chunks under a memory budget, and raises ``ValueError`` before allocating when a request cannot fit. (At
inference ``models.Unembed`` skips the all-zero rows of W_U, so the readout costs k N, not d N, per fact.)
For millions of facts, ``method="fused"`` computes the same margins with ``Transformer.last_residual`` and the
tiled :class:`georecall.readout.Readout` on worker threads (every fact of N = 65,536, R = 16 in about half a
minute on 2 cores; ``benchmarks/bench_construction.py``).
The chapter's tables, the explorer's :func:`snapshot` and the committed accuracy-vs-d table
(``python -m georecall.constructions dense-table``) are built here too.
"""

from __future__ import annotations

import collections
import contextlib
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch

from . import repro
from .models import ModelConfig, Transformer
from .readout import DEFAULT_BLOCK as READOUT_BLOCK, DEFAULT_TILE as READOUT_TILE, Readout
from .tasks import BijectionTask, FactSet
from ._checks import check_int

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
    "RecallEvaluation",
    "evaluate_recall",
    "FORWARD",
    "FUSED",
    "hidden_activations",
    "gate_matrix",
    "dense_accuracy_sweep",
    "Snapshot",
    "snapshot",
    "forward_macs",
    "dense_accuracy_table",
    "superposition_parts",
    "weight_summary",
    "compare_weights",
    "exactness_table",
    "built_param_counts",
]

BLOCK, DENSE = "block", "dense"  # placement kinds
SIGN, GAUSSIAN = "sign", "gaussian"  # code kinds
DEFAULT_MAX_BYTES = 2 * 2**30  # working-memory budget of a build or an evaluation (2 GiB: safe on a CI runner)
CHUNK_LOGIT_BYTES = 8 * 2**20  # default chunk: its logits fit in cache (8 MiB); larger chunks run at DRAM speed
_MAX_CODE_LENGTH = 4096


def _min_code_length(N: int) -> int:
    """ceil(log2 N), at least 1 (same as ``theory.code_length``)."""
    return max(1, (N - 1).bit_length())


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
    k = _min_code_length(N) if k is None else check_int("k (code length)", k, 1, _MAX_CODE_LENGTH)
    if k < 63 and N > 2**k:
        raise ValueError(
            f"k (code length) = {k} gives only 2^{k} = {2**k} sign codes, fewer than N = {N}; "
            f"use k >= {_min_code_length(N)}"
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


def block_placements(R: int, k: int, *, d_subject: int | None = None,
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Q_r, [R, d_s, k]: the isometry of R^k onto block S_r = coordinates r*k .. r*k+k-1 (d_s = R*k by default;
    a larger d_s leaves the coordinates past R*k unused)."""
    check_int("R (n_relations)", R, 1)
    check_int("k (code length)", k, 1, _MAX_CODE_LENGTH)
    d_subject = R * k if d_subject is None else check_int("d_subject (d_s)", d_subject, R * k)
    Q = torch.zeros(R, d_subject, k, dtype=dtype)
    for r in range(R):
        Q[r, r * k : (r + 1) * k] = torch.eye(k, dtype=dtype)
    return Q  # [R, d_s, k]


def dense_placements(R: int, d_subject: int, k: int, *, seed: int = 0,
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
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

    For block placements this is max_a ||u_a||_inf (1/sqrt(k) for sign codes, as in science §4.2).
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
        return 2 * self.R * self.k

    @property
    def dtype(self) -> torch.dtype:
        return self.codes.dtype

    def describe(self) -> str:
        return (f"{self.kind} construction, {self.code_kind} codes: N={self.N}, R={self.R}, k={self.k}, "
                f"d={self.d_model}, m={self.d_mlp}, B={self.gate:.3g}")


def _param_count(N: int, R: int, d: int, m: int) -> int:
    """Parameters of the Transformer a recipe fills: W_E, W_pos, 4 attention d x d, MLP, W_U."""
    return (N + R) * d + 2 * d + 4 * d * d + d * m + m + m * d + d * N


def model_bytes(N: int, R: int, d: int, m: int, dtype: torch.dtype = torch.float64) -> int:
    """Bytes of a built model: its parameters in ``dtype`` plus the float32 initialisation they replace."""
    n = _param_count(N, R, d, m)
    return n * (torch.finfo(dtype).bits // 8) + n * 4


def _check_build_fits(N: int, R: int, d: int, m: int, dtype: torch.dtype, max_bytes: int) -> None:
    need = model_bytes(N, R, d, m, dtype)
    if need > max_bytes:
        raise ValueError(
            f"N={N}, R={R} needs d={d}, m={m}: the model alone takes {need / 2**30:.2f} GiB in {dtype}, "
            f"above max_bytes={max_bytes / 2**30:.2f} GiB; lower N (n_subjects) or R, or raise max_bytes"
        )


def block_recipe(N: int, R: int, *, k: int | None = None, codes: str = SIGN, d_model: int | None = None, seed: int = 0,
                 dtype: torch.dtype = torch.float64, max_bytes: int = DEFAULT_MAX_BYTES) -> Recipe:
    """The exact block construction (science §4.2): d = R k + R + k, m = 2 R k, k = ceil(log2 N) by default.

    Sign codes (default) need N <= 2^k; B = 1/sqrt(k); 100% accuracy with margin >= 2/k. ``codes="gaussian"``
    uses unit Gaussian codes (seeded), exact as long as the codes are distinct in argmax. A ``d_model`` above
    R k + R + k pads the subject space with unused coordinates; below it is an error (use :func:`dense_recipe`).
    """
    check_int("N (n_subjects)", N, 2)
    check_int("R (n_relations)", R, 1)
    k = _min_code_length(N) if k is None else check_int("k (code length)", k, 1, _MAX_CODE_LENGTH)
    need = R * k + R + k
    d_model = need if d_model is None else check_int("d_model (d)", d_model, 1)
    if d_model < need:
        raise ValueError(
            f"d_model (d) = {d_model} is below what the block construction needs: d = R*k + R + k = {need} "
            f"(R={R}, k={k}); the dense placement works at smaller d, with cross-talk"
        )
    _check_build_fits(N, R, d_model, 2 * R * k, dtype, max_bytes)
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


def dense_recipe(N: int, R: int, *, d_model: int, k: int | None = None, codes: str = GAUSSIAN,
                 gate: float | None = None, seed: int = 0, dtype: torch.dtype = torch.float64,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> Recipe:
    """Dense random placement (science §4.3): Q_r ~ N(0, 1/d_s) in d_s = d_model - R - k subject dimensions.

    Defaults: unit Gaussian codes of length k = 2 ceil(log2 N) (k of order log N with room for a margin;
    ``codes="sign"`` uses k = ceil(log2 N)); B = :func:`safe_gate` (bijection-independent, so every closed
    gate is shut whatever the bijections). Accuracy rises with d_s as the cross-talk, variance ~ R/d_s, falls.
    """
    check_int("N (n_subjects)", N, 2)
    check_int("R (n_relations)", R, 1)
    if codes not in (SIGN, GAUSSIAN):
        raise ValueError(f"codes must be {SIGN!r} or {GAUSSIAN!r}, got {codes!r}")
    if k is None:
        k = _min_code_length(N) * (2 if codes == GAUSSIAN else 1)
    check_int("k (code length)", k, 1, _MAX_CODE_LENGTH)
    check_int("d_model (d)", d_model, 1)
    d_s = d_model - R - k
    if d_s < 1:
        raise ValueError(
            f"d_model (d) = {d_model} is too small for the dense construction: it needs d >= R + k + 1 = {R + k + 1} "
            f"(R={R} gates, k={k} output coordinates)"
        )
    _check_build_fits(N, R, d_model, 2 * R * k, dtype, max_bytes)
    u = sign_codes(N, k) if codes == SIGN else gaussian_codes(N, k, seed=seed)
    Q = dense_placements(R, d_s, k, seed=seed)
    B = safe_gate(u, Q) if gate is None else float(gate)
    return Recipe(kind=DENSE, codes=u.to(dtype), placements=Q.to(dtype), gate=B, code_kind=codes)


# --- building ------------------------------------------------------------------------------------------


def subject_embeddings(recipe: Recipe, perms: torch.Tensor) -> torch.Tensor:
    """e_s = sum_r Q_r u_{pi_r(s)}, [N, d_s]: the only part of a construction that depends on the bijections."""
    perms = torch.as_tensor(perms)
    if perms.shape != (recipe.R, recipe.N):
        raise ValueError(f"perms must be [R, N] = [{recipe.R}, {recipe.N}], got {tuple(perms.shape)}")
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
    return torch.as_tensor(task)


def build_block(task, *, k: int | None = None, codes: str = SIGN, d_model: int | None = None, seed: int = 0,
                dtype: torch.dtype = torch.float64, max_bytes: int = DEFAULT_MAX_BYTES) -> Transformer:
    """The exact block construction for ``task`` (a ``BijectionTask`` or a perms tensor [R, N]) [recon, science §4.2].

    d = R k + R + k (R subject blocks, R gates, k output coordinates; attention needs none), m = 2 R k,
    k = ceil(log2 N), B = 1/sqrt(k). 100% accuracy with min margin 2/k.

    >>> from georecall import tasks
    >>> model = build_block(tasks.make_task(300, 5, seed=0))
    >>> model.config.d_model, model.config.d_mlp
    (59, 90)
    """
    perms = _perms_of(task)
    recipe = block_recipe(perms.shape[1], perms.shape[0], k=k, codes=codes, d_model=d_model, seed=seed, dtype=dtype,
                          max_bytes=max_bytes)
    return build(recipe, perms)


def build_dense(task, *, d_model: int, k: int | None = None, codes: str = GAUSSIAN, gate: float | None = None,
                seed: int = 0, dtype: torch.dtype = torch.float64, max_bytes: int = DEFAULT_MAX_BYTES) -> Transformer:
    """The dense random-placement construction for ``task`` [recon, science §4.3]; see :func:`dense_recipe`."""
    perms = _perms_of(task)
    recipe = dense_recipe(perms.shape[1], perms.shape[0], d_model=d_model, k=k, codes=codes, gate=gate, seed=seed,
                          dtype=dtype, max_bytes=max_bytes)
    return build(recipe, perms)


# --- evaluation ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecallEvaluation:
    """Accuracy and margins of a model on every evaluated fact (argmax over all N attributes)."""

    accuracy: float  # share of facts whose correct logit beats every other logit strictly
    n_facts: int
    n_correct: int
    min_margin: float  # min over facts of (correct logit - best wrong logit); > 0 iff every fact is right
    mean_margin: float
    seconds: float
    chunk_size: int  # facts per forward pass
    bytes_per_chunk: int  # estimated working memory of one chunk
    margins: torch.Tensor | None = field(default=None, repr=False)  # [n_facts] float64 when requested


def _fact_bytes(N: int, d: int, m: int, itemsize: int) -> int:
    """Working memory per fact of one forward pass (last position only) plus the margin computation:
    logits N, activations ~ 16 d + 4 m (embeddings, q/k/v at 2 positions, residuals, MLP pre/post), tokens."""
    return itemsize * (N + 16 * d + 4 * m) + 64


def _fused_fact_bytes(d: int, m: int, itemsize: int) -> int:
    """Working memory per fact of the fused method: per-token gathers and residuals ~ 8 d, MLP 2 m, no logits."""
    return itemsize * (8 * d + 2 * m) + 128


FORWARD, FUSED = "forward", "fused"  # evaluate_recall methods
FUSED_CHUNK = 2048  # facts per fused chunk (one worker's unit of work)


def _fact_batches(task, index: torch.Tensor | None, n: int, chunk_size: int):
    """(start, tokens [c, 2], target [c]) for consecutive chunks of the selected facts."""
    for start in range(0, n, chunk_size):
        i = torch.arange(start, min(start + chunk_size, n)) if index is None else index[start : start + chunk_size]
        if isinstance(task, FactSet):
            yield start, task.tokens[i], task.targets[i, -1]
        else:
            s, r = i // task.R, i % task.R
            yield start, torch.stack([s, task.N + r], dim=1), task.perms[r, s]


def _bounded_map(pool, fn, items, *, ahead: int):
    """``pool.map(fn, items)`` in order, with at most ``ahead`` items submitted and not yet consumed."""
    pending: collections.deque = collections.deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def evaluate_recall(model: Transformer, task, *, max_bytes: int = DEFAULT_MAX_BYTES, chunk_size: int | None = None,
                    return_margins: bool = False, facts: torch.Tensor | None = None, method: str = FORWARD,
                    workers: int | None = None) -> RecallEvaluation:
    """Run facts through the model in chunks and score the argmax over all N attributes.

    ``task`` is a ``BijectionTask`` (all N R facts, subject-major, generated chunk by chunk so memory stays
    bounded) or a single-hop ``FactSet``. ``facts`` optionally selects fact indices (i = s R + r).
    The margin of a fact is its correct logit minus the best wrong logit (ties count as errors).

    ``method="forward"`` (default) calls ``model(tokens, last_only=True)`` and reduces each chunk's [c, N] logits;
    the default chunk keeps those logits near ``CHUNK_LOGIT_BYTES`` (cache-sized). ``method="fused"`` computes the
    same margins for large tasks: ``model.last_residual`` (the forward pass with the attention's linear maps
    applied once per distinct token) then :class:`georecall.readout.Readout`, which reduces the logits tile by
    tile and never holds a [c, N] block, with ``workers`` threads (default: torch's thread count) each taking
    whole chunks on one torch thread. Both agree up to floating-point summation order (tested).
    A request that cannot fit in ``max_bytes`` (one fact alone above budget, or ``chunk_size`` too large)
    raises ``ValueError`` before any allocation.
    """
    cfg = model.config
    N, d, m = cfg.d_vocab_out, cfg.d_model, cfg.d_mlp
    itemsize = torch.finfo(model.dtype).bits // 8
    if method not in (FORWARD, FUSED):
        raise ValueError(f"method must be {FORWARD!r} or {FUSED!r}, got {method!r}")
    if workers is None:
        workers = torch.get_num_threads() if method == FUSED else 1
    check_int("workers", workers, 1)
    if method == FORWARD and workers != 1:
        raise ValueError(f"workers applies to method={FUSED!r}; method={FORWARD!r} uses torch's own threads")
    check_int("max_bytes", max_bytes, 1)
    if isinstance(task, FactSet):
        if task.seq_len != 2 or not task.last_position_only:
            raise ValueError("evaluate_recall scores single-hop [s, r] fact sets; got another format")
        model.config.check_fits(task.d_vocab, task.d_vocab_out, task.seq_len)
        n_total = len(task)
    elif isinstance(task, BijectionTask):
        if task.N != N or task.config.d_vocab > cfg.d_vocab:
            raise ValueError(
                f"task has N={task.N}, R={task.R} but the model has d_vocab_out={N}, d_vocab={cfg.d_vocab}"
            )
        n_total = task.N * task.R
    else:
        raise ValueError(f"task must be a BijectionTask or a FactSet, got {type(task).__name__}")
    index = None if facts is None else torch.as_tensor(facts, dtype=torch.int64)
    n = n_total if index is None else index.numel()
    if index is not None and n and (int(index.min()) < 0 or int(index.max()) >= n_total):
        raise ValueError(f"facts must index [0, {n_total - 1}]")

    if method == FORWARD:
        per_fact, fixed, default_chunk = _fact_bytes(N, d, m, itemsize), 0, CHUNK_LOGIT_BYTES // (N * itemsize)
    else:  # fixed: a logit piece per worker, plus (at most) W_U's copy and its non-zero mask
        per_fact, default_chunk = _fused_fact_bytes(d, m, itemsize), FUSED_CHUNK
        fixed = min(READOUT_TILE, N) * READOUT_BLOCK * itemsize + N * d * (itemsize + 1)
    budget = max_bytes // workers - fixed  # each worker holds one chunk at a time
    if per_fact > budget:
        raise ValueError(
            f"one fact needs ~{per_fact + fixed} bytes per worker (N={N} attributes, d={d}, m={m}, {model.dtype}, "
            f"method={method!r}, workers={workers}), above max_bytes={max_bytes}"
        )
    fit = max(1, budget // per_fact)
    if chunk_size is None:
        chunk_size = max(1, min(fit, max(n, 1), default_chunk))
    else:
        check_int("chunk_size", chunk_size, 1)
        if chunk_size > fit:
            raise ValueError(
                f"chunk_size={chunk_size} needs ~{(chunk_size * per_fact + fixed) * workers / 2**30:.2f} GiB, above "
                f"max_bytes={max_bytes / 2**30:.2f} GiB; use chunk_size <= {fit}"
            )

    readout = Readout.of(model.W_U, tile=READOUT_TILE, block=READOUT_BLOCK) if method == FUSED else None

    def chunk_margins(batch) -> tuple[int, torch.Tensor]:
        start, tokens, target = batch
        tokens, target = tokens.to(model.device), target.to(model.device)
        if readout is not None:
            return start, readout.margins(model.last_residual(tokens), target).cpu()
        logits = model(tokens, last_only=True)[:, 0]  # [c, N]
        right = logits.gather(1, target[:, None])[:, 0]  # [c]
        logits.scatter_(1, target[:, None], -math.inf)  # in place: no second [c, N] buffer
        return start, (right - logits.amax(dim=1)).double().cpu()  # [c]

    margins = torch.empty(n, dtype=torch.float64) if return_margins else None
    n_correct, min_margin, sum_margin = 0, math.inf, 0.0
    t0 = time.perf_counter()
    batches = _fact_batches(task, index, n, chunk_size)
    with torch.no_grad(), contextlib.ExitStack() as stack:
        if workers > 1:
            stack.enter_context(repro.torch_threads(1))  # parallel over chunks, not inside each small product
            pool = stack.enter_context(ThreadPoolExecutor(workers, thread_name_prefix="evaluate_recall"))
            results = _bounded_map(pool, chunk_margins, batches, ahead=2 * workers)
        else:
            results = map(chunk_margins, batches)
        for start, margin in results:
            n_correct += int((margin > 0).sum())
            min_margin = min(min_margin, float(margin.min()))
            sum_margin += float(margin.sum())
            if margins is not None:
                margins[start : start + len(margin)] = margin
    return RecallEvaluation(
        accuracy=n_correct / max(n, 1), n_facts=n, n_correct=n_correct, min_margin=min_margin,
        mean_margin=sum_margin / max(n, 1), seconds=time.perf_counter() - t0, chunk_size=chunk_size,
        bytes_per_chunk=chunk_size * per_fact + fixed, margins=margins,
    )


# --- looking inside ------------------------------------------------------------------------------------


def hidden_activations(model: Transformer, task: BijectionTask, subjects) -> torch.Tensor:
    """Post-ReLU MLP activations at the query position for every relation, [n_subjects, R, m]."""
    subjects = torch.as_tensor(subjects, dtype=torch.int64).reshape(-1)
    R = task.R
    s = subjects.repeat_interleave(R)
    r = torch.arange(R).repeat(len(subjects))
    tokens = torch.stack([s, task.N + r], dim=1)  # [n*R, 2]
    _, cache = model.run_with_cache(tokens, ["blocks.0.mlp.hook_post"], last_only=True)
    return cache["blocks.0.mlp.hook_post"][:, 0].reshape(len(subjects), R, -1)  # [n, R, m]


def gate_matrix(model: Transformer, task: BijectionTask, subjects) -> torch.Tensor:
    """Mean activation of relation r''s units (the 2k units r'*2k .. r'*2k+2k-1) when the query is relation r,
    [R (query), R (unit block)]. For a gated selector only the diagonal is non-zero."""
    acts = hidden_activations(model, task, subjects)  # [n, R, m]
    R = task.R
    blocks = acts.reshape(acts.shape[0], R, R, -1)  # [n, r_query, r_unit, 2k]
    return blocks.abs().mean(dim=(0, 3))  # [R, R]


def dense_accuracy_sweep(N: int, R: int, d_values, *, k: int | None = None, codes: str = GAUSSIAN, task_seed: int = 0,
                         seed: int = 0, max_facts: int | None = 8192, dtype: torch.dtype = torch.float32) -> list[dict]:
    """Accuracy of the dense construction against d for one task; one row per d (tidy records).

    When N R > ``max_facts``, a seeded uniform subset of ``max_facts`` facts is scored (the same subset for
    every d). Rows: N, R, k, d_model, d_subject, accuracy, min_margin, n_facts, gate.
    """
    from .tasks import make_task

    task = make_task(N, R, seed=task_seed)
    n_total = N * R
    facts = None
    if max_facts is not None and n_total > max_facts:
        g = repro.generator(seed, "probe")
        facts = torch.randperm(n_total, generator=g)[:max_facts].sort().values
    rows = []
    for d in d_values:
        recipe = dense_recipe(N, R, d_model=int(d), k=k, codes=codes, seed=seed, dtype=dtype)
        ev = evaluate_recall(build(recipe, task.perms), task, facts=facts)
        rows.append(dict(N=N, R=R, k=recipe.k, d_model=recipe.d_model, d_subject=recipe.d_subject,
                         accuracy=ev.accuracy, min_margin=ev.min_margin, n_facts=ev.n_facts, gate=recipe.gate))
    return rows


# --- explorer snapshot ---------------------------------------------------------------------------------

MARGIN_RANGE = 2.0  # margins are histogrammed on [-2, 2] (clipped)


def margin_edges(k: int) -> tuple[float, ...]:
    """Histogram edges for margins of a construction with code length k: bins of width w = 1/(2k) centred on the
    multiples of w, so the exact block-construction margin 2/k = 4w is a bin centre, never an edge (float round-off
    then cannot split the facts that all sit at 2/k over two bars). Covers [-2, 2] (about 8k bins).

    >>> margin_edges(10)[40:43]  # width 0.05: 0 and 0.05 are bin centres
    (-0.025, 0.025, 0.075)
    """
    check_int("k", k, 1)
    w = 1.0 / (2 * k)
    n = int(math.ceil(MARGIN_RANGE / w))
    return tuple(round((j + 0.5) * w, 12) for j in range(-n - 1, n + 1))


@dataclass(frozen=True)
class Snapshot:
    """One state of the construction explorer: the recipe, its accuracy, the gate picture and the margins."""

    recipe: Recipe
    evaluation: RecallEvaluation
    subject: int  # the subject whose hidden activations are shown
    activations: torch.Tensor  # [R, m] post-ReLU MLP units at the query position, query relation by row
    margin_counts: list[int]  # facts per margin bin (margins clipped to [-2, 2]; bins from margin_edges(k))
    margin_edges: tuple[float, ...]  # len(margin_counts) + 1 bin edges
    sampled: bool  # True when a uniform subset of the facts was scored


EXPLORER_MACS = 1e9  # multiply-adds one explorer redraw may spend on scoring facts (~0.1 s on one CI core)
EXPLORER_MIN_FACTS = 512  # never score fewer facts than this (standard error of an accuracy <= 2.2 points)


def forward_macs(N: int, d: int, m: int, k: int) -> int:
    """Multiply-adds of one fact's forward pass at the last position: attention 6 d^2 (q, o at one position, k, v
    at two), MLP 2 d m, and the readout k N (the zero rows of W_U are skipped at inference)."""
    return 6 * d * d + 2 * d * m + k * N


def snapshot(N: int, R: int, *, placement: str = BLOCK, d_model: int | None = None, k: int | None = None,
             codes: str | None = None, subject: int = 0, task_seed: int = 0, seed: int = 0,
             max_facts: int | None = None, dtype: torch.dtype = torch.float32) -> Snapshot:
    """Build a construction for ``make_task(N, R, task_seed)``, score facts through the model and record the
    hidden activations of ``subject`` under every relation.

    All N R facts are scored when that costs at most ``EXPLORER_MACS`` multiply-adds (:func:`forward_macs`),
    else a seeded uniform sample (at least ``EXPLORER_MIN_FACTS``); ``max_facts`` overrides the budget. Bad
    combinations (d below what the construction needs, N > 2^k for sign codes) raise ``ValueError`` with the
    reason, before any heavy work."""
    from .tasks import make_task

    check_int("N (n_subjects)", N, 2)
    check_int("R (n_relations)", R, 1)
    if max_facts is not None:
        check_int("max_facts", max_facts, 1)
    if placement == BLOCK:
        recipe = block_recipe(N, R, k=k, codes=codes or SIGN, d_model=d_model, seed=seed, dtype=dtype)
    elif placement == DENSE:
        if d_model is None:
            raise ValueError("d_model (d) is required for the dense placement")
        recipe = dense_recipe(N, R, d_model=d_model, k=k, codes=codes or GAUSSIAN, seed=seed, dtype=dtype)
    else:
        raise ValueError(f"placement must be {BLOCK!r} or {DENSE!r}, got {placement!r}")
    if not 0 <= subject < N:
        raise ValueError(f"subject must be in [0, {N - 1}], got {subject}")
    task = make_task(N, R, seed=task_seed)
    model = build(recipe, task.perms)
    if max_facts is None:
        cost = forward_macs(N, recipe.d_model, recipe.d_mlp, recipe.k)
        max_facts = max(EXPLORER_MIN_FACTS, int(EXPLORER_MACS // cost))
    facts = None
    if N * R > max_facts:
        g = repro.generator(seed, "probe")
        facts = torch.randperm(N * R, generator=g)[:max_facts].sort().values
    ev = evaluate_recall(model, task, facts=facts, return_margins=True)
    bin_edges = margin_edges(recipe.k)
    edges = torch.tensor(bin_edges, dtype=torch.float64)
    clipped = ev.margins.double().clamp(edges[0], edges[-1])
    counts = torch.histc(clipped, bins=len(edges) - 1, min=float(edges[0]), max=float(edges[-1]))
    acts = hidden_activations(model, task, [subject])[0]  # [R, m]
    return Snapshot(recipe=recipe, evaluation=ev, subject=subject, activations=acts.double(),
                    margin_counts=[int(c) for c in counts], margin_edges=bin_edges, sampled=facts is not None)


# --- the committed accuracy-vs-d table -------------------------------------------------------------------

DENSE_TABLE_NS = (256, 1024, 4096)
DENSE_TABLE_RS = (2, 4, 8, 16)
DENSE_TABLE_DS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536)
DENSE_TABLE_MAX_FACTS = 4096  # facts scored per point (a seeded uniform sample when N*R is larger)
DENSE_TABLE_PATH = "book/_data/dense_accuracy.csv"


def dense_accuracy_table(Ns=DENSE_TABLE_NS, Rs=DENSE_TABLE_RS, d_values=DENSE_TABLE_DS, *,
                         max_facts: int = DENSE_TABLE_MAX_FACTS, seed: int = 0, saturate: float = 0.999):
    """Tidy DataFrame of the dense construction's accuracy against d over an (N, R) grid (Gaussian codes,
    k = 2 ceil(log2 N), safe gate, float32, task seed 0). Each (N, R) row set starts at the first d of
    ``d_values`` above R + k and stops after the first d whose accuracy reaches ``saturate``.

    This is the table behind the chapter's accuracy-vs-d figure; regenerate it with
    ``python -m georecall.constructions dense-table`` (writes ``book/_data/dense_accuracy.csv``).
    """
    import pandas as pd

    rows = []
    for N in Ns:
        for R in Rs:
            k = 2 * _min_code_length(N)
            for d in [d for d in d_values if d > R + k]:
                row = dense_accuracy_sweep(N, R, [d], seed=seed, max_facts=max_facts, dtype=torch.float32)[0]
                rows.append(row)
                if row["accuracy"] >= saturate:
                    break
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m georecall.constructions dense-table [--out PATH]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m georecall.constructions", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    table = sub.add_parser("dense-table", help="recompute the dense accuracy-vs-d table (CSV)")
    table.add_argument("--out", default=DENSE_TABLE_PATH)
    args = parser.parse_args(argv)
    if args.command == "dense-table":
        t0 = time.perf_counter()
        df = dense_accuracy_table()
        df.to_csv(args.out, index=False, float_format="%.6g")
        print(f"wrote {len(df)} rows to {args.out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# --- small tables for the chapter ----------------------------------------------------------------------


def superposition_parts(recipe: Recipe, perms: torch.Tensor, subject: int) -> torch.Tensor:
    """The R terms of e_s = sum_r Q_r u_{pi_r(s)}, one row per relation, [R, d_s]."""
    perms = torch.as_tensor(perms)
    if not 0 <= subject < recipe.N:
        raise ValueError(f"subject must be in [0, {recipe.N - 1}], got {subject}")
    u = recipe.codes[perms[:, subject]]  # [R, k]: u_{pi_r(s)}
    return torch.einsum("rdk,rk->rd", recipe.placements, u)  # [R, d_s]


def weight_summary(model: Transformer):
    """One row per parameter tensor of a model: shape, non-zero entries, and what it holds in a construction."""
    import pandas as pd

    role = {
        "embed.W_E": "subject rows e_s (the facts) + relation rows v_r (gates)",
        "pos_embed.W_pos": "zero: the construction needs no positions",
        "blocks.0.attn.W_Q": "zero: uniform attention over [s, r]",
        "blocks.0.attn.W_K": "zero: uniform attention over [s, r]",
        "blocks.0.attn.W_V": "Π_S, projection onto the subject space",
        "blocks.0.attn.W_O": "2·I (so W_V W_O = 2 Π_S)",
        "blocks.0.mlp.W_in": "± Q_r ε_j on the subject space, B on gate r",
        "blocks.0.mlp.b_in": "−B",
        "blocks.0.mlp.W_out": "h⁺ − h⁻ → P_O ε_j",
        "unembed.W_U": "P_O u_a: the codes, on the output block",
    }
    rows = []
    for name, p in model.named_parameters():
        rows.append(dict(parameter=name, shape=" × ".join(map(str, p.shape)), entries=p.numel(),
                         nonzero=int(torch.count_nonzero(p.detach())), holds=role.get(name, "")))
    return pd.DataFrame(rows).set_index("parameter")


def compare_weights(a: Transformer, b: Transformer, n_subjects: int):
    """Per parameter block, whether two models are bitwise identical; W_E is split into subject and relation rows."""
    import pandas as pd

    pa = {n: p.detach() for n, p in a.named_parameters()}
    pb = {n: p.detach() for n, p in b.named_parameters()}
    rows = []
    for name in pa:
        pieces = [(name, pa[name], pb[name])]
        if name == "embed.W_E":
            N = n_subjects
            pieces = [("embed.W_E[subjects]", pa[name][:N], pb[name][:N]),
                      ("embed.W_E[relations]", pa[name][N:], pb[name][N:])]
        for label, x, y in pieces:
            diff = (x - y).abs()
            rows.append(dict(parameter=label, identical=bool(torch.equal(x, y)), max_abs_difference=float(diff.max()),
                             entries_that_differ=int(torch.count_nonzero(diff))))
    return pd.DataFrame(rows).set_index("parameter")


def exactness_table(sizes, *, seed: int = 0, dtype: torch.dtype = torch.float64, method: str = FORWARD):
    """Build the block construction for each (N, R) in ``sizes`` and score every fact through the model
    (``evaluate_recall`` with ``method``; ``"fused"`` for N R in the millions).

    Columns: N, R, k, d, m, facts, accuracy, min_margin, two_over_k, seconds (build + evaluation).
    """
    import pandas as pd

    from .tasks import make_task

    rows = []
    for N, R in sizes:
        t0 = time.perf_counter()
        task = make_task(N, R, seed=seed)
        model = build_block(task, dtype=dtype)
        ev = evaluate_recall(model, task, method=method)
        k = _min_code_length(N)
        rows.append(dict(N=N, R=R, k=k, d=model.config.d_model, m=model.config.d_mlp, facts=ev.n_facts,
                         accuracy=ev.accuracy, min_margin=ev.min_margin, two_over_k=2 / k,
                         seconds=time.perf_counter() - t0))
    return pd.DataFrame(rows)


def built_param_counts(Ns, R: int):
    """Parameters counted in built block constructions (``Transformer.n_params``) for each N at fixed R.

    Columns: N, R, d, nonembedding_params (attention + MLP), subject_table (N d).
    """
    import pandas as pd

    from .tasks import make_task

    rows = []
    for N in Ns:
        model = build_block(make_task(int(N), R, seed=0), dtype=torch.float32)
        d = model.config.d_model
        rows.append(dict(N=int(N), R=R, d=d, nonembedding_params=model.n_params(include_embeddings=False),
                         subject_table=int(N) * d))
    return pd.DataFrame(rows)
