"""The threshold search, declared and tracked (no torch at import): what a line searches (:class:`Line`, with
its :class:`Recheck` variants) and where its search stands (:class:`LineState`).

A :class:`Line` walks an ordered grid of one axis (``d_model`` or ``n_subjects``) of a base
:class:`georecall.sweep.configs.RunConfig` to find where the majority of its seeds (more than ``sweep.MAJORITY``)
stops or starts reaching ``target_accuracy``. The walk starts at a theory-informed grid index, gallops until
the boundary is bracketed, then bisects; each probe depends only on earlier results, so a rerun probes exactly
the same points. The runner (:mod:`georecall.run.runner`) feeds it results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from .._checks import check_int
from .configs import D_GRID, RunConfig, majority

__all__ = ["Line", "LineState", "Recheck"]


@dataclass(frozen=True, kw_only=True)
class Recheck:
    """Once a line's boundary is bracketed, re-run its two boundary probes (last success, first failure) with
    these fields changed, e.g. ``Recheck(max_steps=2 * B)`` (the budget check: does doubling the steps change
    the answer?) or ``Recheck(batch_size=1024)``. ``None`` keeps the line's value."""

    max_steps: int | None = None
    batch_size: int | None = None

    def __post_init__(self) -> None:
        if self.max_steps is None and self.batch_size is None:
            raise ValueError("a Recheck must change max_steps or batch_size")
        if self.max_steps is not None:
            check_int("max_steps", self.max_steps, 1, 2**24)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, 1, 2**24)

    def apply(self, config: RunConfig) -> RunConfig:
        changes = {k: v for k, v in (("max_steps", self.max_steps), ("batch_size", self.batch_size)) if v is not None}
        return replace(config, **changes)


@dataclass(frozen=True, kw_only=True)
class Line:
    """A threshold search along ``axis`` over ``grid`` for one base config and several seeds.

    ``success_increases``: True when success becomes likelier up the grid (d*), False when it becomes
    rarer (capacity in N). ``start`` is the grid index probed first. ``lrs``: the learning rates tried at
    each probe, in this order (stage 0, 1, ...); a seed succeeds when any of them reaches the target. Empty:
    the base config's ``lr`` alone. ``rechecks``: variants run at the two boundary probes once the search is
    done, at the first rate (their rows join the table; they do not move the boundary).
    """

    base: RunConfig
    seeds: tuple[int, ...] = (0, 1, 2)
    axis: str = "d_model"
    grid: tuple[int, ...] = D_GRID
    start: int = 0
    success_increases: bool = True
    lrs: tuple[float, ...] = ()
    rechecks: tuple[Recheck, ...] = ()

    def __post_init__(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and non-empty, got {self.seeds}")
        if list(self.grid) != sorted(set(self.grid)) or not self.grid:
            raise ValueError(f"grid must be strictly increasing and non-empty, got {self.grid}")
        if not 0 <= self.start < len(self.grid):
            raise ValueError(f"start must be a grid index in [0, {len(self.grid) - 1}], got {self.start}")
        if not isinstance(self.lrs, tuple) or len(set(self.lrs)) != len(self.lrs):
            raise ValueError(f"lrs must be a tuple of distinct learning rates, got {self.lrs!r}")
        for v in self.grid:
            self.base.with_axis(self.axis, v)  # validates every grid value (negative sizes fail here)
        for lr in self.lrs:
            replace(self.base, lr=lr)  # validates every rate: a float in (0, 1]

    @property
    def rates(self) -> tuple[float, ...]:
        """The learning rates tried at each probe, in order: ``lrs``, or the base config's lr alone."""
        return self.lrs or (self.base.lr,)

    def stage_configs(self, index: int, stage: int, seeds: tuple[int, ...] | None = None) -> list[RunConfig]:
        """The points of one stage of the probe at grid ``index``: rate ``rates[stage]`` for ``seeds`` (default
        all), in seed order. They differ only in seed, so they train as one stack."""
        if not 0 <= stage < len(self.rates):
            raise ValueError(f"stage must be in [0, {len(self.rates) - 1}], got {stage}")
        seeds = self.seeds if seeds is None else seeds
        if not set(seeds) <= set(self.seeds):
            raise ValueError(f"seeds {seeds} are not all seeds of this line {self.seeds}")
        c = replace(self.base.with_axis(self.axis, self.grid[index]), lr=self.rates[stage])
        return [replace(c, seed=s) for s in self.seeds if s in seeds]

    def configs_at(self, index: int) -> list[RunConfig]:
        """Every point the probe at grid ``index`` may train: each seed at each rate (rate-major)."""
        return [c for stage in range(len(self.rates)) for c in self.stage_configs(index, stage)]

    def probe_verdict(self, ok: Mapping[int, bool], stage: int) -> tuple[bool | None, tuple[int, ...]]:
        """The probe's verdict after rates ``rates[0..stage]`` were tried; ``ok[seed]``: some tried rate reached
        the target for that seed (every seed of the line must be present).

        Returns ``(True, ())`` once more than ``MAJORITY`` of the seeds succeed, ``(False, ())`` when none is
        left to try (``stage`` was the last rate), else ``(None, failing seeds)``: try those at the next rate.
        """
        if set(ok) != set(self.seeds):
            raise ValueError(f"ok must hold exactly the line's seeds {self.seeds}, got {sorted(ok)}")
        if not 0 <= stage < len(self.rates):
            raise ValueError(f"stage must be in [0, {len(self.rates) - 1}], got {stage}")
        if majority(sum(bool(v) for v in ok.values()), len(self.seeds)):
            return True, ()
        if stage == len(self.rates) - 1:
            return False, ()
        return None, tuple(s for s in self.seeds if not ok[s])

    def recheck_configs(self, index: int) -> list[RunConfig]:
        """Every recheck variant of the probe at grid ``index`` (all seeds, the first rate)."""
        return [rc.apply(c) for rc in self.rechecks for c in self.stage_configs(index, 0)]


# --- the threshold search (pure bookkeeping; the runner feeds it results) ------------------------------------------


@dataclass
class LineState:
    """Where one threshold line's search stands: the probed grid indices and their majority verdicts."""

    line: Line
    results: dict[int, bool] = field(default_factory=dict)  # grid index -> majority success
    step: int = 1
    done: bool = False

    def boundary(self) -> list[int]:
        """The probed grid indices on either side of the boundary (one when the search ran off the grid)."""
        good = {i: (ok if self.line.success_increases else not ok) for i, ok in self.results.items()}
        lo = max((i for i, g in good.items() if not g), default=None)
        hi = min((i for i, g in good.items() if g), default=None)
        return [i for i in (lo, hi) if i is not None]

    def next_index(self, last: int) -> int | None:
        """Next grid index to probe after ``last``, or None once the boundary is bracketed (or off the grid).

        Internally "good" means success when success_increases (we look for the lowest good index) and
        failure otherwise (the lowest failing N); both reduce to: find the lowest index that is good.
        """
        good = {i: (ok if self.line.success_increases else not ok) for i, ok in self.results.items()}
        lo = max((i for i, g in good.items() if not g), default=-1)  # highest known bad
        hi = min((i for i, g in good.items() if g), default=len(self.line.grid))  # lowest known good
        if hi - lo <= 1:
            return None
        if lo == -1 or hi == len(self.line.grid):  # not bracketed yet: gallop away from the last probe
            direction = -1 if good[last] else 1
            nxt = last + direction * self.step
            self.step *= 2
            nxt = min(max(nxt, lo + 1), hi - 1)
            return nxt
        return (lo + hi) // 2
