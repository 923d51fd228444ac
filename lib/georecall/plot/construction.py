"""Chapter 2's figures (the superposition construction): codes, superposition parts, the gate and margin view,
the dense construction's accuracy against d and the parameter comparison. Shared encodings:
:mod:`georecall.plot.bijection`.
"""

from __future__ import annotations

import plotly.graph_objects as go

from .._checks import check_columns, check_not_empty
from .bijection import THEORY_DASH, SliderStep, check_histogram, slider_figure, style_key
from .style import BLUE, GREY, ORANGE, VERMILLION, color_for_R, legend_below, log_axis, wrap

# --- Chapter 2: the superposition construction ---------------------------------------------------------------

_CODE_SCALE = "RdBu_r"  # diverging: negative blue, positive red, zero white (no green)
_GATE_SCALE = "Blues"  # post-ReLU activations are >= 0; an exactly closed gate is white


def _rows(name: str, table, what: str, width: int | None = None) -> list[list[float]]:
    """``table`` [n, k] (nested sequences or a tensor) as lists of floats, if n >= 1, k >= 1 and every row has k
    (= ``width`` when given) entries; else ``ValueError`` naming ``name``."""
    rows = [list(map(float, row)) for row in check_not_empty(name, table, what)]
    k = len(rows[0]) if width is None else width
    if k < 1 or any(len(r) != k for r in rows):
        raise ValueError(f"{name} must be {what} with rows of equal length >= 1, got lengths {[len(r) for r in rows]}")
    return rows


def plot_codes(codes, *, title: str = "Attribute codes u_a (one row per attribute)") -> go.Figure:
    """Heatmap of attribute codes, ``codes`` [n, k]: row a is u_a, column j its j-th coordinate."""
    codes = _rows("codes", codes, "an [n, k] table of codes")
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
    total = [float(v) for v in check_not_empty("total", total, "the summed embedding [d_s]")]
    z = _rows("parts", parts, "an [R, d_s] table of placed codes", len(total)) + [total]
    if len(row_labels) != len(z):
        raise ValueError(
            f"row_labels must hold one label per part and one for the sum ({len(z)}), got {len(row_labels)}"
        )
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
    z = _rows("activations", activations, "an [R, m] table of unit activations")
    check_histogram(margin_counts, margin_edges, names=("margin_counts", "margin_edges"))
    R = len(z)
    heat = go.Heatmap(
        z=z,
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
    check_not_empty("views", views, "one (label, activations, counts, edges, title) per slider step")
    steps = [
        SliderStep(
            label=str(label), traces=construction_view_traces(acts, counts, edges, show_scale=i == 0), title=title
        )
        for i, (label, acts, counts, edges, title) in enumerate(views)
    ]
    return slider_figure(steps, slider_label=slider_label, layout=construction_view_layout(R, k), plot_px=520)


def dense_accuracy_traces(table, bounds) -> list[go.Scatter]:
    """Accuracy against d for each R in ``table`` (one N): solid measured curves of the dense construction, the
    block construction as a star at (R k + R + k, 1), and dashed verticals at the counting lower bound. One legend
    entry per R (the style key is shared, see :func:`plot_dense_accuracy`).

    ``table``: columns R, d_model, accuracy. ``bounds``: columns R, block_d, lower_bound_d (one row per R).
    """
    check_columns("table", table, ("R", "d_model", "accuracy"), "pass the dense_accuracy table", non_empty=True)
    check_columns("bounds", bounds, ("R", "block_d", "lower_bound_d"), "pass theory.memory_budget rows", non_empty=True)
    missing = sorted(set(table["R"]) - set(bounds["R"]))
    if missing:
        raise ValueError(f"bounds has no row for R in {[int(r) for r in missing]} (one row per R of table)")
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
    check_columns("table", table, ("N", "R", "d_model", "accuracy"), "pass the dense_accuracy table", non_empty=True)
    needed = ("N", "R", "block_d", "lower_bound_d")
    check_columns("bounds", bounds, needed, "pass theory.memory_budget rows", non_empty=True)
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
        style_key("dense placement", mode="lines+markers", line=dict(color=GREY)),
        style_key("block construction", mode="markers", marker=dict(symbol="star", size=12, color=GREY)),
        style_key("counting bound", mode="lines", line=dict(color=GREY, dash=THEORY_DASH)),
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
    needed = ("N", "R", "associative_params", "geometric_subject_table", "geometric_nonembedding_params")
    check_columns("budget", budget, needed, "pass theory.memory_budget(Ns, R) as a DataFrame", non_empty=True)
    if built is not None:
        check_columns("built", built, ("N", "nonembedding_params"), "pass explore.built_param_counts(...), or None")
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
