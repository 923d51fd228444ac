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
    "tradeoff_traces",
    "plot_tradeoff",
    "plot_sizes",
    "plot_sizes_slider",
    "plot_multihop_accuracy_slider",
    "plot_growth",
    "plot_heldout",
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
        traces.append(
            go.Scatter(
                x=rows["h"],
                y=rows["d"],
                mode="lines+markers",
                name=f"construction, {name}",
                line=dict(color=color, dash="dash"),
                marker=dict(symbol="diamond-open", size=7),
                showlegend=show_legend,
                legendgroup=f"c-{fmt}",
                hovertemplate="h = %{x}<br>construction d = %{y}<extra>" + name + "</extra>",
            )
        )
        traces.append(
            go.Scatter(
                x=rows["h"],
                y=rows["per_entity_bound_d"],
                mode="lines",
                name=f"per-entity bound (p = 2), {name}",
                line=dict(color=color, dash="dot", width=1.5),
                showlegend=show_legend,
                legendgroup=f"b-{fmt}",
                hovertemplate="h = %{x}<br>bound d ≥ %{y:.1f}<extra>" + name + "</extra>",
            )
        )
        if th is None or len(th) == 0:
            continue
        got = th[th["data_format"].map(_fmt) == fmt].sort_values("hops")
        if got.empty:
            continue
        notes = [
            f"not reached within {s} steps (d* > {d})" if c == "above" else ("d* ≤ smallest d tried" if c else "")
            for d, c, s in zip(got["d_star"], got["censored"], got["max_steps"])
        ]
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


def _growth_traces(dims, th, fits, fmt: str, *, show_legend: bool) -> list[go.Scatter]:
    """One format's traces at one h: construction d and per-entity bound against N, trained d* (open where
    censored) and the fitted line d* = a + b log2 N over the N it was fitted on."""
    color, name = FORMAT_COLORS[fmt], FORMAT_NAMES[fmt]
    rows = dims[dims["format"] == fmt].sort_values("N")
    traces = [
        go.Scatter(
            x=rows["N"],
            y=rows["d"],
            mode="lines+markers",
            name=f"construction, {name}",
            line=dict(color=color, dash="dash"),
            marker=dict(symbol="diamond-open", size=7),
            showlegend=show_legend,
            legendgroup=f"c-{fmt}",
            hovertemplate="N = %{x}<br>construction d = %{y}<extra>" + name + "</extra>",
        ),
        go.Scatter(
            x=rows["N"],
            y=rows["per_entity_bound_d"],
            mode="lines",
            name=f"per-entity bound (p = 2), {name}",
            line=dict(color=color, dash="dot", width=1.5),
            showlegend=show_legend,
            legendgroup=f"b-{fmt}",
            hovertemplate="N = %{x}<br>bound d ≥ %{y:.1f}<extra>" + name + "</extra>",
        ),
    ]
    got = th[th["data_format"].map(_fmt) == fmt].sort_values("n_subjects")
    if "shared" in got:  # h = 1 with CoT is the no-CoT runs again: drawn once, as no CoT
        got = got[~got["shared"].astype(bool)]
    if got.empty:
        return traces
    notes = [
        f"not reached within {s} steps (d* > {d})" if c == "above" else ("d* ≤ smallest d tried" if c else "")
        for d, c, s in zip(got["d_star"], got["censored"], got["max_steps"])
    ]
    traces.append(
        go.Scatter(
            x=got["n_subjects"],
            y=got["d_star"],
            mode="markers",
            name=f"trained d*, {name}",
            marker=dict(size=11, color=color, symbol=["circle-open" if c else "circle" for c in got["censored"]]),
            customdata=notes,
            showlegend=show_legend,
            legendgroup=f"t-{fmt}",
            hovertemplate="N = %{x}<br>d* = %{y} %{customdata}<extra>" + name + "</extra>",
        )
    )
    fit = fits[fits["data_format"].map(_fmt) == fmt]
    if len(fit) and math.isfinite(float(fit["slope"].iloc[0])):
        f = fit.iloc[0]
        Ns = [int(f["N_min"]), int(f["N_max"])]
        ys = [float(f["intercept"]) + float(f["slope"]) * math.log2(n) for n in Ns]
        label = f"fit, {name}: {f['slope']:.2f} ± {f['slope_se']:.2f} per doubling of N"
        traces.append(
            go.Scatter(
                x=Ns,
                y=ys,
                mode="lines",
                name=label,
                line=dict(color=color, width=2),
                showlegend=show_legend,
                legendgroup=f"f-{fmt}",
                hovertemplate="N = %{x}<br>fitted d* = %{y:.1f}<extra>" + name + "</extra>",
            )
        )
    return traces


def plot_growth(dims, th, fits, *, R: int) -> go.Figure:
    """Dimension against N (log2 axis) with one slider step per h: for both formats the construction's d (dashed),
    the per-entity bound (dotted), trained d* (markers, open where censored) and the line d* = a + b log2 N fitted
    to the uncensored d* (``multihop_analysis.growth_fits``), with the global counting bound (grey, dotted).

    ``dims``: ``multihop_theory.dimension_table`` rows over the N and h shown (columns N, h, format, d,
    per_entity_bound_d, global_bound_d); ``th``: ``multihop_thresholds`` rows of relation count ``R``; ``fits``:
    ``growth_fits`` rows of ``R``."""
    needed = ("N", "h", "format", "d", "per_entity_bound_d", "global_bound_d")
    check_columns("dims", dims, needed, "pass multihop_theory.dimension_table rows", non_empty=True)
    check_columns("th", th, ("n_subjects", "hops", "data_format", "d_star", "censored", "max_steps"), "pass thresholds")
    check_columns(
        "fits", fits, ("data_format", "hops", "slope", "slope_se", "intercept", "N_min", "N_max"), "growth_fits"
    )
    steps, values = [], [*dims["d"], *dims["per_entity_bound_d"], *dims["global_bound_d"], *th["d_star"]]
    for h in sorted(int(v) for v in dims["h"].unique()):
        traces = []
        for fmt in ("no_cot", "cot"):
            at = th[th["hops"] == h]
            traces += _growth_traces(dims[dims["h"] == h], at, fits[fits["hops"] == h], fmt, show_legend=True)
        bound = dims[(dims["h"] == h) & (dims["format"] == "no_cot")].sort_values("N")
        traces.append(
            go.Scatter(
                x=bound["N"],
                y=bound["global_bound_d"],
                mode="lines",
                name="global bound (p = 2), any format",
                line=dict(color=GREY, dash="dot", width=1.5),
                hovertemplate="N = %{x}<br>global bound d ≥ %{y:.1f}<extra></extra>",
            )
        )
        title = f"R = {R}, h = {h}: dimension against the number of entities N"
        if h == 1:
            title += " (one set of runs: at h = 1 the formats coincide)"
        steps.append(SliderStep(label=f"h={h}", traces=traces, title=title))
    Ns = sorted(int(n) for n in dims["N"].unique())
    return slider_figure(
        steps,
        slider_label="hops h",
        layout=dict(
            xaxis=dict(
                title=dict(text="entities N (log scale)"), type="log", tickvals=Ns, ticktext=[str(n) for n in Ns]
            ),
            yaxis=log_axis("embedding dimension d (log scale)", values),
            hovermode="closest",
        ),
    )


def _recipe(row) -> str:
    """A short axis label of a held-out row's recipe: stopped at 99%, or all its steps with weight decay."""
    if bool(row["early_stop"]):
        return "stop at 99%"
    return f"{int(row['max_steps'])} steps, wd {float(row['weight_decay']):g}"


def plot_heldout(summary, *, N: int, R: int, h: int) -> go.Figure:
    """Accuracy on the unseen h-hop queries (bars: mean over seeds; error bars: min to max), per format and train
    fraction, one panel column per training recipe, with chance 1/N (grey dotted); ``summary`` is
    ``multihop_analysis.heldout_summary``."""
    needed = ("data_format", "early_stop", "max_steps", "weight_decay", "train_fraction", "heldout_mean", "heldout_min")
    needed += ("heldout_max", "chance")
    check_columns("summary", summary, (*needed, "train_mean", "n_seeds"), "pass heldout_summary(df)", non_empty=True)
    summary = summary.sort_values(["early_stop", "train_fraction"], ascending=[False, True], kind="stable")
    fig = go.Figure()
    x_of = lambda r: [_recipe(r), f"{r['train_fraction']:.0%}"]  # noqa: E731
    for fmt in ("no_cot", "cot"):
        g = summary[summary["data_format"].map(_fmt) == fmt]
        if g.empty:
            continue
        xs = list(zip(*[x_of(r) for _, r in g.iterrows()]))
        fig.add_trace(
            go.Bar(
                x=[list(xs[0]), list(xs[1])],
                y=g["heldout_mean"],
                name=FORMAT_NAMES[fmt],
                marker_color=FORMAT_COLORS[fmt],
                text=[f"{v:.1%}" for v in g["heldout_mean"]],
                textposition="outside",
                cliponaxis=False,
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=g["heldout_max"] - g["heldout_mean"],
                    arrayminus=g["heldout_mean"] - g["heldout_min"],
                ),
                customdata=list(zip(g["train_mean"], g["n_seeds"])),
                hovertemplate="unseen chains: %{y:.1%}<br>training chains: %{customdata[0]:.1%}"
                "<br>%{customdata[1]} seeds<extra>" + FORMAT_NAMES[fmt] + "</extra>",
            )
        )
    chance = float(summary["chance"].iloc[0])
    fig.add_hline(y=chance, line=dict(color=GREY, dash="dot", width=1.5))
    fig.add_trace(  # the chance line's legend entry (the line itself is a shape across the panel)
        go.Scatter(
            x=[None],
            y=[None],
            mode="lines",
            name=f"chance, 1/N = {chance:.1%}",
            line=dict(color=GREY, dash="dot", width=1.5),
        )
    )
    fig.update_layout(
        barmode="group",
        title=dict(
            text=wrap(f"Held-out chains, N = {N}, R = {R}, h = {h}: accuracy on the {h}-hop questions never trained")
        ),
        yaxis=dict(title=dict(text="accuracy on unseen chains"), range=[0, 1.05], tickformat=".0%"),
        xaxis=dict(title=dict(text="share of the chains trained on, per training recipe"), tickangle=0),
    )
    return legend_below(fig)
