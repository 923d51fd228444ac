"""Argument validation shared by every public entry: one message format naming the parameter and its allowed range.

Types are strict: a bool is a bool (``"no"`` or ``1`` is not), an int is an int (numpy integers are accepted,
bools and floats are not), a float is a finite real number (ints and numpy floats accepted, bools, NaN and inf
not). A value of the wrong type raises :class:`ArgumentTypeError`, which is both a ``TypeError`` and a
``ValueError`` so that callers may catch either; a value out of range raises ``ValueError``. Every message starts
with the parameter's name.
"""

from __future__ import annotations

import math
import numbers
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = [
    "ArgumentTypeError",
    "MAX_SEED",
    "MAX_WORKERS",
    "check_int",
    "check_bool",
    "check_float",
    "check_seed",
    "check_choice",
    "check_writable_dir",
    "check_columns",
    "check_not_empty",
    "check_finite",
    "check_budget",
]

MAX_WORKERS = 1024  # worker processes or threads one call may start (more is a typo, not a machine)
MAX_SEED = 2**63 - 1  # seeds are non-negative 63-bit integers everywhere (repro.stream_seed hashes them)


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (also a ``ValueError``, the package's historical error for bad arguments)."""


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    """Return ``int(value)`` if ``value`` is an integer in [lo, hi] (no upper limit when ``hi`` is None).

    >>> check_int("N (n_subjects)", 8, 2)
    8
    >>> check_int("R (n_relations)", 0, 1, 64)
    Traceback (most recent call last):
    ...
    ValueError: R (n_relations) must be an int in [1, 64], got 0
    """
    allowed = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    if not _is_int(value):
        raise ArgumentTypeError(f"{name} must be an int {allowed}, got {value!r} of type {type(value).__name__}")
    if value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name} must be an int {allowed}, got {value!r}")
    return int(value)


def check_bool(name: str, value) -> bool:
    """Return ``value`` if it is a bool (``numpy.bool_`` accepted), else raise: ``"no"``, 0 and 1 are not bools.

    >>> check_bool("freeze_embed", "no")
    Traceback (most recent call last):
    ...
    georecall._checks.ArgumentTypeError: freeze_embed must be a bool (True or False), got 'no' of type str
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ArgumentTypeError(f"{name} must be a bool (True or False), got {value!r} of type {type(value).__name__}")


def check_float(
    name: str,
    value,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Return ``float(value)`` if it is a finite real number in the interval from ``lo`` to ``hi`` (open ends when
    ``lo_open``/``hi_open``; ``None`` = unbounded); NaN and inf are always refused.

    >>> check_float("lr", float("inf"), 0.0, lo_open=True)
    Traceback (most recent call last):
    ...
    ValueError: lr must be a finite number in (0.0, inf), got inf
    """
    left = "-inf" if lo is None else repr(float(lo))
    right = "inf" if hi is None else repr(float(hi))
    interval = f"{'(' if lo_open or lo is None else '['}{left}, {right}{')' if hi_open or hi is None else ']'}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(
            f"{name} must be a finite number in {interval}, got {value!r} of type {type(value).__name__}"
        )
    x = float(value)
    bad = not math.isfinite(x)
    bad = bad or (lo is not None and (x < lo or (lo_open and x == lo)))
    bad = bad or (hi is not None and (x > hi or (hi_open and x == hi)))
    if bad:
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return x


def check_seed(name: str, value) -> int:
    """A seed: an int in [0, 2^63 - 1] (negative seeds are refused everywhere in the package)."""
    return check_int(name, value, 0, MAX_SEED)


def check_choice(name: str, value, choices: Iterable) -> object:
    """Return ``value`` if it is one of ``choices`` (compared with ``==``, same type), else ``ValueError``."""
    choices = tuple(choices)
    if not any(type(value) is type(c) and value == c for c in choices):
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_writable_dir(name: str, path: str | os.PathLike, *, create: bool = True) -> Path:
    """Make sure ``path`` is a folder this process can write into, before any work starts: create it (and its
    parents) when ``create``, then write and delete a tiny probe file in it. Raises ``ValueError`` naming
    ``name`` and the path, with the operating system's reason, otherwise. Returns the path."""
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"{name} must be a path (str or os.PathLike), got {type(path).__name__}")
    if str(path).strip() == "":
        raise ValueError(f"{name} must not be empty (use '.' for the current folder)")
    folder = Path(path).expanduser()
    try:
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{name} {str(folder)!r} is not a folder (a file of that name exists)")
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            raise NotADirectoryError(f"{folder} is not a folder")
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".georecall-probe.", suffix=".tmp")
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as err:  # e.g. a path too long for the file system
        reason = err.strerror or str(err)
        shown = str(folder) if len(str(folder)) <= 200 else str(folder)[:200] + "..."
        raise ValueError(f"{name} {shown!r} is not a writable folder ({reason})") from None
    return folder


def check_columns(name: str, df, columns: Iterable[str], hint: str = "", *, non_empty: bool = False) -> None:
    """``df`` is a pandas DataFrame (anything with ``columns``) holding every one of ``columns`` (and at least one
    row when ``non_empty``); otherwise a ``TypeError`` or a ``ValueError`` naming ``name``, the missing columns and
    ``hint`` (what to pass instead)."""
    if not hasattr(df, "columns"):
        raise ArgumentTypeError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}" + (f"; {hint}" if hint else ""))
    if non_empty:
        check_not_empty(name, df, "it has no rows" + (f"; {hint}" if hint else ""))


def check_not_empty(name: str, value, what: str = ""):
    """Return ``value`` if it holds at least one item (a row of a DataFrame, an element of a sequence, array or
    mapping), else ``ValueError`` naming ``name``: an empty input never becomes an empty figure or a zero.

    >>> check_not_empty("groups", [], "one dict per bar group")
    Traceback (most recent call last):
    ...
    ValueError: groups must not be empty (one dict per bar group)
    """
    if isinstance(value, (str, bytes)):
        raise ArgumentTypeError(f"{name} must be a table, a sequence or a mapping, got {type(value).__name__}")
    try:
        n = len(value)
    except TypeError:
        raise ArgumentTypeError(
            f"{name} must be a table, a sequence or a mapping, got {type(value).__name__}"
        ) from None
    if n == 0:
        raise ValueError(f"{name} must not be empty" + (f" ({what})" if what else ""))
    return value


def _non_finite(array) -> bool:
    """True if the tensor or array ``array`` (floating or complex) holds a NaN or an infinity."""
    if hasattr(array, "isfinite") and hasattr(array, "detach"):  # a torch tensor (no torch import here)
        if array.dtype.is_floating_point or array.dtype.is_complex:
            return not bool(array.detach().isfinite().all())
        return False
    a = np.asarray(array)
    return a.dtype.kind in "fc" and not bool(np.isfinite(a).all())


def check_finite(name: str, value):
    """Return ``value`` if it holds no NaN or infinity, else ``ValueError`` naming ``name`` (and the parameter).

    ``value`` is a model (anything with ``named_parameters``: every parameter and buffer is checked, so a diverged
    model is never scored), a tensor, an array, a number or a sequence of numbers. Non-numeric values (strings,
    objects) and integer arrays pass; the caller checks their types.

    >>> check_finite("x", [1.0, float("nan")])
    Traceback (most recent call last):
    ...
    ValueError: x holds non-finite values (NaN or inf), which cannot be used
    """
    if hasattr(value, "named_parameters"):
        named = list(value.named_parameters())
        named += list(value.named_buffers()) if hasattr(value, "named_buffers") else []
        for pname, tensor in named:
            if _non_finite(tensor):
                raise ValueError(
                    f"{name} has non-finite weights (NaN or inf) in {pname}; a diverged model cannot be scored"
                )
        return value
    if isinstance(value, (bool, np.bool_, str, bytes)):
        return value
    if isinstance(value, numbers.Number):
        bad = isinstance(value, numbers.Real) and not math.isfinite(float(value))
    else:
        try:
            bad = _non_finite(value)
        except (TypeError, ValueError):  # ragged or non-numeric: not this check's business
            bad = False
    if bad:
        raise ValueError(f"{name} holds non-finite values (NaN or inf), which cannot be used")
    return value


def check_budget(what: str, n_bytes: int, max_bytes: int) -> int:
    """Return ``n_bytes`` if it is at most ``max_bytes``, else ``ValueError`` naming ``what``, the size and the budget,
    before anything is allocated (Python ints: no overflow, however large the size).

    >>> check_budget("x", 2**31, 2**30)
    Traceback (most recent call last):
    ...
    ValueError: x needs ~2.00 GiB (2147483648 bytes), above the memory budget max_bytes=1073741824 (1.00 GiB)
    """
    if n_bytes > max_bytes:
        raise ValueError(
            f"{what} needs ~{n_bytes / 2**30:.2f} GiB ({n_bytes} bytes), above the memory budget "
            f"max_bytes={max_bytes} ({max_bytes / 2**30:.2f} GiB)"
        )
    return n_bytes
