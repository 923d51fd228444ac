"""Chapter 6's multi-hop sweeps, declared (no torch at import): the d grid and search lines of the ``multihop`` preset
(N = 64 and the growth along N), and the held-out-chains study's point (:class:`HeldOutChains`).

**d* lines** (:func:`multihop_lines`): d* of trained one-layer models on all N R^h h-hop queries, without CoT (h
heads) and with CoT (teacher forcing, scored by decoding). Each probe trains every seed at lr = 3e-3 first; while
the probe's verdict is open, the seeds that missed 99% train again at 1e-2 (``search.Line.lrs``), and a seed succeeds
when either rate reaches 99%. The first probe is the grid value nearest the per-entity bits over
``MULTIHOP_START_BITS`` (R^h log2 N / 4 without CoT, R log2 N / 4 with it).

**The preset's lines** (:func:`multihop_preset_lines`): the committed N = 64 lines (R in {2, 3}, h in {1, 2, 3}, not R
= 3 at h = 3; their configs, hence their cache keys, are unchanged), then R = 3 at h = 3 at N = 64, then the growth
along N at R = 2: h in {1, 2} for N in ``MULTIHOP_GROWTH_N`` = {128, ..., 1024} and h = 3 for N <= 256, both formats
(at h = 1 they coincide: one line, no_cot). Pruning rule: the CoT lines at N >= ``MULTIHOP_FEW_SEEDS_N`` = 512 train
``MULTIHOP_FEW_SEEDS`` (2 seeds; a probe then needs both), because a CoT step costs 3.4-4x a no-CoT step there (h
positions read out, autograd through the rest): on one core a 3-seed stack step takes 0.095 s with CoT and 0.028 s
without at N = 1024, h = 2 (0.026 s and 0.0064 s at N = 512).

Cost estimate of the 18 new lines (``benchmarks/profile_multihop.py``): each line's model-steps taken as its N = 64
analogue's in the committed table (38k to 116k per line: a failing probe trains 3 seeds x 8192 steps at each of the
two rates), times the measured seconds per model-step, gives ~5000 CPU-seconds, ~42 min on 2 cores; one more
failing probe per line would add ~4000 s (~76 min in all). The CoT lines are ~2/3 of it; the longest line (CoT, h =
2, N = 1024) takes ~16 min on its own (~23 min with 3 seeds). Timings were taken while other jobs shared the 2 cores,
so they are somewhat inflated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .._checks import check_bool, check_choice, check_float, check_int, check_seed
from ..theory import multihop as multihop_theory
from . import cache as cache_mod
from .configs import COT, DEVICES, MULTIHOP_FORMATS, NO_COT, MultiHopConfig
from .search import Line

__all__ = [
    "MULTIHOP_N",
    "MULTIHOP_LRS",
    "MULTIHOP_MAX_STEPS",
    "MULTIHOP_D_BASE",
    "MULTIHOP_START_BITS",
    "MULTIHOP_GROWTH_N",
    "MULTIHOP_H3_MAX_N",
    "MULTIHOP_FEW_SEEDS_N",
    "MULTIHOP_FEW_SEEDS",
    "multihop_grid",
    "multihop_lines",
    "multihop_preset_lines",
    "HeldOutChains",
    "HELD_OUT_FRACTIONS",
    "HELD_OUT_D",
    "HELD_OUT_LONG_WD",
    "held_out_points",
]

MULTIHOP_N = 64  # the committed lines' N
MULTIHOP_LRS = (3e-3, 1e-2)  # tried in this order (the better one flips near d*): a seed succeeds if either reaches 99%
MULTIHOP_MAX_STEPS = 8192  # 2^13: near d* at R = 3 some runs need more than 4096 steps
MULTIHOP_D_BASE = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)  # d grid; rounded to multiples of the head count
MULTIHOP_START_BITS = 4.0  # first probe: per-entity bits / 4 (pilot runs stored ~3-4.5 bits per coordinate)
MULTIHOP_EVAL_EVERY = 128
MULTIHOP_GROWTH_N = (64, 128, 256, 512, 1024)  # N of the growth lines (R = 2, h in {1, 2})
MULTIHOP_H3_MAX_N = 256  # h = 3 (R = 2) lines up to this N
MULTIHOP_FEW_SEEDS_N = 512  # CoT lines at N >= this train MULTIHOP_FEW_SEEDS
MULTIHOP_FEW_SEEDS = (0, 1)


def multihop_grid(heads: int, base: Sequence[int] = MULTIHOP_D_BASE) -> tuple[int, ...]:
    """The d grid of a line whose model has ``heads`` heads: each base value rounded to a multiple of ``heads`` (the
    heads split d), duplicates dropped.

    >>> multihop_grid(3)
    (3, 6, 9, 12, 15, 24, 33, 48, 63)
    """
    return tuple(sorted({heads * max(1, round(v / heads)) for v in base}))


def _nearest(grid: Sequence[int], guess: float) -> int:
    """Index of the grid value nearest ``guess`` on a log scale: where a line's search starts."""
    return int(np.argmin([abs(math.log(g / guess)) for g in grid]))


def _multihop_start(N: int, R: int, h: int, fmt: str, grid: Sequence[int]) -> int:
    """First d probe: the grid value nearest the per-entity bits (R^h log2 N without CoT, R log2 N with it) over
    MULTIHOP_START_BITS; a prior that saves probes, the search moves away from it as needed."""
    bits = multihop_theory.per_entity_bits(N, R, h, fmt)
    guess = max(float(grid[0]), bits / MULTIHOP_START_BITS)
    return _nearest(grid, guess)


def multihop_lines(
    N: int, Rs: Iterable[int], hs: Iterable[int], *, seeds=(0, 1, 2), lrs=MULTIHOP_LRS, skip=(), **kw
) -> tuple[Line, ...]:
    """d* lines for every (R, h, format) except ``skip`` (a set of (R, h) pairs), each probe trying ``lrs`` in turn
    (the seeds still below the target only, while the verdict is open: ``search.Line.probe_verdict``). At h = 1 the
    two formats are the same data and the same model (one head, [x, N+r], target at the last position), so h = 1
    has one line, no_cot."""
    lines = []
    for R in Rs:
        for h in hs:
            if (R, h) in skip:
                continue
            for fmt in (NO_COT,) if h == 1 else (NO_COT, COT):
                heads = h if fmt == NO_COT else 1
                grid = multihop_grid(heads)
                base = MultiHopConfig(
                    n_subjects=N,
                    n_relations=R,
                    hops=h,
                    data_format=fmt,
                    n_heads=heads,
                    d_model=grid[0],
                    d_mlp=4 * grid[0],
                    **kw,
                )
                start = _multihop_start(N, R, h, fmt, grid)
                lines.append(Line(base=base, seeds=seeds, lrs=lrs, axis="d_model", grid=grid, start=start))
    return tuple(lines)


def _pruned(line: Line) -> Line:
    """The pruning rule on one growth line: a CoT line at N >= ``MULTIHOP_FEW_SEEDS_N`` keeps ``MULTIHOP_FEW_SEEDS``;
    every other line is kept whole."""
    b = line.base
    if b.data_format != COT or b.n_subjects < MULTIHOP_FEW_SEEDS_N:
        return line
    return Line(base=b, seeds=MULTIHOP_FEW_SEEDS, lrs=line.lrs, axis=line.axis, grid=line.grid, start=line.start)


def multihop_preset_lines() -> tuple[Line, ...]:
    """The ``multihop`` preset's lines, in order: the committed N = 64 lines (unchanged), R = 3 at h = 3 at N = 64,
    then R = 2 along N (h in {1, 2} to N = 1024, h = 3 to N = 256), pruned by :func:`_pruned` (module docstring)."""
    kw = dict(max_steps=MULTIHOP_MAX_STEPS, eval_every=MULTIHOP_EVAL_EVERY)
    committed = multihop_lines(MULTIHOP_N, (2, 3), (1, 2, 3), skip={(3, 3)}, **kw)
    r3h3 = multihop_lines(MULTIHOP_N, (3,), (3,), **kw)
    growth = []
    for N in MULTIHOP_GROWTH_N[1:]:
        hs = (1, 2, 3) if N <= MULTIHOP_H3_MAX_N else (1, 2)
        growth += [_pruned(line) for line in multihop_lines(N, (2,), hs, **kw)]
    return committed + r3h3 + tuple(growth)


# --- held-out chains --------------------------------------------------------------------------------------------

HELD_OUT_FRACTIONS = (0.5, 0.9)  # training shares of the h-hop queries the study uses
HELD_OUT_D = 16  # the study's width at N = 64, R = 2, h = 2: above both formats' d* on all queries (6 and 4)
HELD_OUT_LONG_WD = 0.1  # decoupled weight decay of the long runs (all max_steps past memorisation)


@dataclass(frozen=True, kw_only=True)
class HeldOutChains:
    """One held-out-chains point: train on a share ``train_fraction`` of the N R^h h-hop queries of ``make_task(N, R,
    seed)``, every single hop seen, and score the unseen queries (``georecall.run.heldout``).

    The split keeps at least one training query in every first-hop group (x, r_1) (the R^(h-1) queries that share
    it), so every single-hop fact (e, r) -> pi_r(e) is supervised: at r_1's position, as the target y_1 (a CoT
    sequence's own first target; added to the no-CoT sequences, whose final answer stays at the last position).
    Hence ``train_fraction`` must lie in [1/R^(h-1), 1): below it some group would lose every query. ``data_format``
    and the model's heads as in :class:`georecall.sweep.configs.MultiHopConfig` (h heads without CoT, one with it).
    Training: the sweeps' AdamW recipe at ``lr`` (decoupled ``weight_decay``) for at most ``max_steps``, stopping at
    99% of the training sequences (every targeted position right) unless ``early_stop`` is False: then it trains
    all ``max_steps`` past memorisation, the grokking setting in which composition may appear late.
    """

    n_subjects: int = 64
    n_relations: int = 2
    hops: int = 2
    data_format: str = NO_COT
    d_model: int = 16
    d_mlp: int | None = None  # None: 4 d
    train_fraction: float = 0.5
    lr: float = 3e-3
    weight_decay: float = 0.0
    max_steps: int = MULTIHOP_MAX_STEPS
    eval_every: int = MULTIHOP_EVAL_EVERY
    early_stop: bool = True
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_int("n_subjects (N)", self.n_subjects, 2, 2**16)
        check_int("n_relations (R)", self.n_relations, 1, 2**10)
        check_int("hops (h)", self.hops, 2, 8)  # one hop has no chain to hold out
        check_choice("data_format", self.data_format, MULTIHOP_FORMATS)
        check_int("d_model", self.d_model, 1, 2**12)
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model must be a multiple of n_heads = {self.n_heads} ({self.data_format}), got {self.d_model}"
            )
        if self.d_mlp is not None:
            check_int("d_mlp", self.d_mlp, 1, 2**14)
        lo = 1.0 / self.n_relations ** (self.hops - 1)
        check_float("train_fraction", self.train_fraction, lo, 1.0, hi_open=True)
        if self.n_heldout < 1:
            raise ValueError(
                f"train_fraction={self.train_fraction} holds out no query of the N R^h = {self.n_queries}; lower it"
            )
        check_float("lr", self.lr, 0.0, 1.0, lo_open=True)
        check_float("weight_decay", self.weight_decay, 0.0, 10.0)
        check_bool("early_stop", self.early_stop)
        check_int("max_steps", self.max_steps, 1, 2**20)
        check_int("eval_every", self.eval_every, 1, 2**20)
        check_seed("seed", self.seed)
        check_choice("device", self.device, DEVICES)

    @property
    def n_heads(self) -> int:
        """h without CoT (one head per hop), 1 with CoT."""
        return self.hops if self.data_format == NO_COT else 1

    @property
    def n_queries(self) -> int:
        """N R^h."""
        return self.n_subjects * self.n_relations**self.hops

    @property
    def n_heldout(self) -> int:
        """round((1 - train_fraction) N R^h) unseen queries."""
        return round((1.0 - self.train_fraction) * self.n_queries)

    def key(self) -> str:
        """The cache key (sha256 of canonical JSON with ``CACHE_VERSION``)."""
        return cache_mod.config_key(self)

    def group_key(self) -> tuple:
        """Every point is its own unit of work (``run.heldout.heldout_group``)."""
        return ("heldout", self.key())

    def memory_bytes(self) -> int:
        """A rough upper estimate of training memory: float32 logits over N entities at the targeted positions of
        the N R^h sequences, with log-softmax and gradients (4 x 4 N R^h T N bytes, T = 2h + 1), activations
        (8 x 4 N R^h T (d + m)) and weights with gradients and AdamW moments (4 x 4 (V + T) d + 2 d m)."""
        N, d = self.n_subjects, self.d_model
        m = self.d_mlp or 4 * d
        T = 2 * self.hops + 1
        V = N + self.n_relations
        n = self.n_queries
        return 16 * n * T * N + 32 * n * T * (d + m) + 16 * ((V + T) * d + 2 * d * m + 4 * d * d)


def held_out_points(
    d_model: int, *, N: int = MULTIHOP_N, R: int = 2, h: int = 2, seeds=(0, 1, 2), **kw
) -> tuple[HeldOutChains, ...]:
    """The study's grid at one width: both formats x ``HELD_OUT_FRACTIONS`` x ``seeds`` (format-major). ``d_model``
    is rounded to a multiple of h for the no-CoT model's h heads; ``kw`` sets the other fields (e.g. ``early_stop``)."""
    check_int("d_model", d_model, 1, 2**12)
    d_no_cot = h * max(1, round(d_model / h))
    return tuple(
        HeldOutChains(
            n_subjects=N,
            n_relations=R,
            hops=h,
            data_format=fmt,
            d_model=d_no_cot if fmt == NO_COT else d_model,
            train_fraction=f,
            seed=s,
            **kw,
        )
        for fmt in MULTIHOP_FORMATS
        for f in HELD_OUT_FRACTIONS
        for s in seeds
    )
