"""The cross-set study's sweep pieces: points, the preset's grid and pruning, the unit of work, the tables, the
analysis, the figures and the live explorer."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from georecall.analyse import crossset as analysis
from georecall.explore import crossset as live
from georecall.plot import crossset as plots
from georecall.run import crossset as study
from georecall.sweep import presets, tables
from georecall.sweep.crossset import CrossSetPoint, check_point, crossset_points, crossset_smoke_points

TINY = dict(n_subjects=16, n_relations=2, d_model=8, n_sets=4, steps=30, protocol_steps=5, sets_per_step=4)


# --- points and preset ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(n_sets=0), "n_sets"),
        (dict(n_sets="many"), "n_sets"),
        (dict(n_sets="inf", parameterization="free"), "needs parameterization 'encoded'"),
        (dict(parameterization="lookup"), "parameterization"),
        (dict(n_subjects=1), "n_subjects"),
        (dict(lr=0.0), "lr"),
        (dict(penalty=-1.0), "penalty"),
        (dict(device="cuda"), "device"),
    ],
)
def test_point_rejects_bad_fields(kw, match):
    with pytest.raises(ValueError, match=match):
        CrossSetPoint(**kw)


def test_point_key_and_round_trip():
    p = CrossSetPoint(**TINY)
    assert p.key() == CrossSetPoint(**TINY).key() != CrossSetPoint(**{**TINY, "seed": 1}).key()
    assert check_point(p.asdict()) == p
    assert CrossSetPoint(n_sets="inf").K == math.inf and p.K == 4.0
    assert p.config_kwargs()["n_sets"] == 4 and CrossSetPoint(n_sets="inf").config_kwargs()["n_sets"] == math.inf
    with pytest.raises(TypeError, match="CrossSetPoint"):
        check_point([1, 2])


def test_grid_prunes_as_documented():
    pts = crossset_points()
    assert len({p.key() for p in pts}) == len(pts)
    enc = [p for p in crossset_points("encoded")]
    assert {(p.d_model, p.n_sets) for p in enc} == {(d, K) for d in (8, 16, 32, 44) for K in (1, 4, 16, 64, "inf")}
    others = crossset_points("others")
    assert {p.d_model for p in others} == {44} and "inf" not in {p.n_sets for p in others}
    assert {p.parameterization for p in others} == {"free", "free_penalty", "encoded_residual"}
    assert all(p.steps == 0 for p in crossset_points("controls"))
    assert set(crossset_smoke_points()) <= set(pts)
    smoke = presets.preset("smoke")
    assert [e for e in smoke.experiments if e.name == "crossset"][0].points == crossset_smoke_points()
    assert presets.preset("crossset").experiments[0].crossset
    with pytest.raises(ValueError, match="part"):
        crossset_points("some")


def test_memory_estimate_grows_with_the_step():
    small, big = CrossSetPoint(**TINY), CrossSetPoint(**{**TINY, "n_subjects": 64})
    assert 0 < small.memory_bytes() < big.memory_bytes()


# --- the unit of work and the tables -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_rows():
    pts = [CrossSetPoint(**TINY), CrossSetPoint(**{**TINY, "n_sets": "inf", "d_model": 44})]
    out = study.crossset_group([p.asdict() for p in pts])
    return pts, {p.key(): r for p, r in zip(pts, out)}


def test_measure_is_deterministic_and_complete(tiny_rows):
    pts, rows = tiny_rows
    again = study.crossset_group([pts[0].asdict()])[0]  # on one thread, as the sweep runs it
    first = rows[pts[0].key()]
    skip = {"seconds", "steps_per_second"}
    assert {k: v for k, v in again["scalars"].items() if k not in skip} == {
        k: v for k, v in first["scalars"].items() if k not in skip
    }
    np.testing.assert_array_equal(again["arrays"]["gate_pattern"], first["arrays"]["gate_pattern"])
    s = first["scalars"]
    for col in tables.CROSSSET_COLUMNS:
        if col not in tables.CROSSSET_POINT_COLUMNS:
            assert col in s, col
    assert 0 <= s["zs_encoder"] <= 1 and s["chance"] == 1 / 16
    assert s["encoder_fit_r2"] is None  # encoded: no fitted map
    assert first["arrays"]["gate_pattern"].shape == (32, 2)


def test_tables_have_the_registered_columns(tiny_rows):
    pts, rows = tiny_rows
    out = study.crossset_tables(pts + pts[:1], rows)  # a repeated point is written once
    assert list(out["crossset"].columns) == list(tables.CROSSSET_COLUMNS)
    assert len(out["crossset"]) == 2
    assert set(out["crossset"]["n_sets"]) == {"4", "inf"}
    assert out["crossset_gates"].empty  # gates: seed 0 at d = 44, N = 256 only


# --- analysis ------------------------------------------------------------------------------------------------------


def _table(cells) -> pd.DataFrame:
    """A crossset table from (param, K, d, seed, zs_encoder) cells, other metrics filled."""
    base = CrossSetPoint().asdict()
    recs = []
    for param, K, d, seed, zs in cells:
        rec = {**base, "parameterization": param, "n_sets": K, "d_model": d, "seed": seed}
        rec |= {c: 0.5 for c in tables.CROSSSET_COLUMNS if c not in tables.CROSSSET_POINT_COLUMNS}
        rec |= {"zs_encoder": zs, "train_accuracy": 1.0}
        recs.append(rec)
    return pd.DataFrame(recs, columns=list(tables.CROSSSET_COLUMNS))


def test_thresholds_take_the_smallest_d_every_seed_reaches():
    df = _table(
        [
            ("encoded", math.inf, 8, 0, 0.5),
            ("encoded", math.inf, 8, 1, 0.995),
            ("encoded", math.inf, 16, 0, 0.995),
            ("encoded", math.inf, 16, 1, 1.0),
            ("encoded", math.inf, 32, 0, 0.98),  # a larger d below target does not move the threshold
            ("encoded", math.inf, 32, 1, 1.0),
            ("free", 16.0, 44, 0, 0.3),
            ("free", 16.0, 44, 1, 0.2),
            ("encoded", 4.0, 8, 0, 1.0),
            ("encoded", 4.0, 8, 1, 1.0),
        ]
    )
    th = analysis.transfer_thresholds(df).set_index(["parameterization", "n_sets"])
    assert th.loc[("encoded", math.inf), "d_threshold"] == 16 and th.loc[("encoded", math.inf), "censored"] == ""
    assert math.isnan(th.loc[("free", 16.0), "d_threshold"]) and th.loc[("free", 16.0), "censored"] == "above"
    assert th.loc[("encoded", 4.0), "censored"] == "below"
    assert th["R_log2_N"].eq(32).all()
    best = analysis.best_zero_shot(df).set_index(["parameterization", "n_sets"])
    assert best.loc[("free", 16.0), "zs_encoder"] == 0.3 and best.loc[("encoded", math.inf), "zs_encoder"] == 1.0
    with pytest.raises(ValueError, match="target"):
        analysis.transfer_thresholds(df, target=1.5)
    with pytest.raises(ValueError, match="no rows"):
        analysis.summarise(df.iloc[:0])


def test_gate_picture_scales_units_and_needs_one_point():
    base = {c: 0 for c in tables.CROSSSET_POINT_COLUMNS}
    rows = [
        {**base, "unit": j, "relation": r, "activation": a}
        for j, acts in enumerate([(2.0, 0.0), (0.0, 0.0), (1.0, 3.0)])
        for r, a in enumerate(acts)
    ]
    pic = analysis.gate_picture(pd.DataFrame(rows))
    assert list(pic.columns) == [0, 2] and pic.max().max() == 1.0  # the dead unit 1 is dropped
    with pytest.raises(ValueError, match="exactly one point"):
        analysis.gate_picture(pd.DataFrame(rows), seed=5)
    with pytest.raises(ValueError, match="unknown column"):
        analysis.gate_picture(pd.DataFrame(rows), colour=1)


# --- figures and the live panel ------------------------------------------------------------------------------------


def test_phase_diagram_has_a_step_per_parameterization_and_blank_pruned_cells():
    df = _table([("encoded", K, d, s, 0.995) for K in (1.0, math.inf) for d in (8, 44) for s in (0, 1)])
    df = pd.concat([df, _table([("free", 1.0, 44, s, 0.2) for s in (0, 1)])])
    fig = plots.plot_phase_diagram(analysis.summarise(df), analysis.PARAMETERIZATIONS, title="t")
    assert len(fig.data) == 2 and len(fig.layout.sliders[0].steps) == 2
    free = [t for t in fig.data if t.name == analysis.PARAMETERIZATIONS["free"]][0]
    z = np.asarray(free.z, dtype=float)
    assert np.isnan(z).sum() == 3 and "–" in str(free.text)
    enc = [t for t in fig.data if t.name == analysis.PARAMETERIZATIONS["encoded"]][0]
    assert "✓" in str(enc.text)
    with pytest.raises(ValueError, match="none of the parameterizations"):
        plots.plot_phase_diagram(analysis.summarise(df), {"nothing": "x"}, title="t")


def test_threshold_figure_marks_censored_thresholds():
    single = pd.DataFrame({"R_log2_N": [24.0, 32.0], "d_star": [6, 8], "n_relations": [4, 4]})
    cross = pd.DataFrame(
        {
            "R_log2_N": [24.0, 32.0, 40.0],
            "d_threshold": [12.0, 32.0, float("nan")],
            "censored": ["", "", "above"],
            "d_tried": ["4, 12", "8, 32", "44"],
            "label": ["K = ∞"] * 3,
        }
    )
    fig = plots.plot_transfer_threshold(single, cross, title="t")
    tri = [t for t in fig.data if t.marker is not None and t.marker.symbol == "triangle-up-open"]
    assert len(tri) == 1 and list(tri[0].y) == [44]


def test_the_torch_free_point_knows_the_model_s_parameterizations():
    from georecall.model import crossset as model_crossset
    from georecall.sweep import crossset as sweep_crossset

    assert sweep_crossset.PARAMETERIZATIONS == model_crossset.PARAMETERIZATIONS


def test_live_view_draws_bars_and_rejects_bad_combinations():
    fig = live.crossset_view(16, 2, 4, "4", "encoded", steps=20)
    assert list(fig.data[0].x) == list(live.LIVE_BARS.values())
    assert "K=4" in fig.layout.title.text
    with pytest.raises(ValueError, match="needs parameterization 'encoded'"):
        live.crossset_view(16, 2, 4, "∞ (fresh sets every step)", "free", steps=5)
    with pytest.raises(ValueError, match="K"):
        live.crossset_view(16, 2, 4, "7", "encoded", steps=5)
