"""The probing study's grid (Chapters 4 and 5): the points of the ``probing`` preset and its ``smoke`` subset.

Every point is a :class:`georecall.sweeps.ProbePoint` on N = 256 subjects and R = 4 relations: a core grid in d and
weight decay with two seeds, one-switch ablations with one seed, and two controls (the block construction, an
untrained model). :mod:`georecall.presets` turns them into the ``probing`` preset; no torch at import.
"""

from __future__ import annotations

from dataclasses import replace

from . import theory
from .sweeps import ProbePoint, RunConfig

__all__ = ["probing_points", "probing_smoke_points", "PROBE_D", "PROBE_D_STAR", "PROBE_ABLATION_D", "PROBE_STEPS"]

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


def probing_smoke_points() -> tuple[ProbePoint, ...]:
    """CI's subset of the probing grid: the construction, and the d = 16 model stopped at 99% (a stack of one in the
    book run too, so CI retrains it exactly as the committed tables did; stacked points differ in round-off)."""
    stop = [p for p in probing_points("ablations") if p.run.early_stop and p.run.d_model == 16]
    return probing_points("controls")[:1] + tuple(stop)
