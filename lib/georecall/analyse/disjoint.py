"""Reading the disjoint-attribute tables: d*, the frozen control's capacity, and its budget and batch checks.

Input: the committed tables ``disjoint_dstar`` and ``disjoint_frozen`` (:mod:`georecall.sweep.tables`; one row per
trained point, columns ``n_answers`` = D, ``n_heads``, ``batch_size`` on top of the shared sweep columns). The
success rule is the sweeps': a probe succeeds when more than ``sweep.MAJORITY`` of its seeds reach the target,
scored on all facts in the ``[s, r]`` format and on the held-out noisy draw (``heldout_accuracy``, never used for
stopping) in the noisy format; a run whose loss diverged (``failed`` set) never counts as a success. Nothing here
trains or imports torch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from .._checks import check_columns
from ..sweep.configs import majority
from ..theory import DEFAULT_BITS_PER_PARAM
from ..theory import disjoint as dt

__all__ = [
    "judged_accuracy",
    "probes",
    "dstar",
    "frozen_capacity",
    "rechecks",
    "budget_verdict",
    "learned_at_control",
    "shared_vs_disjoint",
]

TARGET = 0.99


def _check_table(df: pd.DataFrame, needed: tuple[str, ...]) -> None:
    check_columns("df", df, needed, "pass the disjoint_dstar or disjoint_frozen table", non_empty=True)


def judged_accuracy(df: pd.DataFrame) -> pd.Series:
    """The accuracy each row is judged on: ``heldout_accuracy`` in the noisy format, ``accuracy`` otherwise."""
    _check_table(df, ("data_format", "accuracy", "heldout_accuracy"))
    return df["heldout_accuracy"].where(df["data_format"] == "noisy", df["accuracy"]).astype(float)


def probes(df: pd.DataFrame, by: list[str], *, target: float = TARGET) -> pd.DataFrame:
    """One row per probe (``by`` columns): seeds, seeds at >= ``target``, mean/min judged accuracy, and
    ``success`` (more than ``MAJORITY`` of the seeds)."""
    if not 0 < target <= 1:
        raise ValueError(f"target must be in (0, 1], got {target}")
    if not len(by):
        raise ValueError("by must name at least one column to group by")
    _check_table(df, tuple(by) + ("seed",))
    t = df.assign(judged=judged_accuracy(df))
    failed = t["failed"].notna() & (t["failed"].astype(str) != "") if "failed" in t.columns else False
    out = (
        t.assign(ok=(t["judged"] >= target) & ~failed)
        .groupby(by, as_index=False)
        .agg(
            n_seeds=("seed", "count"), n_ok=("ok", "sum"), judged_mean=("judged", "mean"), judged_min=("judged", "min")
        )
    )
    out["success"] = majority(out["n_ok"], out["n_seeds"])
    return out


def _boundary(g: pd.DataFrame, axis: str, *, largest: bool) -> tuple[int, int | None, str]:
    """(boundary value, first value past it or None, censored) of one line's probes along ``axis``."""
    g = g.sort_values(axis)
    ok = g.loc[g["success"], axis]
    values = g[axis].tolist()
    if ok.empty:
        return (values[0] if largest else values[-1]), None, ("below" if largest else "above")
    v = int(ok.max() if largest else ok.min())
    past = [x for x in values if (x > v if largest else x < v)]
    nxt = (min(past) if largest else max(past)) if past else None
    return v, (None if nxt is None else int(nxt)), ("" if past else ("above" if largest else "below"))


def dstar(df: pd.DataFrame, *, target: float = TARGET) -> pd.DataFrame:
    """d* per (S, R, D): the smallest probed d at which a majority of seeds recall >= ``target`` of the facts.

    Columns: S, R, D, d_star, d_fail (the largest failing probe below it), censored ("below": the smallest probe
    already succeeds; "above": none does), R_log2_D = R log2 D, construction_d = R k + R + k (k = ceil(log2 D)),
    counting_d_p2 = H / (2 (S + R D)) (the global counting bound at 2 bits per weight), per_entity_d_p2 =
    R log2 D / 2, bits_per_param = H / ((S + R D) d*) with H = R S log2 D bits.
    """
    _check_table(df, ("n_subjects", "n_relations", "n_answers", "d_model", "freeze_embed"))
    p = probes(df[~df["freeze_embed"]], ["n_subjects", "n_relations", "n_answers", "d_model"], target=target)
    rows = []
    for (S, R, D), g in p.groupby(["n_subjects", "n_relations", "n_answers"], sort=True):
        d, d_fail, censored = _boundary(g, "d_model", largest=False)
        S, R, D = int(S), int(R), int(D)
        rows.append(
            dict(
                S=S,
                R=R,
                D=D,
                d_star=d,
                d_fail=d_fail,
                censored=censored,
                R_log2_D=R * float(np.log2(D)),
                construction_d=int(dt.disjoint_dimension(R, D)),
                counting_d_p2=float(dt.disjoint_lower_bound_d(S, R, D, bits_per_param=DEFAULT_BITS_PER_PARAM)),
                per_entity_d_p2=float(
                    dt.disjoint_per_entity_lower_bound_d(R, D, bits_per_param=DEFAULT_BITS_PER_PARAM)
                ),
                bits_per_param=float(dt.disjoint_bits_per_parameter(S, R, D, d)),
            )
        )
    return pd.DataFrame(rows)


def _base_rows(df: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """Per format: (format, frozen search rows at the base budget and batch, all frozen rows of that format).
    The search runs at the smallest ``max_steps`` and ``batch_size`` of its format; rechecks change one of them."""
    frozen = df[df["freeze_embed"]]
    for fmt, g in frozen.groupby("data_format", sort=True):
        base = g[(g["max_steps"] == g["max_steps"].min()) & (g["batch_size"] == g["batch_size"].min())]
        yield str(fmt), base, g


def frozen_capacity(df: pd.DataFrame, *, target: float = TARGET) -> pd.DataFrame:
    """The frozen control's capacity per format at its base budget: the largest probed S whose S R facts a majority
    of seeds recall (judged as in :func:`judged_accuracy`), the first failing S above it, and facts per trainable
    non-embedding parameter.

    Columns: data_format, d_model, d_mlp, n_heads, R, D, steps, batch_size, capacity_S, fail_S, capacity_facts,
    fail_facts, censored, params_nonembed (attention + MLP), params_trainable (also W_pos, which trains),
    facts_per_param = capacity_facts / params_nonembed, bits_per_param = capacity_facts log2 D / params_nonembed.
    """
    _check_table(df, ("n_subjects", "n_relations", "n_answers", "max_steps", "batch_size", "n_params_nonembed"))
    _check_table(df, ("data_format", "freeze_embed", "d_model", "d_mlp", "n_heads", "n_params_trainable"))
    rows = []
    for fmt, base, _ in _base_rows(df):
        p = probes(base, ["n_subjects"], target=target)
        S, S_fail, censored = _boundary(p, "n_subjects", largest=True)
        first = base.iloc[0]
        R, D, P = int(first["n_relations"]), int(first["n_answers"]), int(first["n_params_nonembed"])
        rows.append(
            dict(
                data_format=fmt,
                d_model=int(first["d_model"]),
                d_mlp=int(first["d_mlp"]),
                n_heads=int(first["n_heads"]),
                R=R,
                D=D,
                steps=int(first["max_steps"]),
                batch_size=int(first["batch_size"]),
                capacity_S=S,
                fail_S=S_fail,
                capacity_facts=S * R,
                fail_facts=None if S_fail is None else S_fail * R,
                censored=censored,
                params_nonembed=P,
                params_trainable=int(first["n_params_trainable"]),
                facts_per_param=S * R / P,
                bits_per_param=S * R * float(np.log2(D)) / P,
            )
        )
    return pd.DataFrame(rows)


def rechecks(df: pd.DataFrame, *, target: float = TARGET) -> pd.DataFrame:
    """The boundary probes of each frozen search next to their rechecks (2x steps, or a larger batch).

    One row per (format, variant, S): base and variant steps and batch, seeds at >= ``target`` and mean judged
    accuracy under both, and ``agrees`` (the majority verdict is the same).
    """
    _check_table(df, ("n_subjects", "n_relations", "max_steps", "batch_size", "data_format", "freeze_embed"))
    rows = []
    for fmt, base, g in _base_rows(df):
        b = probes(base, ["n_subjects"], target=target).set_index("n_subjects")
        steps0, batch0 = int(base["max_steps"].iloc[0]), int(base["batch_size"].iloc[0])
        variants = g[(g["max_steps"] != steps0) | (g["batch_size"] != batch0)]
        for (steps, batch), v in variants.groupby(["max_steps", "batch_size"], sort=True):
            kind = "steps x%g" % (steps / steps0) if steps != steps0 else "batch x%g" % (batch / batch0)
            for _, r in probes(v, ["n_subjects"], target=target).iterrows():
                S = int(r["n_subjects"])
                rows.append(
                    dict(
                        data_format=fmt,
                        variant=kind,
                        S=S,
                        facts=S * int(base["n_relations"].iloc[0]),
                        base_steps=steps0,
                        base_batch=batch0,
                        steps=int(steps),
                        batch_size=int(batch),
                        base_ok=f"{int(b.loc[S, 'n_ok'])}/{int(b.loc[S, 'n_seeds'])}",
                        variant_ok=f"{int(r['n_ok'])}/{int(r['n_seeds'])}",
                        base_accuracy=float(b.loc[S, "judged_mean"]),
                        variant_accuracy=float(r["judged_mean"]),
                        base_success=bool(b.loc[S, "success"]),
                        variant_success=bool(r["success"]),
                        agrees=bool(b.loc[S, "success"]) == bool(r["success"]),
                    )
                )
    return pd.DataFrame(rows)


def budget_verdict(df: pd.DataFrame, data_format: str, *, target: float = TARGET) -> dict:
    """Whether the capacity of ``data_format`` at the base budget B holds at 2B: ``stable`` is True when both
    boundary probes (last success, first failure) get the same majority verdict at 2B. Returns
    ``{"stable", "steps", "capacity_facts", "fail_facts", "label"}``; ``label`` is "capacity" or
    "budget-limited at B" (B spelled out)."""
    if data_format not in ("single_hop", "noisy"):
        raise ValueError(f"data_format must be 'single_hop' or 'noisy', got {data_format!r}")
    cap = frozen_capacity(df, target=target).set_index("data_format")
    if data_format not in cap.index:
        raise ValueError(f"df has no frozen-embedding rows in the {data_format!r} format")
    cap = cap.loc[data_format]
    chk = rechecks(df, target=target)
    chk = chk[(chk["data_format"] == data_format) & chk["variant"].str.startswith("steps")]
    if chk.empty:
        raise ValueError(f"no budget recheck rows for {data_format!r}")
    stable = bool(chk["agrees"].all())
    steps = int(cap["steps"])
    return dict(
        stable=stable,
        steps=steps,
        capacity_facts=int(cap["capacity_facts"]),
        fail_facts=None if pd.isna(cap["fail_facts"]) else int(cap["fail_facts"]),
        label="capacity" if stable else f"budget-limited at {steps} steps",
    )


def learned_at_control(df: pd.DataFrame, *, target: float = TARGET) -> pd.DataFrame:
    """Learned embeddings at the control's shape: per (format, S) seeds at >= ``target``, mean judged accuracy,
    the steps taken, and all/non-embedding parameter counts."""
    _check_table(df, ("n_subjects", "n_relations", "data_format", "freeze_embed", "steps", "n_params"))
    _check_table(df, ("n_params_nonembed",))
    learned = df[~df["freeze_embed"]]
    p = probes(learned, ["data_format", "n_subjects"], target=target)
    extra = learned.groupby(["data_format", "n_subjects"], as_index=False).agg(
        steps_mean=("steps", "mean"),
        n_relations=("n_relations", "first"),
        params_all=("n_params", "first"),
        params_nonembed=("n_params_nonembed", "first"),
    )
    out = p.merge(extra, on=["data_format", "n_subjects"])
    out["facts"] = out["n_subjects"] * out["n_relations"]
    return out


def shared_vs_disjoint(dstar_table: pd.DataFrame, shared_thresholds: pd.DataFrame, *, R: int, D: int) -> pd.DataFrame:
    """d* against the number of subjects for both settings at ``R`` relations: the disjoint d* (``dstar`` rows with
    D answers per relation) and the shared-attribute d* (``analysis.thresholds`` of the ``e1_capacity`` table,
    N = S subjects and attributes). Columns: setting, S, d_star, censored, R_log2_answers (R log2 D or R log2 N)."""
    check_columns(
        "dstar_table", dstar_table, ("S", "R", "D", "d_star", "censored", "R_log2_D"), "pass dstar(df)", non_empty=True
    )
    needed = ("n_subjects", "n_relations", "freeze_embed", "d_star", "censored", "R_log2_N")
    check_columns("shared_thresholds", shared_thresholds, needed, "pass thresholds(e1_capacity)", non_empty=True)
    dj = dstar_table[(dstar_table["R"] == R) & (dstar_table["D"] == D)]
    sh = shared_thresholds[(shared_thresholds["n_relations"] == R) & ~shared_thresholds["freeze_embed"]]
    if dj.empty or sh.empty:
        raise ValueError(f"no rows at R = {R} (and D = {D}) in one of the tables")
    a = pd.DataFrame(
        dict(
            setting=f"disjoint, D = {D}",
            S=dj["S"],
            d_star=dj["d_star"],
            censored=dj["censored"],
            R_log2_answers=dj["R_log2_D"],
        )
    )
    b = pd.DataFrame(
        dict(
            setting="shared, D = N",
            S=sh["n_subjects"],
            d_star=sh["d_star"],
            censored=sh["censored"],
            R_log2_answers=sh["R_log2_N"],
        )
    )
    return pd.concat([a, b], ignore_index=True).sort_values(["setting", "S"]).reset_index(drop=True)
