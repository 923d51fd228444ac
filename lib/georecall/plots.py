"""Plotly figure builders. They compute nothing: each takes arrays or a tidy DataFrame and returns a ``go.Figure``.

Encodings shared by every chapter: one colour per relation count R (:func:`color_for_R`, a colour-blind-safe
palette); dashed lines for theory (constructions, bounds), solid lines for trained or measured models; log axes with
major labels only (:func:`plotstyle.log_axis`), linear axes where the claim is a straight line; the legend in a band
below the plot and titles wrapped to fit a 390 px screen (:mod:`georecall.plotstyle`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import plotly.graph_objects as go

from .plotstyle import (
    BLUE,
    GREY,
    LIGHT_GREY,
    ORANGE,
    VERMILLION,
    color_for_R,
    legend_below,
    log_axis,
    setup,
    title_lines,
    wrap,
)

__all__ = ["setup", "color_for_R", "SliderStep", "slider_figure", "plot_training_history"]

THEORY_DASH = "dash"
SLIDER_PX = 92  # the slider's band below the x-axis: current value, rail, step labels
FROZEN_COLOR, LEARNED_COLOR = VERMILLION, BLUE


@dataclass(frozen=True)
class SliderStep:
    """One position of a precomputed slider: its label, the traces it shows, and the title it sets."""

    label: str
    traces: Sequence[go.BaseTraceType]
    title: str
    layout: dict = field(default_factory=dict)  # extra relayout keys for this step, e.g. {"yaxis.range": [0, 1]}


def slider_figure(
    steps: Sequence[SliderStep],
    *,
    slider_label: str,
    active: int = 0,
    layout: dict | None = None,
    shared_traces: Sequence[go.BaseTraceType] = (),
    plot_px: int = 320,
) -> go.Figure:
    """A figure whose slider switches between precomputed trace groups (the static twin of a live widget).

    Every step's traces are added once; a step's ``update`` toggles ``visible`` and sets ``title.text``
    (never ``title``, which plotly.js >= 3 would clear). ``shared_traces`` stay visible at every step. The slider
    sits below the x-axis and the legend below the slider (:func:`plotstyle.legend_below`).
    """
    if not steps:
        raise ValueError("slider_figure needs at least one step")
    if not 0 <= active < len(steps):
        raise ValueError(f"active must be in [0, {len(steps) - 1}], got {active}")
    fig = go.Figure()
    owner: list[int] = []
    for trace in shared_traces:
        fig.add_trace(trace)
        owner.append(-1)
    for i, step in enumerate(steps):
        for trace in step.traces:
            fig.add_trace(trace)
            owner.append(i)
    titles = [wrap(step.title) for step in steps]
    slider_steps = []
    for i, step in enumerate(steps):
        visible = [o in (-1, i) for o in owner]
        slider_steps.append(
            dict(
                method="update", label=step.label, args=[{"visible": visible}, {"title.text": titles[i], **step.layout}]
            )
        )
    for trace, o in zip(fig.data, owner):
        trace.visible = o in (-1, active)
    fig.update_layout(**(layout or {}))
    # The title band is sized for the longest title any step shows.
    fig.update_layout(title=dict(text=max(titles, key=title_lines)))
    legend_below(fig, plot_px=plot_px, extra_bottom_px=SLIDER_PX)
    fig.update_layout(
        title=dict(text=titles[active]),
        sliders=[
            dict(
                active=active,
                currentvalue=dict(prefix=f"{slider_label}: ", font=dict(size=13)),
                x=0,
                len=1,
                y=0,
                yanchor="top",
                pad=dict(t=62, b=0),
                font=dict(size=11),
                steps=slider_steps,
            )
        ],
    )
    if steps[active].layout:
        fig.update_layout(steps[active].layout)
    return fig


def _accuracy_axis(title: str) -> dict:
    """A right-hand accuracy axis over a loss axis: fixed ticks 0, 0.2, ..., 1 (not synced to the loss grid)."""
    return dict(
        title=dict(text=title),
        overlaying="y",
        side="right",
        range=[0, 1.05],
        tickmode="linear",
        tick0=0,
        dtick=0.2,
        showgrid=False,
    )


def _loss_axis(losses, *, fixed: bool = False) -> dict:
    """A log loss axis labelled at decades (or 1-2-5 on a short range). ``fixed``: the range spans all ``losses``,
    so every slider step shares the axis (and its labels) instead of autoscaling to one run."""
    axis = {**log_axis("loss (nats, log scale)", losses, base=10), "exponentformat": "power"}
    if fixed:
        positive = [x for x in losses if x > 0]
        axis["range"] = [math.log10(min(positive)) - 0.05, math.log10(max(positive)) + 0.05]
    return axis


def training_traces(history: dict, *, name: str = "", color: str | None = None, show_legend: bool = True) -> list:
    """Loss (left axis, solid) and accuracy on all facts (right axis, dotted) of one training run."""
    prefix = f"{name}: " if name else ""
    return [
        go.Scatter(
            x=history["step"],
            y=history["loss"],
            name=f"{prefix}loss",
            mode="lines+markers",
            marker=dict(size=4),
            line=dict(color=color or BLUE),
            showlegend=show_legend,
        ),
        go.Scatter(
            x=history["step"],
            y=history["accuracy"],
            name=f"{prefix}accuracy",
            mode="lines+markers",
            marker=dict(size=4),
            line=dict(color=color or VERMILLION, dash="dot"),
            yaxis="y2",
            showlegend=show_legend,
        ),
    ]


def plot_training_history(history: dict, *, title: str = "Training on all facts") -> go.Figure:
    """Loss (left axis, log) and accuracy (right axis) against optimisation steps, from ``TrainResult.history``."""
    fig = go.Figure(training_traces(history))
    fig.update_layout(
        title=dict(text=wrap(title)),
        xaxis=dict(title=dict(text="optimisation step")),
        yaxis=_loss_axis(history["loss"]),
        yaxis2=_accuracy_axis("accuracy on all facts"),
    )
    return legend_below(fig)


# --- Chapter 1: the random-bijection task ------------------------------------------------------------------


def plot_bijections(perms, *, title: str = "Each relation is a random bijection") -> go.Figure:
    """Scatter of (s, pi_r(s)) for every relation r of a ``[R, N]`` permutation table (one colour per relation)."""
    fig = go.Figure()
    R, N = len(perms), len(perms[0])
    for r in range(R):
        fig.add_trace(
            go.Scatter(
                x=list(range(N)),
                y=[int(a) for a in perms[r]],
                mode="markers",
                name=f"relation r{r}",
                marker=dict(size=7, symbol=["circle", "square", "diamond", "cross", "x", "triangle-up"][r % 6]),
                hovertemplate=f"π_{r}(%{{x}}) = %{{y}}<extra></extra>",
            )
        )
    fig.update_layout(
        title=dict(text=wrap(title)),
        xaxis=dict(title=dict(text="subject s"), dtick=max(1, N // 4)),
        yaxis=dict(title=dict(text="attribute π_r(s)"), dtick=max(1, N // 4)),
    )
    return legend_below(fig, plot_px=320)


_BUDGET_SERIES = (
    # column, legend name, dash (theory = dashed), colour
    ("information_bits", "bits in the facts, R·log₂N!", "solid", "#333333"),
    ("associative_params", "associative: ≥ bits/p weights", "dash", VERMILLION),
    ("geometric_nonembedding_params", "geometric: attention + MLP", "dash", BLUE),
    ("geometric_subject_table", "geometric: subject table N·d", "dot", BLUE),
)


def memory_budget_traces(table, *, show_legend: bool = True) -> list[go.Scatter]:
    """Traces of :func:`plot_memory_budget` for one R (``table`` holds one row per N)."""
    traces = []
    for column, name, dash, colour in _BUDGET_SERIES:
        traces.append(
            go.Scatter(
                x=list(table["N"]),
                y=list(table[column]),
                name=name,
                mode="lines",
                line=dict(dash=dash, color=colour, width=3 if column == "information_bits" else 2),
                showlegend=show_legend,
                hovertemplate="N=%{x}<br>%{y:.3s}<extra>" + name + "</extra>",
            )
        )
    return traces


def _budget_layout() -> dict:
    return dict(
        xaxis=log_axis("number of subjects N (log scale)", base=10),
        yaxis=log_axis("bits, or weights (log scale)", base=10),
    )


def plot_memory_budget(table) -> go.Figure:
    """Information content against the weights each regime spends, over N, with a slider over R.

    ``table`` is tidy: columns N, R and the ``_BUDGET_SERIES`` columns (bits / weight counts).
    """
    Rs = sorted(set(table["R"]))
    steps = [
        SliderStep(
            label=str(R),
            traces=memory_budget_traces(table[table["R"] == R]),
            title=f"What R = {R} random bijections hold, and what storing them costs",
        )
        for R in Rs
    ]
    return slider_figure(steps, slider_label="relations R", layout=_budget_layout())


def plot_memory_budget_at(table, N: int, R: int) -> go.Figure:
    """The budget figure for one R, with the costs at one N marked (the live explorer's view)."""
    fig = go.Figure(memory_budget_traces(table))
    at = table[table["N"] == N]
    for column, name, _, colour in _BUDGET_SERIES:
        fig.add_trace(
            go.Scatter(
                x=[N],
                y=list(at[column]),
                mode="markers",
                marker=dict(size=10, color=colour),
                showlegend=False,
                hovertemplate=f"{name}<br>N={N}: %{{y:.4s}}<extra></extra>",
            )
        )
    fig.update_layout(title=dict(text=f"R = {R}, N = {N}"), **_budget_layout())
    return legend_below(fig)


def plot_training_by_d(runs, *, N: int, R: int) -> go.Figure:
    """Static twin of the training explorer: one slider step per width d.

    ``runs`` is a list of ``(d, history, accuracy)`` for one task of size (N, R).
    """
    losses = [loss for _, history, _ in runs for loss in history["loss"]]
    steps = [
        SliderStep(
            label=str(d),
            traces=training_traces(history),
            title=f"N={N}, R={R}, d={d}: final accuracy {accuracy:.1%}",
        )
        for d, history, accuracy in runs
    ]
    return slider_figure(
        steps,
        slider_label="embedding dimension d",
        layout=dict(
            xaxis=dict(title=dict(text="optimisation step")),
            yaxis=_loss_axis(losses, fixed=True),
            yaxis2=_accuracy_axis("accuracy on all N·R facts"),
        ),
    )


# --- Chapter 2: the superposition construction ---------------------------------------------------------------

_CODE_SCALE = "RdBu_r"  # diverging: negative blue, positive red, zero white (no green)
_GATE_SCALE = "Blues"  # post-ReLU activations are >= 0; an exactly closed gate is white


def plot_codes(codes, *, title: str = "Attribute codes u_a (one row per attribute)") -> go.Figure:
    """Heatmap of attribute codes, ``codes`` [n, k]: row a is u_a, column j its j-th coordinate."""
    codes = [list(map(float, row)) for row in codes]
    n, k = len(codes), len(codes[0])
    fig = go.Figure(
        go.Heatmap(
            z=codes,
            x=[f"j={j}" for j in range(k)],
            y=[f"a={a}" for a in range(n)],
            colorscale=_CODE_SCALE,
            zmid=0,
            colorbar=dict(title=dict(text="u_a[j]"), thickness=12),
            hovertemplate="u_%{y}[%{x}] = %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=dict(text=wrap(title)),
        xaxis=dict(title=dict(text="code coordinate j (of k)")),
        yaxis=dict(title=dict(text="attribute a"), autorange="reversed"),
    )
    return legend_below(fig, plot_px=max(200, 20 * n))


def superposition_traces(parts, total, *, row_labels) -> list[go.Heatmap]:
    """One heatmap: a row per relation's placed code Q_r u_{pi_r(s)} (``parts`` [R, d_s]), then the sum ``total``."""
    z = [list(map(float, row)) for row in parts] + [list(map(float, total))]
    return [
        go.Heatmap(
            z=z,
            y=list(row_labels),
            colorscale=_CODE_SCALE,
            zmid=0,
            colorbar=dict(title=dict(text="value"), thickness=12),
            hovertemplate="%{y}<br>coordinate %{x}: %{z:.3f}<extra></extra>",
        )
    ]


def plot_superposition(parts, total, *, row_labels, title: str, block: int | None = None) -> go.Figure:
    """A subject embedding as a visible sum: rows are the relation-specific codes and (last row) their sum e_s.

    ``block`` (k) draws the boundaries of the block construction's subject blocks.
    """
    fig = go.Figure(superposition_traces(parts, total, row_labels=row_labels))
    d_s = len(total)
    shapes = []
    if block:
        shapes = [
            dict(type="line", x0=b - 0.5, x1=b - 0.5, yref="y domain", y0=0, y1=1, line=dict(color="#444", width=1))
            for b in range(block, d_s, block)
        ]
    fig.update_layout(
        title=dict(text=wrap(title)),
        shapes=shapes,
        xaxis=dict(title=dict(text="subject-space coordinate")),
        yaxis=dict(autorange="reversed", automargin=True),
    )
    return legend_below(fig, plot_px=max(160, 40 * (len(parts) + 1)))


_GATE_DOMAIN, _MARGIN_DOMAIN = (0.52, 1.0), (0.0, 0.3)  # the two stacked panels of the explorer view


def construction_view_traces(activations, margin_counts, margin_edges, *, show_scale: bool = True) -> list:
    """Traces of the explorer view: the gate heatmap (x/y, top) and the margin histogram (x2/y2, bottom).

    ``activations`` [R, m]: post-ReLU MLP units (columns, 2k per relation) under each query relation (rows).
    ``margin_counts``/``margin_edges``: facts per bin of (correct logit - best wrong logit); bars right of zero
    (recalled) are blue, at or left of zero (missed) vermillion.
    """
    R = len(activations)
    heat = go.Heatmap(
        z=[list(map(float, row)) for row in activations],
        y=[f"r={r}" for r in range(R)],
        colorscale=_GATE_SCALE,
        zmin=0,
        showscale=show_scale,
        colorbar=dict(
            title=dict(text="ReLU"), y=sum(_GATE_DOMAIN) / 2, len=_GATE_DOMAIN[1] - _GATE_DOMAIN[0], thickness=12
        ),
        hovertemplate="query %{y}, unit %{x}: %{z:.3f}<extra></extra>",
        xaxis="x",
        yaxis="y",
    )
    centers = [(a + b) / 2 for a, b in zip(margin_edges[:-1], margin_edges[1:])]
    width = margin_edges[1] - margin_edges[0]
    colors = [BLUE if c > 0 else VERMILLION for c in centers]
    bars = go.Bar(
        x=centers,
        y=list(margin_counts),
        width=width,
        marker=dict(color=colors),
        name="facts",
        showlegend=False,
        hovertemplate="margin %{x:.3f}: %{y} facts<extra></extra>",
        xaxis="x2",
        yaxis="y2",
    )
    return [heat, bars]


def construction_view_layout(R: int, k: int) -> dict:
    """Two stacked panels: the gate heatmap (top, block boundaries every 2k units) and the margin histogram."""
    shapes = [
        dict(
            type="line",
            x0=r * 2 * k - 0.5,
            x1=r * 2 * k - 0.5,
            xref="x",
            yref="y domain",
            y0=0,
            y1=1,
            line=dict(color=ORANGE, width=1, dash="dot"),
        )
        for r in range(1, R)
    ]
    shapes.append(
        dict(type="line", x0=0, x1=0, xref="x2", yref="y2 domain", y0=0, y1=1, line=dict(color="#444", dash="dash"))
    )
    return dict(
        xaxis=dict(title=dict(text=f"MLP unit ({2 * k} per relation block)"), anchor="y"),
        yaxis=dict(domain=list(_GATE_DOMAIN), autorange="reversed", title=dict(text="query relation")),
        xaxis2=dict(anchor="y2", title=dict(text="margin: correct − best wrong logit")),
        yaxis2=dict(domain=list(_MARGIN_DOMAIN), anchor="x2", title=dict(text="facts"), rangemode="tozero"),
        shapes=shapes,
        bargap=0,
    )


def plot_construction_view(activations, margin_counts, margin_edges, *, k: int, title: str) -> go.Figure:
    """The explorer's figure: which units fire under which relation, and how far every fact is from an error."""
    fig = go.Figure(construction_view_traces(activations, margin_counts, margin_edges))
    fig.update_layout(title=dict(text=wrap(title)), **construction_view_layout(len(activations), k))
    return legend_below(fig, plot_px=520)


def plot_construction_view_slider(views, *, R: int, k: int, slider_label: str) -> go.Figure:
    """Static twin of the construction explorer: ``views`` is a list of (label, activations, counts, edges, title)."""
    steps = [
        SliderStep(
            label=str(label), traces=construction_view_traces(acts, counts, edges, show_scale=i == 0), title=title
        )
        for i, (label, acts, counts, edges, title) in enumerate(views)
    ]
    return slider_figure(steps, slider_label=slider_label, layout=construction_view_layout(R, k), plot_px=520)


def _style_key(name: str, **style) -> go.Scatter:
    """A legend-only entry (no data) that explains a line or marker style shared by several colours."""
    return go.Scatter(x=[None], y=[None], name=name, hoverinfo="skip", **style)


def dense_accuracy_traces(table, bounds) -> list[go.Scatter]:
    """Accuracy against d for each R in ``table`` (one N): solid measured curves of the dense construction, the
    block construction as a star at (R k + R + k, 1), and dashed verticals at the counting lower bound. One legend
    entry per R (the style key is shared, see :func:`plot_dense_accuracy`).

    ``table``: columns R, d_model, accuracy. ``bounds``: columns R, block_d, lower_bound_d (one row per R).
    """
    traces = []
    for R in sorted(set(table["R"])):
        color = color_for_R(R)
        rows = table[table["R"] == R].sort_values("d_model")
        traces.append(
            go.Scatter(
                x=list(rows["d_model"]),
                y=list(rows["accuracy"]),
                mode="lines+markers",
                name=f"R = {R}",
                line=dict(color=color),
                legendgroup=f"R{R}",
                hovertemplate=f"R={R}, d=%{{x}}: accuracy %{{y:.3f}}<extra></extra>",
            )
        )
        b = bounds[bounds["R"] == R].iloc[0]
        traces.append(
            go.Scatter(
                x=[float(b["block_d"])],
                y=[1.0],
                mode="markers",
                marker=dict(symbol="star", size=14, color=color),
                name=f"R = {R}: block construction",
                legendgroup=f"R{R}",
                showlegend=False,
                hovertemplate=f"block construction, R={R}: d = %{{x}}, accuracy 1<extra></extra>",
            )
        )
        traces.append(
            go.Scatter(
                x=[float(b["lower_bound_d"])] * 2,
                y=[0.0, 1.0],
                mode="lines",
                line=dict(color=color, dash=THEORY_DASH),
                name=f"R = {R}: counting lower bound",
                legendgroup=f"R{R}",
                showlegend=False,
                hovertemplate=f"lower bound, R={R}: d ≥ %{{x:.1f}}<extra></extra>",
            )
        )
    return traces


def plot_dense_accuracy(table, bounds) -> go.Figure:
    """Accuracy of the dense construction against d, one slider step per N (``table``/``bounds`` tidy, with N)."""
    steps = []
    for N in sorted(set(table["N"])):
        t, b = table[table["N"] == N], bounds[bounds["N"] == N]
        steps.append(
            SliderStep(
                label=str(N),
                traces=dense_accuracy_traces(t, b),
                title=f"Dense random placement, N = {N}: accuracy against d",
            )
        )
    keys = [
        _style_key("dense placement", mode="lines+markers", line=dict(color=GREY)),
        _style_key("block construction", mode="markers", marker=dict(symbol="star", size=12, color=GREY)),
        _style_key("counting bound", mode="lines", line=dict(color=GREY, dash=THEORY_DASH)),
    ]
    d_values = list(table["d_model"]) + list(bounds["block_d"]) + list(bounds["lower_bound_d"])
    return slider_figure(
        steps,
        slider_label="subjects N",
        shared_traces=keys,
        layout=dict(
            xaxis=log_axis("embedding dimension d (log scale)", d_values),
            yaxis=dict(title=dict(text="accuracy (argmax over N)"), range=[0, 1.05]),
        ),
    )


def plot_parameter_comparison(budget, built=None) -> go.Figure:
    """Weights against N: the associative floor R log2(N!)/p (dashed), the block construction's attention + MLP
    and its subject table (dashed: closed forms), and parameters counted in built models (markers, ``built``:
    columns N, nonembedding_params). ``budget`` is ``theory.memory_budget`` for one R."""
    fig = go.Figure()
    series = (
        ("associative_params", "associative: ≥ bits/p weights", VERMILLION, THEORY_DASH),
        ("geometric_subject_table", "geometric: subject table N·d", BLUE, "dot"),
        ("geometric_nonembedding_params", "geometric: attention + MLP", BLUE, THEORY_DASH),
    )
    for column, name, color, dash in series:
        fig.add_trace(
            go.Scatter(
                x=list(budget["N"]),
                y=list(budget[column]),
                mode="lines",
                name=name,
                line=dict(color=color, dash=dash),
                hovertemplate="N=%{x}: %{y:.3s}<extra></extra>",
            )
        )
    if built is not None:
        fig.add_trace(
            go.Scatter(
                x=list(built["N"]),
                y=list(built["nonembedding_params"]),
                mode="markers",
                name="built models: counted",
                marker=dict(color=BLUE, size=10, symbol="circle-open", line=dict(width=2)),
            )
        )
    R = int(list(budget["R"])[0])
    fig.update_layout(
        title=dict(text=wrap(f"Where R = {R} relations' facts are stored, as N grows")),
        xaxis=log_axis("subjects N (log scale)", base=10),
        yaxis=log_axis("number of weights (log scale)", base=10),
    )
    return legend_below(fig)


# --- Chapter 3: learned capacity (E1, E2) ---------------------------------------------------------------------------


def accuracy_vs_d_traces(curves, N: int, *, show_legend: bool = True) -> list[go.Scatter]:
    """One solid line per R: mean accuracy over seeds against d at subject count N (from ``sweeps.accuracy_curves``)."""
    traces = []
    sub = curves[curves["n_subjects"] == N]
    for R, g in sub.groupby("n_relations"):
        g = g.sort_values("d_model")
        traces.append(
            go.Scatter(
                x=g["d_model"],
                y=g["accuracy_mean"],
                mode="lines+markers",
                name=f"R = {R}",
                legendgroup=f"R{R}",
                showlegend=show_legend,
                line=dict(color=color_for_R(int(R))),
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=g["accuracy_max"] - g["accuracy_mean"],
                    arrayminus=g["accuracy_mean"] - g["accuracy_min"],
                    thickness=1,
                ),
                customdata=g[["n_ok", "n_seeds"]].to_numpy(),
                hovertemplate=(
                    "d=%{x}<br>mean accuracy %{y:.3f}<br>%{customdata[0]} of %{customdata[1]} seeds >= 0.99"
                    "<extra></extra>"
                ),
            )
        )
    return traces


def plot_accuracy_vs_d_slider(curves, Ns) -> go.Figure:
    """Static twin of the capacity inspector: accuracy vs d per R, one slider step per N (probed points only)."""
    steps = [
        SliderStep(
            label=str(N),
            traces=accuracy_vs_d_traces(curves, N),
            title=f"Accuracy against d at N = {N} (mean over seeds; bars: min–max)",
        )
        for N in Ns
    ]
    layout = dict(
        xaxis=log_axis("embedding dimension d (log scale)", list(curves["d_model"])),
        yaxis=dict(title=dict(text="accuracy on all N·R facts"), range=[0, 1.05]),
        shapes=[
            dict(type="line", xref="paper", x0=0, x1=1, y0=0.99, y1=0.99, line=dict(dash="dot", color="gray", width=1))
        ],
    )
    return slider_figure(steps, slider_label="N (subjects)", layout=layout)


def plot_threshold_scaling(th, fit, *, x_max: float | None = None) -> go.Figure:
    """d* against R·log2 N on linear axes (the claim is a straight line): measured markers per R, the fitted line,
    and (dashed) the construction's R·⌈log2 N⌉ and the counting bound at 2 bits/param. ``th`` has columns
    n_subjects, n_relations, d_star, R_log2_N, R_k (= R·⌈log2 N⌉), lower_bound_d_p2; ``fit`` is a
    ``sweeps.FitResult`` of d* on R·log2 N (its numbers belong in the caption)."""
    fig = go.Figure()
    t = th.sort_values("R_log2_N")
    fig.add_trace(
        go.Scatter(
            x=t["R_log2_N"],
            y=t["R_k"],
            mode="lines",
            name="construction R·⌈log₂N⌉",
            line=dict(dash=THEORY_DASH, color=GREY),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=t["R_log2_N"],
            y=t["lower_bound_d_p2"],
            mode="lines",
            name="counting bound, p = 2",
            line=dict(dash=THEORY_DASH, color=LIGHT_GREY),
        )
    )
    xs = [0.0, float(x_max or t["R_log2_N"].max())]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[fit.intercept + fit.slope * x for x in xs],
            mode="lines",
            line=dict(color="black", width=1),
            name="least-squares fit",
            hovertemplate=f"d* = {fit.slope:.3f}·x {fit.intercept:+.2f}<extra></extra>",
        )
    )
    for R, g in t.groupby("n_relations"):
        fig.add_trace(
            go.Scatter(
                x=g["R_log2_N"],
                y=g["d_star"],
                mode="markers",
                name=f"measured, R = {R}",
                marker=dict(color=color_for_R(int(R)), size=10),
                customdata=g[["n_subjects"]].to_numpy(),
                hovertemplate="N=%{customdata[0]}<br>R·log₂N=%{x:.0f}<br>d*=%{y}<extra></extra>",
            )
        )
    fig.update_layout(
        title=dict(text=wrap("Threshold d* (2 of 3 seeds reach 99%) against R·log₂N")),
        xaxis=dict(title=dict(text="R·log₂N (bits to name R attributes)"), rangemode="tozero"),
        yaxis=dict(title=dict(text="embedding dimension d*"), rangemode="tozero"),
    )
    return legend_below(fig, plot_px=340)


def plot_dstar_vs_N(th) -> go.Figure:
    """d* (linear axis) against N (log axis) at fixed R, with the construction's R·⌈log2 N⌉ (dashed): a
    logarithmic law is a straight line on these axes."""
    fig = go.Figure()
    for R, g in th.sort_values("n_subjects").groupby("n_relations"):
        c = color_for_R(int(R))
        fig.add_trace(
            go.Scatter(
                x=g["n_subjects"],
                y=g["d_star"],
                mode="lines+markers",
                name=f"R = {R}",
                line=dict(color=c),
                legendgroup=f"R{R}",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=g["n_subjects"],
                y=g["R_k"],
                mode="lines",
                name=f"R = {R}: R·⌈log₂N⌉",
                line=dict(color=c, dash=THEORY_DASH),
                opacity=0.6,
                legendgroup=f"R{R}",
                showlegend=False,
            )
        )
    fig.add_trace(_style_key("measured d*", mode="lines+markers", line=dict(color=GREY)))
    fig.add_trace(_style_key("construction R·⌈log₂N⌉", mode="lines", line=dict(color=GREY, dash=THEORY_DASH)))
    fig.update_layout(
        title=dict(text=wrap("d* against N at fixed R")),
        xaxis=log_axis("subjects N (log scale)", list(th["n_subjects"])),
        yaxis=dict(title=dict(text="embedding dimension d*"), rangemode="tozero"),
    )
    return legend_below(fig, plot_px=340)


def _format_name(fmt: str) -> str:
    return "[s, r]" if fmt == "single_hop" else "noisy T = 32"


def plot_frozen_capacity(cap, fit, learned=None) -> go.Figure:
    """Largest memorisable number of facts against non-embedding parameters P, on linear axes (the claim is a line
    through the origin). ``cap`` from ``sweeps.frozen_capacity`` (frozen; marker per format), ``fit`` the
    through-origin fit facts = c·P of the frozen [s, r] rows (numbers in the caption), ``learned`` (optional,
    ``sweeps.learned_reach``) the largest facts the learned model memorised at the same shapes (triangles when
    every tested N passed: a lower bound)."""
    fig = go.Figure()
    symbols = {"single_hop": "circle", "noisy": "square-open"}
    for fmt, g in cap.groupby("data_format"):
        fig.add_trace(
            go.Scatter(
                x=g["params_nonembed"],
                y=g["capacity_facts"],
                mode="markers",
                marker=dict(
                    symbol=symbols.get(fmt, "circle"),
                    size=11,
                    color=FROZEN_COLOR,
                    line=dict(width=2, color=FROZEN_COLOR),
                ),
                name=f"frozen, {_format_name(fmt)}",
                customdata=g[["d_model", "d_mlp"]].to_numpy(),
                hovertemplate="d=%{customdata[0]}, m=%{customdata[1]}<br>P=%{x}<br>capacity %{y} facts<extra></extra>",
            )
        )
    xs = [0.0, float(cap["params_nonembed"].max()) * 1.1]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[fit.slope * x for x in xs],
            mode="lines",
            line=dict(color=FROZEN_COLOR, width=1),
            name="fit through 0, frozen [s, r]",
            hovertemplate=f"facts = {fit.slope:.3f}·P<extra></extra>",
        )
    )
    if learned is not None and len(learned):
        for (fmt, all_pass), g in learned.groupby(["data_format", "all_pass"]):
            what = "≥, all tested N passed" if all_pass else "largest N passed"
            fig.add_trace(
                go.Scatter(
                    x=g["params_nonembed"],
                    y=g["facts_memorised"],
                    mode="markers",
                    marker=dict(
                        symbol=("triangle-up" if all_pass else "diamond") + ("" if fmt == "single_hop" else "-open"),
                        size=12,
                        color=LEARNED_COLOR,
                        line=dict(width=2, color=LEARNED_COLOR),
                    ),
                    name=f"learned, {_format_name(fmt)} ({what})",
                )
            )
    fig.update_layout(
        title=dict(text=wrap("Facts memorised at ≥ 99% against trainable non-embedding parameters")),
        xaxis=dict(title=dict(text="attention + MLP parameters P"), rangemode="tozero"),
        yaxis=dict(title=dict(text="facts N·R"), rangemode="tozero"),
    )
    return legend_below(fig, plot_px=340)


def plot_side_by_side(rows) -> go.Figure:
    """Accuracy against N at fixed (d, d_mlp, format), frozen (vermillion) vs learned (blue) embeddings; mean over
    seeds. ``rows``: columns n_subjects, accuracy_mean, regime ('frozen'/'learned'), label."""
    fig = go.Figure()
    dashes = ["solid", "dot", "dashdot", "longdash"]
    for i, (label, g) in enumerate(rows.groupby("label", sort=False)):
        g = g.sort_values("n_subjects")
        color = FROZEN_COLOR if g["regime"].iloc[0] == "frozen" else LEARNED_COLOR
        fig.add_trace(
            go.Scatter(
                x=g["n_subjects"],
                y=g["accuracy_mean"],
                mode="lines+markers",
                name=label,
                line=dict(color=color, dash=dashes[i % len(dashes)]),
                marker=dict(symbol=["circle", "square", "diamond", "cross"][i % 4]),
            )
        )
    fig.update_layout(
        title=dict(text=wrap("Same d and MLP, same facts: frozen vs learned embeddings (R = 4)")),
        xaxis=log_axis("subjects N (log scale; facts = 4N)", list(rows["n_subjects"])),
        yaxis=dict(title=dict(text="accuracy on all facts"), range=[0, 1.05]),
    )
    return legend_below(fig)


def plot_bits_per_param(table) -> go.Figure:
    """Bits stored at ≥ 99% per parameter, for both regimes. ``table``: columns label, regime, bits_per_param,
    params_counted (text). One horizontal bar per row (labels stay readable on a phone); frozen vermillion,
    learned blue."""
    colors = [FROZEN_COLOR if r == "frozen" else LEARNED_COLOR for r in table["regime"]]
    fig = go.Figure(
        go.Bar(
            y=table["label"],
            x=table["bits_per_param"],
            orientation="h",
            marker_color=colors,
            text=table["bits_per_param"].round(2),
            textposition="auto",
            customdata=table[["params_counted"]].to_numpy(),
            hovertemplate="%{y}<br>%{x:.2f} bits per parameter<br>%{customdata[0]}<extra></extra>",
        )
    )
    fig.update_layout(
        title=dict(text=wrap("Bits stored (R·log₂N! at ≥ 99%) per parameter")),
        xaxis=dict(title=dict(text="bits per parameter"), rangemode="tozero"),
        yaxis=dict(autorange="reversed", automargin=True, tickfont=dict(size=11)),
    )
    return legend_below(fig, plot_px=max(240, 24 * len(table)))
