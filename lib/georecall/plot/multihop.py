"""Chapter 6's figures (multi-hop recall). Like :mod:`georecall.plots`, they compute nothing: each takes arrays or
tidy tables (``multihop_theory.dimension_table``, ``multihop_analysis.multihop_thresholds``,
``multihop_analysis.multihop_curves``) and returns a ``go.Figure``. Encodings: dashed lines for constructions, dotted
for lower bounds, markers for trained models; one colour per format (without CoT, with CoT).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from .._checks import check_columns, check_not_empty
from .bijection import SliderStep, slider_figure
from .style import BLUE, GREY, VERMILLION, legend_below, log_axis, wrap

__all__ = [
    "FORMAT_COLORS",
    "FORMAT_NAMES",
    "plot_path_gates",
    "plot_cot_steps",
    "size_traces",
    "censor_notes",
    "tradeoff_traces",
    "plot_tradeoff",
    "plot_sizes",
    "plot_sizes_slider",
    "plot_multihop_accuracy_slider",
]

FORMAT_COLORS = {"no_cot": VERMILLION, "cot": BLUE}
FORMAT_NAMES = {"no_cot": "without CoT", "cot": "with CoT"}


def _fmt(name: str) -> str:
    if name not in FORMAT_COLORS:
        raise ValueError(f"format must be one of {sorted(FORMAT_COLORS)}, got {name!r}")
    return name


def _block_heatmap(z, x, y, *, title: str, x_title: str, y_title: str, hover: str, plot_px: int) -> go.Figure:
    """A gate picture: mean |activation| of MLP unit blocks (columns ``x``) per query or step (rows ``y``)."""
    (zn, z), (xn, x), (yn, y) = z, x, y
    check_not_empty(zn, z, "a [rows, blocks] matrix")
    if len(z) != len(y) or any(len(row) != len(x) for row in z):
        raise ValueError(
            f"{zn} must be [len({yn}), len({xn})] = [{len(y)}, {len(x)}], got rows of lengths {[len(r) for r in z]}"
        )
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(x),
            y=list(y),
            colorscale="Blues",
            colorbar=dict(title=dict(text="mean |act|"), thickness=12),
            hovertemplate=hover + "<br>mean |activation| %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=dict(text=wrap(title)),
        xaxis=dict(title=dict(text=x_title), type="category"),
        yaxis=dict(title=dict(text=y_title), type="category", autorange="reversed"),
    )
    return legend_below(fig, plot_px=plot_px)


def plot_path_gates(matrix, path_labels: Sequence[str], *, title: str) -> go.Figure:
    """Heatmap of ``multihop.path_gate_matrix``: rows the queried path, columns the MLP unit block of each path."""
    return _block_heatmap(
        ("matrix", matrix),
        ("path_labels", path_labels),
        ("path_labels", path_labels),
        title=title,
        x_title="MLP units of path r₁…r_h",
        y_title="queried path",
        hover="query %{y}<br>unit block %{x}",
        plot_px=max(240, 30 * len(path_labels)),
    )


def plot_cot_steps(blocks, step_labels: Sequence[str], relation_labels: Sequence[str], *, title: str) -> go.Figure:
    """Heatmap [decoding step, relation block] of the CoT construction's MLP activity (mean |activation| of the 2k
    units of each relation's block at the position that emits y_i)."""
    return _block_heatmap(
        ("blocks", blocks),
        ("relation_labels", relation_labels),
        ("step_labels", step_labels),
        title=title,
        x_title="MLP units of relation",
        y_title="decoding step",
        hover="%{y}<br>block %{x}",
        plot_px=max(200, 60 * len(step_labels)),
    )


def size_traces(rows, x: str, fmt: str, *, show_legend: bool = True) -> list[go.Scatter]:
    """One format's construction d (dashed, diamonds) and per-entity bound (dotted) against column ``x`` of ``rows``
    (``multihop_theory.dimension_table`` rows of that format: ``"h"`` at one N, or ``"N"`` at one h)."""
    color, name = FORMAT_COLORS[fmt], FORMAT_NAMES[fmt]
    return [
        go.Scatter(
            x=rows[x],
            y=rows["d"],
            mode="lines+markers",
            name=f"construction, {name}",
            line=dict(color=color, dash="dash"),
            marker=dict(symbol="diamond-open", size=7),
            showlegend=show_legend,
            legendgroup=f"c-{fmt}",
            hovertemplate=f"{x} = %{{x}}<br>construction d = %{{y}}<extra>{name}</extra>",
        ),
        go.Scatter(
            x=rows[x],
            y=rows["per_entity_bound_d"],
            mode="lines",
            name=f"per-entity bound (p = 2), {name}",
            line=dict(color=color, dash="dot", width=1.5),
            showlegend=show_legend,
            legendgroup=f"b-{fmt}",
            hovertemplate=f"{x} = %{{x}}<br>bound d ≥ %{{y:.1f}}<extra>{name}</extra>",
        ),
    ]


def censor_notes(th) -> list[str]:
    """The hover note of each trained d* of ``th`` (``multihop_thresholds`` rows): how its search was censored."""
    return [
        f"not reached within {s} steps (d* > {d})" if c == "above" else ("d* ≤ smallest d tried" if c else "")
        for d, c, s in zip(th["d_star"], th["censored"], th["max_steps"])
    ]


def tradeoff_traces(dims, th=None, *, show_legend: bool = True) -> list[go.Scatter]:
    """Traces of dimension against hops for one (N, R): each construction's d (dashed), the per-entity bounds
    (dotted), and measured d* (markers; open markers where the search was censored, hover says how).

    ``dims``: rows of ``multihop_theory.dimension_table`` (columns h, format, d, per_entity_bound_d); ``th``: rows of
    ``multihop_analysis.multihop_thresholds`` (columns hops, data_format, d_star, censored, max_steps) or None."""
    needed = ("h", "format", "d", "per_entity_bound_d", "global_bound_d")
    check_columns("dims", dims, needed, "pass multihop_theory.dimension_table", non_empty=True)
    if th is not None:
        check_columns("th", th, ("hops", "data_format", "d_star", "censored", "max_steps"), "pass multihop_thresholds")
    traces = []
    for fmt in ("no_cot", "cot"):
        rows = dims[dims["format"] == fmt].sort_values("h")
        color, name = FORMAT_COLORS[fmt], FORMAT_NAMES[fmt]
        traces += size_traces(rows, "h", fmt, show_legend=show_legend)
        if th is None or len(th) == 0:
            continue
        got = th[th["data_format"].map(_fmt) == fmt].sort_values("hops")
        if got.empty:
            continue
        notes = censor_notes(got)
        traces.append(
            go.Scatter(
                x=got["hops"],
                y=got["d_star"],
                mode="lines+markers",
                name=f"trained d*, {name}",
                line=dict(color=color, width=2.5),
                marker=dict(size=11, symbol=["circle-open" if c else "circle" for c in got["censored"]]),
                customdata=notes,
                showlegend=show_legend,
                legendgroup=f"t-{fmt}",
                hovertemplate="h = %{x}<br>d* = %{y} %{customdata}<extra>" + name + "</extra>",
            )
        )
    return traces


def _global_bound_trace(dims, *, show_legend: bool = True) -> go.Scatter:
    rows = dims[dims["format"] == "no_cot"].sort_values("h")
    return go.Scatter(
        x=rows["h"],
        y=rows["global_bound_d"],
        mode="lines",
        name="global bound (p = 2), any format",
        line=dict(color=GREY, dash="dot", width=1.5),
        showlegend=show_legend,
        hovertemplate="h = %{x}<br>global bound d ≥ %{y:.1f}<extra></extra>",
    )


def _tradeoff_layout(values) -> dict:
    return dict(
        xaxis=dict(title=dict(text="hops h"), dtick=1),
        yaxis=log_axis("embedding dimension d (log scale)", values),
        hovermode="closest",
    )


def _values(dims, th=None) -> list[float]:
    vals = [*dims["d"], *dims["per_entity_bound_d"], *dims["global_bound_d"]]
    return vals + ([] if th is None else list(th["d_star"]))


def plot_tradeoff(steps: Sequence[tuple[str, object, object, str]]) -> go.Figure:
    """Dimension against hops with one slider step per (label, dims, th, title) (e.g. one per R); the global
    counting bound (grey) is drawn from each step's ``dims`` too."""
    check_not_empty("steps", steps, "one (label, dims, th, title) per slider step")
    vals = [v for _, dims, th, _ in steps for v in _values(dims, th)]
    return slider_figure(
        [
            SliderStep(label=lab, traces=[*tradeoff_traces(dims, th), _global_bound_trace(dims)], title=title)
            for lab, dims, th, title in steps
        ],
        slider_label="R (relations)",
        layout=_tradeoff_layout(vals),
    )


def plot_sizes(dims, d: int, h: int, *, title: str) -> go.Figure:
    """The live explorer's view: both constructions and bounds against hops for one (N, R), the chosen width d as a
    horizontal line and the chosen h marked."""
    check_not_empty("dims", dims, "pass multihop_theory.dimension_table")
    fig = go.Figure(tradeoff_traces(dims))
    fig.update_layout(title=dict(text=wrap(title, width=80)), **_tradeoff_layout(_values(dims) + [d]))
    fig.add_hline(y=d, line=dict(color="#000000", width=1.5))
    fig.add_vline(x=h, line=dict(color=GREY, width=1))
    # An annotation on a log axis is placed at log10 of its y (plotly's rule for log axes); add_hline's own label
    # would put it at 10^d and stretch the axis to it.
    vals = [v for v in _values(dims) + [d] if v > 0]
    fig.update_yaxes(range=[math.log10(min(vals)) - 0.15, math.log10(max(vals)) + 0.15])  # log10 units, explicit
    fig.add_annotation(
        x=1,
        xref="paper",
        xanchor="right",
        y=math.log10(d),
        yref="y",
        yanchor="bottom",
        text=f"d = {d}",
        showarrow=False,
    )
    return legend_below(fig, plot_px=320)


def plot_sizes_slider(steps: Sequence[tuple[str, object, str]], *, slider_label: str) -> go.Figure:
    """The static twin of the live explorer: construction sizes and bounds against hops, one step per (label, dims,
    title)."""
    check_not_empty("steps", steps, "one (label, dims, title) per slider step")
    vals = [v for _, dims, _ in steps for v in _values(dims)]
    return slider_figure(
        [SliderStep(label=lab, traces=tradeoff_traces(dims), title=title) for lab, dims, title in steps],
        slider_label=slider_label,
        layout=_tradeoff_layout(vals),
    )


def plot_multihop_accuracy_slider(curves, lines: Sequence[tuple[int, int]], *, N: int) -> go.Figure:
    """Final-answer accuracy against d (mean over seeds, each at its better lr; bars span min to max), one trace per
    format, one slider step per (R, h) in ``lines`` (a line without rows shows an empty step; not all may be
    empty); ``curves`` is ``multihop_analysis.multihop_curves``."""
    needed = ("data_format", "n_relations", "hops", "d_model", "accuracy_mean", "accuracy_min", "accuracy_max")
    check_columns("curves", curves, (*needed, "n_ok", "n_seeds"), "pass multihop_curves(df)", non_empty=True)
    check_not_empty("lines", lines, "one (R, h) per slider step")
    if not any(((curves["n_relations"] == R) & (curves["hops"] == h)).any() for R, h in lines):
        raise ValueError(f"lines {list(lines)} have no rows in curves (no trained model at any of these R and h)")
    steps = []
    for R, h in lines:
        traces = []
        for fmt in ("no_cot", "cot"):
            g = curves[
                (curves["data_format"].map(_fmt) == fmt) & (curves["n_relations"] == R) & (curves["hops"] == h)
            ].sort_values("d_model")
            if g.empty:
                continue
            traces.append(
                go.Scatter(
                    x=g["d_model"],
                    y=g["accuracy_mean"],
                    mode="lines+markers",
                    name=FORMAT_NAMES[fmt],
                    line=dict(color=FORMAT_COLORS[fmt]),
                    error_y=dict(
                        type="data",
                        symmetric=False,
                        array=g["accuracy_max"] - g["accuracy_mean"],
                        arrayminus=g["accuracy_mean"] - g["accuracy_min"],
                    ),
                    customdata=[f"{a}/{b}" for a, b in zip(g["n_ok"], g["n_seeds"])],
                    hovertemplate="d = %{x}<br>mean accuracy %{y:.3f}<br>seeds at ≥ 99%: %{customdata}<extra></extra>",
                )
            )
        title = f"Trained models, N = {N}, R = {R}, h = {h}: final-answer accuracy against d"
        steps.append(SliderStep(label=f"R={R}, h={h}", traces=traces, title=title))
    return slider_figure(
        steps,
        slider_label="relations R, hops h",
        layout=dict(
            xaxis=log_axis("embedding dimension d (log scale)", list(curves["d_model"])),
            yaxis=dict(title=dict(text="accuracy on all N·R^h questions"), range=[0, 1.05]),
            shapes=[
                dict(
                    type="line",
                    xref="paper",
                    x0=0,
                    x1=1,
                    y0=0.99,
                    y1=0.99,
                    line=dict(dash="dot", color="gray", width=1),
                )
            ],
        ),
    )
