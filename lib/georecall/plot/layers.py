"""Figures of the layers study: a probe (superposition R^2 or decoder accuracy) against the layer, one line per depth L
at each token with the controls dashed, and the mean-ablation heatmap (recall lost per block and component)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .._checks import check_columns
from .bijection import SliderStep, slider_figure
from .style import GREY, PALETTE, legend_below, wrap

__all__ = ["plot_layer_probes", "plot_ablation", "plot_layers_live", "plot_layers_twin", "color_for_L", "METRIC_AXES"]

METRIC_AXES = {
    "superposition_r2": "held-out R² of the superposition fit",
    "decoder_accuracy": "held-out decoder accuracy",
    "logit_lens": "logit-lens accuracy (share of facts)",
}
TOKEN_TITLES = {"subject": "at the subject token", "last": "at the last token before the answer"}
CONTROL_STYLE = {  # control -> (legend label, marker symbol); every control is drawn dashed
    "random_network": ("untrained network", "circle-open"),
    "shuffled_labels": ("shuffled labels", "x-thin-open"),
}


def color_for_L(L: int, depths) -> str:
    """One colour per depth, in the order of the sorted ``depths`` (the palette's first slots)."""
    return PALETTE[sorted(int(x) for x in depths).index(int(L)) % len(PALETTE)]


def plot_layer_probes(summary, metric: str, *, title: str, chance: float | None = None) -> go.Figure:
    """``metric`` (a value of ``summary["metric"]``: ``superposition_r2``, ``decoder_accuracy`` or ``logit_lens``)
    against the layer l = 0 .. L (0: the embeddings), one panel per token where it is defined, one solid line per depth
    L for the trained model and dashed lines in the same colour for the controls (untrained network: open circles;
    shuffled labels: crosses). ``summary``: an ``analyse.layers.probe_summary`` frame (means over seeds).
    ``chance``: a dotted grey line (1/N for the accuracies)."""
    check_columns("summary", summary, ["n_layers", "control", "token", "metric", "layer", "value"])
    s = summary[summary["metric"] == metric]
    if s.empty:
        raise ValueError(f"summary has no rows of metric {metric!r}")
    tokens = [t for t in TOKEN_TITLES if s.loc[s["token"] == t, "value"].notna().any()]  # logit lens: last only
    depths = sorted(int(L) for L in s["n_layers"].unique())
    titles = [TOKEN_TITLES[t] for t in tokens]
    fig = make_subplots(rows=len(tokens), cols=1, subplot_titles=titles, vertical_spacing=0.16)
    shown = set()
    for row, token in enumerate(tokens, start=1):
        for L in depths:
            color = color_for_L(L, depths)
            for control in ("trained", *CONTROL_STYLE):
                g = s[(s["token"] == token) & (s["n_layers"] == L) & (s["control"] == control)].sort_values("layer")
                if g.empty:
                    continue
                if control == "trained":
                    name, group, dash, symbol, width = f"L = {L}", f"L{L}", "solid", "circle", 2.5
                else:
                    label, symbol = CONTROL_STYLE[control]
                    name, group, dash, width = label, control, "dash", 1.2
                fig.add_trace(
                    go.Scatter(
                        x=g["layer"],
                        y=g["value"],
                        mode="lines+markers",
                        name=name,
                        legendgroup=group,
                        showlegend=group not in shown,
                        line=dict(color=color, dash=dash, width=width),
                        marker=dict(symbol=symbol, size=8 if control == "trained" else 7, color=color),
                        hovertemplate=f"L = {L}, {name}: layer %{{x}}, %{{y:.3f}}<extra></extra>",
                    ),
                    row=row,
                    col=1,
                )
                shown.add(group)
        if chance is not None:
            fig.add_hline(y=chance, line=dict(color=GREY, dash="dot", width=1), row=row, col=1)
        fig.update_xaxes(title_text="layer l (0 = embeddings)", dtick=1, row=row, col=1)
        fig.update_yaxes(title_text=METRIC_AXES.get(metric, metric), row=row, col=1)
    fig.update_layout(title=dict(text=wrap(title)))
    return legend_below(fig, plot_px=260 * len(tokens))


def plot_ablation(summary, *, title: str, value: str = "drop") -> go.Figure:
    """A heatmap of the recall lost (``value="drop"``) or kept (``"recall"``) when one block's attention or MLP output
    is replaced by its mean, as a share of the trained facts: columns are the blocks (0 = first), rows the (depth L,
    component) pairs; each cell is labelled with its percentage, blocks a depth does not have read "–". ``summary``: an
    ``analyse.layers.ablation_summary`` frame (means over seeds)."""
    if value not in ("drop", "recall"):
        raise ValueError(f"value must be 'drop' or 'recall', got {value!r}")
    check_columns("summary", summary, ["n_layers", "layer", "component", value])
    if summary.empty:
        raise ValueError("summary has no rows")
    depths = sorted(int(L) for L in summary["n_layers"].unique())
    components = [c for c in ("attn", "mlp") if c in set(summary["component"])]
    layers = list(range(int(summary["layer"].max()) + 1))
    labels = {"attn": "attention", "mlp": "MLP"}
    rows = [(L, c) for L in depths for c in components]
    z = np.full((len(rows), len(layers)), np.nan)
    text = [["–" for _ in layers] for _ in rows]
    for i, (L, c) in enumerate(rows):
        g = summary[(summary["n_layers"] == L) & (summary["component"] == c)]
        for _, r in g.iterrows():
            j = int(r["layer"])
            z[i, j] = float(r[value])
            text[i][j] = f"{100 * z[i, j]:.0f}%"
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(x) for x in layers],
            y=[f"L = {L}: {labels.get(c, c)}" for L, c in rows],
            text=text,
            texttemplate="%{text}",
            textfont=dict(size=11),
            colorscale="Blues",
            zmin=0,
            zmax=1,
            showscale=False,  # every cell is labelled
            hovertemplate="%{y}, block %{x}: %{z:.1%} " + ("recall lost" if value == "drop" else "recall kept"),
        )
    )
    fig.update_layout(
        title=dict(text=wrap(title)),
        xaxis=dict(title=dict(text="mean-ablated block (0 = first)"), type="category"),
        yaxis=dict(title=dict(text="depth L and component"), type="category", autorange="reversed"),
    )
    return legend_below(fig, plot_px=max(200, 34 * len(rows)))


def plot_layers_live(recall: dict, r2: dict, *, title: str) -> go.Figure:
    """The live explorer's figure: recall per split as bars (``recall``: split label -> share of its sentences) above
    the held-out superposition R^2 against the layer (``r2``: token -> [R^2 at layers 0 .. L], NaN where undefined),
    one line per token."""
    if not recall or not r2:
        raise ValueError("recall and r2 must be non-empty")
    fig = make_subplots(rows=2, cols=1, subplot_titles=["recall per split", "superposition R² per layer"],
                        vertical_spacing=0.22)  # fmt: skip
    names = list(recall)
    fig.add_trace(
        go.Bar(
            x=names,
            y=[recall[n] for n in names],
            marker_color=PALETTE[0],
            text=[f"{100 * recall[n]:.0f}%" for n in names],
            textposition="outside",
            showlegend=False,
            hovertemplate="%{x}: %{y:.1%}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    for i, (token, values) in enumerate(r2.items()):
        fig.add_trace(
            go.Scatter(
                x=list(range(len(values))),
                y=list(values),  # NaN where undefined: a gap
                mode="lines+markers",
                name=TOKEN_TITLES.get(token, token),
                line=dict(color=PALETTE[1 + i]),
                hovertemplate="layer %{x}: R² %{y:.2f}<extra></extra>",
            ),
            row=2,
            col=1,
        )
    fig.update_yaxes(title_text="share of sentences", range=[0, 1.15], row=1, col=1)
    fig.update_xaxes(title_text="layer l (0 = embeddings)", dtick=1, row=2, col=1)
    fig.update_yaxes(title_text="held-out R²", row=2, col=1)
    fig.update_layout(title=dict(text=wrap(title)))
    return legend_below(fig, plot_px=520)


def plot_layers_twin(summary, study, *, d_model: int) -> go.Figure:
    """The static twin of the live explorer: for each depth L of the layers study (one slider step), the held-out
    superposition R^2 against the layer at both tokens (trained models, mean over seeds), with the recall per split
    in the step's title. ``summary``: ``analyse.layers.probe_summary`` rows; ``study``: ``analyse.layers.bits_summary``
    rows (recall columns)."""
    check_columns("summary", summary, ("n_layers", "control", "token", "metric", "layer", "value"), "probe_summary")
    check_columns(
        "study",
        study,
        ("n_layers", "recall_train", "recall_heldout_templates", "recall_inverse", "recall_inverse_trained"),
        "bits_summary",
        non_empty=True,
    )
    r2 = summary[(summary["metric"] == "superposition_r2") & (summary["control"] == "trained")]
    steps = []
    for L in sorted(int(v) for v in study["n_layers"].unique()):
        rec = study[study["n_layers"] == L].iloc[0]
        traces = []
        for i, token in enumerate(("subject", "last")):
            g = r2[(r2["n_layers"] == L) & (r2["token"] == token)].sort_values("layer")
            traces.append(
                go.Scatter(
                    x=g["layer"],
                    y=g["value"],
                    mode="lines+markers",
                    name=TOKEN_TITLES[token],
                    line=dict(color=PALETTE[1 + i]),
                    hovertemplate="layer %{x}: R² %{y:.2f}<extra></extra>",
                )
            )
        title = (
            f"L = {L}, d = {d_model}: recall {rec['recall_train']:.0%} trained, {rec['recall_heldout_templates']:.0%}"
            f" unseen templates, {rec['recall_inverse']:.0%} inverse never trained"
        )
        steps.append(SliderStep(label=f"L={L}", traces=traces, title=title))
    return slider_figure(
        steps,
        slider_label="layers L",
        layout=dict(
            xaxis=dict(title=dict(text="layer l (0 = embeddings)"), dtick=1),
            yaxis=dict(title=dict(text="held-out R² of the superposition fit"), range=[-0.2, 1.0]),
        ),
    )
