"""Multi-hop sweep points: the config, lines with several learning rates, the per-seed success rule, one point's
data, model and scores, the multi-hop table, and its analysis."""

import dataclasses

import pandas as pd
import pytest

from georecall import analysis, multihop_sweep, presets, repro, runner, sweeps, tables, tasks
from georecall import multihop_constructions as mc
from georecall.train import TrainResult


@pytest.fixture(autouse=True)
def _one_thread():
    with repro.torch_threads(1):
        yield


def _point(**kw) -> sweeps.MultiHopConfig:
    base = dict(n_subjects=8, n_relations=2, hops=2, data_format="cot", n_heads=1, d_model=8, d_mlp=32)
    return sweeps.MultiHopConfig(**{**base, **kw})


# --- the config ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(hops=0), "h \\(hops\\)"),
        (dict(hops=17), "h \\(hops\\)"),
        (dict(data_format="noisy"), "data_format"),
        (dict(data_format="no_cot", n_heads=1), "n_heads must be 2"),
        (dict(n_heads=2), "n_heads must be 1"),
        (dict(freeze_embed=True), "freeze_embed"),
    ],
)
def test_bad_multihop_points_fail_with_the_parameter_named(kw, match):
    with pytest.raises(ValueError, match=match):
        _point(**kw)


def test_single_hop_points_refuse_multihop_formats():
    with pytest.raises(ValueError, match="data_format"):
        sweeps.RunConfig(data_format="cot")


def test_multihop_sizes_and_keys():
    c = _point(n_subjects=16, n_relations=3, hops=2)
    assert (c.n_facts, c.n_sequences, c.T, c.d_vocab) == (16 * 9, 16 * 9, 4, 19)
    nc = _point(n_subjects=16, n_relations=3, hops=2, data_format="no_cot", n_heads=2)
    assert nc.T == 3
    assert c.key() != nc.key() and c.key() != dataclasses.replace(c, hops=3).key()
    single = sweeps.RunConfig(n_subjects=8, n_relations=2, d_model=8, d_mlp=32)
    assert _point(hops=1, data_format="no_cot").key() != single.key(), "a distinct type keeps keys apart"


def test_line_with_lrs_puts_every_seed_and_lr_in_one_stack():
    line = sweeps.Line(base=_point(), seeds=(0, 1), lrs=(3e-3, 1e-2), grid=(4, 8), start=0)
    cs = line.configs_at(1)
    assert [(c.seed, c.lr, c.d_model, c.d_mlp) for c in cs] == [
        (0, 3e-3, 8, 32),
        (0, 1e-2, 8, 32),
        (1, 3e-3, 8, 32),
        (1, 1e-2, 8, 32),
    ]
    assert len({c.group_key() for c in cs}) == 1
    with pytest.raises(ValueError, match="lrs"):
        sweeps.Line(base=_point(), lrs=(1e-2, 1e-2), grid=(4, 8))
    with pytest.raises(ValueError, match="n_heads must divide d_model"):
        sweeps.Line(base=_point(data_format="no_cot", n_heads=2), grid=(3, 4))


def test_a_seed_succeeds_when_any_of_its_lrs_does():
    cs = [_point(seed=s, lr=lr) for s in (0, 1, 2) for lr in (3e-3, 1e-2)]

    def rows(*accs):
        return [{"scalars": {"accuracy": a}} for a in accs]

    assert runner._majority(cs, rows(0.5, 0.995, 0.1, 0.2, 0.99, 0.3), 0.99)  # seeds 0 and 2: 2 of 3
    assert not runner._majority(cs, rows(0.5, 0.995, 0.1, 0.2, 0.98, 0.3), 0.99)  # seed 0 only
    one_lr = [_point(seed=s) for s in (0, 1, 2)]
    assert runner._majority(one_lr, rows(0.99, 1.0, 0.0), 0.99) and not runner._majority(one_lr, rows(1, 0, 0), 0.99)


# --- one point --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, heads, T", [("no_cot", 2, 3), ("cot", 1, 4)])
def test_build_gives_every_query_and_the_formats_model(fmt, heads, T):
    c = _point(data_format=fmt, n_heads=heads, d_model=8, seed=3)
    task, data, model, tcfg, resample = runner.build(c)
    assert resample is None and tcfg == c.train_config() and task.config.seed == 3
    assert tuple(data.tokens.shape) == (8 * 4, T)
    assert (model.config.n_heads, model.config.n_ctx, model.config.init_seed) == (heads, T, 3)
    assert data.last_position_only == (fmt == "no_cot")


def test_build_refuses_a_single_hop_point():
    with pytest.raises(TypeError, match="MultiHopConfig"):
        multihop_sweep.build(sweeps.RunConfig())


@pytest.mark.parametrize("fmt", ["no_cot", "cot"])
def test_scores_of_an_exact_construction_are_perfect(fmt):
    """Wired to the recall engine: the hand-built models score 100% at every step (decoded with CoT)."""
    task = tasks.make_task(16, 2, seed=0)
    model = (mc.build_no_cot if fmt == "no_cot" else mc.build_cot)(task, 2)
    fake = TrainResult(accuracy=0.5, loss=1.0, steps=0, reached_target=False, seconds=0.0)
    s = multihop_sweep.scores(
        _point(n_subjects=16, data_format=fmt, n_heads=2 if fmt == "no_cot" else 1), task, model, fake
    )
    assert s["accuracy"] == 1.0 and s["train_accuracy"] == 0.5 and s["min_margin"] > 0
    assert s["step_accuracy"] == ("1;1" if fmt == "cot" else "1")


def test_tiny_multihop_sweep_table_and_cache(tmp_path, monkeypatch):
    """A tiny CoT line: the multi-hop columns; decoding never scores below teacher forcing (a query right at every
    step under teacher forcing decodes the true chain); the last step's accuracy is the final accuracy; a rerun loads
    every point from the cache."""
    base = _point(max_steps=64, eval_every=32)
    exp = sweeps.Experiment(
        name="multihop", description="", lines=(sweeps.Line(base=base, seeds=(0,), lrs=(1e-2, 3e-2), grid=(2, 8)),)
    )
    first = runner.run_experiments([exp], cache=tmp_path, progress=False)["multihop"]
    assert set(tables.MULTIHOP_COLUMNS) <= set(first.columns) and len(first) >= 2
    right = (first["accuracy"] - first["train_accuracy"]) * first["n_facts"]  # questions; train acc is float32
    assert (right > -0.5).all()
    last = analysis.step_accuracies(first)["step_2"]
    assert (last == first["accuracy"]).all()
    tables.write_table("multihop", first, tmp_path / "out")
    assert tables.load_table("multihop", tmp_path / "out")["hops"].eq(2).all()
    calls = []
    monkeypatch.setattr(runner, "train_group", lambda *a, **k: calls.append(a) or [])
    again = runner.run_experiments([exp], cache=tmp_path, progress=False)["multihop"]
    assert not calls, "a rerun must load every point from the cache"
    cols = list(tables.MULTIHOP_COLUMNS)
    pd.testing.assert_frame_equal(first[cols], again[cols])


# --- presets ------------------------------------------------------------------------------------------------------


def test_multihop_preset_grids_fit_the_head_count_and_skip_h1_cot():
    lines = [line for e in presets.preset("multihop").experiments for line in e.lines]
    seen = {(ln.base.n_relations, ln.base.hops, ln.base.data_format) for ln in lines}
    assert (2, 1, "no_cot") in seen and (2, 1, "cot") not in seen and (3, 3, "no_cot") not in seen
    for ln in lines:
        assert all(d % ln.base.n_heads == 0 for d in ln.grid)
        assert ln.lrs == presets.MULTIHOP_LRS and ln.base.max_steps == presets.MULTIHOP_MAX_STEPS
    smoke = next(e for e in presets.preset("smoke").experiments if e.name == "multihop_smoke")
    assert {ln.base.n_subjects for ln in smoke.lines} == {16}


def test_multihop_grid_rounds_to_multiples_of_the_heads():
    assert presets.multihop_grid(1) == presets.MULTIHOP_D_BASE
    assert presets.multihop_grid(2)[:3] == (2, 4, 6)


# --- analysis -----------------------------------------------------------------------------------------------------


def _mh_rows(fmt, R, h, accs_by_d, lrs=(3e-3, 1e-2)):
    rows = []
    for d, accs in accs_by_d.items():  # accs[seed][lr index]
        for s, per_lr in enumerate(accs):
            for lr, a in zip(lrs, per_lr):
                rows.append(
                    dict(
                        data_format=fmt,
                        n_subjects=64,
                        n_relations=R,
                        hops=h,
                        d_model=d,
                        seed=s,
                        lr=lr,
                        accuracy=a,
                        steps=100 if a >= 0.99 else 8192,
                        max_steps=8192,
                    )
                )
    return rows


def test_multihop_thresholds_best_lr_per_seed_and_h1_shared():
    rows = _mh_rows("no_cot", 2, 2, {4: [(0.5, 0.6)] * 3, 6: [(0.995, 0.2), (0.1, 0.99), (0.3, 0.4)]})
    rows += _mh_rows("cot", 2, 2, {3: [(0.9, 0.9)] * 3, 4: [(1.0, 0.2)] * 3})
    rows += _mh_rows("no_cot", 2, 1, {3: [(1.0, 1.0)] * 3})
    th = analysis.multihop_thresholds(pd.DataFrame(rows)).set_index(["data_format", "hops"])
    assert th.loc[("no_cot", 2), "d_star"] == 6 and th.loc[("no_cot", 2), "censored"] == ""
    assert th.loc[("cot", 2), "d_star"] == 4
    assert th.loc[("cot", 1), "d_star"] == 3 and th.loc[("cot", 1), "shared"]
    assert th.loc[("no_cot", 1), "censored"] == "below" and not th.loc[("no_cot", 1), "shared"]
    assert th.loc[("no_cot", 2), "construction_d"] == 4 * 6 + 2 * 2 + 6 + 1 + 1  # padded to a multiple of h = 2
    assert th.loc[("no_cot", 2), "steps_at_d_star"] == 100
    curves = analysis.multihop_curves(pd.DataFrame(rows)).set_index(["data_format", "hops", "d_model"])
    assert curves.loc[("no_cot", 2, 6), "n_ok"] == 2 and curves.loc[("no_cot", 2, 6), "accuracy_max"] == 0.995


def test_multihop_thresholds_never_reached_reads_censored_above():
    rows = _mh_rows("no_cot", 3, 2, {12: [(0.9, 0.95)] * 3, 16: [(0.97, 0.98)] * 3})
    th = analysis.multihop_thresholds(pd.DataFrame(rows))
    assert th["d_star"].tolist() == [16] and th["censored"].tolist() == ["above"]
    assert th["steps_at_d_star"].tolist() == [-1]


def test_step_accuracies_parse_one_column_per_step():
    df = pd.DataFrame(
        dict(
            data_format=["cot", "no_cot"],
            n_subjects=8,
            n_relations=2,
            hops=[2, 2],
            d_model=4,
            lr=1e-2,
            seed=0,
            accuracy=[0.5, 0.75],
            train_accuracy=[0.5, 0.75],
            step_accuracy=["0.9;0.5", 0.75],
        )
    )
    st = analysis.step_accuracies(df)
    assert st["step_1"].tolist() == [0.9, 0.75] and st["step_2"].iloc[0] == 0.5 and pd.isna(st["step_2"].iloc[1])
