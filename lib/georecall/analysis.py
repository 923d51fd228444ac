"""Analysis of the sweep tables: thresholds, capacities, fits, bits per parameter, growth (pandas + theory only).

Every function takes the tidy tables of :mod:`georecall.tables` (one row per trained point) and returns a
small DataFrame or a number; nothing here trains or imports torch, so a chapter that only reads the committed
tables imports this module, not the trainer. The success rule is the sweeps': a probe (one grid value of a
line) succeeds when more than ``sweeps.MAJORITY`` of its seeds reach the target accuracy (2 of 3, 2 of 2); a seed
trained at several learning rates succeeds when any of them does (and counts with its best accuracy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import multihop_theory, theory
from .sweeps import COT, D_GRID, MAJORITY, NO_COT

__all__ = [
    "thresholds",
    "frozen_capacity",
    "accuracy_curves",
    "lr_summary",
    "dstar_growth",
    "describe_growth",
    "fit_line",
    "fit_power_law",
    "FitResult",
    "learned_reach",
    "side_by_side",
    "bits_table",
    "MULTIHOP_LINE",
    "multihop_thresholds",
    "multihop_curves",
    "step_accuracies",
]


def _success_by_probe(df: pd.DataFrame, line_cols: Sequence[str], axis: str, target: float) -> pd.DataFrame:
    """One row per probe (line, axis value): seeds, seeds at ``target`` (a seed's best over its lrs), and accuracy."""
    best = df.groupby([*line_cols, axis, "seed"], as_index=False).agg(accuracy=("accuracy", "max"))
    g = best.assign(ok=best["accuracy"] >= target).groupby([*line_cols, axis], as_index=False)
    out = g.agg(
        n_seeds=("seed", "count"),
        n_ok=("ok", "sum"),
        accuracy_mean=("accuracy", "mean"),
        accuracy_min=("accuracy", "min"),
    )
    out["success"] = out["n_ok"] > MAJORITY * out["n_seeds"]
    return out


def _boundaries(probes: pd.DataFrame, line_cols: Sequence[str], axis: str, *, largest: bool):
    """Per line of ``probes``, yield ``(key, value, censored)``: the boundary of majority success along ``axis``.

    ``largest=False`` (d*): the smallest successful value; censored "below" when that is the smallest probe,
    "above" (value = largest probe) when none succeeded. ``largest=True`` (capacity): the largest successful
    value; censored "above" when that is the largest probe, "below" (value = smallest probe) when none succeeded.
    """
    for key, g in probes.groupby(list(line_cols), sort=True):
        lo, hi = int(g[axis].min()), int(g[axis].max())
        ok = g.loc[g["success"], axis]
        if ok.empty:
            yield key, (lo if largest else hi), ("below" if largest else "above")
        else:
            value = int(ok.max() if largest else ok.min())
            yield key, value, (("above" if largest else "below") if value == (hi if largest else lo) else "")


def thresholds(df: pd.DataFrame, *, target: float = 0.99) -> pd.DataFrame:
    """d* per (format, freeze, N, R): the smallest probed d at which a majority of seeds reach ``target``.
    ``censored`` is "below" when the smallest probed d already succeeds (d* <= that d), "above" when no
    probed d succeeds; d* is then the boundary value and must be read as a bound."""
    line_cols = ["data_format", "freeze_embed", "n_relations", "n_subjects"]
    probes = _success_by_probe(df, line_cols, "d_model", target)
    rows = []
    for key, d_star, censored in _boundaries(probes, line_cols, "d_model", largest=False):
        N, R = int(key[3]), int(key[2])
        rows.append(
            {
                **dict(zip(line_cols, key)),
                "d_star": d_star,
                "censored": censored,
                "R_log2_N": R * math.log2(N),
                "R_k": R * int(theory.code_length(N)),
                "block_d": int(theory.block_dimension(N, R)),
                "lower_bound_d_p2": float(theory.lower_bound_d(N, R, bits_per_param=2.0)),
                "bits_per_param_at_d_star": float(theory.bits_per_parameter(N, R, d_star)),
            }
        )
    return pd.DataFrame(rows)


def frozen_capacity(df: pd.DataFrame, *, target: float = 0.99) -> pd.DataFrame:
    """Capacity per (format, freeze, d, d_mlp): the largest probed N at which a majority of seeds reach
    ``target``, as facts = N*R, with P = non-embedding (attention + MLP) parameters. ``censored``:
    "above" when every probed N succeeded (capacity >= that), "below" when none did."""
    line_cols = ["data_format", "freeze_embed", "d_model", "d_mlp", "n_relations"]
    probes = _success_by_probe(df, line_cols, "n_subjects", target)
    rows = []
    for key, N_cap, censored in _boundaries(probes, line_cols, "n_subjects", largest=True):
        rec = dict(zip(line_cols, key))
        d, m, R = int(rec["d_model"]), int(rec["d_mlp"]), int(rec["n_relations"])
        P = theory.param_count(d, m)
        rows.append(
            {
                **rec,
                "params_nonembed": P,
                "capacity_N": N_cap,
                "capacity_facts": N_cap * R,
                "censored": censored,
                "bits_stored": float(theory.information_bits(N_cap, R)),
                "bits_per_param": float(theory.information_bits(N_cap, R)) / P,
            }
        )
    return pd.DataFrame(rows)


def accuracy_curves(df: pd.DataFrame, *, target: float = 0.99) -> pd.DataFrame:
    """Accuracy against d per (format, freeze, N, R), aggregated over seeds: mean, min, max, n_ok of n_seeds."""
    cols = ["data_format", "freeze_embed", "n_subjects", "n_relations", "d_model"]
    g = df.assign(ok=df["accuracy"] >= target).groupby(cols, as_index=False)
    return g.agg(
        accuracy_mean=("accuracy", "mean"),
        accuracy_min=("accuracy", "min"),
        accuracy_max=("accuracy", "max"),
        n_ok=("ok", "sum"),
        n_seeds=("seed", "count"),
    )


def dstar_growth(th: pd.DataFrame) -> pd.DataFrame:
    """Per R: d* at the smallest and largest N against the growth of log2 N and of N; the exponent a of a power-law
    fit d* ~ N^a (log growth gives a ~ 1/ln N ~ 0.2 here, sqrt(N) gives 0.5, linear 1); and the R^2 of straight-line
    fits of d* on log2 N, on sqrt(N) and on N. ``grid_step_at_max`` is the gap between d*(N_max) and the grid value
    below it (the resolution of the measurement)."""
    rows = []
    for R, g in th.sort_values("n_subjects").groupby("n_relations"):
        if len(g) < 3:
            continue
        lo, hi = g.iloc[0], g.iloc[-1]
        d_hi = int(hi["d_star"])
        below = [v for v in D_GRID if v < d_hi]
        N, d = g["n_subjects"].to_numpy(float), g["d_star"].to_numpy(float)
        rows.append(
            {
                "R": int(R),
                "N_min": int(lo["n_subjects"]),
                "N_max": int(hi["n_subjects"]),
                "d_min": int(lo["d_star"]),
                "d_max": d_hi,
                "d_ratio": d_hi / int(lo["d_star"]),
                "log2N_ratio": math.log2(hi["n_subjects"]) / math.log2(lo["n_subjects"]),
                "N_ratio": int(hi["n_subjects"]) / int(lo["n_subjects"]),
                "exponent": fit_power_law(N, d).slope,
                "r2_log2N": fit_line(np.log2(N), d).r2,
                "r2_sqrtN": fit_line(np.sqrt(N), d).r2,
                "r2_N": fit_line(N, d).r2,
                "grid_step_at_max": d_hi - (below[-1] if below else d_hi),
                "censored": ",".join(sorted({c for c in g["censored"] if c})) or "",
            }
        )
    return pd.DataFrame(rows)


def describe_growth(growth: pd.DataFrame) -> str:
    """One sentence comparing d* growth with log2 N and N growth (for the chapter's caption)."""
    return (
        f"From N = {growth['N_min'].min()} to {growth['N_max'].max()}, d* grows by a factor "
        f"{growth['d_ratio'].min():.2f}–{growth['d_ratio'].max():.2f} across R, while log₂N grows "
        f"{growth['log2N_ratio'].max():.2f}× and N grows {growth['N_ratio'].max():.0f}×."
    )


def fit_power_law(x, y) -> "FitResult":
    """Least squares of log y on log x: ``slope`` is the exponent a in y ~ x^a."""
    return fit_line(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)))


def lr_summary(df: pd.DataFrame, *, target: float = 0.99) -> pd.DataFrame:
    """The learning-rate check: per (N, R, d) one row, one column per lr holding "n_ok/n_seeds (mean accuracy)"."""
    g = df.assign(ok=df["accuracy"] >= target).groupby(["n_subjects", "n_relations", "d_model", "lr"], as_index=False)
    t = g.agg(n_ok=("ok", "sum"), n=("seed", "count"), acc=("accuracy", "mean"))
    t["cell"] = [f"{a}/{b} ({c:.3f})" for a, b, c in zip(t["n_ok"], t["n"], t["acc"])]
    wide = t.pivot(index=["n_subjects", "n_relations", "d_model"], columns="lr", values="cell")
    wide.columns = [f"lr={c:g}" for c in wide.columns]
    return wide.reset_index().rename(columns={"n_subjects": "N", "n_relations": "R", "d_model": "d"})


def learned_reach(df: pd.DataFrame, *, target: float = 0.99) -> pd.DataFrame:
    """For fixed-shape rows along N (the side-by-side grid): per (format, freeze, d, d_mlp, R) the largest N at
    which a majority of seeds reaches ``target``, as facts, with P = attention + MLP parameters. A lower bound on
    capacity when every tested N passes (``all_pass``)."""
    cols = ["data_format", "freeze_embed", "d_model", "d_mlp", "n_relations"]
    probes = _success_by_probe(df, cols, "n_subjects", target)
    rows = []
    for key, g in probes.groupby(cols):
        rec = dict(zip(cols, key))
        ok = g[g["success"]]
        N = int(ok["n_subjects"].max()) if len(ok) else 0
        d, m = int(rec["d_model"]), int(rec["d_mlp"])
        rows.append(
            {
                **rec,
                "params_nonembed": theory.param_count(d, m),
                "N_max_pass": N,
                "facts_memorised": N * int(rec["n_relations"]),
                "all_pass": bool(g["success"].all()),
            }
        )
    return pd.DataFrame(rows)


def side_by_side(frozen: pd.DataFrame, learned: pd.DataFrame, shapes: Sequence[tuple[int, int, str]]) -> pd.DataFrame:
    """Mean accuracy against N for frozen and learned embeddings at each (d, d_mlp, format) in ``shapes``, with a
    label per curve (the input of ``plots_capacity.plot_side_by_side``)."""
    out = []
    for regime, df in (("frozen", frozen), ("learned", learned)):
        for d, m, fmt in shapes:
            sub = df[(df["d_model"] == d) & (df["d_mlp"] == m) & (df["data_format"] == fmt)]
            if sub.empty:
                continue
            g = sub.groupby("n_subjects", as_index=False).agg(accuracy_mean=("accuracy", "mean"))
            fmt_label = "[s, r]" if fmt == "single_hop" else "noisy T=32"
            out.append(g.assign(regime=regime, label=f"{regime}, d={d}, m={m}, {fmt_label}"))
    return pd.concat(out, ignore_index=True)


def bits_table(th: pd.DataFrame, cap: pd.DataFrame) -> pd.DataFrame:
    """Bits stored at >= 99% per parameter: learned models at d* (bits / all parameters, and bits / the 2·N·d
    embedding weights) and frozen models at capacity (bits / trainable attention + MLP parameters)."""
    rows = []
    for _, r in th[th["censored"] == ""].iterrows():
        N, R, d = int(r["n_subjects"]), int(r["n_relations"]), int(r["d_star"])
        bits = float(theory.information_bits(N, R))
        P_all = theory.param_count(d, 4 * d, d_vocab=N + R, d_vocab_out=N, n_ctx=2)  # W_E, W_pos, attn, MLP, W_U
        rows.append(
            {
                "regime": "learned",
                "label": f"learned N={N} R={R} d*={d}",
                "n_subjects": N,
                "n_relations": R,
                "bits": bits,
                "params": P_all,
                "bits_per_param": bits / P_all,
                "params_counted": "all parameters",
                "bits_per_embedding_param": bits / (2 * N * d),
            }
        )
    for _, r in cap[cap["censored"] == ""].iterrows():
        rows.append(
            {
                "regime": "frozen",
                "label": f"frozen d={r['d_model']} m={r['d_mlp']} {r['data_format']}",
                "n_subjects": int(r["capacity_N"]),
                "n_relations": int(r["n_relations"]),
                "bits": r["bits_stored"],
                "params": int(r["params_nonembed"]),
                "bits_per_param": r["bits_per_param"],
                "params_counted": "trainable attention + MLP",
                "bits_per_embedding_param": float("nan"),
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class FitResult:
    """y = slope * x + intercept (or through the origin), with standard errors and R^2."""

    slope: float
    slope_se: float
    intercept: float
    intercept_se: float
    r2: float
    n: int


def fit_line(x, y, *, through_origin: bool = False) -> FitResult:
    """Ordinary least squares y ~ slope*x (+ intercept); standard errors from the residual variance.

    >>> f = fit_line([1, 2, 3, 4], [2.0, 4.1, 5.9, 8.0])
    >>> round(f.slope, 2), f.n
    (1.98, 4)
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.size < (2 if through_origin else 3):
        raise ValueError(
            f"fit_line needs matching x and y with at least {2 if through_origin else 3} points, got {x.size}"
        )
    X = x[:, None] if through_origin else np.stack([x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    dof = max(1, x.size - X.shape[1])
    cov = (resid @ resid / dof) * np.linalg.inv(X.T @ X)
    tss = ((y - (0 if through_origin else y.mean())) ** 2).sum()
    r2 = 1 - (resid @ resid) / tss if tss > 0 else 1.0
    se = np.sqrt(np.diag(cov))
    if through_origin:
        return FitResult(float(coef[0]), float(se[0]), 0.0, 0.0, float(r2), int(x.size))
    return FitResult(float(coef[0]), float(se[0]), float(coef[1]), float(se[1]), float(r2), int(x.size))


# --- multi-hop (Chapter 6) ---------------------------------------------------------------------------------------

MULTIHOP_LINE = ["data_format", "n_subjects", "n_relations", "hops"]  # one d* line of the multihop table


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


def multihop_thresholds(df: pd.DataFrame, *, target: float = 0.99, bits_per_param: float = 2.0) -> pd.DataFrame:
    """d* per (format, N, R, h) of the ``multihop`` table, the sweeps' rule (a majority of seeds, each at its better
    lr, reaches ``target`` on the final answer; decoded with CoT), next to the construction's d
    (``multihop_theory.dimension``) and the per-entity bound at ``bits_per_param``. ``censored`` as in
    :func:`thresholds`; ``steps_at_d_star``: the most steps a succeeding run at d* took; ``shared`` marks the h = 1
    CoT rows, copied from no-CoT (the same runs)."""
    tab = _with_h1_cot(df)
    probes = _success_by_probe(tab, MULTIHOP_LINE, "d_model", target)
    rows = []
    for key, d_star, censored in _boundaries(probes, MULTIHOP_LINE, "d_model", largest=False):
        rec = dict(zip(MULTIHOP_LINE, key))
        N, R, h, fmt = int(rec["n_subjects"]), int(rec["n_relations"]), int(rec["hops"]), rec["data_format"]
        theory_fmt = multihop_theory.NO_COT if fmt == NO_COT else multihop_theory.COT
        at = tab[(tab[MULTIHOP_LINE] == pd.Series(rec)).all(axis=1) & (tab["d_model"] == d_star)]
        ok = at[at["accuracy"] >= target]
        rows.append(
            {
                **rec,
                "d_star": d_star,
                "censored": censored,
                "construction_d": multihop_theory.dimension(N, R, h, theory_fmt),
                "per_entity_bound_d": multihop_theory.per_entity_lower_bound_d(N, R, h, theory_fmt, bits_per_param),
                "steps_at_d_star": int(ok["steps"].max()) if len(ok) else -1,
                "max_steps": int(at["max_steps"].max()),
                "probes": int((probes[MULTIHOP_LINE] == pd.Series(rec)).all(axis=1).sum()),
                "shared": bool(h == 1 and fmt == COT),
            }
        )
    return pd.DataFrame(rows).sort_values(["data_format", "n_relations", "hops"], ignore_index=True)


def multihop_curves(df: pd.DataFrame) -> pd.DataFrame:
    """Final-answer accuracy against d per (format, N, R, h): each seed at its better lr, then mean, min and max
    over seeds, and seeds at >= 99% (``n_ok`` of ``n_seeds``); h = 1 filed under both formats."""
    tab = _with_h1_cot(df)
    best = tab.groupby([*MULTIHOP_LINE, "d_model", "seed"], as_index=False).agg(accuracy=("accuracy", "max"))
    g = best.assign(ok=best["accuracy"] >= 0.99).groupby([*MULTIHOP_LINE, "d_model"], as_index=False)
    return g.agg(
        accuracy_mean=("accuracy", "mean"),
        accuracy_min=("accuracy", "min"),
        accuracy_max=("accuracy", "max"),
        n_ok=("ok", "sum"),
        n_seeds=("seed", "count"),
    )


def step_accuracies(df: pd.DataFrame) -> pd.DataFrame:
    """The multihop table's ``step_accuracy`` cells ("a_1;...;a_h") as columns ``step_1`` ... ``step_H`` (NaN past a
    row's h), next to the row's format, N, R, h, d, lr, seed, accuracy and train_accuracy."""
    parts = [[float(v) for v in str(cell).split(";")] for cell in df["step_accuracy"]]
    width = max((len(p) for p in parts), default=0)
    steps = pd.DataFrame(
        [p + [math.nan] * (width - len(p)) for p in parts], columns=[f"step_{i + 1}" for i in range(width)]
    )
    keep = [*MULTIHOP_LINE, "d_model", "lr", "seed", "accuracy", "train_accuracy"]
    return pd.concat([df[keep].reset_index(drop=True), steps], axis=1)
