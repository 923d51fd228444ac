"""Chapter 7's capacity figure: d* of L-layer models on fact sentences against the bits R log2 N, one colour per depth
L, with each depth's least-squares line and Chapter 3's one-layer ``[s, r]`` line for comparison. Computes nothing: it
takes ``analyse.sentences.sentence_thresholds`` and ``dstar_fits`` rows."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from .._checks import check_columns
from .layers import color_for_L
from .style import GREY, legend_below, wrap

__all__ = ["plot_sentence_capacity"]


def _line(fit, x_lo: float, x_hi: float) -> tuple[list[float], list[float]]:
    xs = [x_lo, x_hi]
    return xs, [float(fit["intercept"]) + float(fit["slope"]) * x for x in xs]


def plot_sentence_capacity(thresholds, fits, *, reference=None, title: str) -> go.Figure:
    """Trained d* against R log2 N (markers; open where the search was censored, hover says how), one colour per
    depth L, with the fitted line d* = a + b R log2 N of each depth (``fits``, by ``n_layers``) over the x it was
    fitted on, and ``reference`` (one row of ``dstar_fits``, e.g. Chapter 3's [s, r] fit) as a grey dashed line over
    the same x range."""
    check_columns(
        "thresholds",
        thresholds,
        ("n_layers", "n_subjects", "n_relations", "R_log2_N", "d_star", "censored"),
        "pass sentence_thresholds(...)",
        non_empty=True,
    )
    check_columns(
        "fits", fits, ("n_layers", "slope", "slope_se", "intercept", "x_min", "x_max"), "pass dstar_fits(...)"
    )
    depths = sorted(int(v) for v in thresholds["n_layers"].unique())
    fig = go.Figure()
    x_lo, x_hi = float(thresholds["R_log2_N"].min()), float(thresholds["R_log2_N"].max())
    for L in depths:
        g = thresholds[thresholds["n_layers"] == L].sort_values("R_log2_N")
        color = color_for_L(L, depths)
        notes = [
            f"N = {n}, R = {r}" + (f"; censored {c} (d* is a bound)" if c else "")
            for n, r, c in zip(g["n_subjects"], g["n_relations"], g["censored"].fillna(""))
        ]
        fig.add_trace(
            go.Scatter(
                x=g["R_log2_N"],
                y=g["d_star"],
                mode="markers",
                name=f"L = {L}, trained d*",
                marker=dict(
                    size=10, color=color, symbol=["circle-open" if c else "circle" for c in g["censored"].fillna("")]
                ),
                customdata=notes,
                legendgroup=f"L{L}",
                hovertemplate="R log2 N = %{x:.0f}<br>d* = %{y}<br>%{customdata}<extra>" + f"L = {L}</extra>",
            )
        )
        fit = fits[fits["n_layers"] == L]
        if len(fit) and math.isfinite(float(fit["slope"].iloc[0])):
            f = fit.iloc[0]
            xs, ys = _line(f, float(f["x_min"]), float(f["x_max"]))
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    name=f"L = {L} fit: {f['slope']:.2f} ± {f['slope_se']:.2f} per bit",
                    line=dict(color=color, width=2),
                    legendgroup=f"L{L}",
                    hovertemplate="fitted d* = %{y:.1f}<extra>" + f"L = {L}</extra>",
                )
            )
    if reference is not None:
        xs, ys = _line(reference, x_lo, x_hi)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=f"one layer, [s, r] format (Chapter 3): {reference['slope']:.2f} per bit",
                line=dict(color=GREY, dash="dash", width=2),
                hovertemplate="[s, r] fit: d* = %{y:.1f}<extra></extra>",
            )
        )
    fig.update_layout(
        title=dict(text=wrap(title)),
        xaxis=dict(title=dict(text="bits per entity R·log₂N")),
        yaxis=dict(title=dict(text="trained d* (embedding dimension)"), rangemode="tozero"),
        hovermode="closest",
    )
    return legend_below(fig)
