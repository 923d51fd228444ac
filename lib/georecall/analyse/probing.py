"""Analysis of the probing study's tables (``probing``, ``transfer``, ``gates``): recipes, summaries, best cases.

Pandas only, no torch: Chapters 4 and 5 read the committed tables through these functions. Every function takes
the tidy tables of :mod:`georecall.sweep.tables` and returns a small DataFrame or a dict of numbers; recipes are named
by :func:`recipe_labels` from the point columns (the core grid, one-switch ablations, the two controls).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._checks import ArgumentTypeError, check_columns, check_not_empty
from ..sweep.probing import PROBE_STEPS
from ..sweep.tables import POINT_COLUMNS

__all__ = [
    "CORE",
    "CONSTRUCTION",
    "UNTRAINED",
    "PROTOCOLS",
    "recipe_labels",
    "with_recipe",
    "summarise",
    "transfer_finals",
    "transfer_summary",
    "best_transfer",
    "where_facts",
    "gate_picture",
    "unit_picture",
    "point_rows",
    "core_rows",
    "best_core",
    "bar_group",
]

CORE, CONSTRUCTION, UNTRAINED = "core", "construction", "untrained"
PROTOCOLS = {  # protocol -> label used in the chapters
    "superposition": "(a) superposition map",
    "selector_inverse": "(b) selector inverse (mlp_out)",
    "selector_inverse_resid_post": "(b') selector inverse (resid_post)",
    "trained": "(c) train embeddings only",
    "random_network": "(c') same, random network",
    "random": "(d) random rows",
    "lookup": "lookup baseline",
}
ZERO_SHOT = ("superposition", "selector_inverse", "selector_inverse_resid_post")


def _check(df: pd.DataFrame, cols: Sequence[str], name: str, *, non_empty: bool = True) -> None:
    hint = "pass a summarise(probing, metrics) frame" if name == "summary" else f"pass the committed {name} table"
    check_columns(name, df, cols, hint, non_empty=non_empty)


def recipe_labels(df: pd.DataFrame) -> pd.Series:
    """One label per row of a study table: ``construction``, ``untrained``, ``core`` (untied, learned W_U, init
    scale 1, d_mlp = 4 d, weight decay 0 or 0.1, 2048 steps past 99%) or the one switch that differs from it
    (``tied W_U``, ``fixed W_U``, ``init x0.5``, ``d_mlp 64``, ``8192 steps``, ``stop at 99%``, ``wd 0.5``)."""
    check_columns(
        "df", df, POINT_COLUMNS, "pass a table of the probing study (probing, transfer, gates)", non_empty=True
    )

    def label(r) -> str:
        if r["source"] != "trained":
            return str(r["source"])
        diffs = []
        if r["tie_embed"]:
            diffs.append("tied W_U")
        if r["freeze_unembed"]:
            diffs.append("fixed W_U")
        if r["init_scale"] != 1.0:
            diffs.append(f"init x{r['init_scale']:g}")
        if r["d_mlp"] != 4 * r["d_model"]:
            diffs.append(f"d_mlp {int(r['d_mlp'])}")
        if r["max_steps"] != PROBE_STEPS:
            diffs.append(f"{int(r['max_steps'])} steps")
        if r["early_stop"]:
            diffs.append("stop at 99%")
        if r["weight_decay"] not in (0.0, 0.1):
            diffs.append(f"wd {r['weight_decay']:g}")
        return ", ".join(diffs) or CORE

    return df.apply(label, axis=1).rename("recipe")


def with_recipe(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a ``recipe`` column (:func:`recipe_labels`)."""
    return df.assign(recipe=recipe_labels(df))


def summarise(probing: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean, min and max over seeds of each metric per (recipe, d, weight decay), with ``n_seeds``; columns
    ``<metric>`` (mean), ``<metric>_min``, ``<metric>_max``."""
    check_not_empty("metrics", metrics, "the columns to summarise")
    _check(probing, [*POINT_COLUMNS, *metrics], "probing")
    df = with_recipe(probing)
    keys = ["recipe", "source", "d_model", "d_mlp", "weight_decay"]
    agg = {"n_seeds": ("seed", "nunique")}
    for m in metrics:
        agg |= {m: (m, "mean"), f"{m}_min": (m, "min"), f"{m}_max": (m, "max")}
    return df.groupby(keys, as_index=False, sort=True).agg(**agg)


def transfer_finals(transfer: pd.DataFrame) -> pd.DataFrame:
    """One row per point: each protocol's accuracy at its last step (the (c), (c') curves' final value), wide."""
    _check(transfer, [*POINT_COLUMNS, "protocol", "step", "accuracy"], "transfer")
    last = transfer.sort_values("step").groupby([*POINT_COLUMNS, "protocol"], as_index=False).last()
    wide = last.pivot_table(index=list(POINT_COLUMNS), columns="protocol", values="accuracy").reset_index()
    wide.columns.name = None
    return with_recipe(wide)


def transfer_summary(transfer: pd.DataFrame) -> pd.DataFrame:
    """Per (recipe, d, weight decay): mean, min and max over seeds of every protocol's final accuracy."""
    wide = transfer_finals(transfer)
    protocols = [p for p in PROTOCOLS if p in wide.columns]
    return summarise(wide.drop(columns="recipe"), protocols)


def best_transfer(transfer: pd.DataFrame, *, source: str = "trained") -> pd.DataFrame:
    """Per protocol, the best final accuracy over the points of ``source`` and where it was reached, with that
    point's controls: (d) random rows, the lookup baseline, (c') the random network and chance 1/N."""
    wide = transfer_finals(transfer)
    wide = wide[wide["source"] == source]
    if wide.empty:
        raise ValueError(f"no transfer rows with source={source!r}")
    rows = []
    for p in PROTOCOLS:
        if p not in wide.columns or wide[p].isna().all():
            continue
        best = wide.loc[wide[p].idxmax()]
        rows.append(
            {
                "protocol": p,
                "label": PROTOCOLS[p],
                "accuracy": float(best[p]),
                "recipe": best["recipe"],
                "d_model": int(best["d_model"]),
                "weight_decay": float(best["weight_decay"]),
                "seed": int(best["seed"]),
                "random": float(best["random"]),
                "lookup": float(best["lookup"]),
                "random_network": float(best["random_network"]),
                "chance": 1.0 / float(best["n_subjects"]),
            }
        )
    return pd.DataFrame(rows)


def where_facts(transfer: pd.DataFrame) -> pd.DataFrame:
    """The where-the-facts-live rows, wide: per point, re-storing accuracy with W_U ``as_trained``, ``shuffled``
    and ``gaussian`` (see ``transfer.where_facts_live``)."""
    wide = transfer_finals(transfer)
    cols = ["where_as_trained", "where_shuffled", "where_gaussian"]
    if not set(cols) <= set(wide.columns):
        return pd.DataFrame(columns=[*POINT_COLUMNS, "recipe", *cols])
    return wide.dropna(subset=cols)[[*POINT_COLUMNS, "recipe", *cols]].reset_index(drop=True)


def point_rows(df: pd.DataFrame, **where) -> pd.DataFrame:
    """The rows of ``df`` whose columns equal ``where`` (``recipe=`` matches :func:`recipe_labels`); ``df`` must
    have rows (a selection may come back empty)."""
    check_columns("df", df, (), non_empty=True)
    if "recipe" in where and "recipe" not in df.columns:
        df = with_recipe(df)
    mask = np.ones(len(df), dtype=bool)
    for k, v in where.items():
        if k not in df.columns:
            raise ValueError(f"unknown column {k!r}")
        mask &= (df[k] == v).to_numpy()
    return df[mask]


def gate_picture(gates: pd.DataFrame, **where) -> pd.DataFrame:
    """The gate picture of one point (selected by ``where``, e.g. ``source="construction"`` or ``d_model=16,
    weight_decay=0.1, recipe="core"``): a [R, m] frame of abar[j, r] / max_r' abar[j, r'] (each unit scaled to its
    own peak; dead units dropped), columns = units sorted by preferred relation, then by selectivity
    sigma_j = max_r abar / sum_r abar (most selective first)."""
    _check(gates, [*POINT_COLUMNS, "unit", "relation", "activation"], "gates")
    rows = point_rows(gates, **where)
    n_points = len(rows.drop_duplicates(subset=list(POINT_COLUMNS)))
    if n_points != 1:
        raise ValueError(f"gate_picture needs exactly one point, {where} selects {n_points}")
    return unit_picture(rows)


def unit_picture(rows: pd.DataFrame) -> pd.DataFrame:
    """One point's ``unit``, ``relation``, ``activation`` rows as a [R, m] frame of abar[j, r] / max_r' abar[j, r']
    (dead units dropped), units sorted by preferred relation, then by sigma_j = max_r abar / sum_r abar (most selective
    first): the layout of every gate picture (this study's and :func:`georecall.analyse.crossset.gate_picture`)."""
    check_columns("rows", rows, ["unit", "relation", "activation"], non_empty=True)
    a = rows.pivot_table(index="relation", columns="unit", values="activation")  # [R, m]
    a = a.loc[:, a.max(axis=0) > 0]
    sigma = a.max(axis=0) / a.sum(axis=0)
    order = pd.DataFrame({"pref": a.idxmax(axis=0), "sigma": sigma}).sort_values(["pref", "sigma"], ascending=[1, 0])
    return (a / a.max(axis=0))[order.index]


def core_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The core recipe's rows of a :func:`summarise` frame (trained, one per d and weight decay)."""
    _check(summary, ["recipe"], "summary")
    return summary[summary["recipe"] == CORE].reset_index(drop=True)


def best_core(summary: pd.DataFrame, metric: str) -> pd.Series:
    """The core (d, weight decay) row of a :func:`summarise` frame with the highest mean ``metric``."""
    core = core_rows(summary)
    _check(core, [metric], "summary", non_empty=False)
    if core.empty:
        raise ValueError("summary has no core rows")
    return core.loc[core[metric].idxmax()]


def bar_group(row: pd.Series, metrics: Sequence[str], name: str, *, color: str | None = None) -> dict:
    """One bar group of ``plot.probing.plot_probe_bars`` from a :func:`summarise` row: mean, with min and max
    over seeds as error bars when the row has more than one seed."""
    if not hasattr(row, "index") or hasattr(row, "columns"):
        raise ArgumentTypeError(f"row must be a pandas Series (one row of a summarise frame), got {type(row).__name__}")
    check_not_empty("metrics", metrics, "the metrics to show as bars")
    missing = [m for m in metrics if m not in row.index]
    if missing:
        raise ValueError(f"row lacks metrics {missing}")
    group = {"name": name, "values": {m: float(row[m]) for m in metrics}}
    if row.get("n_seeds", 1) > 1:
        group["lo"] = {m: float(row[f"{m}_min"]) for m in metrics}
        group["hi"] = {m: float(row[f"{m}_max"]) for m in metrics}
    if color is not None:
        group["color"] = color
    return group
