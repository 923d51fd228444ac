"""Plotly figure builders. They compute nothing: each takes arrays or a tidy DataFrame and returns a ``go.Figure``.

Encodings shared by every chapter: one colour per relation count R (:func:`color_for_R`, a colour-blind-safe
palette); dashed lines for theory (constructions, bounds), solid lines for trained or measured models; log axes with
major labels only (:func:`plot.style.log_axis`), linear axes where the claim is a straight line; the legend in a band
below the plot and titles wrapped to fit a 390 px screen (:mod:`georecall.plot.style`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import plotly.graph_objects as go

from .._checks import check_columns, check_not_empty
from .style import (
    BLUE,
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
    sits below the x-axis and the legend below the slider (:func:`plot.style.legend_below`).
    """
    check_not_empty("steps", steps, "slider_figure needs at least one step")
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
    missing = [k for k in ("step", "loss", "accuracy") if k not in history] if isinstance(history, dict) else None
    if missing is None or missing or not len(history["step"]):
        raise ValueError(
            f"history must be a TrainResult.history dict with non-empty 'step', 'loss', 'accuracy'"
            f"{f'; lacks {missing}' if missing else ''}"
        )
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
    if len(perms) == 0 or len(perms[0]) == 0:
        raise ValueError("perms must be a non-empty [R, N] permutation table")
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
    check_columns("table", table, ("N", *(c for c, *_ in _BUDGET_SERIES)), "pass the memory-budget table")
    if len(table) == 0:
        raise ValueError("table must not be empty (one row per N)")
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
    check_columns("table", table, ("R",), "pass the memory-budget table", non_empty=True)
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
    if at.empty:
        raise ValueError(f"N={N!r} is not in table's N column (the N to mark must be one of the table's rows)")
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
    check_not_empty("runs", runs, "one (d, history, accuracy) per width d")
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


def check_histogram(counts, edges, *, names: tuple[str, str] = ("counts", "edges")) -> None:
    """``counts`` (one per bin, at least one bin) and ``edges`` (one more than the counts), else ``ValueError``
    naming the argument: an empty histogram never draws as an empty figure."""
    check_not_empty(names[0], counts, "one count per bin")
    if len(edges) != len(counts) + 1:
        raise ValueError(f"{names[1]} must hold len({names[0]}) + 1 = {len(counts) + 1} bin edges, got {len(edges)}")


def style_key(name: str, **style) -> go.Scatter:
    """A legend-only entry (no data) that explains a line or marker style shared by several colours."""
    return go.Scatter(x=[None], y=[None], name=name, hoverinfo="skip", **style)
