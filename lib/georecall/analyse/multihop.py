"""Reading the ``multihop`` table (Chapter 6): d* per line, accuracy curves against d, per-step accuracies, and the
growth law of d* along N (:func:`growth_fits`, :func:`compare_growth`).

Input: the committed ``multihop`` table (:mod:`georecall.sweep.tables`; one row per trained multi-hop point). The
success rule is the sweeps': a probe (one d of a line) succeeds when more than ``sweep.MAJORITY`` of its seeds reach
the target on the final answer (decoded with CoT); a seed trained at several learning rates (``search.Line.lrs``: 3e-3,
then 1e-2 for the seeds that missed while the probe's verdict was open) counts with its best accuracy, and a failed run
(NaN or infinite loss) never succeeds. Nothing here trains or imports torch.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .._checks import check_columns, check_float, check_int
from ..sweep.configs import COT, NO_COT
from ..theory import DEFAULT_BITS_PER_PARAM
from ..theory import multihop as multihop_theory
from .bijection import _boundaries, _success_by_probe, seed_summary  # the sweeps' probe, boundary and seed rules

__all__ = [
    "MULTIHOP_LINE",
    "GROWTH_KEY",
    "multihop_thresholds",
    "multihop_curves",
    "step_accuracies",
    "growth_fits",
    "compare_growth",
    "bound_crossings",
    "heldout_summary",
]

MULTIHOP_LINE = ["data_format", "n_subjects", "n_relations", "hops"]  # one d* line of the multihop table
GROWTH_KEY = ["data_format", "n_relations", "hops"]  # one growth fit: d* of these lines against log2 N


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


# --- the growth law: d* against log2 N ---------------------------------------------------------------------------


def growth_fits(
    thresholds: pd.DataFrame, *, min_points: int = 3, bits_per_param: float = DEFAULT_BITS_PER_PARAM
) -> pd.DataFrame:
    """Per (format, R, h): the least-squares line d* = a + b log2 N through the uncensored thresholds (the output of
    :func:`multihop_thresholds`; a censored d* is only a bound and is left out, counted in ``n_censored``):

        x = log2 N,  b = sum (x - xbar)(d* - dbar) / sum (x - xbar)^2,  a = dbar - b xbar,
        se(b) = sqrt( RSS / (n - 2) / sum (x - xbar)^2 ),  RSS = sum (d* - a - b x)^2.

    ``slope``/``slope_se`` are NaN with fewer than ``min_points`` (>= 3, so that RSS has a degree of freedom) distinct
    N. ``bound_slope`` is the per-entity bound's slope in log2 N, R^h / p without CoT and R / p with it (p =
    ``bits_per_param``): the growth the generic-decoder reading predicts. Nothing is fitted per seed: d* is one
    majority verdict per line, and the grid's step shows up in the residuals."""
    check_columns(
        "thresholds",
        thresholds,
        [*MULTIHOP_LINE, "d_star", "censored"],
        "pass multihop_thresholds(...)",
        non_empty=True,
    )
    check_int("min_points", min_points, 3)
    check_float("bits_per_param", bits_per_param, 0.0, lo_open=True)
    rows = []
    for key, g in thresholds.groupby(GROWTH_KEY, sort=True):
        rec = dict(zip(GROWTH_KEY, key))
        censored = g["censored"].fillna("").astype(str) != ""
        ok = g[~censored]
        x, y = np.log2(ok["n_subjects"].to_numpy(float)), ok["d_star"].to_numpy(float)
        n = int(len(np.unique(x)))
        slope = intercept = se = math.nan
        if n >= min_points:
            sxx = float(((x - x.mean()) ** 2).sum())
            slope = float(((x - x.mean()) * (y - y.mean())).sum() / sxx)
            intercept = float(y.mean() - slope * x.mean())
            rss = float(((y - intercept - slope * x) ** 2).sum())
            se = math.sqrt(rss / (len(x) - 2) / sxx)
        R, h = int(rec["n_relations"]), int(rec["hops"])
        per_bit = (R**h if rec["data_format"] == NO_COT else R) / bits_per_param
        rows.append(
            {
                **rec,
                "n_points": n,
                "n_censored": int(censored.sum()),
                "N_min": int(ok["n_subjects"].min()) if len(ok) else -1,
                "N_max": int(ok["n_subjects"].max()) if len(ok) else -1,
                "slope": slope,
                "slope_se": se,
                "intercept": intercept,
                "bound_slope": per_bit,
            }
        )
    return pd.DataFrame(rows)


def compare_growth(fits: pd.DataFrame, *, z: float = 2.0) -> pd.DataFrame:
    """The slopes of h >= 2 against the h = 1 slope of the same format and R (independent lines, so variances add):

        paths prediction (no CoT, per-entity bits R^h log2 N):  D_paths = b_h - R^(h-1) b_1,
                                                                 se_paths = sqrt(se_h^2 + R^(2(h-1)) se_1^2)
        flatness (CoT: R log2 N bits whatever h):                 D_flat = b_h - b_1,  se_flat = sqrt(se_h^2 + se_1^2)

    ``consistent_with_paths`` = |D_paths| <= z se_paths, ``consistent_with_flat`` = |D_flat| <= z se_flat, and
    ``grows_with_h`` = D_flat > z se_flat; ``z_paths``, ``z_flat`` are D / se. Both tests are reported for both
    formats: the claim is that no CoT grows with h (consistent with the paths prediction) while CoT stays flat. Rows
    without a slope on either side (too few points) are left out."""
    check_columns(
        "fits", fits, [*GROWTH_KEY, "slope", "slope_se"], "pass growth_fits(multihop_thresholds(...))", non_empty=True
    )
    check_float("z", z, 0.0, lo_open=True)
    rows = []
    for _, r in fits[fits["hops"] >= 2].iterrows():
        one = fits[(fits["data_format"] == r["data_format"]) & (fits["n_relations"] == r["n_relations"])]
        one = one[one["hops"] == 1]
        if one.empty or not (np.isfinite(r["slope"]) and np.isfinite(one["slope"].iloc[0])):
            continue
        b1, se1 = float(one["slope"].iloc[0]), float(one["slope_se"].iloc[0])
        bh, seh = float(r["slope"]), float(r["slope_se"])
        ratio_pred = float(r["n_relations"]) ** (int(r["hops"]) - 1)
        d_paths, se_paths = bh - ratio_pred * b1, math.sqrt(seh**2 + ratio_pred**2 * se1**2)
        d_flat, se_flat = bh - b1, math.sqrt(seh**2 + se1**2)
        rows.append(
            {
                **{k: r[k] for k in GROWTH_KEY},
                "slope": bh,
                "slope_se": seh,
                "slope_h1": b1,
                "slope_h1_se": se1,
                "ratio": bh / b1 if b1 else math.nan,
                "predicted_ratio": ratio_pred,
                "z_paths": _z(d_paths, se_paths),
                "z_flat": _z(d_flat, se_flat),
                "consistent_with_paths": bool(abs(d_paths) <= z * se_paths),
                "consistent_with_flat": bool(abs(d_flat) <= z * se_flat),
                "grows_with_h": bool(d_flat > z * se_flat),
            }
        )
    cols = [*GROWTH_KEY, "slope", "slope_se", "slope_h1", "slope_h1_se", "ratio", "predicted_ratio", "z_paths"]
    cols += ["z_flat", "consistent_with_paths", "consistent_with_flat", "grows_with_h"]
    return pd.DataFrame(rows, columns=cols)


def bound_crossings(thresholds: pd.DataFrame) -> pd.DataFrame:
    """Per (format, R, h), where the trained d* meets the per-entity bound (``per_entity_bound_d`` of
    :func:`multihop_thresholds`): ``n_below`` lines with d* < bound (the trained models beat the bound: other weights
    hold part of the facts), ``N_first_at_bound`` the smallest N with d* >= bound (-1: below at every N), and
    ``below_at_largest_N``. A d* censored "above" is a lower bound on the threshold, so it counts as at the bound once
    it reaches it; one censored "below" counts as below when the bound exceeds it."""
    check_columns(
        "thresholds",
        thresholds,
        [*MULTIHOP_LINE, "d_star", "per_entity_bound_d"],
        "pass multihop_thresholds(...)",
        non_empty=True,
    )
    rows = []
    for key, g in thresholds.groupby(GROWTH_KEY, sort=True):
        g = g.sort_values("n_subjects")
        at = g["d_star"].to_numpy(float) >= g["per_entity_bound_d"].to_numpy(float)
        Ns = g["n_subjects"].to_numpy(int)
        rows.append(
            {
                **dict(zip(GROWTH_KEY, key)),
                "n_lines": len(g),
                "n_below": int((~at).sum()),
                "N_first_at_bound": int(Ns[at].min()) if at.any() else -1,
                "below_at_largest_N": bool(not at[-1]),
            }
        )
    return pd.DataFrame(rows)


def _z(diff: float, se: float) -> float:
    """diff / se; +-inf for a nonzero diff at se = 0 (an exact fit), 0 for 0 / 0."""
    if se > 0:
        return diff / se
    return 0.0 if diff == 0 else math.copysign(math.inf, diff)


HELDOUT_KEY = ["data_format", "early_stop", "train_fraction"]  # one cell of the held-out-chains study


def heldout_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per (format, training, train fraction) of the ``multihop_heldout`` table: over the seeds, the accuracy on the
    unseen h-hop queries (mean, min, max), on the training queries and on the single hops (means, min), with chance
    1/N and the held-out queries per seed. ``training`` names the recipe: "stopped at 99%" (``early_stop``) or "all
    T steps, weight decay w" (past memorisation). ``above_chance``: every seed's held-out accuracy exceeds chance."""
    needed = [*HELDOUT_KEY, "seed", "max_steps", "weight_decay", "heldout_accuracy", "train_accuracy"]
    needed += ["single_hop_accuracy", "chance", "n_heldout"]
    check_columns("df", df, needed, "pass load_table('multihop_heldout', ...)", non_empty=True)
    rows = []
    for key, g in df.groupby(HELDOUT_KEY, sort=True):
        rec = dict(zip(HELDOUT_KEY, key))
        early = bool(rec["early_stop"])
        steps, wd = int(g["max_steps"].max()), float(g["weight_decay"].max())
        rows.append(
            {
                **rec,
                "training": "stopped at 99%" if early else f"all {steps} steps, weight decay {wd:g}",
                "max_steps": steps,
                "weight_decay": wd,
                "n_seeds": int(g["seed"].nunique()),
                "n_heldout": int(g["n_heldout"].iloc[0]),
                "heldout_mean": float(g["heldout_accuracy"].mean()),
                "heldout_min": float(g["heldout_accuracy"].min()),
                "heldout_max": float(g["heldout_accuracy"].max()),
                "train_mean": float(g["train_accuracy"].mean()),
                "train_min": float(g["train_accuracy"].min()),
                "single_hop_min": float(g["single_hop_accuracy"].min()),
                "chance": float(g["chance"].iloc[0]),
                "above_chance": bool((g["heldout_accuracy"] > g["chance"]).all()),
            }
        )
    return pd.DataFrame(rows)
