"""Figures of the disjoint-attribute appendix: each takes computed tables and returns a ``go.Figure``.

Inputs are the small DataFrames of :mod:`georecall.analyse.disjoint` (d*, the frozen control's probes) and the
construction's margins; nothing here computes a result. The book's encodings (:mod:`georecall.plot.style`): one colour
per R, theory dashed or as open markers, log axes with major labels only, the legend in a band below the plot.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from .._checks import check_columns, check_not_empty
from .bijection import SliderStep, check_histogram, slider_figure
from .style import BLUE, GREY, PALETTE, VERMILLION, color_for_R, legend_below, log_axis, wrap

__all__ = [
    "plot_dstar_vs_rlogd",
    "plot_shared_vs_disjoint",
    "plot_frozen_control",
    "margin_traces",
    "plot_margins",
    "plot_margin_slider",
]

_SYMBOL_FOR_D = {2: "circle", 8: "square", 32: "diamond"}


def plot_dstar_vs_rlogd(dstar) -> go.Figure:
    """d* (filled, with a bar down to the largest failing d) against R log2 D, one colour per R and one symbol per
    D; the construction's d = R k + R + k (open markers) and the counting bound at 2 bits per weight (crosses).

    ``dstar``: rows with S, R, D, d_star, d_fail, R_log2_D, construction_d, counting_d_p2."""
    check_columns(
        "dstar",
        dstar,
        ("S", "R", "D", "d_star", "d_fail", "R_log2_D", "construction_d", "counting_d_p2"),
        non_empty=True,
    )
    fig = go.Figure()
    for (R, D), g in dstar.groupby(["R", "D"], sort=True):
        low = (g["d_star"] - g["d_fail"].fillna(g["d_star"])).tolist()
        fig.add_trace(
            go.Scatter(
                x=g["R_log2_D"],
                y=g["d_star"],
                mode="markers",
                name=f"d*, R={R}, D={D}",
                legendgroup=f"R{R}",
                marker=dict(color=color_for_R(R), size=10, symbol=_SYMBOL_FOR_D.get(int(D), "circle")),
                error_y=dict(type="data", symmetric=False, array=[0] * len(g), arrayminus=low, thickness=1),
                hovertemplate="S=%{customdata[0]}: d*=%{y} (fails at %{customdata[1]})<extra></extra>",
                customdata=g[["S", "d_fail"]].to_numpy(),
            )
        )
    cons = dstar.drop_duplicates(["R", "D"]).sort_values("R_log2_D")
    fig.add_trace(
        go.Scatter(
            x=cons["R_log2_D"],
            y=cons["construction_d"],
            mode="markers",
            name="construction d = Rk + R + k",
            marker=dict(symbol="circle-open", size=11, color=GREY),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=dstar["R_log2_D"],
            y=dstar["counting_d_p2"],
            mode="markers",
            name="counting bound, 2 bits/weight",
            marker=dict(symbol="x-thin-open", size=9, color=PALETTE[-1], line=dict(width=1.5)),
        )
    )
    fig.update_layout(
        title=wrap("Learned d* against R·log₂D (S = 256)"),
        xaxis=log_axis("R·log₂D (bits per subject)", dstar["R_log2_D"].tolist()),
        yaxis=log_axis("embedding dimension d", [*dstar["d_star"], *dstar["construction_d"]]),
    )
    return legend_below(fig, plot_px=340)


def plot_shared_vs_disjoint(rows) -> go.Figure:
    """d* against the number of subjects S for the shared-attribute task (attributes = subjects) and for disjoint
    attribute sets, with R·log₂(answers per relation) dashed: it grows with S when attributes are shared, not when
    each relation has its own D. ``rows``: setting, S, d_star, censored, R_log2_answers."""
    check_columns("rows", rows, ("setting", "S", "d_star", "censored", "R_log2_answers"), non_empty=True)
    fig = go.Figure()
    colors = (BLUE, VERMILLION)
    for color, (setting, g) in zip(colors, rows.groupby("setting", sort=True)):
        g = g.sort_values("S")
        fig.add_trace(
            go.Scatter(x=g["S"], y=g["d_star"], mode="lines+markers", name=f"d*, {setting}", line=dict(color=color))
        )
        fig.add_trace(
            go.Scatter(
                x=g["S"],
                y=g["R_log2_answers"],
                mode="lines",
                name=f"R·log₂(answers), {setting}",
                line=dict(color=color, dash="dash"),
            )
        )
    fig.update_layout(
        title=wrap("d* as the number of subjects grows (R = 4)"),
        xaxis=log_axis("subjects S (= N in the shared task)", rows["S"].tolist()),
        yaxis=dict(title="embedding dimension d", rangemode="tozero"),
    )
    return legend_below(fig, plot_px=320)


def plot_frozen_control(probe_rows, *, target: float = 0.99) -> go.Figure:
    """Mean judged accuracy (held-out draw in the noisy format, all facts in [s, r]) against the number of facts,
    one line per (regime, format, steps, batch); the success threshold dotted. ``probe_rows``: label, facts,
    judged_mean, n_ok, n_seeds."""
    check_columns("probe_rows", probe_rows, ("label", "facts", "judged_mean", "n_ok", "n_seeds"), non_empty=True)
    fig = go.Figure()
    for label, g in probe_rows.groupby("label", sort=False):
        g = g.sort_values("facts")
        fig.add_trace(
            go.Scatter(
                x=g["facts"],
                y=g["judged_mean"],
                mode="lines+markers",
                name=label,
                customdata=g[["n_ok", "n_seeds"]].to_numpy(),
                hovertemplate="%{x} facts: accuracy %{y:.3f} (%{customdata[0]}/%{customdata[1]} seeds ≥ 0.99)"
                "<extra></extra>",
            )
        )
    fig.add_hline(y=target, line=dict(dash="dot", color=GREY))
    fig.update_layout(
        title=wrap("Frozen embeddings on disjoint sets: accuracy against facts"),
        xaxis=log_axis("facts S·R", probe_rows["facts"].tolist()),
        yaxis=dict(title="accuracy (held-out draw for noisy)", range=[0, 1.05]),
    )
    return legend_below(fig, plot_px=320)


def margin_traces(counts: Sequence[int], edges: Sequence[float], *, min_margin: float) -> list[go.BaseTraceType]:
    """A histogram of per-fact margins (bars) and the predicted minimum 2/max(k, 1) (a vertical marker line)."""
    check_histogram(counts, edges)
    mids = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    width = edges[1] - edges[0]
    top = max(counts) if counts else 1
    return [
        go.Bar(x=mids, y=list(counts), width=width, name="facts per margin bin", marker_color=BLUE),
        go.Scatter(
            x=[min_margin, min_margin],
            y=[0, top],
            mode="lines",
            name="2 / max(k, 1)",
            line=dict(color=VERMILLION, dash="dash"),
        ),
    ]


def plot_margins(counts: Sequence[int], edges: Sequence[float], *, min_margin: float, title: str) -> go.Figure:
    """The live explorer's figure: the margins of every fact of one construction (:func:`margin_traces`)."""
    fig = go.Figure(margin_traces(counts, edges, min_margin=min_margin))
    fig.update_layout(
        title=wrap(title), xaxis_title="margin: correct logit − best wrong logit", yaxis_title="facts", bargap=0
    )
    return legend_below(fig, plot_px=300)


def plot_margin_slider(views, *, slider_label: str = "D") -> go.Figure:
    """Static twin of the construction explorer: per slider step (one D) the margin histogram of every fact.
    ``views``: (label, counts, edges, min_margin, title) per step."""
    check_not_empty("views", views, "one (label, counts, edges, min_margin, title) per slider step")
    steps = [
        SliderStep(label=str(label), traces=margin_traces(counts, edges, min_margin=mm), title=title)
        for label, counts, edges, mm, title in views
    ]
    return slider_figure(
        steps,
        slider_label=slider_label,
        layout=dict(xaxis=dict(title="margin: correct logit − best wrong logit"), yaxis=dict(title="facts"), bargap=0),
    )
