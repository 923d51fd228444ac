"""Chapter 3's figures (learned capacity): accuracy against d, thresholds against R·log2 N and N, frozen-embedding
capacity, the side-by-side comparison and bits per parameter. Shared encodings: :mod:`georecall.plot.bijection`.
"""

from __future__ import annotations

import plotly.graph_objects as go

from .._checks import ArgumentTypeError, check_columns, check_not_empty
from .bijection import FROZEN_COLOR, LEARNED_COLOR, THEORY_DASH, SliderStep, slider_figure, style_key
from .style import GREY, LIGHT_GREY, color_for_R, legend_below, log_axis, wrap

_CURVE_COLUMNS = ("n_subjects", "n_relations", "d_model", "accuracy_mean", "accuracy_min", "accuracy_max", "n_ok")
_CURVE_COLUMNS += ("n_seeds",)  # what analyse.accuracy_curves returns
_TH_COLUMNS = ("n_subjects", "n_relations", "d_star", "R_log2_N", "R_k", "counting_bound_d")  # analyse.thresholds


def _check_fit(fit) -> None:
    if not all(hasattr(fit, a) for a in ("slope", "intercept")):
        raise ArgumentTypeError(f"fit must be an analyse.FitResult (from fit_line), got {type(fit).__name__}")


# --- Chapter 3: learned capacity (E1, E2) ---------------------------------------------------------------------------


def accuracy_vs_d_traces(curves, N: int, *, show_legend: bool = True) -> list[go.Scatter]:
    """One solid line per R: mean accuracy over seeds against d at subject count N (``analyse.accuracy_curves``)."""
    check_columns("curves", curves, _CURVE_COLUMNS, "pass analyse.accuracy_curves(df)", non_empty=True)
    sub = curves[curves["n_subjects"] == N]
    if sub.empty:
        have = sorted(int(n) for n in curves["n_subjects"].unique())
        raise ValueError(f"N={N!r} has no rows in curves (its n_subjects are {have})")
    traces = []
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
    check_columns("curves", curves, _CURVE_COLUMNS, "pass analyse.accuracy_curves(df)", non_empty=True)
    check_not_empty("Ns", Ns, "one slider step per N")
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
    and three theory references: the construction's subject blocks R·⌈log2 N⌉ (dashed), the per-entity bound
    R·log2 N / 2 (dotted) and, per (N, R), the counting bound at 2 bits per weight with every weight counted
    (grey dashes; it depends on N and R, not on R·log2 N alone). ``th`` has columns n_subjects, n_relations,
    d_star, R_log2_N, R_k (= R·⌈log2 N⌉), counting_bound_d (``analysis.thresholds``); ``fit`` is a
    ``analysis.FitResult`` of d* on R·log2 N (its numbers belong in the caption)."""
    check_columns("th", th, _TH_COLUMNS, "pass analyse.thresholds(df)", non_empty=True)
    _check_fit(fit)
    fig = go.Figure()
    t = th.sort_values("R_log2_N")
    x_end = float(x_max or t["R_log2_N"].max())
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
            x=[0.0, x_end],
            y=[0.0, x_end / 2],
            mode="lines",
            name="per-entity bound, p = 2",
            line=dict(dash="dot", color=GREY),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=t["R_log2_N"],
            y=t["counting_bound_d"],
            mode="markers",
            name="counting bound, p = 2",
            marker=dict(symbol="line-ew-open", size=14, color=LIGHT_GREY, line=dict(width=2, color=LIGHT_GREY)),
            customdata=t[["n_subjects", "n_relations"]].to_numpy(),
            hovertemplate="N=%{customdata[0]}, R=%{customdata[1]}<br>counting bound d ≥ %{y:.2f}<extra></extra>",
        )
    )
    xs = [0.0, x_end]
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
    check_columns("th", th, _TH_COLUMNS, "pass analyse.thresholds(df)", non_empty=True)
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
    fig.add_trace(style_key("measured d*", mode="lines+markers", line=dict(color=GREY)))
    fig.add_trace(style_key("construction R·⌈log₂N⌉", mode="lines", line=dict(color=GREY, dash=THEORY_DASH)))
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
    through the origin). ``cap`` from ``analyse.frozen_capacity`` (frozen; marker per format), ``fit`` the
    through-origin fit facts = c·P of the frozen [s, r] rows (numbers in the caption), ``learned`` (optional,
    ``analyse.learned_reach``) the largest facts the learned model memorised at the same shapes (triangles when
    every tested N passed: a lower bound)."""
    needed = ("data_format", "params_nonembed", "capacity_facts", "d_model", "d_mlp")
    check_columns("cap", cap, needed, "pass analyse.frozen_capacity(df)", non_empty=True)
    _check_fit(fit)
    if learned is not None:
        needed = ("data_format", "all_pass", "params_nonembed", "facts_memorised")
        check_columns("learned", learned, needed, "pass analyse.learned_reach(df), or None")
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
    needed = ("label", "n_subjects", "accuracy_mean", "regime")
    check_columns("rows", rows, needed, "pass analyse.side_by_side(...)", non_empty=True)
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
    needed = ("label", "regime", "bits_per_param", "params_counted")
    check_columns("table", table, needed, "pass analyse.bits_table(th, cap)", non_empty=True)
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
