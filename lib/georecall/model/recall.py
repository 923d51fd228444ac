"""Recall of any model on a fact set: accuracy and margins under a memory budget, and a look inside.

For a fact (s, r) with answer a* = pi_r(s), the model's margin is its correct logit minus its best wrong logit,

    margin(s, r) = logit_{a*}(s, r) - max_{a != a*} logit_a(s, r),        (> 0 iff the argmax is a*, no tie)

and :func:`evaluate_recall` reports the share of facts with a positive margin (accuracy), the minimum and the
mean margin. Facts run through the model in cache-sized chunks; a request that cannot fit ``max_bytes`` raises
``ValueError`` before allocating. Two methods compute the same margins (to floating-point summation order):

- ``"forward"``: ``model.resid_post(tokens, last_only=True)``, then the unembedding restricted to the rows of
  W_U that are not all zero (:func:`readout_support`: hand-built constructions read out from k of d coordinates,
  so the readout costs k N, not d N, per fact), then the [c, N] logits of a chunk are reduced;
- ``"fused"``, for millions of facts: :func:`last_residual` (the attention's linear maps applied once per
  distinct token) and the tiled :class:`Readout`, which never holds a [c, N] block, on worker threads (every
  fact of N = 65,536, R = 16 in about half a minute on 2 cores; ``benchmarks/bench_construction.py``).

:func:`hidden_activations` and :func:`gate_matrix` read the MLP units at the query position.
"""

from __future__ import annotations

import collections
import contextlib
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch

from .. import repro
from .._checks import MAX_WORKERS, ArgumentTypeError, check_bool, check_budget, check_int
from ..tasks.bijection import BijectionTask, FactSet
from .compat import check_model, check_model_task
from .transformer import Transformer

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FORWARD",
    "FUSED",
    "RecallEvaluation",
    "evaluate_recall",
    "readout_support",
    "Readout",
    "last_residual",
    "hidden_activations",
    "gate_matrix",
]

DEFAULT_MAX_BYTES = 2 * 2**30  # working-memory budget of a build or an evaluation (2 GiB: safe on a CI runner)
CHUNK_LOGIT_BYTES = 8 * 2**20  # default chunk: its logits fit in cache (8 MiB); larger chunks run at DRAM speed
READOUT_TILE = 4096  # attributes per piece of logits in the tiled readout
READOUT_BLOCK = 256  # facts per piece: a [4096, 256] float32 piece is 4 MiB


# --- the readout ---------------------------------------------------------------------------------------------


def readout_support(W_U: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices of the rows of W_U [d, V] that are not all zero, W_U[rows]^T as a contiguous [V, kept] matrix).

    logits = x W_U = x[rows] W_U[rows] exactly for finite x: hand-built constructions read out from k of d
    coordinates, so the readout costs k V instead of d V per query. [V, kept] is nn.Linear's layout, which BLAS
    streams without repacking.
    """
    W_U = W_U.detach()
    rows = (W_U != 0).any(dim=1).nonzero()[:, 0]
    return rows, W_U[rows].T.contiguous()


def _last_logits(model: Transformer, tokens: torch.Tensor, support) -> torch.Tensor:
    """Logits [c, V] at the last position: resid_post, then W_U restricted to its non-zero rows (when some row
    is all zero; else the dense product)."""
    resid = model.resid_post(tokens, last_only=True)  # [c, 1, d]
    rows, W_rows_T = support
    if len(rows) == resid.shape[-1]:
        return (resid @ model.W_U)[:, 0]
    return torch.nn.functional.linear(resid[..., rows], W_rows_T)[:, 0]  # [c, V]


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no single truth value
class Readout:
    """W_U restricted to its non-zero rows, laid out for the tiled margin computation. Build with :meth:`of`.

    :meth:`margins` computes margin(x, a*) = <W_U[:, a*], x> - max_{a != a*} <W_U[:, a], x> for residuals x
    without holding the [B, V] logits at once: the attributes are taken in tiles of ``tile`` columns and the
    facts in blocks of ``block``, each [tile, block] piece of logits is one matrix product, the correct
    attribute's entry is set to -inf in place, and a running maximum keeps the best wrong logit. The numbers
    equal those of ``logits = x @ W_U`` up to floating-point summation order.
    """

    rows: torch.Tensor  # [k'] indices of the residual coordinates W_U reads
    W: torch.Tensor  # [V, k'] = W_U[rows].T, contiguous: attribute a's readout vector is W[a]
    tile: int = READOUT_TILE
    block: int = READOUT_BLOCK

    @classmethod
    def of(cls, W_U: torch.Tensor, *, tile: int = READOUT_TILE, block: int = READOUT_BLOCK) -> "Readout":
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
        """margin(x_i, target_i) for every row of ``resid`` [B, d], as float64 [B] (see the class docstring)."""
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


@torch.no_grad()
def last_residual(model: Transformer, tokens: torch.Tensor) -> torch.Tensor:
    """resid_post at the last position, [B, d]: the same function as ``model.resid_post(tokens, last_only=True)``,
    computed through per-token tables (inference only; no hooks fire).

    A one-layer model sees token t at position p only through x = W_E[t] + W_pos[p], so every linear map of
    the attention can be applied once per distinct (position, token) pair of the batch instead of once per
    sequence (the QK and OV circuits, tabulated):

        q_h = x_last W_Q[h],   k_{h,p} = x_p W_K[h],   ov_{h,p} = x_p W_V[h] W_O[h]         (tables)
        attn_out = sum_h sum_p softmax_p(q_h . k_{h,p} / sqrt(d_head)) ov_{h,p}           (per sequence)
        resid_mid = x_last + attn_out,   resid_post = resid_mid + MLP(resid_mid)

    Only the gathers, the T-way softmax and the MLP run per sequence. The result equals the hooked forward
    pass up to floating-point reassociation (tested).
    """
    if tokens.ndim != 2 or not 1 <= tokens.shape[1] <= model.config.n_ctx:
        raise ValueError(f"tokens must be [B, T] with 1 <= T <= n_ctx={model.config.n_ctx}, got {tuple(tokens.shape)}")
    T = tokens.shape[1]
    block = model.one_layer("last_residual (the fused recall method)")  # the tables hold for one layer only
    attn, mlp = block.attn, block.mlp
    per_position = []  # per position: (where [B], x [U, d], k [U, H, dh], ov [U, H, d]) over its distinct tokens
    for p in range(T):
        distinct, where = torch.unique(tokens[:, p], return_inverse=True)  # [U], [B]
        x = model.embed.W_E[distinct] + model.pos_embed.W_pos[p]  # [U, d]
        k = torch.einsum("ud,hde->uhe", x, attn.W_K)  # [U, H, dh]
        ov = torch.einsum("ud,hde,hef->uhf", x, attn.W_V, attn.W_O)  # [U, H, d]
        per_position.append((where, x, k, ov))
    where, x, _, _ = per_position[-1]
    q = torch.einsum("ud,hde->uhe", x, attn.W_Q)[where]  # [B, H, dh]
    scores = torch.stack([(q * k[w]).sum(-1) for w, _, k, _ in per_position], dim=-1)  # [B, H, T]
    pattern = (scores * attn.scale).softmax(dim=-1)  # [B, H, T]
    resid_mid = x[where]  # [B, d]: the skip connection at the last position
    for p, (w, _, _, ov) in enumerate(per_position):
        resid_mid += (pattern[..., p, None] * ov[w]).sum(1)  # attention read from position p
    post = torch.addmm(mlp.b_in, resid_mid, mlp.W_in).relu_()  # [B, m]
    return torch.addmm(resid_mid, post, mlp.W_out)  # [B, d]


# --- evaluation ----------------------------------------------------------------------------------------------


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


def evaluate_recall(
    model: Transformer,
    task,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    chunk_size: int | None = None,
    return_margins: bool = False,
    facts: torch.Tensor | None = None,
    method: str = FORWARD,
    workers: int | None = None,
) -> RecallEvaluation:
    """Run facts through the model in chunks and score the argmax over all N attributes.

    ``task`` is a ``BijectionTask`` (all N R facts, subject-major, generated chunk by chunk so memory stays
    bounded) or a single-hop ``FactSet``. ``facts`` optionally selects fact indices (i = s R + r).
    The margin of a fact is its correct logit minus the best wrong logit (ties count as errors).

    ``method="forward"`` (default) runs ``model.resid_post(tokens, last_only=True)`` and the unembedding restricted
    to the non-zero rows of W_U (:func:`readout_support`), and reduces each chunk's [c, N] logits;
    the default chunk keeps those logits near ``CHUNK_LOGIT_BYTES`` (cache-sized). ``method="fused"`` computes the
    same margins for large tasks: the residual (the forward pass with the attention's linear maps
    applied once per distinct token, :func:`last_residual`) then :class:`Readout`, which reduces the logits tile by
    tile and never holds a [c, N] block, with ``workers`` threads (default: torch's thread count) each taking
    whole chunks on one torch thread. Both agree up to floating-point summation order (tested).
    A request that cannot fit in ``max_bytes`` (one fact alone above budget, or ``chunk_size`` too large)
    raises ``ValueError`` before any allocation.
    """
    check_model(model)  # a Transformer with finite weights: a diverged model is never scored
    check_bool("return_margins", return_margins)
    cfg = model.config
    N, d, m = cfg.d_vocab_out, cfg.d_model, cfg.d_mlp
    itemsize = torch.finfo(model.dtype).bits // 8
    if method not in (FORWARD, FUSED):
        raise ValueError(f"method must be {FORWARD!r} or {FUSED!r}, got {method!r}")
    if method == FUSED:
        model.one_layer(f"evaluate_recall(method={FUSED!r})")
    if workers is None:
        workers = torch.get_num_threads() if method == FUSED else 1
    check_int("workers", workers, 1, MAX_WORKERS)
    if method == FORWARD and workers != 1:
        raise ValueError(f"workers applies to method={FUSED!r}; method={FORWARD!r} uses torch's own threads")
    check_int("max_bytes", max_bytes, 1)
    if isinstance(task, FactSet):
        if task.seq_len != 2 or not task.last_position_only:
            raise ValueError("evaluate_recall scores single-hop [s, r] fact sets; got another format")
        model.config.check_fits(task.d_vocab, task.d_vocab_out, task.seq_len, task.data_format)
        n_total = len(task)
    elif isinstance(task, BijectionTask):
        check_model_task(model, task)  # its facts in the [s, r] format
        n_total = task.N * task.R
    else:
        raise ArgumentTypeError(f"task must be a BijectionTask or a FactSet, got {type(task).__name__}")
    if facts is not None:
        facts = torch.as_tensor(facts)
        if facts.numel() and (facts.dtype.is_floating_point or facts.dtype.is_complex or facts.dtype == torch.bool):
            raise ArgumentTypeError(f"facts must be integer fact indices, got dtype {facts.dtype}")
    index = None if facts is None else torch.as_tensor(facts, dtype=torch.int64)
    n = n_total if index is None else index.numel()
    if index is not None and n and (int(index.min()) < 0 or int(index.max()) >= n_total):
        raise ValueError(f"facts must index [0, {n_total - 1}]")
    if n == 0:
        raise ValueError("facts must not be empty (an empty fact set has no accuracy)")

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
    support = readout_support(model.W_U) if method == FORWARD else None

    def chunk_margins(batch) -> tuple[int, torch.Tensor]:
        start, tokens, target = batch
        tokens, target = tokens.to(model.device), target.to(model.device)
        if readout is not None:
            return start, readout.margins(last_residual(model, tokens), target).cpu()
        logits = _last_logits(model, tokens, support)  # [c, N]
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
        accuracy=n_correct / max(n, 1),
        n_facts=n,
        n_correct=n_correct,
        min_margin=min_margin,
        mean_margin=sum_margin / max(n, 1),
        seconds=time.perf_counter() - t0,
        chunk_size=chunk_size,
        bytes_per_chunk=chunk_size * per_fact + fixed,
        margins=margins,
    )


# --- looking inside ------------------------------------------------------------------------------------------


def hidden_activations(model: Transformer, task: BijectionTask, subjects) -> torch.Tensor:
    """Post-ReLU MLP activations at the query position for every relation, [n_subjects, R, m] (one-layer models)."""
    check_model_task(model, task)
    model.one_layer("hidden_activations")
    subjects = torch.as_tensor(subjects, dtype=torch.int64).reshape(-1)
    if subjects.numel() == 0 or int(subjects.min()) < 0 or int(subjects.max()) >= task.N:
        raise ValueError(f"subjects must be a non-empty set of entities in [0, {task.N - 1}] (N={task.N})")
    check_budget(
        f"the activations [n R, m] of {len(subjects)} subjects",
        4 * len(subjects) * task.R * (model.config.d_mlp + 2 * model.config.d_model),
        DEFAULT_MAX_BYTES,
    )
    R = task.R
    s = subjects.repeat_interleave(R)
    r = torch.arange(R).repeat(len(subjects))
    tokens = torch.stack([s, task.N + r], dim=1)  # [n*R, 2]
    _, cache = model.run_with_cache(tokens, ["blocks.0.mlp.hook_post"], last_only=True)
    return cache["blocks.0.mlp.hook_post"][:, 0].reshape(len(subjects), R, -1)  # [n, R, m]


def gate_matrix(model: Transformer, task: BijectionTask, subjects) -> torch.Tensor:
    """Mean activation of relation r''s units (the 2k units r'*2k .. r'*2k+2k-1) when the query is relation r,
    [R (query), R (unit block)]. For a gated selector only the diagonal is non-zero."""
    check_model_task(model, task, exact_vocab=True)
    R = task.R
    if model.config.d_mlp % R:
        raise ValueError(f"d_mlp={model.config.d_mlp} does not split into R={R} blocks of units (one per relation)")
    acts = hidden_activations(model, task, subjects)  # [n, R, m]
    blocks = acts.reshape(acts.shape[0], R, R, -1)  # [n, r_query, r_unit, 2k]
    return blocks.abs().mean(dim=(0, 3))  # [R, R]
