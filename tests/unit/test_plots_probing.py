"""Figures of the probing and transfer chapters: they draw what they are given (synthetic frames)."""

import pandas as pd
import plotly.graph_objects as go
import pytest

from georecall.explore import probing as widgets_probing
from georecall.plot import probing as pp

METRICS = ["superposition_r2", "swap_success"]
LABELS = {"superposition_r2": "R²", "swap_success": "swap"}


def _summary(metrics):
    rows = []
    for wd in (0.0, 0.1):
        for d in (8, 16):
            rows.append(
                {"d_model": d, "weight_decay": wd, **{f"{m}{s}": 0.5 for m in metrics for s in ("", "_min", "_max")}}
            )
    return pd.DataFrame(rows)


def test_probe_bars_and_slider():
    groups = [{"name": "a", "values": {m: 0.5 for m in METRICS}}, {"name": "b", "values": {m: 1.0 for m in METRICS}}]
    fig = pp.plot_probe_bars(groups, METRICS, LABELS, title="t")
    assert isinstance(fig, go.Figure) and [t.name for t in fig.data] == ["a", "b"]
    assert list(fig.data[0].x) == ["R²", "swap"]
    twin = pp.probe_bars_slider([("8", groups, "d = 8"), ("16", groups, "d = 16")], METRICS, LABELS)
    assert len(twin.data) == 4 and len(twin.layout.sliders[0].steps) == 2


def test_probes_vs_d_has_a_line_per_weight_decay_and_panel():
    fig = pp.plot_probes_vs_d(_summary(METRICS), METRICS, LABELS, construction={"swap_success": 1.0}, title="t")
    lines = [t for t in fig.data if t.name and t.name.startswith("trained")]
    assert len(lines) == 4 and {t.name for t in lines} == {"trained, weight decay 0", "trained, weight decay 0.1"}


def test_gate_pictures_and_where_facts():
    frame = pd.DataFrame([[1.0, 0.2], [0.0, 1.0]], index=[0, 1], columns=[3, 5])
    fig = pp.plot_gate_pictures([("construction", frame), ("trained", frame)], title="t")
    assert [t.type for t in fig.data] == ["heatmap", "heatmap"]
    where = pd.DataFrame(
        {
            "d_model": [8],
            "weight_decay": [0.1],
            "seed": [0],
            "where_as_trained": [0.5],
            "where_shuffled": [0.1],
            "where_gaussian": [0.05],
        }
    )
    assert len(pp.plot_where_facts(where, title="t").data) == 3


def test_transfer_figures():
    protocols = {"superposition": "(a)", "trained": "(c)"}
    s = _summary(list(protocols))
    fig = pp.plot_transfer_vs_d(
        {0.0: s[s.weight_decay == 0.0], 0.1: s[s.weight_decay == 0.1]},
        protocols,
        {},
        construction={"superposition": 1.0},
        title="t",
    )
    assert sum(t.name == "(a)" for t in fig.data) == 2
    bars = pd.DataFrame({"label": ["x", "y"], "superposition": [0.1, 0.2], "trained": [0.3, 0.4]})
    assert len(pp.plot_transfer_bars(bars, protocols, {}, title="t").data) == 2
    curves = pd.DataFrame(
        {"protocol": ["trained"] * 2 + ["random_network"] * 2, "step": [0, 10] * 2, "accuracy": [0.0, 0.5, 0.0, 0.2]}
    )
    assert len(pp.plot_transfer_curves(curves, {}, {}, title="t").data) == 2
    assert len(pp.transfer_slider([("a", curves, "A"), ("b", curves, "B")], {}, {}).data) == 4


def test_live_probe_view_small_and_validated():
    fig = widgets_probing.probe_view(16, 2, 8, "weight decay 0.1", steps=40, transfer_steps=5)
    assert len(fig.data) == 2 and "recall" in fig.layout.title.text
    tied = widgets_probing.probe_view(16, 2, 8, "tied W_U", steps=10, transfer_steps=5)
    assert len(tied.data) == 2
    with pytest.raises(ValueError, match="recipe"):
        widgets_probing.probe_view(16, 2, 8, "adam")
    with pytest.raises(ValueError, match="d"):
        widgets_probing.probe_view(16, 2, 1, "weight decay 0")
