"""Multi-hop sweep points: the config, lines with staged learning rates, the per-seed success rule, one point's
data, model and scores, the multi-hop table, and its analysis."""

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from georecall import repro
from georecall.analyse import multihop as multihop_analysis
from georecall.construct import multihop as mc
from georecall.run import multihop as multihop_sweep
from georecall.run import runner
from georecall.sweep import configs as sweeps
from georecall.sweep import multihop as mh_sweep
from georecall.sweep import presets, search, tables
from georecall.tasks import bijection as tasks
from georecall.train.loop import TrainResult

REPO = Path(__file__).resolve().parents[2]


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
        (dict(tie_embed=True), "tie_embed"),
        (dict(freeze_unembed=True), "freeze_unembed"),
        (dict(init_scale=0.5), "init_scale"),
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


def test_line_with_lrs_stages_the_rates_and_each_stage_is_one_stack():
    line = search.Line(base=_point(), seeds=(0, 1), lrs=(3e-3, 1e-2), grid=(4, 8), start=0)
    first = line.stage_configs(1, 0)
    assert [(c.seed, c.lr, c.d_model, c.d_mlp) for c in first] == [(0, 3e-3, 8, 32), (1, 3e-3, 8, 32)]
    retry = line.stage_configs(1, 1, seeds=(1,))
    assert [(c.seed, c.lr) for c in retry] == [(1, 1e-2)] and isinstance(retry[0], sweeps.MultiHopConfig)
    assert len({c.group_key() for c in first + retry}) == 1
    with pytest.raises(ValueError, match="lrs"):
        search.Line(base=_point(), lrs=(1e-2, 1e-2), grid=(4, 8))
    with pytest.raises(ValueError, match="n_heads must divide d_model"):
        search.Line(base=_point(data_format="no_cot", n_heads=2), grid=(3, 4))


def _fake_multihop_trainer(need, trained):
    """train_group stand-in: a point reaches 100% iff d >= need[(seed, lr)], else 50% (multi-hop scalars)."""

    def train_group(config_dicts, threads=1):
        out = []
        for c in map(runner._config, config_dicts):
            assert isinstance(c, sweeps.MultiHopConfig)
            trained.append((c.d_model, c.seed, c.lr))
            acc = 1.0 if c.d_model >= need[c.seed, c.lr] else 0.5
            scalars = dict(
                accuracy=acc, train_accuracy=acc, step_accuracy=f"{acc:.9g};{acc:.9g}", min_margin=None, loss=0.1,
                failed=None, steps=64, reached_target=acc >= 0.99, seconds=0.0, n_params=1, n_params_trainable=1,
                n_params_nonembed=1,
            )  # fmt: skip
            out.append({"scalars": scalars, "arrays": {}})
        return out

    return train_group


def test_a_seed_succeeds_when_either_rate_does_and_1e2_trains_only_seeds_that_missed(monkeypatch):
    """The multi-hop rule (3e-3 first; 1e-2 only for the seeds that missed, while the probe's verdict is open): the
    table holds the points trained, and its d* is the one of training every seed at both rates."""
    need = {(0, 3e-3): 6, (1, 3e-3): 8, (2, 3e-3): 12, (0, 1e-2): 12, (1, 1e-2): 6, (2, 1e-2): 4}
    trained = []
    monkeypatch.setattr(runner, "train_group", _fake_multihop_trainer(need, trained))
    line = search.Line(base=_point(), seeds=(0, 1, 2), lrs=(3e-3, 1e-2), grid=(4, 6, 8, 12), start=2)
    table = runner.run_experiments(
        [sweeps.Experiment(name="multihop", description="", lines=(line,))], use_cache=False, progress=False
    )["multihop"]
    assert sorted(trained) == sorted(zip(table["d_model"], table["seed"], table["lr"])), "each point trained once"
    rows_at = {d: sorted(zip(g["seed"], g["lr"])) for d, g in table.groupby("d_model")}
    assert set(rows_at) == {4, 6, 8}
    assert rows_at[8] == [(0, 3e-3), (1, 3e-3), (2, 3e-3)], "2 of 3 at 3e-3: the verdict is in, 1e-2 never runs"
    # d = 6: only seed 0 passes at 3e-3; seeds 1 and 2 retry at 1e-2 and pass -> 3 of 3
    assert rows_at[6] == [(0, 3e-3), (1, 3e-3), (1, 1e-2), (2, 3e-3), (2, 1e-2)]
    # d = 4: every seed misses at 3e-3; at 1e-2 only seed 2 passes -> 1 of 3, the probe fails
    assert len(rows_at[4]) == 6
    every = pd.DataFrame(
        [
            dict(data_format="cot", n_subjects=8, n_relations=2, hops=2, d_model=d, seed=s, lr=lr, steps=64,
                 max_steps=512, accuracy=1.0 if d >= need[s, lr] else 0.5)
            for d in (4, 6, 8, 12) for s in (0, 1, 2) for lr in (3e-3, 1e-2)
        ]
    )  # fmt: skip
    th = multihop_analysis.multihop_thresholds(table)
    assert th["d_star"].tolist() == multihop_analysis.multihop_thresholds(every)["d_star"].tolist() == [6]
    first_rate_only = every[every["lr"] == 3e-3]
    assert multihop_analysis.multihop_thresholds(first_rate_only)["d_star"].tolist() == [8], "1e-2 moved d*"


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
        multihop_sweep.build_point(sweeps.RunConfig())


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
        name="multihop", description="", lines=(search.Line(base=base, seeds=(0,), lrs=(1e-2, 3e-2), grid=(2, 8)),)
    )
    first = runner.run_experiments([exp], cache=tmp_path, progress=False)["multihop"]
    assert set(tables.MULTIHOP_COLUMNS) <= set(first.columns) and len(first) >= 2
    right = (first["accuracy"] - first["train_accuracy"]) * first["n_facts"]  # questions; train acc is float32
    assert (right > -0.5).all()
    last = multihop_analysis.step_accuracies(first)["step_2"]
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
    seen = {(ln.base.n_subjects, ln.base.n_relations, ln.base.hops, ln.base.data_format) for ln in lines}
    assert (64, 2, 1, "no_cot") in seen and (64, 2, 1, "cot") not in seen and (64, 3, 3, "no_cot") in seen
    assert len(seen) == len(lines), "one line per (N, R, h, format)"
    for ln in lines:
        assert all(d % ln.base.n_heads == 0 for d in ln.grid)
        assert ln.lrs == presets.MULTIHOP_LRS and ln.base.max_steps == presets.MULTIHOP_MAX_STEPS
    smoke = next(e for e in presets.preset("smoke").experiments if e.name == "multihop_smoke")
    assert {ln.base.n_subjects for ln in smoke.lines} == {16}


def test_multihop_preset_keeps_the_committed_n64_lines_first_and_unchanged():
    """The first committed table's lines (N = 64, R in {2, 3}, h in {1, 2, 3}, not R = 3 at h = 3) come first with
    the configs, hence cache keys, they were run with; and every committed row is a point of one of the preset's
    lines (those 8, R = 3 at h = 3, and the lines along N)."""
    lines = presets.preset("multihop").experiments[0].lines
    committed = presets.multihop_lines(64, (2, 3), (1, 2, 3), skip={(3, 3)}, max_steps=8192, eval_every=128)
    assert lines[: len(committed)] == committed and len(committed) == 8
    keyed = {
        (c.n_subjects, c.n_relations, c.hops, c.data_format, c.d_model, c.lr, c.seed)
        for ln in lines
        for i in range(len(ln.grid))
        for c in ln.configs_at(i)
    }
    table = tables.load_table("multihop", REPO / "book" / "_data")
    cols = ["n_subjects", "n_relations", "hops", "data_format", "d_model", "lr", "seed"]
    rows = {
        (int(a), int(b), int(c), d, int(e), float(f), int(g))
        for a, b, c, d, e, f, g in table[cols].itertuples(index=False)
    }
    assert rows <= keyed, sorted(rows - keyed)[:5]
    first = {(ln.base.n_subjects, ln.base.n_relations, ln.base.hops, ln.base.data_format) for ln in committed}
    assert first <= {r[:4] for r in rows}, "a committed N = 64 line has no rows"


def test_multihop_growth_lines_follow_the_pruning_rule():
    lines = presets.preset("multihop").experiments[0].lines
    by = {(ln.base.n_subjects, ln.base.n_relations, ln.base.hops, ln.base.data_format): ln for ln in lines}
    for N in mh_sweep.MULTIHOP_GROWTH_N:
        assert (N, 2, 1, "no_cot") in by and (N, 2, 2, "no_cot") in by and (N, 2, 2, "cot") in by
        assert ((N, 2, 3, "no_cot") in by) == ((N, 2, 3, "cot") in by) == (N <= mh_sweep.MULTIHOP_H3_MAX_N)
        few = N >= mh_sweep.MULTIHOP_FEW_SEEDS_N
        assert by[(N, 2, 2, "cot")].seeds == ((0, 1) if few else (0, 1, 2))
    assert all(ln.seeds == (0, 1, 2) for ln in lines if ln.base.data_format == "no_cot")
    assert (64, 3, 3, "cot") in by and (128, 3, 2, "no_cot") not in by
    assert len(lines) == 26


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
    th = multihop_analysis.multihop_thresholds(pd.DataFrame(rows)).set_index(["data_format", "hops"])
    assert th.loc[("no_cot", 2), "d_star"] == 6 and th.loc[("no_cot", 2), "censored"] == ""
    assert th.loc[("cot", 2), "d_star"] == 4
    assert th.loc[("cot", 1), "d_star"] == 3 and th.loc[("cot", 1), "shared"]
    assert th.loc[("no_cot", 1), "censored"] == "below" and not th.loc[("no_cot", 1), "shared"]
    assert th.loc[("no_cot", 2), "construction_d"] == 4 * 6 + 2 * 2 + 6 + 1 + 1  # padded to a multiple of h = 2
    assert th.loc[("no_cot", 2), "steps_at_d_star"] == 100
    curves = multihop_analysis.multihop_curves(pd.DataFrame(rows)).set_index(["data_format", "hops", "d_model"])
    assert curves.loc[("no_cot", 2, 6), "n_ok"] == 2 and curves.loc[("no_cot", 2, 6), "accuracy_max"] == 0.995


def test_multihop_thresholds_never_reached_reads_censored_above():
    rows = _mh_rows("no_cot", 3, 2, {12: [(0.9, 0.95)] * 3, 16: [(0.97, 0.98)] * 3})
    th = multihop_analysis.multihop_thresholds(pd.DataFrame(rows))
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
    st = multihop_analysis.step_accuracies(df)
    assert st["step_1"].tolist() == [0.9, 0.75] and st["step_2"].iloc[0] == 0.5 and pd.isna(st["step_2"].iloc[1])
