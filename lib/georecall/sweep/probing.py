"""The probing study's points (Chapters 4 and 5): :class:`ProbePoint`, the ``probing`` grid and its ``smoke`` subset.

Every point is a :class:`ProbePoint` on N = 256 subjects and R = 4 relations: a core grid in d and
weight decay with two seeds, one-switch ablations with one seed, and two controls (the block construction, an
untrained model). :mod:`georecall.sweep.presets` turns them into the ``probing`` preset; no torch at import.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .._checks import check_int
from ..theory import bijection as theory
from . import cache as cache_mod
from .configs import RunConfig

__all__ = [
    "ProbePoint",
    "SOURCES",
    "probing_points",
    "probing_smoke_points",
    "PROBE_D",
    "PROBE_D_STAR",
    "PROBE_ABLATION_D",
    "PROBE_STEPS",
]

SOURCES = ("trained", "construction", "untrained")  # where a probing point's model comes from


@dataclass(frozen=True, kw_only=True)
class ProbePoint:
    """One point of the probing study: a model, then every probe and transfer protocol on it (``georecall.run.study``).

    ``run`` fixes the task (``make_task(N, R, seed)``, [s, r] format), the model's shape and switches and the
    recipe. ``source``: ``"trained"`` (trained by ``run``'s recipe), ``"construction"`` (the hand-built block
    construction of the task, the positive control; ``run``'s d_model and d_mlp must be its R k + R + k and 2 R k,
    ``theory.block_dimension`` / ``theory.block_width``) or ``"untrained"`` (``run``'s model at init, the negative
    control). ``transfer_steps``: Adam steps of the embedding-only protocols (c) and (c') (0 skips them), their
    curves evaluated every ``transfer_eval_every`` steps; ``where_facts`` also re-stores the model's own facts
    through its frozen network with W_U as trained, shuffled and Gaussian (three more such trainings).
    """

    run: RunConfig
    source: str = "trained"
    transfer_steps: int = 500
    transfer_eval_every: int = 50
    where_facts: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.run, RunConfig):
            raise TypeError(f"run must be a RunConfig, got {type(self.run).__name__}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.run.task != "bijection":
            raise ValueError(
                f"the probing study runs on random bijections: run.task must be 'bijection', got {self.run}"
            )
        if self.run.data_format != "single_hop":
            raise ValueError(f"the probes read [s, r] queries: run.data_format must be 'single_hop', got {self.run}")
        check_int("transfer_steps", self.transfer_steps, 0, 2**20)
        check_int("transfer_eval_every", self.transfer_eval_every, 1, 2**20)
        if not isinstance(self.where_facts, bool):
            raise TypeError(f"where_facts must be a bool, got {self.where_facts!r}")
        if self.where_facts and self.transfer_steps == 0:
            raise ValueError("where_facts needs transfer_steps > 0 (it re-stores the facts by embedding-only training)")
        if self.source == "construction":
            N, R = self.run.n_subjects, self.run.n_relations
            want = (int(theory.block_dimension(N, R)), int(theory.block_width(N, R)))
            if (self.run.d_model, self.run.d_mlp) != want:
                raise ValueError(
                    f"source='construction' at N={N}, R={R} has (d_model, d_mlp) = {want}, "
                    f"got ({self.run.d_model}, {self.run.d_mlp})"
                )

    @property
    def device(self) -> str:
        return self.run.device

    def key(self) -> str:
        """The cache key (sha256 of canonical JSON with ``CACHE_VERSION``), distinct from the run's own key."""
        return cache_mod.config_key(self)

    def group_key(self) -> tuple:
        """Trained points with equal group keys train as one stack; other sources are grouped by shape only."""
        return ("probe", self.source, self.run.group_key())


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
