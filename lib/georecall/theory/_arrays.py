"""The array helpers of the closed forms: numeric checks that accept scalars or arrays, and a scalar-or-array result.

The theory modules take N, R, d ... as Python numbers or numpy arrays (a whole grid at once); these checks give the
one message format for both.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["lgamma", "scalar_or_array", "check_positive_array", "check_int_array"]

lgamma = np.vectorize(math.lgamma, otypes=[float])


def scalar_or_array(x):
    """Return a Python scalar for 0-d results, the array otherwise."""
    x = np.asarray(x)
    return x.item() if x.ndim == 0 else x


def check_positive_array(name: str, value, lo: float) -> np.ndarray:
    """``value`` as an array: numeric, non-empty, finite and >= ``lo`` (else a ValueError naming ``name``)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf" or arr.size == 0:
        raise ValueError(f"{name} must be a number or a non-empty numeric array, got {value!r}")
    if np.any(~np.isfinite(arr)) or np.any(arr < lo):
        raise ValueError(f"{name} must be finite and >= {lo}, got {value!r}")
    return arr


def check_int_array(name: str, value, lo: int) -> np.ndarray:
    """``value`` as an int64 array: whole numbers >= ``lo`` (else a ValueError naming ``name``)."""
    arr = check_positive_array(name, value, lo)
    if arr.dtype.kind == "f" and np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    return arr.astype(np.int64)
