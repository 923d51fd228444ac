"""Reading the ``sentences`` table (Chapter 7): d* per (L, N, R), recall curves against d, and the fit of d* against
R·log2 N per layer count.

Input: the committed ``sentences`` table (:mod:`georecall.sweep.tables`; one row per trained sentence-format point).
The success rule is the sweeps': a probe (one d of a line) succeeds when more than ``sweep.MAJORITY`` of its seeds
reach the target recall at the answer token on every training sentence (the table's ``accuracy``), each seed at the
best of the rates it tried; a failed run (NaN or infinite loss) never succeeds. Nothing here trains or imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._checks import check_columns, check_int
from ..theory import bijection as theory
from .bijection import _boundaries, _success_by_probe, fit_line, seed_summary  # the sweeps' probe and boundary rules

__all__ = ["SENTENCE_LINE", "sentence_thresholds", "sentence_curves", "dstar_fits"]

SENTENCE_LINE = ["n_layers", "n_subjects", "n_relations"]  # one d* line of the sentences table
_HINT = "pass the sentences table (load_table('sentences', ...))"


def _scored(df: pd.DataFrame) -> pd.DataFrame:
    """The table with every failed run's (a non-empty ``failed`` cell) accuracy set to -1: never a success."""
    if "failed" not in df.columns:
        return df
    ok = df["failed"].isna() | (df["failed"].astype(str) == "")
    return df.assign(accuracy=df["accuracy"].where(ok, -1.0))


def sentence_thresholds(df: pd.DataFrame, *, target: float = 0.99) -> pd.DataFrame:
    """d* per (L, N, R) of the ``sentences`` table: the smallest probed d at which a majority of seeds (each at its
    best rate) reach ``target`` recall on the training sentences. ``censored`` is "below" when the smallest probed d
    already succeeds, "above" when none does (d* is then the largest probe, a lower bound).

    Beside d*: ``R_log2_N`` = R·log2 N; ``info_bits`` H = R·log2(N!) (the facts' information,
    ``theory.information_bits``); ``n_params_at_d_star`` (every weight of the model at d*) and ``bits_per_param`` =
    H / that; ``steps_at_d_star``, the most steps a succeeding run at d* took (-1: none); ``heldout_at_d_star`` and
    ``inverse_at_d_star``, the mean over the succeeding runs at d* of the held-out-template and inverse recalls (NaN
    when there are none); ``probes``, how many d the line probed."""
    check_columns(
        "df", df, [*SENTENCE_LINE, "d_model", "seed", "lr", "accuracy", "steps", "n_params"], _HINT, non_empty=True
    )
    tab = _scored(df)
    probes = _success_by_probe(
        tab[[*SENTENCE_LINE, "d_model", "seed", "lr", "accuracy"]], SENTENCE_LINE, "d_model", target
    )
    rows = []
    for key, d_star, censored in _boundaries(probes, SENTENCE_LINE, "d_model", largest=False):
        rec = dict(zip(SENTENCE_LINE, (int(k) for k in key)))
        N, R = rec["n_subjects"], rec["n_relations"]
        at = tab[(tab[SENTENCE_LINE] == pd.Series(rec)).all(axis=1) & (tab["d_model"] == d_star)]
        ok = at[at["accuracy"] >= target]
        H = float(theory.information_bits(N, R))
        P = int(at["n_params"].max())
        rows.append(
            {
                **rec,
                "d_star": d_star,
                "censored": censored,
                "R_log2_N": R * math.log2(N),
                "info_bits": H,
                "n_params_at_d_star": P,
                "bits_per_param": H / P,
                "steps_at_d_star": int(ok["steps"].max()) if len(ok) else -1,
                "heldout_at_d_star": _mean(ok, "heldout_templates_accuracy"),
                "inverse_at_d_star": _mean(ok, "inverse_accuracy"),
                "probes": int((probes[SENTENCE_LINE] == pd.Series(rec)).all(axis=1).sum()),
            }
        )
    return pd.DataFrame(rows).sort_values(SENTENCE_LINE, ignore_index=True)


def _mean(df: pd.DataFrame, col: str) -> float:
    if col not in df.columns or df.empty:
        return math.nan
    values = pd.to_numeric(df[col], errors="coerce").dropna()
    return float(values.mean()) if len(values) else math.nan


def sentence_curves(df: pd.DataFrame, *, target: float = 0.99) -> pd.DataFrame:
    """Training recall against d per (L, N, R): each seed at the best of the rates it tried, then mean, min and max
    over seeds and ``n_ok`` of ``n_seeds`` at >= ``target``."""
    check_columns("df", df, [*SENTENCE_LINE, "d_model", "seed", "accuracy"], _HINT, non_empty=True)
    best = _scored(df).groupby([*SENTENCE_LINE, "d_model", "seed"], as_index=False).agg(accuracy=("accuracy", "max"))
    return seed_summary(best, [*SENTENCE_LINE, "d_model"], target=target)


def dstar_fits(thresholds: pd.DataFrame, *, by: Sequence[str] = ("n_layers",), min_points: int = 3) -> pd.DataFrame:
    """Per group of ``by`` (default: per layer count L), the least-squares line d* = a + b·R·log2 N through the
    uncensored thresholds (a censored d* is only a bound: left out, counted in ``n_censored``), with standard errors
    from the residual variance (``analyse.bijection.fit_line``):

        x = R log2 N,  b = sum (x - xbar)(d* - dbar) / sum (x - xbar)^2,  a = dbar - b xbar,
        se(b) = sqrt( RSS / (n - 2) / sum (x - xbar)^2 ).

    ``slope``, ``slope_se``, ``intercept``, ``intercept_se`` and ``r2`` are NaN with fewer than ``min_points`` (>= 3,
    so that RSS has a degree of freedom) distinct x. Works on any thresholds table with ``R_log2_N``, ``d_star`` and
    ``censored``: Chapter 3's :func:`georecall.analyse.bijection.thresholds` with ``by=["data_format",
    "freeze_embed"]`` fits the one-layer ``[s, r]`` line the same way."""
    by = list(by)
    check_columns(
        "thresholds",
        thresholds,
        [*by, "R_log2_N", "d_star", "censored"],
        "pass sentence_thresholds(...)",
        non_empty=True,
    )
    check_int("min_points", min_points, 3)
    rows = []
    for key, g in thresholds.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        censored = g["censored"].fillna("").astype(str) != ""
        ok = g[~censored]
        x, y = ok["R_log2_N"].to_numpy(float), ok["d_star"].to_numpy(float)
        n = int(len(np.unique(x)))
        fit = dict(slope=math.nan, slope_se=math.nan, intercept=math.nan, intercept_se=math.nan, r2=math.nan)
        if n >= min_points:
            f = fit_line(x, y)
            fit = dict(slope=f.slope, slope_se=f.slope_se, intercept=f.intercept, intercept_se=f.intercept_se, r2=f.r2)
        rows.append(
            {
                **dict(zip(by, key)),
                "n_points": n,
                "n_censored": int(censored.sum()),
                "x_min": float(x.min()) if len(x) else math.nan,
                "x_max": float(x.max()) if len(x) else math.nan,
                **fit,
            }
        )
    return pd.DataFrame(rows)
