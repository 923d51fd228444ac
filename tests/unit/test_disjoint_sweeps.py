"""Disjoint-attribute sweep points: config validation, building and training a point, held-out judging, the
boundary rechecks of a line, the preset, and the analysis of the resulting tables."""

from dataclasses import replace

import pandas as pd
import pytest

from georecall.analyse import disjoint as disjoint_analysis
from georecall.run import disjoint as disjoint_runs
from georecall.run import runner
from georecall.sweep import configs as sweeps
from georecall.sweep import presets, search, tables
from georecall.tasks import disjoint

TINY = dict(task="disjoint", n_subjects=8, n_relations=2, n_answers=4, d_model=8, d_mlp=16, n_heads=2)


def test_runconfig_validates_disjoint_fields():
    with pytest.raises(ValueError, match="task must be one of"):
        sweeps.RunConfig(task="shared")
    with pytest.raises(ValueError, match="n_answers"):
        sweeps.RunConfig(task="disjoint")  # D missing
    with pytest.raises(ValueError, match="n_answers"):
        sweeps.RunConfig(task="disjoint", n_answers=0)
    with pytest.raises(ValueError, match="for task='disjoint' only"):
        sweeps.RunConfig(n_answers=8)
    with pytest.raises(ValueError, match="two classes"):
        sweeps.RunConfig(task="disjoint", n_relations=1, n_answers=1)
    with pytest.raises(ValueError, match="n_heads must divide"):
        sweeps.RunConfig(**{**TINY, "n_heads": 3})
    with pytest.raises(ValueError, match="must change"):
        search.Recheck()
    with pytest.raises(ValueError, match="max_steps"):
        search.Recheck(max_steps=0)


def test_judged_column_and_classes():
    c = sweeps.RunConfig(**TINY)
    assert c.d_vocab_out == 8 and c.judged_on == "accuracy"
    assert replace(c, data_format="noisy").judged_on == "heldout_accuracy"
    assert sweeps.RunConfig(data_format="noisy").judged_on == "accuracy"  # the shared task keeps its rule
    assert c.key() != replace(c, n_answers=5).key()


def test_build_point_formats():
    c = sweeps.RunConfig(**TINY)
    task, data, model, tc, resample = runner.build(c)
    assert isinstance(task, disjoint.DisjointTask) and resample is None
    assert data.tokens.shape == (16, 2) and model.config.d_vocab_out == 8 and model.config.n_heads == 2
    assert disjoint_runs.heldout_accuracy(c, task, model) is None
    n = replace(c, data_format="noisy", noisy_copies=2, batch_size=5, seq_len=8, freeze_embed=True)
    task, data, model, tc, resample = runner.build(n)
    assert data.tokens.shape == (32, 8) and tc.target_accuracy == 1.0  # stops only at 100% of the stopping draw
    b1, b2 = resample(1), resample(2)
    assert b1.tokens.shape == (5, 8) and not bool((b1.tokens == b2.tokens).all())  # fresh every step
    assert bool((resample(1).tokens == b1.tokens).all())  # and reproducible
    assert not model.embed.W_E.requires_grad and not model.unembed.W_U.requires_grad
    with pytest.raises(ValueError, match="'disjoint'"):
        disjoint_runs.build_point(sweeps.RunConfig())
    with pytest.raises(TypeError, match="RunConfig"):
        disjoint_runs.build_point({"task": "disjoint"})


def test_train_group_scores_noisy_points_on_a_heldout_draw():
    c = sweeps.RunConfig(
        **TINY,
        data_format="noisy",
        seq_len=8,
        noisy_copies=2,
        batch_size=16,
        max_steps=4,
        eval_every=2,
        freeze_embed=True,
    )
    out = runner.train_group([c.__dict__ | {"seed": 0}, c.__dict__ | {"seed": 1}])
    for o in out:
        s = o["scalars"]
        assert 0 <= s["heldout_accuracy"] <= 1 and s["steps"] == 4
        assert s["n_params_trainable"] < s["n_params"]  # W_E and W_U are frozen
    again = runner.train_group([c.__dict__ | {"seed": 0}])
    assert again[0]["scalars"]["heldout_accuracy"] == out[0]["scalars"]["heldout_accuracy"]


def _tiny_line(rechecks):
    base = sweeps.RunConfig(**TINY, freeze_embed=True, max_steps=8, eval_every=4)
    return search.Line(
        base=base,
        seeds=(0, 1),
        axis="n_subjects",
        grid=(2, 4, 8, 16),
        start=1,
        success_increases=False,
        rechecks=rechecks,
    )


def test_rechecks_rerun_the_boundary_probes(monkeypatch):
    # a fake trainer: success (accuracy 1) up to S = 4, failure above; more steps rescue S = 8
    def fake_train_group(config_dicts, threads=1):
        outs = []
        for c in config_dicts:
            ok = c["n_subjects"] <= 4 or (c["n_subjects"] == 8 and c["max_steps"] > 8)
            acc = 1.0 if ok else 0.5
            scalars = dict(
                accuracy=acc,
                loss=0.0,
                steps=c["max_steps"],
                reached_target=ok,
                seconds=0.0,
                n_params=1,
                n_params_trainable=1,
                n_params_nonembed=1,
                heldout_accuracy=None,
            )
            outs.append({"scalars": scalars, "arrays": {}})
        return outs

    monkeypatch.setattr(runner, "train_group", fake_train_group)
    line = _tiny_line((search.Recheck(max_steps=16), search.Recheck(batch_size=7)))
    exp = sweeps.Experiment(name="disjoint_frozen", description="t", lines=(line,))
    df = runner.run_experiments([exp], use_cache=False, progress=False)["disjoint_frozen"]
    base = df[(df.max_steps == 8) & (df.batch_size == line.base.batch_size)]
    assert sorted(set(base.n_subjects)) == [4, 8] or sorted(set(base.n_subjects)) == [2, 4, 8]
    rechecked = df[(df.max_steps == 16) | (df.batch_size == 7)]
    assert sorted(set(rechecked.n_subjects)) == [4, 8] and len(rechecked) == 2 * 2 * 2  # 2 variants x 2 S x 2 seeds
    df = df.assign(n_answers=4, n_heads=2)
    cap = disjoint_analysis.frozen_capacity(df).iloc[0]
    assert (cap.capacity_S, cap.fail_S, cap.censored) == (4, 8, "")
    assert cap.capacity_facts == 8 and cap.facts_per_param == 8.0
    verdict = disjoint_analysis.budget_verdict(df, "single_hop")
    assert not verdict["stable"] and verdict["label"] == "budget-limited at 8 steps"
    chk = disjoint_analysis.rechecks(df).set_index(["variant", "S"])
    batch = chk[chk.index.get_level_values("variant").str.startswith("batch")]
    assert len(batch) == 2 and batch["agrees"].all()  # the fake trainer ignores the batch size
    assert not bool(chk.loc[("steps x2", 8), "agrees"]) and bool(chk.loc[("steps x2", 4), "agrees"])


def test_no_rechecks_without_a_boundary():
    state = search.LineState(_tiny_line(()))
    state.results = {1: True, 2: False}
    assert state.boundary() == [1, 2]
    state.results = {0: False}
    assert state.boundary() == [0]


def test_disjoint_preset_shape():
    p = presets.preset("disjoint")
    assert [e.name for e in p.experiments] == ["disjoint_dstar", "disjoint_frozen"]
    dstar, frozen = p.experiments
    srd = {(ln.base.n_subjects, ln.base.n_relations, ln.base.n_answers) for ln in dstar.lines}
    assert {(256, R, D) for R in (1, 2, 4, 8) for D in (2, 8, 32)} <= srd
    assert {(S, 4, 8) for S in (64, 128, 256, 512, 1024)} <= srd and len(srd) == len(dstar.lines)
    noisy = [ln for ln in frozen.lines if ln.base.data_format == "noisy"]
    assert len(noisy) == 1 and noisy[0].base.freeze_embed and noisy[0].base.n_heads == 4
    steps = noisy[0].base.max_steps
    assert search.Recheck(max_steps=2 * steps) in noisy[0].rechecks
    for e in p.experiments:
        assert tables.spec(e.name).preset == "disjoint"


def test_smoke_disjoint_points_are_disjoint_preset_points():
    smoke = {e.name: e for e in presets.preset("smoke").experiments}
    full = {e.name: e for e in presets.preset("disjoint").experiments}
    assert set(full["disjoint_dstar"].lines) >= set(smoke["disjoint_dstar"].lines)
    starts = {c for ln in full["disjoint_frozen"].lines for c in ln.configs_at(ln.start)}
    assert set(smoke["disjoint_frozen"].points) <= starts


def _dstar_rows():
    rows = []
    for d, accs in ((2, (0.5, 0.6, 0.7)), (3, (0.995, 0.8, 0.999)), (4, (1.0, 1.0, 1.0))):
        for s, a in enumerate(accs):
            rows.append(
                dict(
                    n_subjects=64,
                    n_relations=4,
                    n_answers=8,
                    d_model=d,
                    freeze_embed=False,
                    seed=s,
                    data_format="single_hop",
                    accuracy=a,
                    heldout_accuracy=float("nan"),
                )
            )
    return pd.DataFrame(rows)


def test_dstar_reads_the_majority_boundary():
    t = disjoint_analysis.dstar(_dstar_rows()).iloc[0]
    assert (t.d_star, t.d_fail, t.censored) == (3, 2, "")
    assert t.R_log2_D == 12 and t.construction_d == 19
    assert t.bits_per_param == pytest.approx(64 * 4 * 3 / ((64 + 32) * 3))
    high = _dstar_rows().assign(accuracy=1.0)
    assert disjoint_analysis.dstar(high).iloc[0].censored == "below"


def test_noisy_rows_are_judged_on_the_heldout_draw():
    df = pd.DataFrame(dict(data_format=["noisy", "single_hop"], accuracy=[1.0, 0.5], heldout_accuracy=[0.9, None]))
    assert disjoint_analysis.judged_accuracy(df).tolist() == [0.9, 0.5]
    with pytest.raises(ValueError, match="lacks columns"):
        disjoint_analysis.judged_accuracy(df.drop(columns="heldout_accuracy"))
    with pytest.raises(TypeError, match="DataFrame"):
        disjoint_analysis.judged_accuracy([1, 2])
    with pytest.raises(ValueError, match="target"):
        disjoint_analysis.probes(df.assign(seed=0), ["data_format"], target=1.5)
