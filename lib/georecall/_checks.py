"""Argument validation shared by the configs: one message format naming the parameter and its allowed range."""

from __future__ import annotations


def check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    """Return ``value`` if it is an int in [lo, hi] (no upper limit when ``hi`` is None), else raise ``ValueError``.

    >>> check_int("N (n_subjects)", 8, 2)
    8
    >>> check_int("R (n_relations)", 0, 1, 64)
    Traceback (most recent call last):
    ...
    ValueError: R (n_relations) must be an int in [1, 64], got 0
    """
    allowed = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name} must be an int {allowed}, got {value!r}")
    return value
