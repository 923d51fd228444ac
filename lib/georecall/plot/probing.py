"""Figures of Chapters 4 and 5 (probing and zero-shot transfer). They compute nothing: each takes the small frames
of :mod:`georecall.analyse.probing` (or plain lists) and returns a ``go.Figure``.

Encodings: solid lines and filled bars for trained models, dashed lines for the hand-built construction, dotted
lines for baselines (an untrained network, chance, the lookup baseline); error bars span the seeds (min to max).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .._checks import ArgumentTypeError, check_columns, check_not_empty
from .bijection import SliderStep, slider_figure
from .style import BLUE, GREY, LIGHT_GREY, ORANGE, PALETTE, VERMILLION, legend_below, wrap

__all__ = [
    "plot_probe_bars",
    "plot_probes_vs_d",
    "plot_gate_pictures",
    "plot_where_facts",
    "plot_transfer_vs_d",
    "plot_transfer_bars",
    "plot_transfer_curves",
    "probe_bars_slider",
    "transfer_slider",
]

WD_COLORS = {0.0: ORANGE, 0.1: BLUE}
CONSTRUCTION_DASH, BASELINE_DASH = "dash", "dot"


def _errors(values: Sequence[float], lo: Sequence[float] | None, hi: Sequence[float] | None) -> dict | None:
    if lo is None or hi is None:
        return None
    return dict(
        type="data",
        symmetric=False,
        array=[h - v for v, h in zip(values, hi)],
        arrayminus=[v - low for v, low in zip(values, lo)],
        thickness=1.2,
        width=3,
    )


def _check_groups(groups: Sequence[Mapping], metrics: Sequence[str], name: str = "groups") -> None:
    """Bar groups (``analyse.probing.bar_group`` dicts) that each hold a ``name`` and a value per metric."""
    check_not_empty(name, groups, "one dict per bar group, from analyse.probing.bar_group")
    check_not_empty("metrics", metrics, "the metrics to show as bars")
    for i, g in enumerate(groups):
        if not isinstance(g, Mapping) or "name" not in g or not isinstance(g.get("values"), Mapping):
            raise ArgumentTypeError(f"{name}[{i}] must be a dict with 'name' and 'values' (see bar_group)")
        missing = [m for m in metrics if m not in g["values"]]
        if missing:
            raise ValueError(f"{name}[{i}] ({g['name']!r}) has no values for metrics {missing}")


def _check_summary(name: str, summary, columns: Sequence[str], hint: str) -> None:
    """A summary frame with rows, ``d_model`` and each column with its ``_min``/``_max`` (the seed spread)."""
    spread = [f"{c}_{s}" for c in columns for s in ("min", "max")]
    check_columns(name, summary, ["d_model", *columns, *spread], hint, non_empty=True)


def _bar_traces(groups: Sequence[Mapping], metrics: Sequence[str], labels: Mapping[str, str]) -> list[go.Bar]:
    traces = []
    for i, g in enumerate(groups):
        values = [g["values"][m] for m in metrics]
        lo = [g.get("lo", g["values"])[m] for m in metrics]
        hi = [g.get("hi", g["values"])[m] for m in metrics]
        traces.append(
            go.Bar(
                x=[labels.get(m, m) for m in metrics],
                y=values,
                name=g["name"],
                marker_color=g.get("color", PALETTE[i % len(PALETTE)]),
                error_y=_errors(values, lo, hi) if "lo" in g else None,
                hovertemplate="%{x}: %{y:.3f}<extra>" + g["name"] + "</extra>",
            )
        )
    return traces


def plot_probe_bars(
    groups: Sequence[Mapping], metrics: Sequence[str], labels: Mapping[str, str], *, title: str, y_title: str = ""
) -> go.Figure:
    """Grouped bars: one group per metric, one bar per model. ``groups``: dicts with ``name``, ``values`` {metric:
    value}, optional ``lo``/``hi`` {metric: value} (error bars) and ``color``."""
    _check_groups(groups, metrics)
    fig = go.Figure(_bar_traces(groups, metrics, labels))
    fig.update_layout(
        title=wrap(title), barmode="group", yaxis=dict(title=y_title, range=[-0.05, 1.05]), xaxis=dict(tickangle=-30)
    )
    return legend_below(fig, plot_px=340)


def probe_bars_slider(
    steps: Sequence[tuple[str, Sequence[Mapping], str]], metrics: Sequence[str], labels: Mapping[str, str]
) -> go.Figure:
    """Static twin of the probing explorer: one slider step per (label, groups, title) of :func:`plot_probe_bars`."""
    check_not_empty("steps", steps, "one (label, groups, title) per slider step")
    for i, (_, groups, _) in enumerate(steps):
        _check_groups(groups, metrics, f"steps[{i}] groups")
    slider_steps = [SliderStep(label=lab, traces=_bar_traces(g, metrics, labels), title=t) for lab, g, t in steps]
    layout = dict(barmode="group", yaxis=dict(range=[-0.05, 1.05]), xaxis=dict(tickangle=-30))
    return slider_figure(slider_steps, slider_label="d", layout=layout, plot_px=340)


def plot_probes_vs_d(
    summary,
    metrics: Sequence[str],
    labels: Mapping[str, str],
    *,
    construction: Mapping[str, float] | None = None,
    baselines: Mapping[str, tuple[str, Sequence[float]]] | None = None,
    title: str,
) -> go.Figure:
    """One panel per metric: mean over seeds against d (bars: min to max), one line per weight decay (core recipe
    rows of ``summary``, a :func:`georecall.analyse.probing.summarise` frame). ``construction``: the construction's
    value per metric (dashed); ``baselines``: per metric (name, values along the same d), dotted."""
    check_not_empty("metrics", metrics, "one panel per metric")
    _check_summary("summary", summary, metrics, "pass analyse.probing.core_rows(summarise(...))")
    check_columns("summary", summary, ["weight_decay"])
    cols = min(len(metrics), 2)
    rows = (len(metrics) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[labels.get(m, m) for m in metrics], vertical_spacing=0.16)
    for i, m in enumerate(metrics):
        r, c = i // cols + 1, i % cols + 1
        for wd, g in summary.groupby("weight_decay", sort=True):
            g = g.sort_values("d_model")
            fig.add_trace(
                go.Scatter(
                    x=g["d_model"],
                    y=g[m],
                    mode="lines+markers",
                    name=f"trained, weight decay {wd:g}",
                    legendgroup=f"wd{wd}",
                    showlegend=i == 0,
                    line=dict(color=WD_COLORS.get(wd, GREY)),
                    error_y=_errors(list(g[m]), list(g[f"{m}_min"]), list(g[f"{m}_max"])),
                ),
                row=r,
                col=c,
            )
        if construction is not None and m in construction:
            fig.add_hline(y=construction[m], line=dict(color=VERMILLION, dash=CONSTRUCTION_DASH), row=r, col=c)
        if baselines and m in baselines:
            name, values = baselines[m]
            xs = sorted(summary["d_model"].unique())
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=list(values),
                    mode="lines",
                    name=name,
                    line=dict(color=GREY, dash=BASELINE_DASH),
                    showlegend=True,
                ),
                row=r,
                col=c,
            )
        fig.update_xaxes(title_text="d" if r == rows else None, row=r, col=c)
    fig.add_trace(
        go.Scatter(x=[None], y=[None], mode="lines", name="construction", line=dict(color=VERMILLION, dash="dash"))
    )
    fig.update_layout(title=wrap(title))
    return legend_below(fig, plot_px=260 * rows)


def plot_gate_pictures(pictures: Sequence[tuple[str, object]], *, title: str) -> go.Figure:
    """Heatmaps side by side: each ``(name, frame)`` is a :func:`georecall.analyse.probing.gate_picture` [R, m]
    frame (activation / the unit's peak, units sorted by preferred relation)."""
    check_not_empty("pictures", pictures, "one (name, gate_picture frame) per panel")
    for name, frame in pictures:
        if not hasattr(frame, "to_numpy") or 0 in frame.shape:
            raise ValueError(f"pictures[{name!r}] must be a non-empty gate_picture frame [R, m], got {frame!r:.80}")
    rows = len(pictures)
    # the gap holds the next panel's title and this panel's x ticks (~60 px): a share of the total height
    gap = 0.22 if rows <= 2 else 0.3 / (rows - 1)
    fig = make_subplots(rows=rows, cols=1, subplot_titles=[n for n, _ in pictures], vertical_spacing=gap)
    for i, (_, frame) in enumerate(pictures):
        fig.add_trace(
            go.Heatmap(
                z=frame.to_numpy(),
                x=list(range(frame.shape[1])),
                y=[f"r = {r}" for r in frame.index],
                colorscale="Blues",
                zmin=0,
                zmax=1,
                showscale=i == 0,
                colorbar=dict(title=dict(text="share<br>of peak", side="top"), len=0.9, thickness=8),
                hovertemplate="unit %{x}, relation %{y}: %{z:.2f}<extra></extra>",
            ),
            row=i + 1,
            col=1,
        )
    fig.update_xaxes(title_text="hidden units (sorted by preferred relation)", row=len(pictures), col=1)
    fig.update_layout(title=wrap(title))
    legend_below(fig, plot_px=170 * len(pictures), extra_bottom_px=20)  # the last x title sits below its ticks
    top = fig.layout.margin.t + 22  # room for the first panel's own title under the figure title
    return fig.update_layout(margin=dict(t=top), height=fig.layout.height + 22)


def plot_where_facts(df, *, title: str) -> go.Figure:
    """Grouped bars per point (d, weight decay, seed): re-storing accuracy with W_U as trained, shuffled and
    Gaussian (a :func:`georecall.analyse.probing.where_facts` frame)."""
    needed = ("d_model", "weight_decay", "seed", "where_as_trained", "where_shuffled", "where_gaussian")
    check_columns("df", df, needed, "pass analyse.probing.where_facts(transfer)", non_empty=True)
    x = [f"d={d}, wd {wd:g}, s{s}" for d, wd, s in zip(df["d_model"], df["weight_decay"], df["seed"])]
    fig = go.Figure()
    for col, name, color in (
        ("where_as_trained", "W_U as trained", BLUE),
        ("where_shuffled", "W_U columns shuffled", ORANGE),
        ("where_gaussian", "Gaussian code, same moments", LIGHT_GREY),
    ):
        fig.add_trace(go.Bar(x=x, y=df[col], name=name, marker_color=color))
    fig.update_layout(
        title=wrap(title), barmode="group", yaxis=dict(title="accuracy on the old facts", range=[0, 1.05])
    )
    return legend_below(fig, plot_px=320)


def _transfer_traces(summary, protocols: Mapping[str, str], colors: Mapping[str, str], *, showlegend=True):
    traces = []
    for p, name in protocols.items():
        g = summary.sort_values("d_model")
        dash = BASELINE_DASH if p in ("random", "lookup", "random_network") else None
        traces.append(
            go.Scatter(
                x=g["d_model"],
                y=g[p],
                mode="lines+markers",
                name=name,
                line=dict(color=colors.get(p, GREY), dash=dash),
                error_y=_errors(list(g[p]), list(g[f"{p}_min"]), list(g[f"{p}_max"])),
                showlegend=showlegend,
            )
        )
    return traces


def plot_transfer_vs_d(
    summaries: Mapping[float, object],
    protocols: Mapping[str, str],
    colors: Mapping[str, str],
    *,
    construction: Mapping[str, float],
    title: str,
) -> go.Figure:
    """Accuracy on new bijections against d, one panel per weight decay (``summaries``: weight decay ->
    :func:`georecall.analyse.probing.transfer_summary` rows of the core recipe), one line per protocol; the
    construction's (a) and (b) as dashed lines."""
    check_not_empty("summaries", summaries, "weight decay -> transfer_summary rows, one panel each")
    check_not_empty("protocols", protocols, "one line per protocol")
    for wd, frame in summaries.items():
        _check_summary(f"summaries[{wd!r}]", frame, list(protocols), "pass analyse.probing.transfer_summary rows")
    wds = sorted(summaries)
    fig = make_subplots(rows=1, cols=len(wds), subplot_titles=[f"weight decay {wd:g}" for wd in wds], shared_yaxes=True)
    for j, wd in enumerate(wds):
        for t in _transfer_traces(summaries[wd], protocols, colors, showlegend=j == 0):
            fig.add_trace(t, row=1, col=j + 1)
        fig.update_xaxes(title_text="d", row=1, col=j + 1)
        for p in ("superposition", "selector_inverse"):
            if p in construction:
                fig.add_hline(y=construction[p], line=dict(color=VERMILLION, dash=CONSTRUCTION_DASH), row=1, col=j + 1)
    fig.add_trace(
        go.Scatter(
            x=[None], y=[None], mode="lines", name="construction, (a) and (b)", line=dict(color=VERMILLION, dash="dash")
        )
    )
    fig.update_yaxes(title_text="accuracy on new facts", range=[-0.02, 1.05], row=1, col=1)
    fig.update_layout(title=wrap(title))
    return legend_below(fig, plot_px=320)


def plot_transfer_bars(rows, protocols: Mapping[str, str], colors: Mapping[str, str], *, title: str) -> go.Figure:
    """Grouped bars: one group per recipe (``rows``: a frame with a ``label`` column and one column per protocol,
    plus ``<protocol>_min``/``_max`` when seeds were averaged), one bar per protocol."""
    check_not_empty("protocols", protocols, "one bar per protocol")
    check_columns("rows", rows, ["label", *protocols], "one row per recipe, one column per protocol", non_empty=True)
    fig = go.Figure()
    for p, name in protocols.items():
        lo, hi = rows.get(f"{p}_min"), rows.get(f"{p}_max")
        fig.add_trace(
            go.Bar(
                x=rows["label"],
                y=rows[p],
                name=name,
                marker_color=colors.get(p, GREY),
                error_y=None if lo is None else _errors(list(rows[p]), list(lo), list(hi)),
            )
        )
    fig.update_layout(
        title=wrap(title),
        barmode="group",
        yaxis=dict(title="accuracy on new facts", range=[0, 1.05]),
        xaxis=dict(tickangle=-30),
    )
    return legend_below(fig, plot_px=340)


def _curve_traces(curves, colors: Mapping[str, str], names: Mapping[str, str], name: str = "curves") -> list:
    check_columns(name, curves, ("protocol", "step", "accuracy"), "pass rows of the transfer table", non_empty=True)
    return [
        go.Scatter(
            x=g["step"],
            y=g["accuracy"],
            mode="lines+markers",
            name=names.get(p, p),
            line=dict(color=colors.get(p, GREY), dash=BASELINE_DASH if p == "random_network" else None),
        )
        for p, g in curves.groupby("protocol", sort=False)
    ]


def plot_transfer_curves(curves, colors: Mapping[str, str], names: Mapping[str, str], *, title: str) -> go.Figure:
    """Protocol (c) and its control (c') against embedding-training steps (``curves``: rows of the transfer table
    with ``protocol`` in {trained, random_network}, ``step``, ``accuracy``)."""
    fig = go.Figure(_curve_traces(curves, colors, names))
    fig.update_layout(
        title=wrap(title),
        xaxis=dict(title="Adam steps on the subject rows only"),
        yaxis=dict(title="accuracy on new facts", range=[0, 1.05]),
    )
    return legend_below(fig, plot_px=300)


def transfer_slider(
    steps: Sequence[tuple[str, object, str]], colors: Mapping[str, str], names: Mapping[str, str]
) -> go.Figure:
    """Static twin of the transfer explorer: one slider step per (label, curves frame, title)."""
    check_not_empty("steps", steps, "one (label, curves, title) per slider step")
    slider_steps = [
        SliderStep(label=lab, traces=_curve_traces(c, colors, names, f"steps[{i}] curves"), title=t)
        for i, (lab, c, t) in enumerate(steps)
    ]
    layout = dict(
        xaxis=dict(title="Adam steps on the subject rows only"),
        yaxis=dict(title="accuracy on new facts", range=[0, 1.05]),
    )
    return slider_figure(slider_steps, slider_label="recipe", layout=layout, plot_px=300)
