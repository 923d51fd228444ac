"""The unit of work of the studies whose points train one by one (cross-set, held-out chains, layers): every point
measured in turn on a fixed number of torch threads, and the rule that a non-finite score is stored as None."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence

from .. import repro
from .._checks import check_int

__all__ = ["each_point", "finite_or_none"]


def finite_or_none(value):
    """A float that is not finite becomes None (the cache stores no NaN); anything else is kept."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def each_point(points: Sequence, measure: Callable[[object], dict], threads: int | None = 1) -> list[dict]:
    """``[measure(p) for p in points]`` on ``threads`` torch threads (1 by default, so the numbers do not depend on
    the machine's core count; None: leave the setting alone), with freed memory reused between points."""
    if threads is not None:
        check_int("threads", threads, 1)
    repro.reuse_freed_memory()
    with repro.torch_threads(threads) if threads is not None else contextlib.nullcontext():
        return [measure(p) for p in points]
