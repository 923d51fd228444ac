"""Plotly figure builders. They compute nothing: each takes arrays or a tidy DataFrame and returns a ``go.Figure``.

Encodings shared by every chapter: log axes for N and d; one colour per relation count R (:func:`color_for_R`);
dashed lines for theory (constructions, bounds), solid lines for trained or measured models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import plotly.graph_objects as go
import plotly.io as pio

__all__ = ["setup", "color_for_R", "SliderStep", "slider_figure", "plot_training_history"]

RENDERER = "plotly_mimetype+notebook_connected"  # JupyterLab keeps the mimetype; myst-nb uses the text/html
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f")
THEORY_DASH = "dash"


def setup() -> None:
    """Renderer and template for every chapter (call once, in the chapter's first hidden cell)."""
    pio.renderers.default = RENDERER
    template = go.layout.Template(pio.templates["plotly_white"])
    template.layout.font = dict(family="Inter, Helvetica, Arial, sans-serif", size=13)
    template.layout.colorway = list(_PALETTE)
    template.layout.margin = dict(l=60, r=20, t=60, b=55)
    template.layout.hoverlabel = dict(namelength=-1)
    pio.templates["georecall"] = template
    pio.templates.default = "georecall"


def color_for_R(R: int) -> str:
    """One fixed colour per relation count, consistent across chapters (R = 1, 2, 4, 8, ... get palette slots)."""
    slot = max(int(R), 1).bit_length() - 1 if R & (R - 1) == 0 else 4 + int(R) % 5
    return _PALETTE[slot % len(_PALETTE)]


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
) -> go.Figure:
    """A figure whose slider switches between precomputed trace groups (the static twin of a live widget).

    Every step's traces are added once; a step's ``update`` toggles ``visible`` and sets ``title.text``
    (never ``title``, which plotly.js >= 3 would clear). ``shared_traces`` stay visible at every step.
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
    slider_steps = []
    for i, step in enumerate(steps):
        visible = [o in (-1, i) for o in owner]
        slider_steps.append(
            dict(method="update", label=step.label, args=[{"visible": visible}, {"title.text": step.title, **step.layout}])
        )
    for trace, o in zip(fig.data, owner):
        trace.visible = o in (-1, active)
    fig.update_layout(
        title=dict(text=steps[active].title),
        sliders=[dict(active=active, currentvalue=dict(prefix=f"{slider_label}: "), pad=dict(t=50), steps=slider_steps)],
        **(layout or {}),
    )
    if steps[active].layout:
        fig.update_layout(steps[active].layout)
    return fig


def plot_training_history(history: dict, *, title: str = "Training on all facts") -> go.Figure:
    """Loss (left axis, log) and accuracy (right axis) against optimisation steps, from ``TrainResult.history``."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=history["step"], y=history["loss"], name="loss (cross-entropy, nats)", mode="lines+markers"))
    fig.add_trace(
        go.Scatter(x=history["step"], y=history["accuracy"], name="accuracy on all facts", mode="lines+markers", yaxis="y2")
    )
    fig.update_layout(
        title=dict(text=title),
        xaxis=dict(title=dict(text="optimisation step")),
        yaxis=dict(title=dict(text="loss (nats)"), type="log"),
        yaxis2=dict(title=dict(text="accuracy"), overlaying="y", side="right", range=[0, 1.05]),
        legend=dict(orientation="h", y=-0.2),
    )
    return fig
