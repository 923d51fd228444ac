"""The probing study's unit of work: build or train each point, probe it, transfer, and the tidy tables."""

import dataclasses
import math

import pytest

from georecall.probe import summary as probe_summary
from georecall.run import runner, study
from georecall.sweep import configs as sweeps
from georecall.sweep import probing as presets_probing
from georecall.sweep import tables

N, R = 16, 2  # block construction: k = 4, d = R k + R + k = 14, m = 2 R k = 16
RUN = sweeps.RunConfig(n_subjects=N, n_relations=R, d_model=14, d_mlp=16, max_steps=64, eval_every=16, early_stop=False)


def _point(source="trained", **kw):
    return presets_probing.ProbePoint(run=RUN, source=source, transfer_steps=20, transfer_eval_every=10, **kw)


def test_probe_fields_match_the_summary():
    fields = [f.name for f in dataclasses.fields(probe_summary.ProbeSummary) if f.name not in ("N", "R", "d", "m")]
    assert tuple(fields) == tables.PROBE_FIELDS


def test_steps_to_target():
    assert study.steps_to_target([0, 16, 32], [0.1, 0.995, 1.0], 0.99) == 16
    assert math.isnan(study.steps_to_target([0, 16], [0.1, 0.5], 0.99))
    with pytest.raises(ValueError, match="equal lengths"):
        study.steps_to_target([0, 1], [0.5], 0.99)
    with pytest.raises(ValueError, match="target"):
        study.steps_to_target([0], [0.5], 1.5)


def test_construction_is_the_positive_control():
    (out,) = study.probe_group([dataclasses.asdict(_point("construction"))])
    s = out["scalars"]
    assert s["accuracy"] == 1.0 and s["superposition_r2"] > 0.999 and s["selectivity"] == pytest.approx(1.0)
    assert s["swap_success"] == 1.0 and s["restricted_accuracy"] == 1.0
    assert s["t_superposition"] == 1.0 and s["t_selector_inverse"] == 1.0, "(a) and (b) transfer the construction"
    assert s["steps_to_target"] is None and s["loss"] is None and s["steps"] == 0
    assert out["arrays"]["gate_pattern"].shape == (16, R)


def test_untrained_model_is_near_chance_and_training_stacks():
    (untrained,) = study.probe_group([dataclasses.asdict(_point("untrained"))])
    assert untrained["scalars"]["accuracy"] < 0.3 and untrained["scalars"]["swap_success"] < 0.3
    pts = [_point(), dataclasses.replace(_point(), run=dataclasses.replace(RUN, seed=1))]
    outs = study.probe_group([dataclasses.asdict(p) for p in pts])
    assert [o["scalars"]["steps"] for o in outs] == [64, 64]
    assert all(len(o["arrays"]["transfer_trained"]) == 3 for o in outs)  # steps 0, 10, 20
    with pytest.raises(ValueError, match="one group"):
        study.probe_group([dataclasses.asdict(_point()), dataclasses.asdict(_point("untrained"))])
    with pytest.raises(ValueError, match="threads"):
        study.probe_group([dataclasses.asdict(_point())], threads=0)


def test_tied_points_skip_transfer_and_tables_follow_the_registry(tmp_path):
    tied = presets_probing.ProbePoint(
        run=dataclasses.replace(RUN, tie_embed=True), transfer_steps=20, transfer_eval_every=10
    )
    pts = (_point("construction", where_facts=True), tied)
    exp = sweeps.Experiment(name="probing", description="", points=pts)
    out = runner.run_experiments([exp], cache=tmp_path, progress=False)
    assert set(out) == set(tables.PROBING_TABLES)
    for name, df in out.items():
        assert tuple(df.columns) == tables.spec(name).columns
        tables.write_table(name, df, tmp_path / "out")
    assert len(out["probing"]) == 2
    t = out["transfer"]
    assert set(t.loc[t["tie_embed"], "protocol"]) == set(), "a tied model cannot transfer"
    where = t[t["protocol"].str.startswith("where_")]
    assert len(where) == 3 and (where["step"] == 20).all()
    assert len(out["gates"]) == 16 * R  # m = 16 units x R relations of the construction (no ablation's gates)


def test_probing_rerun_loads_every_point_from_the_cache(tmp_path, monkeypatch):
    exp = sweeps.Experiment(name="probing", description="", points=(_point("untrained"),))
    first = runner.run_experiments([exp], cache=tmp_path, progress=False)
    calls = []
    monkeypatch.setattr(study, "probe_group", lambda *a, **k: calls.append(a) or [])
    again = runner.run_experiments([exp], cache=tmp_path, progress=False)
    assert not calls, "a rerun must load every probing point from the cache"
    for name in first:
        assert first[name].equals(again[name])
