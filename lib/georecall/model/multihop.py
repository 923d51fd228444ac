"""h-hop queries over one bijection task: sequence formats, autoregressive decoding and scoring [recon].

An h-hop query (x, r_1, ..., r_h) asks for y_h = pi_{r_h}(... pi_{r_1}(x)), relations applied in the order written
("mother of the wife of x" is [x, wife, mother]). Relations are permutations of one entity set (``tasks``), so every
intermediate y_i = pi_{r_i}(y_{i-1}), y_0 = x, is itself an entity. There are N R^h queries; query i is (x, p) with
x = i // R^h and path index q = i % R^h, the digits of q in base R being (r_1, ..., r_h), r_1 the most significant
(lexicographic order, :func:`paths`).

Two sequence formats, on the token ids of ``tasks`` (entities 0..N-1, relation r = token N + r):

    no chain-of-thought  [x, N+r_1, ..., N+r_h]                      y_h at the last position       (length h + 1)
    chain-of-thought     [x, N+r_1, y_1, N+r_2, y_2, ..., N+r_h, y_h]  y_i predicted at r_i's position (length 2h + 1)

Training on the CoT format uses teacher forcing (:func:`cot_facts`): the tokens are the sequence without its final
y_h ([n, 2h]) and y_i is the target at position 2i - 1 (``tasks.IGNORE`` elsewhere), which ``train.train`` accepts
as it is (loss on every y_i; a sequence counts as correct when every y_i is). Evaluation decodes
autoregressively (:func:`generate`): each predicted y_i is fed back as the next input, so an early error propagates
to the final answer. :func:`evaluate_multihop` scores every query through the model's forward pass in chunks under a
memory budget. Closed forms (sizes, bounds, the tradeoff) are in ``georecall.theory.multihop``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from .._checks import check_budget, check_int
from ..tasks.bijection import IGNORE, BijectionTask, FactSet
from ..theory.multihop import COT, NO_COT, check_format, check_hops
from .compat import check_model_task
from .recall import DEFAULT_MAX_BYTES, last_residual
from .transformer import Transformer

__all__ = [
    "paths",
    "queries",
    "chain",
    "no_cot_tokens",
    "no_cot_facts",
    "cot_sequences",
    "cot_facts",
    "parse_cot",
    "check_context",
    "generate",
    "MultiHopEvaluation",
    "evaluate_multihop",
    "path_gate_matrix",
    "cot_gate_steps",
]

CHUNK_LOGIT_BYTES = 8 * 2**20  # default chunk: its logits fit in cache
MAX_QUERIES = 2**53  # a query count beyond exact float64 counting (and any run time) is refused
CHUNK_WORKING_BYTES = 256 * 2**20  # and its activations stay well inside any budget (wide h-head models)
FORWARD, TABLES = "forward", "tables"  # evaluate_multihop methods for the no-CoT format


def paths(R: int, h: int) -> torch.Tensor:
    """All R^h relation paths in lexicographic order, [R^h, h]: row q holds the base-R digits of q, r_1 first.

    >>> paths(2, 2).tolist()
    [[0, 0], [0, 1], [1, 0], [1, 1]]
    """
    check_int("R (n_relations)", R, 1)
    check_hops(h)
    check_budget(f"the R^h = {R}^{h} relation paths [R^h, h]", 8 * (h + 2) * R**h, DEFAULT_MAX_BYTES)
    q = torch.arange(R**h)[:, None]  # [R^h, 1]
    place = R ** torch.arange(h - 1, -1, -1)[None, :]  # [1, h]: R^(h-1), ..., 1
    return (q // place) % R  # [R^h, h]


def queries(task: BijectionTask, h: int, index=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(subjects [n], paths [n, h]) of the queries ``index`` (all N R^h when None): x = i // R^h, path digits of
    i % R^h."""
    check_hops(h)
    P = task.R**h
    total = task.N * P
    if index is None:
        check_budget(f"all N R^h = {task.N}*{task.R}^{h} queries", 8 * (h + 1) * total, DEFAULT_MAX_BYTES)
    i = torch.arange(total) if index is None else torch.as_tensor(index, dtype=torch.int64).reshape(-1)
    if i.numel() and (int(i.min()) < 0 or int(i.max()) >= total):
        raise ValueError(
            f"index must be in [0, {total - 1}] (N R^h = {task.N}*{task.R}^{h}), got {int(i.min())}..{int(i.max())}"
        )
    q = i % P
    place = task.R ** torch.arange(h - 1, -1, -1)  # [h]
    return i // P, (q[:, None] // place[None, :]) % task.R


def _check_query(task: BijectionTask, subjects, path_rows) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated (subjects [n] int64, paths [n, h] int64)."""
    subjects = torch.as_tensor(subjects, dtype=torch.int64).reshape(-1)
    p = torch.as_tensor(path_rows, dtype=torch.int64)
    if p.ndim == 1:
        p = p[None, :].expand(len(subjects), -1)
    if p.ndim != 2 or p.shape[0] != len(subjects):
        raise ValueError(f"paths must be [n, h] with one row per subject (n={len(subjects)}), got {tuple(p.shape)}")
    check_hops(p.shape[1])
    if subjects.numel() and (int(subjects.min()) < 0 or int(subjects.max()) >= task.N):
        bad = int(subjects.min()) if int(subjects.min()) < 0 else int(subjects.max())
        raise ValueError(f"subjects must be entities in [0, {task.N - 1}] (N={task.N}), got {bad}")
    if p.numel() and (int(p.min()) < 0 or int(p.max()) >= task.R):
        bad = int(p.min()) if int(p.min()) < 0 else int(p.max())
        raise ValueError(f"paths: every relation must be in [0, {task.R - 1}] (R={task.R}), got unknown relation {bad}")
    return subjects, p


def chain(task: BijectionTask, subjects, path_rows) -> torch.Tensor:
    """The intermediate answers (y_1, ..., y_h), [n, h]: y_i = pi_{r_i}(y_{i-1}), y_0 = x; y_h is the answer.

    >>> from georecall.tasks.bijection import make_task
    >>> t = make_task(8, 2, seed=0)
    >>> y = chain(t, [3], [[1, 0]])
    >>> y[0, 1].item() == t.perms[0, t.perms[1, 3]].item() == t.compose((1, 0))[3].item()
    True
    """
    subjects, p = _check_query(task, subjects, path_rows)
    ys, y = [], subjects
    for i in range(p.shape[1]):
        y = task.perms[p[:, i], y]
        ys.append(y)
    return torch.stack(ys, dim=1)  # [n, h]


def no_cot_tokens(task: BijectionTask, subjects, path_rows) -> torch.Tensor:
    """[x, N+r_1, ..., N+r_h], [n, h + 1]."""
    subjects, p = _check_query(task, subjects, path_rows)
    return torch.cat([subjects[:, None], task.N + p], dim=1)


def no_cot_facts(task: BijectionTask, h: int, index=None) -> FactSet:
    """The no-CoT format: tokens [n, h + 1], target y_h at the last position (all N R^h queries by default)."""
    subjects, p = queries(task, h, index)
    targets = torch.full((len(subjects), h + 1), IGNORE, dtype=torch.long)
    targets[:, -1] = chain(task, subjects, p)[:, -1]
    return FactSet(
        no_cot_tokens(task, subjects, p), targets, d_vocab=task.config.d_vocab, d_vocab_out=task.N, data_format=NO_COT
    )


def cot_sequences(task: BijectionTask, subjects, path_rows) -> torch.Tensor:
    """The full interleaved sequences [x, N+r_1, y_1, ..., N+r_h, y_h], [n, 2h + 1]."""
    subjects, p = _check_query(task, subjects, path_rows)
    ys = chain(task, subjects, p)  # [n, h]
    steps = torch.stack([task.N + p, ys], dim=2).reshape(len(subjects), -1)  # [n, 2h]: r_1, y_1, r_2, y_2, ...
    return torch.cat([subjects[:, None], steps], dim=1)  # [n, 2h + 1]


def cot_facts(task: BijectionTask, h: int, index=None) -> FactSet:
    """Teacher forcing for the CoT format: tokens = the sequence without y_h, [n, 2h]; targets y_i at the position
    2i - 1 of r_i, ``IGNORE`` at the entity positions.

    >>> from georecall.tasks.bijection import make_task
    >>> fs = cot_facts(make_task(4, 2, seed=0), 2)
    >>> fs.tokens.shape, fs.targets[0].tolist()[::2]
    (torch.Size([16, 4]), [-1, -1])
    """
    subjects, p = queries(task, h, index)
    seq = cot_sequences(task, subjects, p)  # [n, 2h + 1]
    targets = torch.full((len(subjects), 2 * h), IGNORE, dtype=torch.long)
    targets[:, 1::2] = seq[:, 2::2]  # y_i at r_i's position
    return FactSet(seq[:, :-1].contiguous(), targets, d_vocab=task.config.d_vocab, d_vocab_out=task.N, data_format=COT)


def parse_cot(task: BijectionTask, sequences: torch.Tensor, h: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split interleaved CoT sequences [n, 2h + 1] into (subjects [n], paths [n, h], ys [n, h]), checking the
    length and that entities sit at even positions and relation tokens at odd ones."""
    check_hops(h)
    seq = torch.as_tensor(sequences, dtype=torch.int64)
    if seq.ndim != 2 or seq.shape[1] != 2 * h + 1:
        got = tuple(seq.shape) if seq.ndim != 2 else f"length {seq.shape[1]}"
        raise ValueError(
            f"sequences must be [n, 2h + 1] = [n, {2 * h + 1}] for h={h} hops (x, r_1, y_1, ..., r_h, y_h), got {got}"
        )
    ents, rels = seq[:, 0::2], seq[:, 1::2] - task.N  # [n, h + 1], [n, h]
    if ents.numel() and (int(ents.min()) < 0 or int(ents.max()) >= task.N):
        raise ValueError(f"sequences: positions 0, 2, ..., 2h must hold entity tokens in [0, {task.N - 1}]")
    if rels.numel() and (int(rels.min()) < 0 or int(rels.max()) >= task.R):
        raise ValueError(
            f"sequences: positions 1, 3, ..., 2h-1 must hold relation tokens in [{task.N}, {task.N + task.R - 1}]"
        )
    return ents[:, 0], rels, ents[:, 1:]


def check_context(model: Transformer, h: int, fmt: str) -> None:
    """Raise ``ValueError`` unless ``model`` can hold an h-hop query in ``fmt``: n_ctx >= h + 1 without CoT,
    n_ctx >= 2h with CoT (the input of the last decoding step is [x, r_1, y_1, ..., y_{h-1}, r_h])."""
    check_hops(h)
    need = h + 1 if check_format(fmt) == NO_COT else 2 * h
    n_ctx = model.config.n_ctx
    if n_ctx < need:
        fits = n_ctx - 1 if fmt == NO_COT else n_ctx // 2
        raise ValueError(
            f"the model's n_ctx={n_ctx} is too short for h={h} hops in the {fmt} format, which needs n_ctx >= {need}; "
            f"this model allows h in [1, {max(fits, 0)}]"
        )


def _margins(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Correct logit minus the best wrong logit, [c] float64 (ties count as errors); overwrites ``logits``."""
    right = logits.gather(1, target[:, None])[:, 0]
    logits.scatter_(1, target[:, None], -math.inf)
    return (right - logits.amax(dim=1)).double()


@torch.no_grad()
def generate(model: Transformer, task: BijectionTask, subjects, path_rows) -> tuple[torch.Tensor, torch.Tensor]:
    """Chain-of-thought decoding: ``(predicted [n, h], margins [n, h])``.

    Step i runs ``model([x, N+r_1, yhat_1, ..., yhat_{i-1}, N+r_i], last_only=True)`` and takes yhat_i = argmax;
    yhat_i is then fed back, so the prefix is the model's own. margins[:, i-1] is the logit of the *true* y_i minus
    the best other logit at step i (negative once an earlier step went wrong, almost always).
    """
    subjects, p = _check_query(task, subjects, path_rows)
    h = p.shape[1]
    check_model_task(model, task, data_format=None, seq_len=1)
    check_context(model, h, COT)
    model.config.check_fits(task.config.d_vocab, task.N, 2 * h)
    truth = chain(task, subjects, p).to(model.device)  # [n, h]
    rel = (task.N + p).to(model.device)
    tokens = torch.stack([subjects.to(model.device), rel[:, 0]], dim=1)  # [n, 2]
    predicted, margins = [], []
    for i in range(h):
        logits = model(tokens, last_only=True)[:, 0]  # [n, N]
        y = logits.argmax(dim=1)  # [n]
        predicted.append(y)
        margins.append(_margins(logits, truth[:, i]))
        if i + 1 < h:
            tokens = torch.cat([tokens, y[:, None], rel[:, i + 1, None]], dim=1)  # [n, 2i + 4]
    return torch.stack(predicted, 1).cpu(), torch.stack(margins, 1).cpu()


@dataclass(frozen=True)
class MultiHopEvaluation:
    """Scores of a model on h-hop queries; accuracy is on the final answer y_h (argmax over all N entities)."""

    fmt: str  # "no_cot" or "cot"
    h: int
    accuracy: float  # share of queries whose final answer is right
    step_accuracy: tuple[float, ...]  # per generated token: h entries with CoT (autoregressive), 1 without
    n_queries: int
    n_correct: int
    min_margin: float  # over queries, of the final answer's margin; > 0 iff every query is right
    mean_margin: float
    step_min_margin: tuple[float, ...]  # min margin per generated token
    seconds: float
    chunk_size: int
    bytes_per_chunk: int


def _query_bytes(N: int, d: int, m: int, T: int, h: int, itemsize: int) -> int:
    """Working memory per query of one last-position forward pass over T tokens: embeddings, q/k/v and residuals
    ~ 8 T d, MLP 4 m, logits and margins N + 2h, tokens."""
    return itemsize * (N + 8 * T * d + 4 * m + 2 * h) + 16 * T + 64


def evaluate_multihop(
    model: Transformer,
    task: BijectionTask,
    h: int,
    *,
    fmt: str = NO_COT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    chunk_size: int | None = None,
    index=None,
    method: str = FORWARD,
) -> MultiHopEvaluation:
    """Score the h-hop queries ``index`` (all N R^h by default) through the model, chunk by chunk.

    ``fmt="no_cot"``: one ``model(tokens, last_only=True)`` on [x, N+r_1, ..., N+r_h]. ``fmt="cot"``: :func:`generate`
    (h autoregressive steps). Queries are generated per chunk, so memory stays at one chunk: a request whose single
    query (or ``chunk_size``) exceeds ``max_bytes`` raises ``ValueError`` before any forward pass.

    ``method="tables"`` (no-CoT only) computes the same last-position residual with ``recall.last_residual``,
    which applies the attention's linear maps once per distinct (position, token) instead of once per query, then
    the model's own unembedding: the same function up to floating-point reassociation (tested), several times
    faster for the wide h-head models of the path superposition.
    """
    check_hops(h)
    check_format(fmt)
    if method not in (FORWARD, TABLES):
        raise ValueError(f"method must be {FORWARD!r} or {TABLES!r}, got {method!r}")
    if method == TABLES and fmt != NO_COT:
        raise ValueError(f"method={TABLES!r} applies to fmt={NO_COT!r}; CoT decoding uses the forward pass")
    check_model_task(model, task, data_format=None, seq_len=1)  # finite weights, N and N + R; h via the context
    check_context(model, h, fmt)
    check_int("max_bytes", max_bytes, 1)
    cfg = model.config
    sel = None if index is None else torch.as_tensor(index, dtype=torch.int64).reshape(-1)
    n = task.N * task.R**h if sel is None else sel.numel()
    if n == 0:
        raise ValueError("index must not be empty (an empty query set has no accuracy)")
    if n > MAX_QUERIES:
        raise ValueError(f"N R^h = {task.N}*{task.R}^{h} = {n} queries, more than {MAX_QUERIES} can be scored")
    itemsize = torch.finfo(model.dtype).bits // 8
    T = h + 1 if fmt == NO_COT else 2 * h
    per_query = _query_bytes(task.N, cfg.d_model, cfg.d_mlp, T, h, itemsize)
    fit = max_bytes // per_query
    if fit < 1:
        raise ValueError(
            f"one query needs ~{per_query} bytes (N={task.N}, d={cfg.d_model}, m={cfg.d_mlp}, T={T}, "
            f"{model.dtype}), above max_bytes={max_bytes}"
        )
    if chunk_size is None:
        default = min(CHUNK_LOGIT_BYTES // (task.N * itemsize), CHUNK_WORKING_BYTES // per_query)
        chunk_size = max(1, min(fit, max(n, 1), default))
    elif check_int("chunk_size", chunk_size, 1) > fit:
        raise ValueError(
            f"chunk_size={chunk_size} needs ~{chunk_size * per_query / 2**30:.2f} GiB, above "
            f"max_bytes={max_bytes / 2**30:.2f} GiB; use chunk_size <= {fit}"
        )
    n_steps = 1 if fmt == NO_COT else h
    step_right = [0] * n_steps
    step_min = [math.inf] * n_steps
    sum_margin = 0.0
    t0 = time.perf_counter()
    with torch.no_grad():
        for start in range(0, n, chunk_size):
            i = torch.arange(start, min(start + chunk_size, n)) if sel is None else sel[start : start + chunk_size]
            x, p = queries(task, h, i)
            if fmt == NO_COT:
                tokens = no_cot_tokens(task, x, p).to(model.device)  # [c, h + 1]
                if method == FORWARD:
                    logits = model(tokens, last_only=True)[:, 0]  # [c, N]
                else:
                    logits = model.unembed(last_residual(model, tokens))  # [c, N]
                truth = chain(task, x, p)[:, -1:].to(model.device)  # [c, 1]
                pred = logits.argmax(dim=1, keepdim=True)  # [c, 1]
                margin = _margins(logits, truth[:, 0])[:, None].cpu()  # [c, 1]
                pred, truth = pred.cpu(), truth.cpu()
            else:
                pred, margin = generate(model, task, x, p)  # [c, h] each
                truth = chain(task, x, p)
            for s in range(n_steps):
                step_right[s] += int((pred[:, s] == truth[:, s]).sum())
                step_min[s] = min(step_min[s], float(margin[:, s].min()))
            sum_margin += float(margin[:, -1].sum())
    denom = max(n, 1)
    return MultiHopEvaluation(
        fmt=fmt,
        h=h,
        accuracy=step_right[-1] / denom,
        step_accuracy=tuple(c / denom for c in step_right),
        n_queries=n,
        n_correct=step_right[-1],
        min_margin=step_min[-1],
        mean_margin=sum_margin / denom,
        step_min_margin=tuple(step_min),
        seconds=time.perf_counter() - t0,
        chunk_size=chunk_size,
        bytes_per_chunk=chunk_size * per_query,
    )


@torch.no_grad()
def path_gate_matrix(model: Transformer, task: BijectionTask, h: int, subjects) -> torch.Tensor:
    """The no-CoT gate picture, [R^h (queried path), R^h (unit block)]: the mean |post-ReLU activation| at the last
    position of the 2k MLP units of path q' (units 2 q' k .. 2 q' k + 2k - 1, the path-superposition layout) when
    the query asks path q, averaged over ``subjects``. For the AND-gated selector only the diagonal is non-zero."""
    check_hops(h)
    check_model_task(model, task, data_format=None, seq_len=1)
    model.one_layer("path_gate_matrix")
    check_context(model, h, NO_COT)
    subjects, _ = _check_query(task, subjects, torch.zeros(h, dtype=torch.int64))
    if subjects.numel() == 0:
        raise ValueError("subjects must not be empty")
    P = task.R**h
    check_budget(
        f"the gate picture of {len(subjects)} subjects x {P}^2 path pairs",
        4 * len(subjects) * P * (model.config.d_mlp + 4 * model.config.d_model + P),
        DEFAULT_MAX_BYTES,
    )
    if model.config.d_mlp % (2 * P):
        raise ValueError(
            f"d_mlp={model.config.d_mlp} is not 2 k R^h units for R^h={P} paths (not a path-superposition model)"
        )
    p = paths(task.R, h)  # [P, h]
    x = subjects.repeat_interleave(P)  # [n P]
    tokens = no_cot_tokens(task, x, p.repeat(len(subjects), 1)).to(model.device)  # [n P, h + 1]
    _, cache = model.run_with_cache(tokens, ["blocks.0.mlp.hook_post"], last_only=True)
    acts = cache["blocks.0.mlp.hook_post"][:, 0].reshape(len(subjects), P, P, -1)  # [n, q, q', 2k]
    return acts.abs().mean(dim=(0, 3)).cpu()  # [P, P]


@torch.no_grad()
def cot_gate_steps(model: Transformer, task: BijectionTask, subject: int, path) -> tuple[torch.Tensor, torch.Tensor]:
    """The CoT gate picture of one query, decoded by the model itself: ``(blocks [h, R], predicted [h])``.

    blocks[i - 1, r] is the mean |post-ReLU activation| of the 2k MLP units of relation r (units 2 r k .. 2 r k + 2k
    - 1, the single-hop block layout) at the position that emits y_i; for the CoT construction only r = r_i fires.
    """
    subjects, p = _check_query(task, [subject], [list(path)] if not torch.is_tensor(path) else path.reshape(1, -1))
    h = p.shape[1]
    check_context(model, h, COT)
    model.one_layer("cot_gate_steps")
    if model.config.d_mlp % (2 * task.R):
        raise ValueError(f"d_mlp={model.config.d_mlp} is not 2 k R units for R={task.R} (not a CoT construction)")
    predicted, _ = generate(model, task, subjects, p)  # [1, h]
    seq = torch.stack([task.N + p[0], predicted[0]], dim=1).reshape(-1)  # r_1, yhat_1, ..., r_h, yhat_h
    tokens = torch.cat([subjects, seq[:-1]])[None, :].to(model.device)  # [1, 2h]: the last decoding step's input
    _, cache = model.run_with_cache(tokens, ["blocks.0.mlp.hook_post"])
    post = cache["blocks.0.mlp.hook_post"][0, 1::2]  # [h, m]: the positions of r_1, ..., r_h
    return post.abs().reshape(h, task.R, -1).mean(dim=2).cpu(), predicted[0]
