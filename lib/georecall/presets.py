"""The named sweep presets: ``smoke`` (CI), ``book`` and ``probing`` (the committed tables), ``paper`` (GPU).

Each preset is a list of :class:`georecall.sweeps.Experiment`: E1 (d* searches with learned embeddings, threshold
lines along d), E2 (capacity searches with frozen embeddings, lines along N), and fixed grids (the learning-rate
check, learned embeddings at the frozen control's shapes); ``probing`` is the probing study of Chapters 4 and 5
(:func:`probing_points`). A search starts at a theory-informed grid index (the
counting bound for d*, a facts-per-parameter prior for capacity) and moves away from it as the results demand.
Every smoke line is also a book line, so CI re-trains a subset of the committed points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

import numpy as np

from . import theory
from .sweeps import D_GRID, N_GRID_FROZEN, Experiment, Line, Preset, ProbePoint, RunConfig

__all__ = ["PRESETS", "preset", "probing_points", "E2_R", "LR_CHECK_LRS", "PROBE_D", "PROBE_D_STAR"]


# --- presets --------------------------------------------------------------------------------------------------------


def _d_start(N: int, R: int, grid: Sequence[int] = D_GRID) -> int:
    """First d probe: the grid value nearest the counting bound at p = 1.5 bits/param (theory.lower_bound_d),
    where pilot runs put d*; only a prior that saves probes, the search moves away from it as needed."""
    guess = max(2.0, float(theory.lower_bound_d(N, R, bits_per_param=1.5)))
    return int(np.argmin([abs(math.log(g / guess)) for g in grid]))


def _n_start(d: int, m: int, R: int, grid: Sequence[int] = N_GRID_FROZEN, facts_per_param: float = 0.12) -> int:
    """First N probe for the frozen capacity: N*R ~ facts_per_param * P (a prior; the search corrects it)."""
    guess = max(grid[0], facts_per_param * theory.param_count(d, m) / R)
    return int(np.argmin([abs(math.log(g / guess)) for g in grid]))


def _e1_lines(Ns: Iterable[int], Rs: Iterable[int], *, skip=(), seeds=(0, 1, 2), **kw) -> tuple[Line, ...]:
    lines = []
    for R in Rs:
        for N in Ns:
            if (N, R) in skip:
                continue
            base = RunConfig(n_subjects=N, n_relations=R, d_model=D_GRID[0], d_mlp=4 * D_GRID[0], **kw)
            lines.append(Line(base=base, seeds=seeds, axis="d_model", grid=D_GRID, start=_d_start(N, R)))
    return tuple(lines)


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
LR_CHECK_LRS = (3e-3, 1e-2, 3e-2)


def _lr_check_points(Ns=(64, 128), Rs=(4, 8), seeds=(0, 1, 2)) -> tuple[RunConfig, ...]:
    """The learning-rate validation grid: accuracy of each lr at d = the E1 starting guess, 3 seeds."""
    pts = []
    for N in Ns:
        for R in Rs:
            d = D_GRID[_d_start(N, R)]
            for lr in LR_CHECK_LRS:
                for s in seeds:
                    pts.append(RunConfig(n_subjects=N, n_relations=R, d_model=d, d_mlp=4 * d, lr=lr, seed=s))
    return tuple(pts)


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


# --- the probing study (Chapters 4 and 5) ----------------------------------------------------------------------------

PROBE_N, PROBE_R = 256, 4
PROBE_D_STAR = 8  # d* at N = 256, R = 4 in Chapter 3's e1_capacity table (Chapter 4 re-reads it from the table)
PROBE_D = (8, 12, 16, 32, int(theory.block_dimension(PROBE_N, PROBE_R)))  # d*, 1.5 d*, 2 d*, 4 d*, construction's 44
PROBE_WD = (0.0, 0.1)
PROBE_SEEDS = (0, 1)
PROBE_STEPS = 2048  # every trained point runs this many steps, past 99% (no early stop), unless an ablation says
PROBE_ABLATION_D = (16, 44)  # ablations: one switch at a time from the core recipe at weight decay 0.1, seed 0
PROBE_WHERE_D = (8, 16)  # where_facts_live on the core points at d* and 2 d*
PROBE_TRANSFER_STEPS = 300  # protocols (c), (c') and where_facts_live


def _probe_run(d: int, *, m: int | None = None, wd: float = 0.1, seed: int = 0, **kw) -> RunConfig:
    return RunConfig(
        n_subjects=PROBE_N,
        n_relations=PROBE_R,
        d_model=d,
        d_mlp=4 * d if m is None else m,
        weight_decay=wd,
        seed=seed,
        max_steps=PROBE_STEPS,
        early_stop=False,
        **kw,
    )


def _probe(run: RunConfig, **kw) -> ProbePoint:
    return ProbePoint(run=run, transfer_steps=PROBE_TRANSFER_STEPS, transfer_eval_every=25, **kw)


def probing_points(part: str = "all") -> tuple[ProbePoint, ...]:
    """The probing study's grid (N = 256, R = 4, lr 1e-2, full batch, 2048 steps past 99% unless stated):

    - ``core``: d in {8, 12, 16, 32, 44} x weight decay {0, 0.1} x seeds {0, 1}, d_mlp = 4 d; where_facts_live
      at d in {8, 16};
    - ``ablations`` at d in {16, 44}, weight decay 0.1, seed 0, one switch each: tied W_U; W_U fixed at init;
      init scale 0.5 and 2; d_mlp 64 (= the construction's 2 R k) and 256; 8192 steps; stop at 99% (Chapter 3's
      recipe); weight decay 0.5;
    - ``controls``: the block construction (d = 44, d_mlp = 64) and an untrained d = 16 model, seed 0.
    """
    parts = ("all", "core", "ablations", "controls")
    if part not in parts:
        raise ValueError(f"part must be one of {parts}, got {part!r}")
    core = tuple(
        _probe(_probe_run(d, wd=wd, seed=s), where_facts=d in PROBE_WHERE_D)
        for d in PROBE_D
        for wd in PROBE_WD
        for s in PROBE_SEEDS
    )
    ablations = []
    for d in PROBE_ABLATION_D:
        runs = [
            _probe_run(d, tie_embed=True),
            _probe_run(d, freeze_unembed=True),
            _probe_run(d, init_scale=0.5),
            _probe_run(d, init_scale=2.0),
            *(_probe_run(d, m=m) for m in (int(theory.block_width(PROBE_N, PROBE_R)), 256) if m != 4 * d),
            replace(_probe_run(d), max_steps=4 * PROBE_STEPS),
            replace(_probe_run(d), early_stop=True),
            _probe_run(d, wd=0.5),
        ]
        ablations += [_probe(r) for r in runs]
    construction = _probe_run(PROBE_D[-1], m=int(theory.block_width(PROBE_N, PROBE_R)), wd=0.0)
    controls = (_probe(construction, source="construction"), _probe(_probe_run(16, wd=0.0), source="untrained"))
    chosen = {"core": core, "ablations": tuple(ablations), "controls": controls}
    return core + tuple(ablations) + controls if part == "all" else chosen[part]


def _probing_smoke_points() -> tuple[ProbePoint, ...]:
    """CI's subset of the probing grid: the construction, and the d = 16 model stopped at 99% (a stack of one in the
    book run too, so CI retrains it exactly as the committed tables did; stacked points differ in round-off)."""
    stop = [p for p in probing_points("ablations") if p.run.early_stop and p.run.d_model == 16]
    return probing_points("controls")[:1] + tuple(stop)


def _probing() -> Preset:
    return Preset(
        name="probing",
        description="Chapters 4-5: probes and transfer, N = 256, R = 4, d in {8..44}, recipe ablations; ~30 min",
        experiments=(Experiment(name="probing", description="the probing study", points=probing_points()),),
    )


def _smoke() -> Preset:
    return Preset(
        name="smoke",
        description="CI: E1 lines for N in {64, 128}, R in {1, 2, 4}; one frozen E2 line; a few minutes on 2 cores",
        experiments=(
            Experiment(
                name="e1_capacity", description="d* search (learned embeddings)", lines=_e1_lines((64, 128), (1, 2, 4))
            ),
            Experiment(
                name="e2_frozen",
                description="frozen-embedding capacity search",
                lines=_e2_lines(((8, 32),), R=E2_R, data_format="single_hop"),
            ),
            Experiment(name="probing", description="two points of the probing study", points=_probing_smoke_points()),
        ),
    )


def _book() -> Preset:
    return Preset(
        name="book",
        description="the committed tables of Chapter 3: E1 N in 64..1024, R in {1, 2, 4, 8}; E2 frozen vs learned",
        experiments=(
            Experiment(
                name="e1_capacity",
                description="d* search (learned embeddings), 3 seeds",
                # N^2 R sets the cost of a step: N = 1024 at R = 8 and N >= 2048 are left to the paper preset
                lines=_e1_lines((64, 128, 256, 512, 1024), (1, 2, 4, 8), skip={(1024, 8)}),
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
            Experiment(
                name="e1_lr_check", description="lr in {3e-3, 1e-2, 3e-2} at the E1 start d", points=_lr_check_points()
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
                lines=_e1_lines((256, 512, 1024, 2048, 4096, 8192), (1, 2, 4, 8, 16), max_steps=2**14),
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


PRESETS: dict[str, Callable[[], Preset]] = {"smoke": _smoke, "book": _book, "probing": _probing, "paper": _paper}


def preset(name: str, *, device: str = "cpu") -> Preset:
    """The named preset (``smoke``, ``book``, ``paper``), moved to ``device``."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]().with_device(device)
