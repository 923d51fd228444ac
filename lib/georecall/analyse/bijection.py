"""Analysis of the sweep tables: thresholds, capacities, fits, bits per parameter, growth (pandas + theory only).

Every function takes the tidy tables of :mod:`georecall.sweep.tables` (one row per trained point) and returns a
small DataFrame or a number; nothing here trains or imports torch, so a chapter that only reads the committed
tables imports this module, not the trainer. The success rule is the sweeps': a probe (one grid value of a
line) succeeds when more than ``sweep.MAJORITY`` of its seeds reach the target accuracy (2 of 3, 2 of 2), where a
seed trained at several learning rates counts with its best rate (:func:`best_over_rates`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import ArgumentTypeError, check_columns, check_finite, check_not_empty
from ..sweep.configs import D_GRID, E1_LRS, majority
from ..theory import bijection as theory

__all__ = [
    "thresholds",
    "frozen_capacity",
    "accuracy_curves",
    "seed_summary",
    "dstar_growth",
    "describe_growth",
    "GROWTH_FORMS",
    "best_over_rates",
    "rate_effect",
    "fit_line",
    "fit_power_law",
    "FitResult",
    "learned_reach",
    "side_by_side",
    "bits_table",
]


_PER_RUN_COLUMNS = ("lr", "accuracy", "loss", "steps", "reached_target", "heldout_accuracy", "seconds")


def best_over_rates(df: pd.DataFrame, *, target: float = 0.99) -> pd.DataFrame:
    """One row per point and seed with the learning rate folded in: ``accuracy`` = the max over the rates tried for
    that seed, ``n_rates`` = how many rates were tried, ``best_lr`` = the rate the row's other per-run columns
    (loss, steps, ...) come from: the first rate in the sweep's order (``sweep.E1_LRS``, then ascending) that
    reaches ``target``, else the most accurate one. A table without ``lr`` passes through with ``n_rates`` = 1."""
    if "accuracy" not in df.columns or "seed" not in df.columns:
        raise ValueError(f"the table needs 'accuracy' and 'seed' columns, got {list(df.columns)}")
    check_not_empty("df", df, "it has no rows; pass a sweep table")
    if "lr" not in df.columns:
        return df.assign(n_rates=1, best_lr=float("nan"))
    keys = [c for c in df.columns if c not in _PER_RUN_COLUMNS]
    order = {lr: i for i, lr in enumerate(E1_LRS)}
    hit = df["accuracy"] >= target
    rank = np.where(hit, df["lr"].map(lambda lr: order.get(lr, len(order) + lr)), 100.0 + 1.0 - df["accuracy"])
    per_seed = df.groupby(keys, sort=False, dropna=False)  # transform, not merge: all-None key columns stay as they are
    df = df.assign(_rank=rank, n_rates=per_seed["lr"].transform("nunique"), _max=per_seed["accuracy"].transform("max"))
    best = df.sort_values("_rank", kind="stable").groupby(keys, sort=True, dropna=False).head(1)
    best = best.rename(columns={"lr": "best_lr"})
    best["accuracy"] = best.pop("_max")
    best = best.drop(columns="_rank")
    return best.sort_values(keys, kind="stable").reset_index(drop=True)


def _success_by_probe(df: pd.DataFrame, line_cols: Sequence[str], axis: str, target: float) -> pd.DataFrame:
    df = best_over_rates(df, target=target)
    g = df.assign(ok=df["accuracy"] >= target).groupby([*line_cols, axis], as_index=False)
    out = g.agg(
        n_seeds=("seed", "count"),
        n_ok=("ok", "sum"),
        accuracy_mean=("accuracy", "mean"),
        accuracy_min=("accuracy", "min"),
    )
    out["success"] = majority(out["n_ok"], out["n_seeds"])
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


def thresholds(
    df: pd.DataFrame, *, target: float = 0.99, bits_per_param: float = theory.DEFAULT_BITS_PER_PARAM
) -> pd.DataFrame:
    """d* per (format, freeze, N, R): the smallest probed d at which a majority of seeds reach ``target`` (each
    seed at its best rate). ``censored`` is "below" when the smallest probed d already succeeds (d* <= that d),
    "above" when no probed d succeeds; d* is then the boundary value and must be read as a bound.

    With H = R·log2(N!) and the model's shape (d_mlp = 4d, [s, r] format), the columns beside d* are:
    ``R_log2_N``; ``R_k`` = R·⌈log2 N⌉ (the block construction's subject blocks) and ``block_d`` = Rk + R + k;
    ``counting_bound_d`` (:func:`theory.counting_bound_d` at p = ``bits_per_param``, every weight counted) and
    ``per_entity_bound_d`` = R·log2(N)/p (:func:`theory.per_entity_lower_bound_d`); ``bits_per_param_all`` =
    H / (all parameters at d*); ``bits_per_param_at_d_star`` = H / (2·N·d*) (the N-dependent weights only);
    ``bits_per_subject_coord`` = R·log2(N) / d* (what each subject-embedding coordinate would carry if the
    subject's embedding alone named its R attributes)."""
    line_cols = ["data_format", "freeze_embed", "n_relations", "n_subjects"]
    probes = _success_by_probe(df, line_cols, "d_model", target)
    p = bits_per_param
    rows = []
    for key, d_star, censored in _boundaries(probes, line_cols, "d_model", largest=False):
        N, R = int(key[3]), int(key[2])
        H = float(theory.information_bits(N, R))
        P_all = int(theory.param_count(d_star, 4 * d_star, d_vocab=N + R, d_vocab_out=N, n_ctx=2))
        rows.append(
            {
                **dict(zip(line_cols, key)),
                "d_star": d_star,
                "censored": censored,
                "R_log2_N": R * math.log2(N),
                "R_k": R * int(theory.code_length(N)),
                "block_d": int(theory.block_dimension(N, R)),
                "counting_bound_d": float(theory.counting_bound_d(N, R, bits_per_param=p)),
                "per_entity_bound_d": float(theory.per_entity_lower_bound_d(N, R, bits_per_param=p)),
                "bits_per_param_all": H / P_all,
                "bits_per_param_at_d_star": float(theory.bits_per_parameter(N, R, d_star)),
                "bits_per_subject_coord": R * math.log2(N) / d_star,
            }
        )
    return pd.DataFrame(rows)


def _rate(lr: float) -> str:
    """A learning rate as a short label: 0.03 -> "3e-2", 0.0125 -> "1.25e-2"."""
    mantissa, exponent = f"{lr:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def rate_effect(df: pd.DataFrame, th: pd.DataFrame, *, target: float = 0.99) -> pd.DataFrame:
    """What the learning rates did at each line's d*. Per (N, R) of ``th`` (uncensored lines of
    :func:`thresholds`), from the rows of ``df`` at d = d*: ``n_seeds``; ``first_lr``, the rate every seed
    tried (the sweep's first rate); ``n_ok_first`` seeds that reach ``target`` with it; ``first_alone`` whether
    that is a majority on its own; ``n_ok_best`` seeds that reach it with some rate; and ``rescued``, the rates
    that turned a failing seed into a success, e.g. "3e-2: 2 seeds" (empty when none was needed).

    Where ``first_alone`` is False, the first rate on its own would have put d* at least one grid step higher:
    every rate failed for the majority at the probe below d* (the sweep's rule)."""
    check_columns("th", th, _TH_COLUMNS, "pass thresholds(df)", non_empty=True)
    check_columns("df", df, ("n_subjects", "n_relations", "d_model", "seed", "lr", "accuracy"), non_empty=True)
    rows = []
    for _, t in th[th["censored"] == ""].iterrows():
        N, R, d = int(t["n_subjects"]), int(t["n_relations"]), int(t["d_star"])
        at = df[(df["n_subjects"] == N) & (df["n_relations"] == R) & (df["d_model"] == d)]
        if at.empty:
            raise ValueError(f"no rows at N={N}, R={R}, d*={d} in the table")
        seeds = sorted(at["seed"].unique())
        counts = at.groupby("lr")["seed"].nunique()
        first_lr = float(counts.idxmax()) if (counts == len(seeds)).sum() == 1 else float(E1_LRS[0])
        ok = at[at["accuracy"] >= target]
        ok_first = set(ok.loc[ok["lr"] == first_lr, "seed"])
        rescued = ok[~ok["seed"].isin(ok_first)].groupby("seed")["lr"].first()
        rescued_text = ", ".join(
            f"{_rate(lr)}: {n} seed{'s' if n > 1 else ''}" for lr, n in rescued.value_counts().sort_index().items()
        )
        rows.append(
            {
                "n_subjects": N,
                "n_relations": R,
                "d_star": d,
                "n_seeds": len(seeds),
                "first_lr": first_lr,
                "n_ok_first": len(ok_first),
                "first_alone": majority(len(ok_first), len(seeds)),
                "n_ok_best": int(ok["seed"].nunique()),
                "rescued": rescued_text,
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
    """Accuracy against d per (format, freeze, N, R), aggregated over seeds (each at its best rate,
    :func:`best_over_rates`): mean, min, max, n_ok of n_seeds."""
    cols = ["data_format", "freeze_embed", "n_subjects", "n_relations", "d_model"]
    return seed_summary(best_over_rates(df, target=target), cols, target=target)


def seed_summary(df: pd.DataFrame, cols: Sequence[str], *, target: float = 0.99) -> pd.DataFrame:
    """One row per group of ``cols`` over rows that are one seed each: accuracy mean, min and max over the seeds,
    ``n_ok`` seeds at >= ``target`` of ``n_seeds``."""
    if not len(cols):
        raise ValueError("cols must name at least one column to group by")
    check_columns("df", df, ("accuracy", "seed", *cols), non_empty=True)
    g = df.assign(ok=df["accuracy"] >= target).groupby(list(cols), as_index=False)
    return g.agg(
        accuracy_mean=("accuracy", "mean"),
        accuracy_min=("accuracy", "min"),
        accuracy_max=("accuracy", "max"),
        n_ok=("ok", "sum"),
        n_seeds=("seed", "count"),
    )


GROWTH_FORMS = {"log₂N": np.log2, "√N": np.sqrt, "N": lambda n: np.asarray(n, float)}  # the candidate laws of d*(N)


def dstar_growth(th: pd.DataFrame) -> pd.DataFrame:
    """Per R: d* at the smallest and largest N against the growth of log2 N and of N; the exponent a of a power-law
    fit d* ~ N^a (log growth gives a ~ 1/ln N ~ 0.2 here, sqrt(N) gives 0.5, linear 1); the R^2 of straight-line
    fits d* = a + b·f(N) for f = log2 N, sqrt(N) and N, and ``best_form``, the f with the highest R^2 (a name of
    :data:`GROWTH_FORMS`). ``grid_step_at_max`` is the gap between d*(N_max) and the grid value below it (the
    resolution of the measurement). Lines with fewer than three N are left out."""
    check_columns("th", th, _TH_COLUMNS, "pass thresholds(df)", non_empty=True)
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
                "best_form": max(GROWTH_FORMS, key=lambda f: fit_line(GROWTH_FORMS[f](N), d).r2),
                "grid_step_at_max": d_hi - (below[-1] if below else d_hi),
                "censored": ",".join(sorted({c for c in g["censored"] if c})) or "",
            }
        )
    return pd.DataFrame(rows)


def describe_growth(growth: pd.DataFrame) -> str:
    """One sentence per R of :func:`dstar_growth`: the N range, d* at its ends, the exponent, and the best of the
    three straight-line fits, e.g. "R = 4: N = 64…1024, d* 5 → 9 (a = 0.21), best fit log₂N (R² 0.89; √N 0.75)"."""
    check_columns("growth", growth, _GROWTH_COLUMNS, "pass dstar_growth(th)", non_empty=True)
    parts = []
    for _, g in growth.iterrows():
        others = "; ".join(f"{f} {g[_R2_COL[f]]:.2f}" for f in GROWTH_FORMS if f != g["best_form"])
        parts.append(
            f"R = {g['R']}: N = {g['N_min']}…{g['N_max']}, d* {g['d_min']} → {g['d_max']} (a = {g['exponent']:.2f}), "
            f"best fit {g['best_form']} (R² {g[_R2_COL[g['best_form']]]:.2f}; {others})"
        )
    return ". ".join(parts) + "."


_TH_COLUMNS = ("n_subjects", "n_relations", "d_star", "censored")  # what a thresholds() table holds
_CAP_COLUMNS = ("capacity_N", "n_relations", "censored", "d_model", "d_mlp", "data_format", "bits_stored")
_CAP_COLUMNS += ("params_nonembed", "bits_per_param")  # what a frozen_capacity() table holds
_R2_COL = {"log₂N": "r2_log2N", "√N": "r2_sqrtN", "N": "r2_N"}
_GROWTH_COLUMNS = ("R", "N_min", "N_max", "d_min", "d_max", "exponent", "best_form", *_R2_COL.values())


def fit_power_law(x, y) -> "FitResult":
    """Least squares of log y on log x: ``slope`` is the exponent a in y ~ x^a (x and y finite and > 0)."""
    x, y = _finite_array("x", x), _finite_array("y", y)
    for name, v in (("x", x), ("y", y)):
        if (v <= 0).any():
            raise ValueError(f"{name} must be > 0 for a power-law (log-log) fit, got {v[v <= 0][:3].tolist()}")
    return fit_line(np.log(x), np.log(y))


def _finite_array(name: str, values) -> np.ndarray:
    try:
        a = np.asarray(values, float)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}") from None
    return check_finite(name, a)


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
    label per curve (the input of ``plot.capacity.plot_side_by_side``)."""
    for name, df in (("frozen", frozen), ("learned", learned)):
        check_columns(name, df, ("d_model", "d_mlp", "data_format", "n_subjects", "accuracy"), non_empty=True)
    check_not_empty("shapes", shapes, "one (d, d_mlp, format) per curve")
    out = []
    for regime, df in (("frozen", frozen), ("learned", learned)):
        for d, m, fmt in shapes:
            sub = df[(df["d_model"] == d) & (df["d_mlp"] == m) & (df["data_format"] == fmt)]
            if sub.empty:
                continue
            g = sub.groupby("n_subjects", as_index=False).agg(accuracy_mean=("accuracy", "mean"))
            fmt_label = "[s, r]" if fmt == "single_hop" else "noisy T=32"
            out.append(g.assign(regime=regime, label=f"{regime}, d={d}, m={m}, {fmt_label}"))
    if not out:
        raise ValueError(f"shapes {list(shapes)} match no rows of frozen or learned (d_model, d_mlp, data_format)")
    return pd.concat(out, ignore_index=True)


def bits_table(th: pd.DataFrame, cap: pd.DataFrame) -> pd.DataFrame:
    """Bits stored at >= 99% per parameter: learned models at d* (bits / all parameters, and bits / the 2·N·d
    embedding weights) and frozen models at capacity (bits / trainable attention + MLP parameters). One of the two
    tables may be empty (one regime only), not both."""
    check_columns("th", th, _TH_COLUMNS, "pass thresholds(df)")
    check_columns("cap", cap, _CAP_COLUMNS, "pass frozen_capacity(df)")
    if len(th) == 0 and len(cap) == 0:
        raise ValueError("th and cap must not both be empty (neither has rows; one regime alone may be empty)")
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
    x, y = _finite_array("x", x), _finite_array("y", y)  # NaN or inf never becomes a confident fit
    if x.shape != y.shape or x.ndim != 1 or x.size < (2 if through_origin else 3):
        raise ValueError(
            f"fit_line needs matching x and y with at least {2 if through_origin else 3} points, got {x.size}"
        )
    if (not through_origin and np.ptp(x) == 0) or not np.any(x):
        raise ValueError(f"x must vary for a line fit (all {x.size} values are {float(x[0])})")
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
