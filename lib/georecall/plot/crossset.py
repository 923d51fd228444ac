"""Figures of the cross-set study (Chapters 4 and 5): the zero-shot phase diagram over K and d with a slider over the
parameterization, and the transfer threshold against R log2 N beside Chapter 3's d* (the live explorer draws its bars
with ``plot.probing.plot_probe_bars``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from .._checks import check_columns
from ..sweep.crossset import k_label
from .bijection import SliderStep, slider_figure
from .style import BLUE, GREY, LIGHT_GREY, VERMILLION, legend_below, wrap

__all__ = ["plot_phase_diagram", "plot_transfer_threshold"]


def plot_phase_diagram(
    summary, labels: Mapping[str, str], *, metric: str = "zs_encoder", target: float = 0.99, title: str
) -> go.Figure:
    """Heatmaps of ``metric`` (mean over seeds, written in each cell) over K (columns) and d (rows), one slider step
    per parameterization in ``labels`` (parameterization -> label). ``summary``: an ``analyse.crossset.summarise``
    frame at one N and R. Cells not run (pruned) read "–"; a cell at or above ``target`` on every seed is marked
    ✓ (the cell shows the mean to the percent, the hover to 0.1%)."""
    check_columns("summary", summary, ["parameterization", "n_sets", "d_model", metric, f"{metric}_min"])
    if summary.empty:
        raise ValueError("summary has no rows")
    Ks = sorted(summary["n_sets"].unique())
    ds = sorted(summary["d_model"].unique())
    x = [k_label(K) for K in Ks]
    y = [str(int(d)) for d in ds]
    steps = []
    for param, label in labels.items():
        g = summary[summary["parameterization"] == param].set_index(["d_model", "n_sets"])
        if g.empty:
            continue
        z = np.full((len(ds), len(Ks)), np.nan)
        text = [["–" for _ in Ks] for _ in ds]
        for i, d in enumerate(ds):
            for j, K in enumerate(Ks):
                if (d, K) in g.index:
                    row = g.loc[(d, K)]
                    z[i, j] = float(row[metric])
                    text[i][j] = f"{100 * z[i, j]:.0f}%" + ("✓" if float(row[f"{metric}_min"]) >= target else "")
        trace = go.Heatmap(
            z=z,
            x=x,
            y=y,
            text=text,
            texttemplate="%{text}",
            textfont=dict(size=11),
            colorscale="Blues",
            zmin=0,
            zmax=1,
            showscale=False,  # every cell is labelled; a colour bar would crowd a phone screen
            hovertemplate="K = %{x}, d = %{y}: %{z:.1%}<extra></extra>",
            name=label,
        )
        name = param.replace("_", " ")
        steps.append(SliderStep(label=name, traces=[trace], title=f"{title}: {name}"))
    if not steps:
        raise ValueError(f"summary has none of the parameterizations {list(labels)}")
    layout = dict(
        xaxis=dict(title=dict(text="fact sets trained across, K"), type="category"),
        yaxis=dict(title=dict(text="embedding dimension d"), type="category"),
    )
    return slider_figure(steps, slider_label="parameterization", layout=layout, plot_px=300)


def plot_transfer_threshold(single, cross, *, title: str) -> go.Figure:
    """d against R log2 N: Chapter 3's single-set memorisation threshold d* (``single``: columns R_log2_N, d_star,
    n_relations; grey) and the cross-set zero-shot transfer threshold (``cross``: an
    ``analyse.crossset.transfer_thresholds`` frame with a ``label`` column, one marker series per label; a threshold
    above every d tried is drawn as an open triangle at the largest d tried, meaning "more than this")."""
    check_columns("single", single, ["R_log2_N", "d_star"])
    check_columns("cross", cross, ["R_log2_N", "d_threshold", "censored", "d_tried", "label"])
    if single.empty or cross.empty:
        raise ValueError("single and cross must have rows")
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=single["R_log2_N"],
            y=single["d_star"],
            mode="markers",
            name="Chapter 3: memorise one set (d*)",
            marker=dict(color=LIGHT_GREY, size=8),
            hovertemplate="R·log₂N=%{x:.0f}: d*=%{y}<extra></extra>",
        )
    )
    x_end = float(max(single["R_log2_N"].max(), cross["R_log2_N"].max()))
    styles = ((BLUE, "diamond", 11), (VERMILLION, "diamond-open", 15), (GREY, "square-open", 13))
    for i, (label, g) in enumerate(cross.groupby("label", sort=False)):
        reached = g[g["censored"] != "above"]
        above = g[g["censored"] == "above"]
        color, symbol, size = styles[i % len(styles)]
        fig.add_trace(
            go.Scatter(
                x=reached["R_log2_N"],
                y=reached["d_threshold"],
                mode="markers+lines",
                name=f"zero-shot ≥ 99%: {label}",
                marker=dict(color=color, size=size, symbol=symbol, line=dict(width=2, color=color)),
                line=dict(color=color, width=1),
                hovertemplate="R·log₂N=%{x:.0f}: smallest d = %{y}<extra></extra>",
            )
        )
        if len(above):
            top = [max(int(v) for v in s.split(", ")) for s in above["d_tried"]]
            fig.add_trace(
                go.Scatter(
                    x=above["R_log2_N"],
                    y=top,
                    mode="markers",
                    name=f"{label}: not reached up to this d",
                    marker=dict(color=color, size=12, symbol="triangle-up-open"),
                    hovertemplate="R·log₂N=%{x:.0f}: no d ≤ %{y} reaches 99%<extra></extra>",
                )
            )
    fig.add_trace(
        go.Scatter(
            x=[0, x_end],
            y=[0, x_end],
            mode="lines",
            name="d = R·log₂N",
            line=dict(color=GREY, dash="dot", width=1),
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        title=dict(text=wrap(title)),
        xaxis=dict(title=dict(text="R·log₂N (bits to name R attributes)"), rangemode="tozero"),
        yaxis=dict(title=dict(text="embedding dimension d"), rangemode="tozero"),
    )
    return legend_below(fig, plot_px=340)
