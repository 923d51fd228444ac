"""Analysis of the layers study's tables (``layers``, ``layer_probes``, ``layer_ablation``): probe values over seeds,
the layer and token where the superposition R^2 peaks, which components' mean-ablation removes recall, and bits per
parameter beside the literature's figure.

Pandas only, no torch: a chapter reads the committed tables through these functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .._checks import check_columns, check_float

__all__ = [
    "probe_summary",
    "peak_layers",
    "ablation_summary",
    "removes_recall",
    "bits_summary",
    "TOKEN_LABELS",
    "CONTROL_LABELS",
    "COMPONENT_LABELS",
]

TOKEN_LABELS = {"subject": "subject token", "last": "last token before the answer"}
CONTROL_LABELS = {"trained": "trained", "random_network": "untrained network", "shuffled_labels": "shuffled labels"}
COMPONENT_LABELS = {"attn": "attention", "mlp": "MLP"}
GROUP = ["n_entities", "n_relations", "d_model", "n_layers"]


def _check(df: pd.DataFrame, cols: Sequence[str], name: str) -> None:
    check_columns(name, df, cols)
    if df.empty:
        raise ValueError(f"{name} has no rows")


def probe_summary(layer_probes: pd.DataFrame) -> pd.DataFrame:
    """One row per (N, R, d, L, control, token, metric, layer): ``value`` = the mean over seeds, ``value_min``,
    ``value_max`` and ``n_seeds`` (NaN values, a metric not defined at that layer, are left out of the mean)."""
    _check(layer_probes, [*GROUP, "seed", "control", "token", "metric", "layer", "value"], "layer_probes")
    keys = [*GROUP, "control", "token", "metric", "layer"]
    g = layer_probes.groupby(keys, sort=True)["value"]
    out = g.mean().to_frame("value")
    out["value_min"], out["value_max"], out["n_seeds"] = g.min(), g.max(), g.count()
    return out.reset_index()


def peak_layers(layer_probes: pd.DataFrame, metric: str = "superposition_r2", control: str = "trained") -> pd.DataFrame:
    """For each (N, R, d, L): the layer and token whose ``metric`` (mean over seeds, ``control``) is largest, with
    that value and the runner-up token's best, sorted by L. The question "at which layer and token does the
    superposition R^2 peak" reads the first columns."""
    s = probe_summary(layer_probes)
    s = s[(s["metric"] == metric) & (s["control"] == control) & s["value"].notna()]
    if s.empty:
        raise ValueError(f"layer_probes has no finite {metric!r} values for control {control!r}")
    rows = []
    for key, g in s.groupby(GROUP, sort=True):
        best = g.loc[g["value"].idxmax()]
        per_token = g.groupby("token")["value"].max()
        rows.append(
            {
                **dict(zip(GROUP, key)),
                "token": best["token"],
                "layer": int(best["layer"]),
                "value": float(best["value"]),
                **{f"best_{t}": float(v) for t, v in per_token.items()},
            }
        )
    return pd.DataFrame(rows)


def ablation_summary(layer_ablation: pd.DataFrame) -> pd.DataFrame:
    """One row per (N, R, d, L, layer, component): ``recall`` and ``drop`` as means over seeds, with ``drop_min`` and
    ``drop_max``."""
    _check(layer_ablation, [*GROUP, "seed", "layer", "component", "recall", "drop"], "layer_ablation")
    keys = [*GROUP, "layer", "component"]
    g = layer_ablation.groupby(keys, sort=True)
    out = g[["recall", "drop"]].mean()
    out["drop_min"], out["drop_max"], out["n_seeds"] = g["drop"].min(), g["drop"].max(), g["drop"].count()
    return out.reset_index()


def removes_recall(layer_ablation: pd.DataFrame, *, min_drop: float = 0.5) -> pd.DataFrame:
    """The (L, layer, component) whose mean-ablation lowers recall of the trained facts by at least ``min_drop`` on
    every seed (``drop_min`` >= min_drop), with a ``removes`` flag on every row of :func:`ablation_summary`."""
    check_float("min_drop", min_drop, 0.0, 1.0, lo_open=True)
    s = ablation_summary(layer_ablation)
    return s.assign(removes=s["drop_min"] >= min_drop)


def bits_summary(layers: pd.DataFrame) -> pd.DataFrame:
    """One row per (N, R, d, L): parameters, trained facts, bits per parameter (n_facts log2 N / every parameter)
    beside the literature's figure, and recall per split, as means over seeds (``n_seeds``)."""
    cols = [
        "n_params",
        "n_facts",
        "bits_per_param",
        "literature_bits_per_param",
        "recall_train",
        "recall_heldout_templates",
        "recall_inverse",
        "recall_inverse_trained",
    ]
    _check(layers, [*GROUP, "seed", *cols], "layers")
    g = layers.groupby(GROUP, sort=True)
    out = g[cols].mean()
    out["recall_train_min"], out["n_seeds"] = g["recall_train"].min(), g["seed"].count()
    return out.reset_index()
