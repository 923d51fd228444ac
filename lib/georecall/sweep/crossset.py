"""The cross-set study's points (Chapters 4 and 5): :class:`CrossSetPoint`, the ``crossset`` grid and its ``smoke``
subset [recon].

A point is one network trained across K fact sets (:mod:`georecall.train.crossset`), then measured on its own sets and
zero-shot on a fresh draw (:mod:`georecall.run.crossset`). The fields mirror ``model.crossset.CrossSetConfig``, with K
written ``"inf"`` for fresh sets at every step (JSON has no infinity); no torch at import.

The grid (N = 256, R = 4, 2000 steps of AdamW at lr 1e-2, 16 sets a step, 2 seeds), pruned where the prototype runs
already decided a cell (the pruning is part of the preset, so the committed table says what was not run):

- ``encoded``: K in {1, 4, 16, 64, inf} x d in {8, 16, 32, 44} (about Chapter 3's d* = 7, twice and four times
  that, and the block construction's R k + R + k; the probing study's grid);
- ``free``, ``free_penalty``, ``encoded_residual``: K in {1, 4, 16, 64} at d = 44 only. In the prototype none of the
  three transferred beyond 37% at d = 32 with K = 16, where ``encoded`` reached 75 to 79% (and 99.4 to 100% at
  K >= 64); the construction's d is the most room any of them gets, so a failure there decides the smaller d;
- ``threshold``: ``encoded`` at K = inf, one seed, along d at N = 64 (d in {4, 8, 12, 16, 24}) and a spot check at
  N = 1024 (d = 44, 4 sets a step: each step reads 4 x 4096 facts): the transfer threshold against R log2 N;
- ``controls``: the untrained network (steps = 0) of the encoded and free parameterizations at d = 44.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .._checks import ArgumentTypeError, check_choice, check_float, check_int, check_seed
from ..theory import bijection as theory
from . import cache as cache_mod

__all__ = [
    "CrossSetPoint",
    "PARAMETERIZATIONS",
    "CROSS_N",
    "CROSS_R",
    "CROSS_D",
    "CROSS_K",
    "CROSS_STEPS",
    "crossset_points",
    "crossset_smoke_points",
    "k_label",
]

PARAMETERIZATIONS = ("free", "encoded", "encoded_residual", "free_penalty")  # model.crossset's, torch-free here
INF = "inf"  # K = infinity: fresh bijections every step


def k_label(K) -> str:
    """K as the chapters write it (an int, "inf" or a float read back from a table): "∞" for fresh sets at every step.

    >>> k_label(16.0), k_label("inf"), k_label(float("inf"))
    ('16', '∞', '∞')
    """
    return "∞" if math.isinf(float(K)) else str(int(float(K)))


@dataclass(frozen=True, kw_only=True)
class CrossSetPoint:
    """One cross-set training run and its measurements (``georecall.run.crossset``): N, R, d (d_mlp = 4 d), K (an int
    >= 1 or ``"inf"``), the parameterization, the recipe (AdamW, constant ``lr``, ``sets_per_step`` sets a step,
    ``steps`` steps; 0 = the untrained control), the penalty weight of ``free_penalty``, and the Adam steps of the
    embedding-only protocols (c) and (c') on a fresh draw. ``seed`` seeds the sets, the network and the set order;
    the fresh draw is seeded by ``1000 + seed``."""

    n_subjects: int = 256
    n_relations: int = 4
    d_model: int = 32
    n_sets: int | str = 16
    parameterization: str = "encoded"
    steps: int = 2000
    lr: float = 1e-2
    sets_per_step: int = 16
    penalty: float = 1.0
    protocol_steps: int = 300
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_int("n_subjects (N)", self.n_subjects, 2, 2**16)
        check_int("n_relations (R)", self.n_relations, 1, 64)
        check_int("d_model (d)", self.d_model, 1, 4096)
        if self.n_sets != INF:
            if isinstance(self.n_sets, str):
                raise ValueError(f"n_sets (K) must be an int in [1, 1048576] or 'inf', got {self.n_sets!r}")
            check_int("n_sets (K)", self.n_sets, 1, 2**20)
        check_choice("parameterization", self.parameterization, PARAMETERIZATIONS)
        if self.n_sets == INF and self.parameterization != "encoded":
            raise ValueError(f"n_sets (K) = 'inf' needs parameterization 'encoded', got {self.parameterization!r}")
        check_int("steps", self.steps, 0, 2**20)
        check_float("lr", self.lr, 0.0, lo_open=True)
        check_int("sets_per_step", self.sets_per_step, 1, 4096)
        check_float("penalty", self.penalty, 0.0)
        check_int("protocol_steps", self.protocol_steps, 0, 2**20)
        check_seed("seed", self.seed)
        if self.device != "cpu":
            raise ValueError(f"device must be 'cpu' (the cross-set trainer runs on the CPU), got {self.device!r}")

    @property
    def K(self) -> float:
        """K as a number (math.inf for ``"inf"``)."""
        return math.inf if self.n_sets == INF else float(self.n_sets)

    def config_kwargs(self) -> dict:
        """The keyword arguments of ``model.crossset.CrossSetConfig`` for this point (one seed for sets, init and
        order)."""
        return dict(
            n_subjects=self.n_subjects,
            n_relations=self.n_relations,
            d_model=self.d_model,
            n_sets=math.inf if self.n_sets == INF else self.n_sets,
            parameterization=self.parameterization,
            penalty=self.penalty,
            sets_per_step=self.sets_per_step,
            steps=self.steps,
            lr=self.lr,
            eval_every=max(self.steps // 8, 1),
            seed=self.seed,
            init_seed=self.seed,
            data_seed=self.seed,
        )

    def key(self) -> str:
        """The cache key (sha256 of canonical JSON with ``CACHE_VERSION``)."""
        return cache_mod.config_key(self)

    def group_key(self) -> tuple:
        """Every point is its own unit of work (cross-set runs do not stack)."""
        return ("crossset", self.key())

    def asdict(self) -> dict:
        return asdict(self)

    def memory_bytes(self) -> int:
        """A rough upper estimate of training memory: float32 logits of a step's S N R queries over N attributes with
        their log-softmax and gradients (4 x 4 S N R N bytes), activations (8 x 4 S N R 2 (d + 4 d)) and the
        per-set tables with gradients and AdamW moments (4 x 4 K N d)."""
        N, R, d = self.n_subjects, self.n_relations, self.d_model
        S = self.sets_per_step if self.n_sets == INF else min(int(self.n_sets), self.sets_per_step)
        K = 0 if self.n_sets == INF else int(self.n_sets)
        return 16 * S * N * R * N + 64 * S * N * R * 5 * d + 16 * K * N * d


CROSS_N, CROSS_R = 256, 4
CROSS_D = (8, 16, 32, int(theory.block_dimension(CROSS_N, CROSS_R)))  # d*, 2 d*, 4 d*, the construction's 44
CROSS_K = (1, 4, 16, 64, INF)
CROSS_SEEDS = (0, 1)
CROSS_STEPS = 2000
THRESHOLD_D = {64: (4, 8, 12, 16, 24), 1024: (44,)}  # the K = inf line at N = 64 and 1024, R = 4
THRESHOLD_SETS_PER_STEP = {64: 16, 1024: 4}


def crossset_points(part: str = "all") -> tuple[CrossSetPoint, ...]:
    """The cross-set grid (module docstring): ``part`` in all, encoded, others, threshold, controls."""
    parts = ("all", "encoded", "others", "threshold", "controls")
    if part not in parts:
        raise ValueError(f"part must be one of {parts}, got {part!r}")
    base = dict(n_subjects=CROSS_N, n_relations=CROSS_R, steps=CROSS_STEPS)
    d_max = CROSS_D[-1]
    chosen = {
        "encoded": tuple(
            CrossSetPoint(**base, d_model=d, n_sets=K, parameterization="encoded", seed=s)
            for s in CROSS_SEEDS
            for d in CROSS_D
            for K in CROSS_K
        ),
        "others": tuple(
            CrossSetPoint(**base, d_model=d_max, n_sets=K, parameterization=p, seed=s)
            for s in CROSS_SEEDS
            for p in ("free", "free_penalty", "encoded_residual")
            for K in CROSS_K
            if K != INF
        ),
        "threshold": tuple(
            CrossSetPoint(
                n_subjects=N,
                n_relations=CROSS_R,
                steps=CROSS_STEPS,
                d_model=d,
                n_sets=INF,
                sets_per_step=THRESHOLD_SETS_PER_STEP[N],
                seed=0,
            )
            for N, ds in THRESHOLD_D.items()
            for d in ds
        ),
        "controls": tuple(
            CrossSetPoint(**{**base, "steps": 0}, d_model=d_max, n_sets=K, parameterization=p, seed=0)
            for p, K in (("encoded", INF), ("free", 16))
        ),
    }
    if part != "all":
        return chosen[part]
    return chosen["encoded"] + chosen["others"] + chosen["threshold"] + chosen["controls"]


def crossset_smoke_points() -> tuple[CrossSetPoint, ...]:
    """CI's subset: committed points cheap enough for the smoke preset (K = 1 and K = 4 of ``encoded`` at d = 16,
    seed 0, and the N = 64 threshold point at d = 8), each retrained and compared with its committed row."""
    pts = [p for p in crossset_points("encoded") if p.seed == 0 and p.d_model == 16 and p.n_sets in (1, 4)]
    pts += [p for p in crossset_points("threshold") if p.n_subjects == 64 and p.d_model == 8]
    return tuple(pts)


def check_point(obj) -> CrossSetPoint:
    """A :class:`CrossSetPoint` from itself or its ``asdict()``."""
    if isinstance(obj, CrossSetPoint):
        return obj
    if isinstance(obj, dict):
        return CrossSetPoint(**obj)
    raise ArgumentTypeError(f"a cross-set point must be a CrossSetPoint or its asdict(), got {type(obj).__name__}")
