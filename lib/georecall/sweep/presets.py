"""The named sweep presets: ``smoke`` (CI), ``book`` (the committed tables), ``disjoint`` (the appendix's committed
tables), ``probing`` (the committed tables of Chapters 4 and 5, :mod:`georecall.sweep.probing`), ``multihop``
(Chapter 6's table), ``crossset`` (the cross-set study of Chapters 4 and 5, :mod:`georecall.sweep.crossset`),
``layers`` (models of L layers on fact sentences, :mod:`georecall.sweep.layers`), ``sentences`` (Chapter 7's
sentence-format d*, :mod:`georecall.sweep.sentences`) and ``paper`` (full scale, GPU).

Each preset is a list of :class:`georecall.sweep.configs.Experiment`: E1 (d* searches with learned embeddings, threshold
lines along d, each probe trying the rates ``sweep.E1_LRS`` per seed, best of them), E2 (capacity searches with
frozen embeddings, lines along N), and a fixed grid (learned embeddings at the frozen control's shapes). A search
starts at a theory-informed grid index (the counting bound for d*, a facts-per-parameter prior for capacity) and
moves away from it as the results demand. Every smoke line is also a book (or disjoint) line, so CI re-trains a
subset of the committed points; the smoke preset's multi-hop lines (``multihop_smoke``) are smaller than any
committed line and check the pipeline.

``multihop``: d* of trained one-layer models on h-hop queries, without CoT (h heads) and with CoT (teacher forcing,
scored by decoding): the committed N = 64 lines, R = 3 at h = 3, and R = 2 along N up to 1024 (2 seeds for the CoT
lines at N >= 512); the lines, the search rule and the pruning rule are :mod:`georecall.sweep.multihop`'s.

The ``disjoint`` preset (disjoint attribute sets, ``RunConfig(task="disjoint")``): d* lines of learned models in
the ``[s, r]`` format against R log2 D at S = 256 and against S at D = 8, R = 4; and the frozen-embedding control
at one shape (d = 16, d_mlp = 64, 4 heads, R = 4, D = 8), a capacity search along S in the noisy format (fresh
minibatches, judged on a held-out draw) and in ``[s, r]``, each with its boundary probes re-run at twice the step
budget, the noisy boundary also at a 4x larger batch, and learned embeddings at the same shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..theory import bijection as theory
from ..theory import disjoint as disjoint_theory
from .configs import D_GRID, E1_LRS, N_GRID_FROZEN, Experiment, Preset, RunConfig
from .crossset import crossset_points, crossset_smoke_points
from .layers import layers_points, layers_smoke_points
from .multihop import (
    HELD_OUT_D,
    HELD_OUT_FRACTIONS,
    HELD_OUT_LONG_WD,
    MULTIHOP_D_BASE,
    MULTIHOP_LRS,
    MULTIHOP_MAX_STEPS,
    MULTIHOP_N,
    held_out_points,
    multihop_grid,
    multihop_lines,
    multihop_preset_lines,
)
from .probing import probing_points, probing_smoke_points
from .search import Line, Recheck
from .sentences import sentence_preset_lines, sentence_smoke_points

__all__ = [
    "PRESETS",
    "preset",
    "E2_R",
    "E1_BOOK_N",
    "E1_BOOK_R",
    "DJ_CONTROL",
    "DJ_NOISY_STEPS",
    "DJ_SR_STEPS",
    "DJ_NOISY_BATCH",
    "MULTIHOP_N",
    "MULTIHOP_LRS",
    "MULTIHOP_MAX_STEPS",
    "MULTIHOP_D_BASE",
    "multihop_grid",
    "multihop_lines",
]


# --- presets --------------------------------------------------------------------------------------------------------


def _nearest(grid: Sequence[int], guess: float) -> int:
    """Index of the grid value nearest ``guess`` on a log scale: where a line's search starts."""
    return int(np.argmin([abs(math.log(g / guess)) for g in grid]))


def _d_start(N: int, R: int, grid: Sequence[int] = D_GRID) -> int:
    """First d probe: the grid value nearest R·log2(N!)/(4N), the bound of 2 bits per weight of the N-dependent
    tables alone (theory.lower_bound_d at p = 2, P0 = 0), within a grid step of d* in pilot runs at N >= 256; only
    a prior that saves probes (a probe next to d* brackets it in two), the search moves away from it as needed."""
    guess = max(2.0, float(theory.lower_bound_d(N, R, bits_per_param=theory.DEFAULT_BITS_PER_PARAM)))
    return _nearest(grid, guess)


def _n_start(d: int, m: int, R: int, grid: Sequence[int] = N_GRID_FROZEN, facts_per_param: float = 0.12) -> int:
    """First N probe for the frozen capacity: N*R ~ facts_per_param * P (a prior; the search corrects it)."""
    guess = max(grid[0], facts_per_param * theory.param_count(d, m) / R)
    return _nearest(grid, guess)


def _e1_lines(pairs: Iterable[tuple[int, int]], *, seeds=(0, 1, 2), lrs=E1_LRS, **kw) -> tuple[Line, ...]:
    """One d* line per (N, R), each probe trying ``lrs`` in turn (best rate per seed)."""
    lines = []
    for N, R in pairs:
        base = RunConfig(n_subjects=N, n_relations=R, d_model=D_GRID[0], d_mlp=4 * D_GRID[0], lr=lrs[0], **kw)
        lines.append(Line(base=base, seeds=seeds, axis="d_model", grid=D_GRID, start=_d_start(N, R), lrs=lrs))
    return tuple(lines)


def _pairs(Ns: Iterable[int], Rs: Iterable[int], skip=()) -> list[tuple[int, int]]:
    return [(N, R) for R in Rs for N in Ns if (N, R) not in skip]


def _e2_lines(
    shapes, *, R: int, data_format: str, freeze: bool = True, seeds=(0, 1), prior: float = 0.12, **kw
) -> tuple[Line, ...]:
    lines = []
    for d, m in shapes:
        base = RunConfig(
            n_subjects=N_GRID_FROZEN[0],
            n_relations=R,
            d_model=d,
            d_mlp=m,
            freeze_embed=freeze,
            data_format=data_format,
            **kw,
        )
        lines.append(
            Line(
                base=base,
                seeds=seeds,
                axis="n_subjects",
                grid=N_GRID_FROZEN,
                start=_n_start(d, m, R, facts_per_param=prior),
                success_increases=False,
            )
        )
    return tuple(lines)


E2_R = 4  # relations in the frozen control (facts = 4 N)
E2_SHAPES_BOOK = ((8, 32), (16, 16), (16, 64), (32, 32), (16, 256), (32, 128))  # P = 800 ... 12416
E2_SHAPES_NOISY = ((8, 32), (16, 16), (16, 64))
NOISY_COPIES_BOOK = 1  # one fresh noisy copy of every fact per step (T = 32 makes each step ~30x dearer than [s, r])
# E1 in the book: N = 64 ... 1024 at R = 1, 2, 4, 8 (not N = 1024 at R = 8: N^2 R sets a step's cost)
E1_BOOK_N = (64, 128, 256, 512, 1024)
E1_BOOK_R = (1, 2, 4, 8)
E1_BOOK_PAIRS = _pairs(E1_BOOK_N, E1_BOOK_R, skip={(1024, 8)})
SMOKE_E1_PAIRS = _pairs((64, 128), (1, 2, 4))  # CI: a subset of the book's lines


def _side_by_side_points(seeds=(0, 1)) -> tuple[RunConfig, ...]:
    """Learned embeddings at the frozen control's shapes: [s, r] at (8, 32) and (16, 64), noisy at (16, 64)."""
    pts = []
    for (d, m), fmt, Ns in (
        ((8, 32), "single_hop", (64, 128, 256, 512)),
        ((16, 64), "single_hop", (64, 128, 256, 512)),
        ((16, 64), "noisy", (16, 32, 64, 128)),
    ):
        copies = NOISY_COPIES_BOOK if fmt == "noisy" else RunConfig().noisy_copies
        for N in Ns:
            for s in seeds:
                pts.append(
                    RunConfig(
                        n_subjects=N, n_relations=E2_R, d_model=d, d_mlp=m, data_format=fmt, noisy_copies=copies, seed=s
                    )
                )
    return tuple(pts)


# --- disjoint attribute sets ------------------------------------------------------------------------------------

DJ_S = 256  # S of the d*-against-R log2 D grid
DJ_RS, DJ_DS = (1, 2, 4, 8), (2, 8, 32)
DJ_S_LINE = (64, 128, 256, 512, 1024)  # S of the d*-against-S line (D = 8, R = 4)
# the frozen control's one shape, as in Nichani et al.'s noisy task (several heads, D = 8)
DJ_CONTROL = dict(task="disjoint", n_relations=4, n_answers=8, d_model=16, d_mlp=64, n_heads=4)
DJ_S_GRID = (4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)  # steps of 1.33-1.5x
DJ_NOISY_STEPS = 8192  # B: the noisy control's step budget (4096 was budget-limited); boundary probes re-run at 2B
DJ_SR_STEPS = 4096  # the [s, r] control's step budget (2048 was budget-limited); boundary probes re-run at 2x
DJ_NOISY_BATCH = 256  # fresh noisy sequences per step; the boundary probes are re-run at 4x this batch
DJ_NOISY_EVAL = dict(data_format="noisy", noisy_copies=4, eval_every=256, batch_size=DJ_NOISY_BATCH)


def _dj_d_start(S: int, R: int, D: int) -> int:
    """First d probe: the grid value nearest the global counting bound at 2 bits per parameter (a prior)."""
    guess = max(
        1.0, float(disjoint_theory.disjoint_lower_bound_d(S, R, D, bits_per_param=theory.DEFAULT_BITS_PER_PARAM))
    )
    return _nearest(D_GRID, guess)


def _dj_dstar_lines(SRD: Iterable[tuple[int, int, int]], seeds=(0, 1, 2)) -> tuple[Line, ...]:
    lines = []
    for S, R, D in dict.fromkeys(SRD):  # ordered, without repeats
        base = RunConfig(task="disjoint", n_subjects=S, n_relations=R, n_answers=D, d_model=1, d_mlp=4)
        lines.append(Line(base=base, seeds=seeds, axis="d_model", grid=D_GRID, start=_dj_d_start(S, R, D)))
    return tuple(lines)


def _dj_frozen_line(data_format: str, start_S: int, seeds=(0, 1)) -> Line:
    if data_format == "noisy":
        base = RunConfig(n_subjects=4, freeze_embed=True, max_steps=DJ_NOISY_STEPS, **DJ_CONTROL, **DJ_NOISY_EVAL)
        checks = (Recheck(max_steps=2 * DJ_NOISY_STEPS), Recheck(batch_size=4 * DJ_NOISY_BATCH))
    else:
        base = RunConfig(n_subjects=4, freeze_embed=True, max_steps=DJ_SR_STEPS, **DJ_CONTROL)
        checks = (Recheck(max_steps=2 * DJ_SR_STEPS),)
    return Line(
        base=base,
        seeds=seeds,
        axis="n_subjects",
        grid=DJ_S_GRID,
        start=DJ_S_GRID.index(start_S),
        success_increases=False,
        rechecks=checks,
    )


def _dj_learned_at_control(Ss=(32, 128), seeds=(0, 1)) -> tuple[RunConfig, ...]:
    """Learned embeddings at the control's shape in the noisy format (same budget, batch and held-out judging)."""
    return tuple(
        RunConfig(n_subjects=S, max_steps=DJ_NOISY_STEPS, seed=s, **DJ_CONTROL, **DJ_NOISY_EVAL)
        for S in Ss
        for s in seeds
    )


def _disjoint() -> Preset:
    return Preset(
        name="disjoint",
        description="the appendix tables: d* on disjoint attribute sets (R, D, S), the frozen control at one shape",
        experiments=(
            Experiment(
                name="disjoint_dstar",
                description="d* search (learned embeddings, [s, r]), S = 256 x R x D and D = 8, R = 4 along S, 3 seeds",
                lines=_dj_dstar_lines([(DJ_S, R, D) for R in DJ_RS for D in DJ_DS] + [(S, 4, 8) for S in DJ_S_LINE]),
            ),
            Experiment(
                name="disjoint_frozen",
                description="frozen capacity along S (noisy, [s, r]), budget and batch rechecks; learned at the shape",
                lines=(_dj_frozen_line("noisy", 16), _dj_frozen_line("single_hop", 96)),
                points=_dj_learned_at_control(),
            ),
        ),
    )


# --- multi-hop (lines and grid: :mod:`georecall.sweep.multihop`) -----------------------------------------------


def _multihop() -> Preset:
    return Preset(
        name="multihop",
        description="Chapter 6: multi-hop d* at N = 64 (R in {2, 3}, h in {1, 2, 3}) and along N to 1024, both formats",
        experiments=(
            Experiment(
                name="multihop",
                description="d* of h-hop recall without and with CoT; 3 seeds (2: CoT at N >= 512), lr 3e-3 then 1e-2 "
                "if missed, 2^13 steps",
                # the committed N = 64 lines first (unchanged), then R = 3 at h = 3 and R = 2 along N
                lines=multihop_preset_lines(),
            ),
            Experiment(
                name="multihop_heldout",
                description="held-out chains at N = 64, R = 2, h = 2, d = 16: both formats x train fractions "
                f"{HELD_OUT_FRACTIONS} x 3 seeds, stopped at 99% of the training queries and trained all "
                f"{MULTIHOP_MAX_STEPS} steps with weight decay {HELD_OUT_LONG_WD} (the grokking setting)",
                points=held_out_points(HELD_OUT_D)
                + held_out_points(HELD_OUT_D, early_stop=False, weight_decay=HELD_OUT_LONG_WD),
            ),
        ),
    )


def _multihop_smoke() -> Experiment:
    """CI's multi-hop check: N = 16, R = 2, h in {1, 2}, one seed, lr 1e-2, 512 steps (seconds)."""
    lines = multihop_lines(16, (2,), (1, 2), seeds=(0,), lrs=(1e-2,), max_steps=512, eval_every=64)
    return Experiment(name="multihop_smoke", description="small multi-hop d* lines (pipeline check)", lines=lines)


def _smoke() -> Preset:
    return Preset(
        name="smoke",
        description="CI: E1 lines for N in {64, 128}, R in {1, 2, 4}; one frozen E2 line; a few minutes on 2 cores",
        experiments=(
            Experiment(
                name="e1_capacity", description="d* search (learned embeddings)", lines=_e1_lines(SMOKE_E1_PAIRS)
            ),
            Experiment(
                name="e2_frozen",
                description="frozen-embedding capacity search",
                lines=_e2_lines(((8, 32),), R=E2_R, data_format="single_hop"),
            ),
            Experiment(
                name="disjoint_dstar", description="one disjoint d* line (S = 64)", lines=_dj_dstar_lines([(64, 4, 8)])
            ),
            Experiment(
                name="disjoint_frozen",
                description="the first probe of the frozen [s, r] disjoint line",
                points=tuple(_dj_frozen_line("single_hop", 96).configs_at(DJ_S_GRID.index(96))),
            ),
            Experiment(name="probing", description="two points of the probing study", points=probing_smoke_points()),
            Experiment(
                name="crossset", description="three points of the cross-set study", points=crossset_smoke_points()
            ),
            _multihop_smoke(),
            Experiment(
                name="multihop_heldout",
                description="two points of the held-out chains (train fraction 0.9, seed 0, stopped at 99%)",
                points=tuple(
                    p for p in held_out_points(HELD_OUT_D, seeds=(0,)) if p.train_fraction == HELD_OUT_FRACTIONS[-1]
                ),
            ),
            Experiment(name="layers", description="one point of the layers study", points=layers_smoke_points()),
            Experiment(
                name="sentences",
                description="the first probe of the cheapest sentence line",
                points=sentence_smoke_points(),
            ),
        ),
    )


def _sentences() -> Preset:
    return Preset(
        name="sentences",
        description="Chapter 7: d* of L-layer models (L in {1, 2, 4}) on facts written as sentences, 2 seeds",
        experiments=(
            Experiment(
                name="sentences",
                description="d* of recall at the answer token; lines and pruning: georecall.sweep.sentences",
                lines=sentence_preset_lines(),
            ),
        ),
    )


def _probing() -> Preset:
    return Preset(
        name="probing",
        description="Chapters 4-5: probes and transfer, N = 256, R = 4, d in {8..44}, recipe ablations",
        experiments=(Experiment(name="probing", description="the probing study", points=probing_points()),),
    )


def _crossset() -> Preset:
    return Preset(
        name="crossset",
        description="Chapters 4-5: networks trained across K fact sets, N = 256, R = 4; zero-shot transfer and probes",
        experiments=(Experiment(name="crossset", description="the cross-set study", points=crossset_points()),),
    )


def _layers() -> Preset:
    return Preset(
        name="layers",
        description="Beyond one layer: L in {1, 2, 4} on fact sentences (N = 64, R = 2, d = 32); probes, ablations",
        experiments=(Experiment(name="layers", description="the layers study", points=layers_points()),),
    )


def _book() -> Preset:
    return Preset(
        name="book",
        description="the committed tables of Chapter 3: E1 N in 64..1024, R in {1, 2, 4, 8}; E2 frozen vs learned",
        experiments=(
            Experiment(
                name="e1_capacity",
                description="d* search (learned embeddings), 3 seeds, best of 3 learning rates per seed",
                lines=_e1_lines(E1_BOOK_PAIRS),
            ),
            Experiment(
                name="e2_frozen",
                description="frozen-embedding capacity search, [s, r] and noisy T = 32 formats, 2 seeds",
                lines=_e2_lines(E2_SHAPES_BOOK, R=E2_R, data_format="single_hop")
                + _e2_lines(E2_SHAPES_NOISY, R=E2_R, data_format="noisy", noisy_copies=NOISY_COPIES_BOOK, prior=0.02),
            ),
            Experiment(
                name="e2_learned",
                description="side by side: learned embeddings at the frozen control's (d, d_mlp) along N, 2 seeds",
                points=_side_by_side_points(),
            ),
        ),
    )


def _paper() -> Preset:
    return Preset(
        name="paper",
        description="full-scale grids: E1 N in 2^8..2^13, R in {1..16}, 2^14 steps; E2 d in {16, 32, 64}; GPU advised",
        experiments=(
            Experiment(
                name="e1_capacity",
                description="d* search, full grid",
                lines=_e1_lines(_pairs((256, 512, 1024, 2048, 4096, 8192), (1, 2, 4, 8, 16)), max_steps=2**14),
            ),
            Experiment(
                name="e2_frozen",
                description="frozen capacity, d in {16, 32, 64}, d_mlp in {d/4 .. 4d}",
                lines=_e2_lines(
                    [(d, m) for d in (16, 32, 64) for m in (d // 4, d // 2, d, 2 * d, 4 * d)],
                    R=E2_R,
                    data_format="single_hop",
                    max_steps=2**14,
                )
                + _e2_lines([(d, 4 * d) for d in (16, 32, 64)], R=E2_R, data_format="noisy", max_steps=2**14),
            ),
            Experiment(
                name="e2_learned",
                description="learned embeddings on the same capacity search",
                lines=_e2_lines(
                    [(d, 4 * d) for d in (16, 32, 64)], R=E2_R, data_format="single_hop", freeze=False, max_steps=2**14
                ),
            ),
        ),
    )


PRESETS: dict[str, Callable[[], Preset]] = {
    "smoke": _smoke,
    "book": _book,
    "disjoint": _disjoint,
    "probing": _probing,
    "crossset": _crossset,
    "layers": _layers,
    "multihop": _multihop,
    "sentences": _sentences,
    "paper": _paper,
}


def preset(name: str, *, device: str = "cpu") -> Preset:
    """The named preset (one of :data:`PRESETS`: smoke, book, disjoint, probing, crossset, layers, multihop,
    sentences, paper), moved to
    ``device``."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]().with_device(device)
