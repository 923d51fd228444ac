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
            dict(
                method="update",
                label=step.label,
                args=[{"visible": visible}, {"title.text": step.title, **step.layout}],
            )
        )
    for trace, o in zip(fig.data, owner):
        trace.visible = o in (-1, active)
    fig.update_layout(
        title=dict(text=steps[active].title),
        sliders=[
            dict(active=active, currentvalue=dict(prefix=f"{slider_label}: "), pad=dict(t=50), steps=slider_steps)
        ],
        **(layout or {}),
    )
    # The slider takes the space below the plot, so the legend goes above it, under the title.
    fig.update_layout(legend=dict(orientation="h", x=0, xanchor="left", y=1.02, yanchor="bottom"))
    fig.update_layout(margin=dict(t=60 + 22 * _legend_rows(fig)), title=dict(yref="container", y=0.98, yanchor="top"))
    if steps[active].layout:
        fig.update_layout(steps[active].layout)
    return fig


def _legend_rows(fig: go.Figure, row_chars: int = 90) -> int:
    """Rows a horizontal legend needs; plotly wraps it into equal columns as wide as the longest entry."""
    names = list(dict.fromkeys(t.name for t in fig.data if t.showlegend is not False and t.name))
    if not names:
        return 0
    per_row = max(1, row_chars // (max(len(n) for n in names) + 6))  # +6: the line sample and spacing
    return -(-len(names) // per_row)


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


def plot_training_history(history: dict, *, title: str = "Training on all facts") -> go.Figure:
    """Loss (left axis, log) and accuracy (right axis) against optimisation steps, from ``TrainResult.history``."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=history["step"], y=history["loss"], name="loss (cross-entropy, nats)", mode="lines+markers")
    )
    fig.add_trace(
        go.Scatter(
            x=history["step"], y=history["accuracy"], name="accuracy on all facts", mode="lines+markers", yaxis="y2"
        )
    )
    fig.update_layout(
        title=dict(text=title),
        xaxis=dict(title=dict(text="optimisation step")),
        yaxis=dict(title=dict(text="loss (nats)"), type="log"),
        yaxis2=_accuracy_axis("accuracy"),
        legend=dict(orientation="h", y=-0.2),
    )
    return fig


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
        title=dict(text=title),
        xaxis=dict(title=dict(text="subject s"), dtick=max(1, N // 8)),
        yaxis=dict(title=dict(text="attribute π_r(s)"), dtick=max(1, N // 8), scaleanchor="x"),
        height=420,
    )
    return fig


_BUDGET_SERIES = (
    # column, legend name, dash (theory = dashed), colour
    ("information_bits", "bits in the facts, R·log₂(N!)", "solid", "#444444"),
    ("associative_params", "associative memory: ≥ R·log₂(N!)/p weights", "dash", "#d62728"),
    ("geometric_nonembedding_params", "geometric construction: attention + MLP weights", "dash", "#1f77b4"),
    ("geometric_subject_table", "geometric construction: subject table N·d", "dot", "#1f77b4"),
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
        xaxis=dict(title=dict(text="number of subjects N (log scale)"), type="log", dtick=1),
        yaxis=dict(title=dict(text="bits, or number of weights (log scale)"), type="log"),
        legend=dict(orientation="h", y=-0.25),
        height=500,
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
    return fig


def training_traces(
    history: dict, *, name: str, color: str | None = None, show_legend: bool = True
) -> list[go.Scatter]:
    """Loss (left axis) and accuracy (right axis, dotted) of one training run."""
    return [
        go.Scatter(
            x=history["step"],
            y=history["loss"],
            name=f"{name}: loss",
            mode="lines",
            line=dict(color=color),
            showlegend=show_legend,
        ),
        go.Scatter(
            x=history["step"],
            y=history["accuracy"],
            name=f"{name}: accuracy",
            mode="lines",
            line=dict(color=color, dash="dot"),
            yaxis="y2",
            showlegend=show_legend,
        ),
    ]


def plot_training_by_d(runs, *, N: int, R: int) -> go.Figure:
    """Static twin of the training explorer: one slider step per width d.

    ``runs`` is a list of ``(d, history, accuracy)`` for one task of size (N, R).
    """
    steps = [
        SliderStep(
            label=str(d),
            traces=training_traces(history, name=f"d={d}"),
            title=f"N={N}, R={R}, d={d}: final accuracy {accuracy:.1%}",
        )
        for d, history, accuracy in runs
    ]
    return slider_figure(
        steps,
        slider_label="embedding dimension d",
        layout=dict(
            xaxis=dict(title=dict(text="optimisation step")),
            yaxis=dict(title=dict(text="loss (nats, log scale)"), type="log"),
            yaxis2=_accuracy_axis("accuracy on all N·R facts"),
            legend=dict(orientation="h", y=-0.3),
            height=460,
        ),
    )


# --- Chapter 2: the superposition construction ---------------------------------------------------------------

_CODE_SCALE = "RdBu_r"  # diverging: negative blue, positive red, zero white
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
            colorbar=dict(title=dict(text="u_a[j]")),
            hovertemplate="u_%{y}[%{x}] = %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=dict(text=title),
        xaxis=dict(title=dict(text="code coordinate j (of k)")),
        yaxis=dict(title=dict(text="attribute a"), autorange="reversed"),
        height=max(260, 22 * n + 120),
    )
    return fig


def superposition_traces(parts, total, *, row_labels) -> list[go.Heatmap]:
    """One heatmap: a row per relation's placed code Q_r u_{pi_r(s)} (``parts`` [R, d_s]), then the sum ``total``."""
    z = [list(map(float, row)) for row in parts] + [list(map(float, total))]
    return [
        go.Heatmap(
            z=z,
            y=list(row_labels),
            colorscale=_CODE_SCALE,
            zmid=0,
            colorbar=dict(title=dict(text="value")),
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
        title=dict(text=title),
        shapes=shapes,
        xaxis=dict(title=dict(text="subject-space coordinate")),
        yaxis=dict(autorange="reversed"),
        height=max(280, 34 * (len(parts) + 1) + 150),
    )
    return fig


def construction_view_traces(activations, margin_counts, margin_edges, *, show_scale: bool = True) -> list:
    """Traces of the explorer view: the gate heatmap (x/y) and the margin histogram (x2/y2).

    ``activations`` [R, m]: post-ReLU MLP units (columns, 2k per relation) under each query relation (rows).
    ``margin_counts``/``margin_edges``: facts per bin of (correct logit - best wrong logit).
    """
    R = len(activations)
    heat = go.Heatmap(
        z=[list(map(float, row)) for row in activations],
        y=[f"query r={r}" for r in range(R)],
        colorscale=_GATE_SCALE,
        zmin=0,
        showscale=show_scale,
        colorbar=dict(title=dict(text="ReLU"), x=0.39, len=0.9, thickness=12),
        hovertemplate="%{y}, unit %{x}: %{z:.3f}<extra></extra>",
        xaxis="x",
        yaxis="y",
    )
    centers = [(a + b) / 2 for a, b in zip(margin_edges[:-1], margin_edges[1:])]
    width = margin_edges[1] - margin_edges[0]
    colors = ["#2ca02c" if c > 0 else "#d62728" for c in centers]
    bars = go.Bar(
        x=centers,
        y=list(margin_counts),
        width=width,
        marker=dict(color=colors),
        name="facts",
        showlegend=False,
        hovertemplate="margin %{x:.2f}: %{y} facts<extra></extra>",
        xaxis="x2",
        yaxis="y2",
    )
    return [heat, bars]


def construction_view_layout(R: int, k: int) -> dict:
    """Two panels: the gate heatmap (left, block boundaries every 2k units) and the margin histogram (right)."""
    shapes = [
        dict(
            type="line",
            x0=r * 2 * k - 0.5,
            x1=r * 2 * k - 0.5,
            xref="x",
            yref="y domain",
            y0=0,
            y1=1,
            line=dict(color="#d62728", width=1, dash="dot"),
        )
        for r in range(1, R)
    ]
    shapes.append(
        dict(type="line", x0=0, x1=0, xref="x2", yref="y2 domain", y0=0, y1=1, line=dict(color="#444", dash="dash"))
    )
    return dict(
        xaxis=dict(domain=[0.0, 0.38], title=dict(text=f"MLP unit (2k = {2 * k} per relation block)")),
        yaxis=dict(autorange="reversed", title=dict(text="query relation")),
        xaxis2=dict(domain=[0.62, 1.0], anchor="y2", title=dict(text="margin: correct − best wrong logit")),
        yaxis2=dict(anchor="x2", title=dict(text="facts"), rangemode="tozero"),
        shapes=shapes,
        height=420,
        bargap=0,
    )


def plot_construction_view(activations, margin_counts, margin_edges, *, k: int, title: str) -> go.Figure:
    """The explorer's figure: which units fire under which relation, and how far every fact is from an error."""
    fig = go.Figure(construction_view_traces(activations, margin_counts, margin_edges))
    fig.update_layout(title=dict(text=title), **construction_view_layout(len(activations), k))
    return fig


def plot_construction_view_slider(views, *, R: int, k: int, slider_label: str) -> go.Figure:
    """Static twin of the construction explorer: ``views`` is a list of (label, activations, counts, edges, title)."""
    steps = [
        SliderStep(
            label=str(label), traces=construction_view_traces(acts, counts, edges, show_scale=i == 0), title=title
        )
        for i, (label, acts, counts, edges, title) in enumerate(views)
    ]
    return slider_figure(steps, slider_label=slider_label, layout=construction_view_layout(R, k))


def dense_accuracy_traces(table, bounds) -> list[go.Scatter]:
    """Accuracy against d for each R in ``table`` (one N): solid measured curves of the dense construction, the
    block construction as a marker at (R k + R + k, 1), and dashed verticals at the counting lower bound.

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
                name=f"R={R}: dense placement",
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
                name=f"R={R}: block construction (100%)",
                legendgroup=f"R{R}",
                hovertemplate=f"block construction, R={R}: d = %{{x}}, accuracy 1<extra></extra>",
            )
        )
        traces.append(
            go.Scatter(
                x=[float(b["lower_bound_d"])] * 2,
                y=[0.0, 1.0],
                mode="lines",
                line=dict(color=color, dash=THEORY_DASH),
                name=f"R={R}: counting lower bound on d",
                legendgroup=f"R{R}",
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
    return slider_figure(
        steps,
        slider_label="subjects N",
        layout=dict(
            xaxis=dict(title=dict(text="embedding dimension d (log scale)"), type="log"),
            yaxis=dict(title=dict(text="accuracy (argmax over all N attributes)"), range=[0, 1.05]),
            legend=dict(orientation="v", x=1.02, y=1.0, font=dict(size=11)),
            height=520,
        ),
    )


def plot_parameter_comparison(budget, built=None) -> go.Figure:
    """Weights against N: the associative floor R log2(N!)/p (dashed), the block construction's attention + MLP
    and its subject table (dashed: closed forms), and parameters counted in built models (markers, ``built``:
    columns N, nonembedding_params). ``budget`` is ``theory.memory_budget`` for one R."""
    fig = go.Figure()
    series = (
        ("associative_params", "associative memory: ≥ R·log₂(N!)/p weights in attention/MLP", "#d62728", THEORY_DASH),
        ("geometric_subject_table", "geometric: subject table N·d", "#1f77b4", "dot"),
        (
            "geometric_nonembedding_params",
            "geometric: attention + MLP (independent of the bijections)",
            "#1f77b4",
            THEORY_DASH,
        ),
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
                name="built models: counted attention + MLP parameters",
                marker=dict(color="#1f77b4", size=10, symbol="circle-open", line=dict(width=2)),
            )
        )
    R = int(list(budget["R"])[0])
    fig.update_layout(
        title=dict(text=f"Where R = {R} relations' facts are stored, as N grows"),
        xaxis=dict(title=dict(text="subjects N (log scale)"), type="log", dtick=1),
        yaxis=dict(title=dict(text="number of weights (log scale)"), type="log"),
        legend=dict(orientation="h", y=-0.3),
        height=500,
    )
    return fig


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


def _accuracy_vs_d_layout() -> dict:
    return dict(
        xaxis=dict(title=dict(text="embedding dimension d (log scale)"), type="log"),
        yaxis=dict(title=dict(text="accuracy on all N·R facts"), range=[0, 1.05]),
        shapes=[
            dict(type="line", xref="paper", x0=0, x1=1, y0=0.99, y1=0.99, line=dict(dash="dot", color="gray", width=1))
        ],
        legend=dict(orientation="h", y=-0.22),
    )


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
    return slider_figure(steps, slider_label="N (subjects)", layout=_accuracy_vs_d_layout())


def _log_log_layout(fig: go.Figure, title: str, x_title: str, y_title: str, *, height: int) -> None:
    """Chapter 3's log-log figures: titled log axes, the legend in rows below the plot."""
    fig.update_layout(
        title=dict(text=title),
        xaxis=dict(title=dict(text=x_title), type="log"),
        yaxis=dict(title=dict(text=y_title), type="log"),
        legend=dict(orientation="h", y=-0.25),
        height=height,
    )


def plot_threshold_scaling(th, fit, *, x_max: float | None = None) -> go.Figure:
    """d* against R·log2 N (measured, solid markers per R), the fitted line, the construction's R·⌈log2 N⌉ and
    the counting bound at 2 bits/param (dashed). ``th`` has columns n_subjects, n_relations, d_star, R_log2_N,
    R_k (= R·⌈log2 N⌉), lower_bound_d_p2; ``fit`` is a ``sweeps.FitResult`` of d* on R·log2 N."""
    fig = go.Figure()
    t = th.sort_values("R_log2_N")
    fig.add_trace(
        go.Scatter(
            x=t["R_log2_N"],
            y=t["R_k"],
            mode="lines",
            name="construction subject blocks R·⌈log₂N⌉",
            line=dict(dash=THEORY_DASH, color="#555"),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=t["R_log2_N"],
            y=t["lower_bound_d_p2"],
            mode="lines",
            name="counting bound, 2 bits/param",
            line=dict(dash=THEORY_DASH, color="#bbb"),
        )
    )
    xs = [float(t["R_log2_N"].min()), float(x_max or t["R_log2_N"].max())]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[fit.intercept + fit.slope * x for x in xs],
            mode="lines",
            line=dict(color="black", width=1),
            name=f"fit: d* = {fit.slope:.3f}(±{fit.slope_se:.3f})·R·log₂N {fit.intercept:+.2f}",
        )
    )
    for R, g in t.groupby("n_relations"):
        fig.add_trace(
            go.Scatter(
                x=g["R_log2_N"],
                y=g["d_star"],
                mode="markers",
                name=f"measured d*, R = {R}",
                marker=dict(color=color_for_R(int(R)), size=10),
                customdata=g[["n_subjects"]].to_numpy(),
                hovertemplate="N=%{customdata[0]}<br>R·log₂N=%{x:.0f}<br>d*=%{y}<extra></extra>",
            )
        )
    _log_log_layout(
        fig,
        "Threshold d* (2 of 3 seeds reach 99%) against R·log₂N",
        "R·log₂ N (bits to name R attributes)",
        "d* (log scale)",
        height=520,
    )
    return fig


def plot_dstar_vs_N(th) -> go.Figure:
    """d* against N at fixed R (measured, solid) with the construction's R·⌈log2 N⌉ (dashed), log N axis."""
    fig = go.Figure()
    for R, g in th.sort_values("n_subjects").groupby("n_relations"):
        c = color_for_R(int(R))
        fig.add_trace(
            go.Scatter(
                x=g["n_subjects"], y=g["d_star"], mode="lines+markers", name=f"measured d*, R = {R}", line=dict(color=c)
            )
        )
        fig.add_trace(
            go.Scatter(
                x=g["n_subjects"],
                y=g["R_k"],
                mode="lines",
                name=f"R·⌈log₂N⌉, R = {R}",
                line=dict(color=c, dash=THEORY_DASH),
                opacity=0.6,
            )
        )
    _log_log_layout(fig, "d* against N at fixed R", "subjects N (log scale)", "d* (log scale)", height=500)
    return fig


def plot_frozen_capacity(cap, fit, learned=None) -> go.Figure:
    """Largest memorisable number of facts against non-embedding parameters P (log-log). ``cap`` from
    ``sweeps.frozen_capacity`` (frozen lines; marker per format), ``fit`` the through-origin fit facts = c·P of the
    frozen [s, r] rows, ``learned`` (optional, ``sweeps.learned_reach``) the largest facts the learned model memorised
    at the same shapes (triangles when every tested N passed: a lower bound)."""
    fig = go.Figure()
    symbols = {"single_hop": "circle", "noisy": "square-open"}
    for fmt, g in cap.groupby("data_format"):
        fig.add_trace(
            go.Scatter(
                x=g["params_nonembed"],
                y=g["capacity_facts"],
                mode="markers",
                marker=dict(symbol=symbols.get(fmt, "circle"), size=11, color="#d62728"),
                name=f"frozen embeddings, {'[s, r]' if fmt == 'single_hop' else 'noisy T = 32'}",
                customdata=g[["d_model", "d_mlp"]].to_numpy(),
                hovertemplate="d=%{customdata[0]}, m=%{customdata[1]}<br>P=%{x}<br>capacity %{y} facts<extra></extra>",
            )
        )
    xs = [float(cap["params_nonembed"].min()) / 1.5, float(cap["params_nonembed"].max()) * 1.5]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[fit.slope * x for x in xs],
            mode="lines",
            line=dict(color="#d62728", width=1),
            name=f"fit, frozen [s, r]: facts = {fit.slope:.3f}(±{fit.slope_se:.3f})·P",
        )
    )
    if learned is not None and len(learned):
        for (fmt, all_pass), g in learned.groupby(["data_format", "all_pass"]):
            what = "lower bound: every tested N passed" if all_pass else "largest N that passed"
            fig.add_trace(
                go.Scatter(
                    x=g["params_nonembed"],
                    y=g["facts_memorised"],
                    mode="markers",
                    marker=dict(
                        symbol=("triangle-up" if all_pass else "diamond") + ("" if fmt == "single_hop" else "-open"),
                        size=12,
                        color="#1f77b4",
                        line=dict(width=2, color="#1f77b4"),
                    ),
                    name=f"learned embeddings, {'[s, r]' if fmt == 'single_hop' else 'noisy T = 32'} ({what})",
                )
            )
    _log_log_layout(
        fig,
        "Facts memorised at ≥ 99% against trainable non-embedding parameters",
        "attention + MLP parameters P (log scale)",
        "facts N·R (log scale)",
        height=520,
    )
    return fig


def plot_side_by_side(rows) -> go.Figure:
    """Accuracy against N at fixed (d, d_mlp, format), frozen (red) vs learned (blue) embeddings; mean over seeds.
    ``rows``: columns n_subjects, accuracy_mean, regime ('frozen'/'learned'), label."""
    fig = go.Figure()
    dashes = ["solid", "dot", "dashdot", "longdash"]
    for i, (label, g) in enumerate(rows.groupby("label", sort=False)):
        g = g.sort_values("n_subjects")
        color = "#d62728" if g["regime"].iloc[0] == "frozen" else "#1f77b4"
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
        title=dict(text="Same d and MLP, same facts: frozen vs learned embeddings (R = 4)"),
        xaxis=dict(title=dict(text="subjects N (log scale; facts = 4N)"), type="log"),
        yaxis=dict(title=dict(text="accuracy on all facts"), range=[0, 1.05]),
        legend=dict(orientation="h", y=-0.25),
        height=500,
    )
    return fig


def plot_bits_per_param(table) -> go.Figure:
    """Bits stored at ≥ 99% per parameter, for both regimes. ``table``: columns label, regime, bits_per_param,
    params_counted (text). One bar per row; frozen red, learned blue."""
    colors = ["#d62728" if r == "frozen" else "#1f77b4" for r in table["regime"]]
    fig = go.Figure(
        go.Bar(
            x=table["label"],
            y=table["bits_per_param"],
            marker_color=colors,
            text=table["bits_per_param"].round(2),
            customdata=table[["params_counted"]].to_numpy(),
            hovertemplate="%{x}<br>%{y:.2f} bits per parameter<br>%{customdata[0]}<extra></extra>",
        )
    )
    fig.update_layout(
        title=dict(text="Bits stored (R·log₂N! at ≥ 99%) per parameter"),
        xaxis=dict(title=dict(text="model (regime, size)")),
        yaxis=dict(title=dict(text="bits per parameter")),
        height=480,
    )
    return fig
