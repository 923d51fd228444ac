"""Analysis of the cross-set study's tables (``crossset``, ``crossset_gates``): summaries over seeds, the zero-shot
transfer threshold per K, the best zero-shot accuracy per parameterization and K, and gate pictures.

Pandas only, no torch: Chapters 4 and 5 read the committed tables through these functions. K is the column
``n_sets`` (read back from the CSV as a float, ``inf`` for fresh sets at every step).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._checks import check_columns
from ..sweep.crossset import k_label
from ..sweep.tables import CROSSSET_POINT_COLUMNS
from .probing import unit_picture

__all__ = [
    "PARAMETERIZATIONS",
    "METRICS",
    "k_label",
    "trained_rows",
    "control_rows",
    "summarise",
    "transfer_thresholds",
    "best_zero_shot",
    "gate_picture",
]

PARAMETERIZATIONS = {  # parameterization -> label used in the chapters
    "encoded": "encoded: e = Σ_r A_r u_π_r(s) + b",
    "encoded_residual": "encoded + free residual",
    "free_penalty": "free + superposition penalty",
    "free": "free tables",
}
METRICS = (  # the columns summarise() averages over seeds
    "train_accuracy",
    "zs_encoder",
    "zs_superposition",
    "zs_selector_inverse",
    "zs_random",
    "zs_lookup",
    "zs_trained",
    "zs_random_network",
    "zs_untrained_encoder",
    "trained_rows_r2",
    "encoder_fit_r2",
    "probe_superposition_r2",
    "probe_selectivity",
    "probe_selectivity_random_net",
    "probe_linear_branch_r2",
)
GROUP = ["n_subjects", "n_relations", "parameterization", "n_sets", "d_model"]


def _check(df: pd.DataFrame, cols: Sequence[str], name: str) -> None:
    check_columns(name, df, cols)
    if df.empty:
        raise ValueError(f"{name} has no rows")


def trained_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The trained points (steps > 0) of a ``crossset`` table."""
    _check(df, CROSSSET_POINT_COLUMNS, "crossset")
    return df[df["steps"] > 0].reset_index(drop=True)


def control_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The untrained controls (steps = 0) of a ``crossset`` table."""
    _check(df, CROSSSET_POINT_COLUMNS, "crossset")
    return df[df["steps"] == 0].reset_index(drop=True)


def summarise(df: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """One row per (N, R, parameterization, K, d) of the trained points: each metric's mean, ``<metric>_min`` and
    ``<metric>_max`` over seeds, and ``n_seeds``; sorted by the group columns (K ascending, ∞ last)."""
    rows = trained_rows(df)
    check_columns("crossset", rows, list(metrics))
    g = rows.groupby(GROUP, sort=True)
    out = g[list(metrics)].mean()
    out = out.join(g[list(metrics)].min().add_suffix("_min")).join(g[list(metrics)].max().add_suffix("_max"))
    out["n_seeds"] = g.size()
    return out.reset_index()


def transfer_thresholds(df: pd.DataFrame, *, target: float = 0.99, metric: str = "zs_encoder") -> pd.DataFrame:
    """Per (N, R, parameterization, K): the smallest d of the grid at which every seed's zero-shot accuracy
    (``metric``) reaches ``target``, with ``censored`` = "above" (NaN threshold) when no d tried does, "below" when the
    smallest d tried already does; ``R_log2_N`` = R log2 N and the d values tried."""
    if not 0 < target <= 1:
        raise ValueError(f"target must be in (0, 1], got {target}")
    summ = summarise(df, [metric])
    out = []
    for key, g in summ.groupby(GROUP[:-1], sort=True):
        g = g.sort_values("d_model")
        ok = g[g[f"{metric}_min"] >= target]["d_model"]
        d_tried = [int(d) for d in g["d_model"]]
        first = int(ok.min()) if len(ok) else float("nan")
        censored = "above" if not len(ok) else ("below" if first == d_tried[0] else "")
        N, R = int(key[0]), int(key[1])
        out.append(
            {
                **dict(zip(GROUP[:-1], key)),
                "d_threshold": first,
                "censored": censored,
                "R_log2_N": R * math.log2(N),
                "d_tried": ", ".join(map(str, d_tried)),
            }
        )
    return pd.DataFrame(out)


def best_zero_shot(df: pd.DataFrame, *, n_subjects: int = 256, metric: str = "zs_encoder") -> pd.DataFrame:
    """Per (parameterization, K) at N = ``n_subjects``: the best zero-shot accuracy (``metric``) over d and seeds,
    where it was reached, and that model's training accuracy and controls."""
    rows = trained_rows(df)
    check_columns("crossset", rows, [metric])
    rows = rows[rows["n_subjects"] == n_subjects]
    if rows.empty:
        raise ValueError(f"crossset has no trained rows at n_subjects = {n_subjects}")
    best = rows.loc[rows.groupby(["parameterization", "n_sets"])[metric].idxmax()]
    cols = ["parameterization", "n_sets", "d_model", "seed", metric, "train_accuracy", "zs_random", "zs_lookup"]
    cols += ["zs_untrained_encoder"]
    return best[cols].sort_values(["parameterization", "n_sets"]).reset_index(drop=True)


def gate_picture(gates: pd.DataFrame, **where) -> pd.DataFrame:
    """The gate picture of one cross-set point (selected by ``where``, e.g. ``parameterization="encoded",
    n_sets=np.inf``): a [R, m] frame of abar[j, r] / max_r' abar[j, r'] (dead units dropped), units sorted by
    preferred relation, then by selectivity (the layout of Chapter 4's gate pictures)."""
    _check(gates, [*CROSSSET_POINT_COLUMNS, "unit", "relation", "activation"], "crossset_gates")
    mask = np.ones(len(gates), dtype=bool)
    for k, v in where.items():
        if k not in gates.columns:
            raise ValueError(f"unknown column {k!r}; crossset_gates has {list(gates.columns)}")
        mask &= (gates[k] == v).to_numpy()
    rows = gates[mask]
    n_points = len(rows.drop_duplicates(subset=list(CROSSSET_POINT_COLUMNS)))
    if n_points != 1:
        raise ValueError(f"gate_picture needs exactly one point, {where} selects {n_points}")
    return unit_picture(rows)
