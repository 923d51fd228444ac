"""Chapter 6's figures at scale: trained d* against the number of entities N per number of hops (with the fitted
growth lines, the constructions and the bounds), and the held-out-chains accuracies. Like :mod:`.multihop` they
compute nothing: they take ``multihop_analysis`` tables and return a ``go.Figure``."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from .._checks import check_columns
from .bijection import SliderStep, slider_figure
from .multihop import FORMAT_COLORS, FORMAT_NAMES, _fmt, censor_notes, size_traces
from .style import GREY, legend_below, log_axis, wrap

__all__ = ["plot_growth", "plot_heldout"]


def _growth_traces(dims, th, fits, fmt: str, *, show_legend: bool) -> list[go.Scatter]:
    """One format's traces at one h: construction d and per-entity bound against N, trained d* (open where
    censored) and the fitted line d* = a + b log2 N over the N it was fitted on."""
    color, name = FORMAT_COLORS[fmt], FORMAT_NAMES[fmt]
    traces = size_traces(dims[dims["format"] == fmt].sort_values("N"), "N", fmt, show_legend=show_legend)
    got = th[th["data_format"].map(_fmt) == fmt].sort_values("n_subjects")
    if "shared" in got:  # h = 1 with CoT is the no-CoT runs again: drawn once, as no CoT
        got = got[~got["shared"].astype(bool)]
    if got.empty:
        return traces
    notes = censor_notes(got)
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
        xaxis=dict(title=dict(text="share of chains trained on"), tickangle=0),
    )
    return legend_below(fig)
