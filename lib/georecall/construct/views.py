"""What only a chapter uses: the tables, snapshots and weight summaries the book's pages print or plot.

Chapter 2 (the superposition construction): :func:`snapshot` (one state of the construction explorer),
:func:`exactness_table`, :func:`superposition_parts`, :func:`weight_summary`, :func:`compare_weights`,
:func:`built_param_counts`, and the accuracy-vs-d table of the dense construction (:func:`dense_accuracy_sweep`,
:func:`dense_accuracy_table`, committed as ``dense_accuracy`` in :mod:`georecall.sweep.tables`; regenerate it with
``python -m georecall table dense_accuracy --out DIR``). Everything here builds on
:mod:`georecall.construct.bijection` and :mod:`georecall.model.recall`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import pandas as pd
import torch

from .. import repro
from .._checks import ArgumentTypeError, check_int
from ..model.recall import FORWARD, RecallEvaluation, evaluate_recall, hidden_activations
from ..model.transformer import Transformer
from ..tasks.bijection import make_task
from ..theory import bijection as theory
from .bijection import (
    BLOCK,
    DENSE,
    GAUSSIAN,
    SIGN,
    Recipe,
    block_recipe,
    build,
    build_block,
    dense_recipe,
)

__all__ = [
    "Snapshot",
    "snapshot",
    "margin_edges",
    "forward_macs",
    "exactness_table",
    "superposition_parts",
    "weight_summary",
    "compare_weights",
    "built_param_counts",
    "dense_accuracy_sweep",
    "dense_accuracy_table",
]


# --- Chapter 2: the construction explorer --------------------------------------------------------------------

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


def snapshot(
    N: int,
    R: int,
    *,
    placement: str = BLOCK,
    d_model: int | None = None,
    k: int | None = None,
    codes: str | None = None,
    subject: int = 0,
    task_seed: int = 0,
    seed: int = 0,
    max_facts: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> Snapshot:
    """Build a construction for ``make_task(N, R, task_seed)``, score facts through the model and record the
    hidden activations of ``subject`` under every relation.

    All N R facts are scored when that costs at most ``EXPLORER_MACS`` multiply-adds (:func:`forward_macs`),
    else a seeded uniform sample (at least ``EXPLORER_MIN_FACTS``); ``max_facts`` overrides the budget. Bad
    combinations (d below what the construction needs, N > 2^k for sign codes) raise ``ValueError`` with the
    reason, before any heavy work."""
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
    return Snapshot(
        recipe=recipe,
        evaluation=ev,
        subject=subject,
        activations=acts.double(),
        margin_counts=[int(c) for c in counts],
        margin_edges=bin_edges,
        sampled=facts is not None,
    )


# --- Chapter 2: small tables -------------------------------------------------------------------------------


def superposition_parts(recipe: Recipe, perms: torch.Tensor, subject: int) -> torch.Tensor:
    """The R terms of e_s = sum_r Q_r u_{pi_r(s)}, one row per relation, [R, d_s]."""
    perms = torch.as_tensor(perms)
    if not 0 <= subject < recipe.N:
        raise ValueError(f"subject must be in [0, {recipe.N - 1}], got {subject}")
    u = recipe.codes[perms[:, subject]]  # [R, k]: u_{pi_r(s)}
    return torch.einsum("rdk,rk->rd", recipe.placements, u)  # [R, d_s]


def weight_summary(model: Transformer):
    """One row per parameter tensor of a model: shape, non-zero entries, and what it holds in a construction."""
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
        rows.append(
            dict(
                parameter=name,
                shape=" × ".join(map(str, p.shape)),
                entries=p.numel(),
                nonzero=int(torch.count_nonzero(p.detach())),
                holds=role.get(name, ""),
            )
        )
    return pd.DataFrame(rows).set_index("parameter")


def compare_weights(a: Transformer, b: Transformer, n_subjects: int):
    """Per parameter block, whether two models are bitwise identical; W_E is split into subject and relation rows."""
    for name, m in (("a", a), ("b", b)):
        if not isinstance(m, Transformer):
            raise ArgumentTypeError(f"{name} must be a georecall.model.transformer.Transformer, got {type(m).__name__}")
    if replace(a.config, init_seed=0) != replace(b.config, init_seed=0):
        raise ValueError(f"a and b must have the same shape to compare weights, got {a.config} and {b.config}")
    check_int("n_subjects", n_subjects, 1, a.config.d_vocab)
    pa = {n: p.detach() for n, p in a.named_parameters()}
    pb = {n: p.detach() for n, p in b.named_parameters()}
    rows = []
    for name in pa:
        pieces = [(name, pa[name], pb[name])]
        if name == "embed.W_E":
            N = n_subjects
            pieces = [
                ("embed.W_E[subjects]", pa[name][:N], pb[name][:N]),
                ("embed.W_E[relations]", pa[name][N:], pb[name][N:]),
            ]
        for label, x, y in pieces:
            diff = (x - y).abs()
            rows.append(
                dict(
                    parameter=label,
                    identical=bool(torch.equal(x, y)),
                    max_abs_difference=float(diff.max()),
                    entries_that_differ=int(torch.count_nonzero(diff)),
                )
            )
    return pd.DataFrame(rows).set_index("parameter")


def exactness_table(sizes, *, seed: int = 0, dtype: torch.dtype = torch.float64, method: str = FORWARD):
    """Build the block construction for each (N, R) in ``sizes`` and score every fact through the model
    (``evaluate_recall`` with ``method``; ``"fused"`` for N R in the millions).

    Columns: N, R, k, d, m, facts, accuracy, min_margin, two_over_k, seconds (build + evaluation).
    """
    rows = []
    for N, R in sizes:
        t0 = time.perf_counter()
        task = make_task(N, R, seed=seed)
        model = build_block(task, dtype=dtype)
        ev = evaluate_recall(model, task, method=method)
        k = theory.code_length(N)
        rows.append(
            dict(
                N=N,
                R=R,
                k=k,
                d=model.config.d_model,
                m=model.config.d_mlp,
                facts=ev.n_facts,
                accuracy=ev.accuracy,
                min_margin=ev.min_margin,
                two_over_k=2 / k,
                seconds=time.perf_counter() - t0,
            )
        )
    return pd.DataFrame(rows)


def built_param_counts(Ns, R: int):
    """Parameters counted in built block constructions (``Transformer.n_params``) for each N at fixed R.

    Columns: N, R, d, nonembedding_params (attention + MLP), subject_table (N d).
    """
    rows = []
    for N in Ns:
        model = build_block(make_task(int(N), R, seed=0), dtype=torch.float32)
        d = model.config.d_model
        rows.append(
            dict(
                N=int(N),
                R=R,
                d=d,
                nonembedding_params=model.n_params(include_embeddings=False),
                subject_table=int(N) * d,
            )
        )
    return pd.DataFrame(rows)


# --- Chapter 2: the committed accuracy-vs-d table of the dense construction ------------------------------


def dense_accuracy_sweep(
    N: int,
    R: int,
    d_values,
    *,
    k: int | None = None,
    codes: str = GAUSSIAN,
    task_seed: int = 0,
    seed: int = 0,
    max_facts: int | None = 8192,
    dtype: torch.dtype = torch.float32,
) -> list[dict]:
    """Accuracy of the dense construction against d for one task; one row per d (tidy records).

    When N R > ``max_facts``, a seeded uniform subset of ``max_facts`` facts is scored (the same subset for
    every d). Rows: N, R, k, d_model, d_subject, accuracy, min_margin, n_facts, gate.
    """
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
        rows.append(
            dict(
                N=N,
                R=R,
                k=recipe.k,
                d_model=recipe.d_model,
                d_subject=recipe.d_subject,
                accuracy=ev.accuracy,
                min_margin=ev.min_margin,
                n_facts=ev.n_facts,
                gate=recipe.gate,
            )
        )
    return rows


DENSE_TABLE_NS = (256, 1024, 4096)
DENSE_TABLE_RS = (2, 4, 8, 16)
DENSE_TABLE_DS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536)
DENSE_TABLE_MAX_FACTS = 4096  # facts scored per point (a seeded uniform sample when N*R is larger)


def dense_accuracy_table(
    Ns=DENSE_TABLE_NS,
    Rs=DENSE_TABLE_RS,
    d_values=DENSE_TABLE_DS,
    *,
    max_facts: int = DENSE_TABLE_MAX_FACTS,
    seed: int = 0,
    saturate: float = 0.999,
):
    """Tidy DataFrame of the dense construction's accuracy against d over an (N, R) grid (Gaussian codes,
    k = 2 ceil(log2 N), safe gate, float32, task seed 0). Each (N, R) row set starts at the first d of
    ``d_values`` above R + k and stops after the first d whose accuracy reaches ``saturate``.

    This is the table behind the chapter's accuracy-vs-d figure; regenerate it with
    ``python -m georecall table dense_accuracy --out DIR``.
    """
    rows = []
    for N in Ns:
        for R in Rs:
            k = 2 * theory.code_length(N)
            for d in [d for d in d_values if d > R + k]:
                row = dense_accuracy_sweep(N, R, [d], seed=seed, max_facts=max_facts, dtype=torch.float32)[0]
                rows.append(row)
                if row["accuracy"] >= saturate:
                    break
    return pd.DataFrame(rows)
