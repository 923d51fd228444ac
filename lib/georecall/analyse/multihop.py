"""Reading the ``multihop`` table (Chapter 6): d* per line, accuracy curves against d, and per-step accuracies.

Input: the committed ``multihop`` table (:mod:`georecall.sweep.tables`; one row per trained multi-hop point). The
success rule is the sweeps': a probe (one d of a line) succeeds when more than ``sweep.MAJORITY`` of its seeds reach
the target on the final answer (decoded with CoT); a seed trained at several learning rates (``search.Line.lrs``: 3e-3,
then 1e-2 for the seeds that missed while the probe's verdict was open) counts with its best accuracy, and a failed run
(NaN or infinite loss) never succeeds. Nothing here trains or imports torch.
"""

from __future__ import annotations

import math

import pandas as pd

from .._checks import check_columns
from ..sweep.configs import COT, NO_COT
from ..theory import DEFAULT_BITS_PER_PARAM
from ..theory import multihop as multihop_theory
from .bijection import _boundaries, _success_by_probe, seed_summary  # the sweeps' probe, boundary and seed rules

__all__ = ["MULTIHOP_LINE", "multihop_thresholds", "multihop_curves", "step_accuracies"]

MULTIHOP_LINE = ["data_format", "n_subjects", "n_relations", "hops"]  # one d* line of the multihop table


_HINT = "pass the multihop table (load_table('multihop', ...))"


def _with_h1_cot(df: pd.DataFrame) -> pd.DataFrame:
    """The table with its h = 1 rows also filed under CoT: at h = 1 both formats are the same data and model (one
    head, target at the last position), so the preset trains them once, as no_cot. A failed run (a non-empty
    ``failed`` cell: its loss became NaN or infinite) gets accuracy -1, so it never counts as a success."""
    if "failed" in df.columns:
        ok = df["failed"].isna() | (df["failed"].astype(str) == "")
        df = df.assign(accuracy=df["accuracy"].where(ok, -1.0))
    h1 = df[(df["hops"] == 1) & (df["data_format"] == NO_COT)]
    have = df[(df["hops"] == 1) & (df["data_format"] == COT)]
    return df if h1.empty or not have.empty else pd.concat([df, h1.assign(data_format=COT)], ignore_index=True)


def multihop_thresholds(
    df: pd.DataFrame, *, target: float = 0.99, bits_per_param: float = DEFAULT_BITS_PER_PARAM
) -> pd.DataFrame:
    """d* per (format, N, R, h) of the ``multihop`` table, the sweeps' rule (a majority of seeds, each at the best
    of the rates it tried, reaches ``target`` on the final answer; decoded with CoT), next to the construction's d
    (``theory.multihop.dimension``) and the per-entity bound at ``bits_per_param``. ``censored`` as in
    :func:`georecall.analyse.bijection.thresholds`; ``steps_at_d_star``: the most steps a succeeding run at d* took;
    ``shared`` marks the h = 1 CoT rows, copied from no-CoT (the same runs)."""
    check_columns(
        "df", df, [*MULTIHOP_LINE, "d_model", "seed", "lr", "accuracy", "steps", "max_steps"], _HINT, non_empty=True
    )
    tab = _with_h1_cot(df)
    # a probe's seeds: one row per (seed, rate tried); only these columns, so the rates of a seed fold into one
    probes = _success_by_probe(
        tab[[*MULTIHOP_LINE, "d_model", "seed", "lr", "accuracy"]], MULTIHOP_LINE, "d_model", target
    )
    rows = []
    for key, d_star, censored in _boundaries(probes, MULTIHOP_LINE, "d_model", largest=False):
        rec = dict(zip(MULTIHOP_LINE, key))
        N, R, h, fmt = int(rec["n_subjects"]), int(rec["n_relations"]), int(rec["hops"]), rec["data_format"]
        at = tab[(tab[MULTIHOP_LINE] == pd.Series(rec)).all(axis=1) & (tab["d_model"] == d_star)]
        ok = at[at["accuracy"] >= target]
        rows.append(
            {
                **rec,
                "d_star": d_star,
                "censored": censored,
                "construction_d": multihop_theory.dimension(N, R, h, fmt),
                "per_entity_bound_d": multihop_theory.per_entity_lower_bound_d(N, R, h, fmt, bits_per_param),
                "steps_at_d_star": int(ok["steps"].max()) if len(ok) else -1,
                "max_steps": int(at["max_steps"].max()),
                "probes": int((probes[MULTIHOP_LINE] == pd.Series(rec)).all(axis=1).sum()),
                "shared": bool(h == 1 and fmt == COT),
            }
        )
    return pd.DataFrame(rows).sort_values(["data_format", "n_relations", "hops"], ignore_index=True)


def multihop_curves(df: pd.DataFrame) -> pd.DataFrame:
    """Final-answer accuracy against d per (format, N, R, h): each seed at the best of the rates it tried, then
    mean, min and max over seeds, and seeds at >= 99% (``n_ok`` of ``n_seeds``); h = 1 filed under both formats."""
    check_columns("df", df, [*MULTIHOP_LINE, "d_model", "seed", "accuracy"], _HINT, non_empty=True)
    tab = _with_h1_cot(df)
    best = tab.groupby([*MULTIHOP_LINE, "d_model", "seed"], as_index=False).agg(accuracy=("accuracy", "max"))
    return seed_summary(best, [*MULTIHOP_LINE, "d_model"])


def step_accuracies(df: pd.DataFrame) -> pd.DataFrame:
    """The multihop table's ``step_accuracy`` cells ("a_1;...;a_h") as columns ``step_1`` ... ``step_H`` (NaN past a
    row's h), next to the row's format, N, R, h, d, lr, seed, accuracy and train_accuracy."""
    check_columns(
        "df",
        df,
        [*MULTIHOP_LINE, "d_model", "lr", "seed", "accuracy", "train_accuracy", "step_accuracy"],
        _HINT,
        non_empty=True,
    )
    parts = [[float(v) for v in str(cell).split(";")] for cell in df["step_accuracy"]]
    width = max((len(p) for p in parts), default=0)
    steps = pd.DataFrame(
        [p + [math.nan] * (width - len(p)) for p in parts], columns=[f"step_{i + 1}" for i in range(width)]
    )
    keep = [*MULTIHOP_LINE, "d_model", "lr", "seed", "accuracy", "train_accuracy"]
    return pd.concat([df[keep].reset_index(drop=True), steps], axis=1)
