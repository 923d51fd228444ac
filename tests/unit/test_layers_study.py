"""The layers study end to end: its points and presets, one tiny point measured and written through the runner and the
cache into the registered tables, the analysis of those tables, the figures, and the live explorer."""

import math

import numpy as np
import pandas as pd
import pytest

from georecall.analyse import layers as analysis
from georecall.explore import layers as explore_layers
from georecall.plot import layers as plots
from georecall.probe import layers as probe_layers
from georecall.run import layers as layers_runs
from georecall.run import runner
from georecall.sweep import presets, tables
from georecall.sweep.configs import Experiment
from georecall.sweep.layers import LayersPoint, is_layers_point, layers_points, layers_smoke_points

TINY = LayersPoint(n_entities=16, n_relations=2, n_layers=2, d_model=8, n_templates=2, n_heldout=1, steps=20)


def test_the_grid_and_its_smoke_subset():
    pts = layers_points()
    assert sorted({p.n_layers for p in pts}) == [1, 2, 4] and {p.seed for p in pts} == {0, 1} and len(pts) == 6
    assert all((p.n_entities, p.n_relations, p.d_model) == (64, 2, 32) for p in pts)
    smoke = layers_smoke_points()
    assert len(smoke) == 1 and smoke[0] in pts and smoke[0].n_layers == 1
    assert len({p.key() for p in pts}) == 6 and pts[0].key() == LayersPoint(**pts[0].asdict()).key()
    (exp,) = presets.preset("layers").experiments
    assert exp.layers and not exp.crossset and not exp.probing and exp.points == pts
    smoke_exps = {e.name: e for e in presets.preset("smoke").experiments}
    assert smoke_exps["layers"].points == smoke
    assert is_layers_point(TINY) and is_layers_point(TINY.asdict()) and not is_layers_point({"seed": 0})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_layers": 0}, "n_layers"),
        ({"n_entities": 4}, "n_entities"),
        ({"inverse_share": 0.0}, "inverse_share"),
        ({"n_heldout": 0}, "n_heldout"),
        ({"steps": 0}, "steps"),
        ({"device": "tpu"}, "device"),
        ({"study": "crossset"}, "study"),
    ],
)
def test_bad_points_are_refused_by_name(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        LayersPoint(**kwargs)


@pytest.fixture(scope="module")
def tiny_tables(tmp_path_factory):
    """TINY run through the runner (inline) and the cache, written and read back as the registered tables."""
    tmp = tmp_path_factory.mktemp("layers")
    exp = Experiment(name="layers", description="tiny", points=(TINY,))
    out = runner.run_experiments([exp], cache=tmp / "cache", progress=False)
    again = runner.run_experiments([exp], cache=tmp / "cache", progress=False)  # from the cache this time
    for name in out:
        pd.testing.assert_frame_equal(out[name], again[name])
    tables.write_tables(out, tmp / "out")
    return tables.load_tables(tmp / "out", names=tables.LAYERS_TABLES)


def test_a_point_is_measured_into_the_three_tables(tiny_tables):
    assert set(tiny_tables) == {"layers", "layer_probes", "layer_ablation"} == set(tables.LAYERS_TABLES)
    row = tiny_tables["layers"].iloc[0]
    assert len(tiny_tables["layers"]) == 1 and row["n_layers"] == 2 and row["n_facts"] == 32
    assert row["bits_per_param"] == pytest.approx(32 * 4 / row["n_params"])
    assert all(0.0 <= row[c] <= 1.0 for c in layers_runs.SPLIT_SCALARS)
    probes = tiny_tables["layer_probes"]
    assert len(probes) == len(probe_layers.CONTROLS) * len(probe_layers.TOKENS) * 3 * len(probe_layers.METRICS)
    assert set(probes["layer"]) == {0, 1, 2} and set(probes["control"]) == set(probe_layers.CONTROLS)
    ab = tiny_tables["layer_ablation"]
    assert list(zip(ab["layer"], ab["component"])) == [(0, "attn"), (0, "mlp"), (1, "attn"), (1, "mlp")]
    np.testing.assert_allclose(ab["drop"], row["recall_train"] - ab["recall"], atol=1e-8)


def test_measure_repeats_exactly():
    a, b = layers_runs.measure(TINY), layers_runs.measure(TINY)
    assert {k: v for k, v in a["scalars"].items() if k != "seconds"} == {
        k: v for k, v in b["scalars"].items() if k != "seconds"
    }
    np.testing.assert_array_equal(a["arrays"]["probes"], b["arrays"]["probes"])  # NaN where undefined, in both
    assert a["arrays"]["probes"].shape == (3, 2, 3, 3) and a["arrays"]["ablation_recall"].shape == (2, 2)


def _probes_frame():
    """Two depths, two seeds: R^2 peaks at layer 1 of L = 2 at the last token; at L = 1 at layer 0, subject token."""
    rows = []
    base = dict(n_entities=64, n_relations=2, d_model=32)
    for L, peak in ((1, ("subject", 0)), (2, ("last", 1))):
        for seed in (0, 1):
            for control in probe_layers.CONTROLS:
                for token in probe_layers.TOKENS:
                    for layer in range(L + 1):
                        for metric in probe_layers.METRICS:
                            v = 0.9 if (token, layer) == peak and control == "trained" else 0.1 + 0.01 * seed
                            rows.append({**base, "n_layers": L, "seed": seed, "layer": layer, "token": token,
                                         "metric": metric, "control": control, "value": v})  # fmt: skip
    return pd.DataFrame(rows)


def test_the_analysis_finds_the_peak_and_the_components_that_carry_recall():
    peaks = analysis.peak_layers(_probes_frame())
    assert list(zip(peaks["n_layers"], peaks["token"], peaks["layer"])) == [(1, "subject", 0), (2, "last", 1)]
    assert peaks["value"].tolist() == [0.9, 0.9]
    s = analysis.probe_summary(_probes_frame())
    assert (s["n_seeds"] == 2).all() and s["value"].max() == 0.9
    ab = pd.DataFrame(
        [
            dict(
                n_entities=64,
                n_relations=2,
                d_model=32,
                n_layers=2,
                seed=seed,
                layer=layer,
                component=c,
                recall=r,
                drop=1.0 - r,
            )  # fmt: skip
            for seed in (0, 1)
            for layer, c, r in ((0, "attn", 0.05), (0, "mlp", 0.9), (1, "attn", 0.6 - 0.3 * seed), (1, "mlp", 0.0))
        ]
    )
    flags = analysis.removes_recall(ab, min_drop=0.5)
    removed = {(int(r["layer"]), r["component"]) for _, r in flags[flags["removes"]].iterrows()}
    assert removed == {(0, "attn"), (1, "mlp")}  # (1, attn) drops 0.4 on seed 0 and 0.7 on seed 1: not every seed
    with pytest.raises(ValueError, match="min_drop"):
        analysis.removes_recall(ab, min_drop=0.0)
    with pytest.raises(ValueError, match="layer_ablation"):
        analysis.ablation_summary(ab.drop(columns="drop"))
    with pytest.raises(ValueError, match="no rows"):
        analysis.probe_summary(_probes_frame().iloc[:0])


def test_the_figures(tiny_tables):
    s = analysis.probe_summary(_probes_frame())
    fig = plots.plot_layer_probes(s, "superposition_r2", title="R² per layer")
    assert len(fig.data) == 2 * 2 * 3  # tokens x depths x (trained + two controls)
    assert {t.line.dash for t in fig.data if t.legendgroup in ("random_network", "shuffled_labels")} == {"dash"}
    assert {t.line.dash for t in fig.data if t.name.startswith("L = ")} == {"solid"}
    assert "layer" in fig.layout.xaxis.title.text and "R²" in fig.layout.yaxis.title.text
    with pytest.raises(ValueError, match="metric"):
        plots.plot_layer_probes(s, "accuracy", title="x")
    lens = s.assign(value=s["value"].where(s["token"] == "last"))  # the logit lens is defined at the last token only
    assert len(plots.plot_layer_probes(lens, "logit_lens", title="lens").data) == 2 * 3
    heat = plots.plot_ablation(analysis.ablation_summary(tiny_tables["layer_ablation"]), title="ablation")
    assert heat.data[0].z.shape == (2, 2) and all("%" in t for row in heat.data[0].text for t in row)
    mixed = pd.concat([tiny_tables["layer_ablation"], tiny_tables["layer_ablation"].assign(n_layers=1)])
    mixed = mixed[~((mixed["n_layers"] == 1) & (mixed["layer"] == 1))]
    heat = plots.plot_ablation(analysis.ablation_summary(mixed), title="ablation")
    text = heat.data[0].text  # rows: L = 1 attention, L = 1 MLP, L = 2 attention, L = 2 MLP
    assert text[0][1] == text[1][1] == "–" and "%" in text[2][1]  # L = 1 has no layer 1
    with pytest.raises(ValueError, match="value"):
        plots.plot_ablation(analysis.ablation_summary(mixed), title="x", value="loss")


def test_the_live_explorer_draws_and_redraws(one_torch_thread):
    fig = explore_layers.layers_view(1, 8, steps=30)
    assert [t.type for t in fig.data] == ["bar", "scatter", "scatter"]
    assert list(fig.data[0].x) == list(explore_layers.SPLIT_LABELS.values())
    assert len(fig.data[1].y) == 2 and "L=1, d=8" in fig.layout.title.text
    panel = explore_layers.layers_explorer(n_layers=1, d_model=8)
    sliders = [w for w in panel.children[1].children]
    assert [s.description for s in sliders] == ["layers L", "d"] and not any(s.continuous_update for s in sliders)
    with pytest.raises(ValueError, match="n_layers"):
        explore_layers.layers_view(0, 8)
    with pytest.raises(ValueError, match="d_model"):
        explore_layers.layers_view(1, 2)


def test_bits_summary_reads_the_points_table(tiny_tables):
    b = analysis.bits_summary(tiny_tables["layers"])
    assert len(b) == 1 and b["n_seeds"].tolist() == [1]
    assert b["literature_bits_per_param"].tolist() == [2.0] and not math.isnan(float(b["bits_per_param"].iloc[0]))
