"""Sweep configs, presets, fail-fast checks, the threshold search and the analysis of tables."""

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest

from georecall import sweeps

SLOPE_TOL = 1e-9


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("n_subjects", -64, "n_subjects"),
        ("n_subjects", 1, "n_subjects"),
        ("n_relations", 0, "n_relations"),
        ("d_model", -4, "d_model"),
        ("d_mlp", 0, "d_mlp"),
        ("data_format", "chain", "data_format"),
        ("lr", -1e-3, "lr"),
        ("max_steps", 0, "max_steps"),
        ("seed", -1, "seed"),
        ("device", "tpu", "device"),
        ("target_accuracy", 1.5, "target_accuracy"),
    ],
)
def test_bad_configs_fail_with_the_parameter_named(field, value, match):
    with pytest.raises(ValueError, match=match):
        sweeps.RunConfig(**{field: value})


def test_bad_line_grid_fails_fast():
    with pytest.raises(ValueError, match="d_model"):
        sweeps.Line(base=sweeps.RunConfig(), grid=(-2, 4, 8))
    with pytest.raises(ValueError, match="increasing"):
        sweeps.Line(base=sweeps.RunConfig(), grid=(8, 4))
    with pytest.raises(ValueError, match="start"):
        sweeps.Line(base=sweeps.RunConfig(), grid=(4, 8), start=2)


def test_grid_exceeding_memory_fails_fast():
    huge = sweeps.RunConfig(n_subjects=2**20, n_relations=8, d_model=64, d_mlp=256)
    with pytest.raises(ValueError, match="GiB"):
        sweeps.check_memory([[huge] * 3], workers=2, available=8 * 2**30)
    sweeps.check_memory([[sweeps.RunConfig()] * 3], workers=2, available=8 * 2**30)  # a small grid passes


def test_run_experiments_checks_memory_before_training(monkeypatch):
    monkeypatch.setattr(sweeps, "available_memory_bytes", lambda: 2**20)
    exp = sweeps.Experiment(name="x", description="", points=(sweeps.RunConfig(n_subjects=8),))
    with pytest.raises(ValueError, match="reduce N"):
        sweeps.run_experiments([exp], use_cache=False, progress=False)


def test_group_key_ignores_seed_and_lr_only():
    a = sweeps.RunConfig()
    assert a.group_key() == dataclasses.replace(a, seed=3, lr=3e-3).group_key()
    assert a.group_key() != dataclasses.replace(a, d_model=8).group_key()


def test_with_axis_keeps_mlp_ratio():
    c = sweeps.RunConfig().with_axis("d_model", 12)
    assert (c.d_model, c.d_mlp) == (12, 48)


@pytest.mark.parametrize("name", ["smoke", "book", "paper"])
def test_presets_build_and_move_device(name):
    p = sweeps.preset(name, device="cuda")
    configs = [c for e in p.experiments for c in e.points] + [line.base for e in p.experiments for line in e.lines]
    assert configs and all(c.device == "cuda" for c in configs)


def test_smoke_lines_are_book_lines():
    """Overlap by construction: every smoke line is a book line (same base, seeds, grid, start)."""
    book = {e.name: set(e.lines) for e in sweeps.preset("book").experiments}
    for e in sweeps.preset("smoke").experiments:
        assert set(e.lines) <= book[e.name], f"smoke {e.name} has lines the book preset lacks"


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset"):
        sweeps.preset("huge")


GRID = tuple(range(10))


@pytest.mark.parametrize("increases", [True, False])
@pytest.mark.parametrize("threshold, start", list(itertools.product(range(11), (0, 4, 9))))
def test_line_search_finds_the_boundary(threshold, start, increases):
    """Against an exact monotone oracle the walk + bisection finds the boundary for every start."""
    grid = tuple(g + 2 for g in GRID)  # d values 2..11; the oracle works on indices
    line = sweeps.Line(base=sweeps.RunConfig(), axis="d_model", grid=grid, start=start, success_increases=increases)
    st = sweeps._LineState(line)
    ok = (lambda i: i >= threshold) if increases else (lambda i: i < threshold)
    index, probes = start, 0
    while index is not None:
        st.results[index] = ok(index)
        probes += 1
        index = st.next_index(index)
    assert probes <= 6, "the search should need about log2(grid) probes"
    if increases:
        good = [i for i, v in st.results.items() if v]
        found = min(good) if good else len(GRID)
        assert found == threshold
    else:
        bad = [i for i, v in st.results.items() if not v]
        found = min(bad) if bad else len(GRID)
        assert found == threshold


def _table(rows):
    defaults = dict(data_format="single_hop", freeze_embed=False)
    return pd.DataFrame([{**defaults, **r} for r in rows])


def test_thresholds_majority_rule_and_censoring():
    rows = []
    for d, accs in {4: (0.5, 0.995, 0.6), 6: (0.99, 0.995, 0.2), 8: (1.0, 1.0, 1.0)}.items():
        rows += [dict(n_subjects=64, n_relations=2, d_model=d, seed=s, accuracy=a) for s, a in enumerate(accs)]
    rows += [dict(n_subjects=128, n_relations=2, d_model=3, seed=s, accuracy=1.0) for s in range(3)]
    th = sweeps.thresholds(_table(rows)).set_index("n_subjects")
    assert th.loc[64, "d_star"] == 6 and th.loc[64, "censored"] == ""
    assert th.loc[128, "d_star"] == 3 and th.loc[128, "censored"] == "below"


def test_frozen_capacity_takes_largest_passing_N():
    rows = []
    for N, acc in {16: 1.0, 24: 0.995, 32: 0.9}.items():
        rows += [dict(n_subjects=N, n_relations=4, d_model=8, d_mlp=32, seed=s, accuracy=acc, freeze_embed=True) for s in range(2)]
    cap = sweeps.frozen_capacity(_table(rows))
    assert cap["capacity_N"].tolist() == [24] and cap["capacity_facts"].tolist() == [96]
    assert cap["params_nonembed"].tolist() == [4 * 64 + 2 * 8 * 32 + 32]


def test_fit_line_recovers_slope():
    x = np.arange(1.0, 9.0)
    f = sweeps.fit_line(x, 0.3 * x + 2.0)
    assert abs(f.slope - 0.3) < SLOPE_TOL and abs(f.intercept - 2.0) < SLOPE_TOL and f.r2 == pytest.approx(1.0)
    g = sweeps.fit_line(x, 0.5 * x, through_origin=True)
    assert abs(g.slope - 0.5) < SLOPE_TOL and g.intercept == 0.0
    with pytest.raises(ValueError, match="at least"):
        sweeps.fit_line([1.0], [2.0])


def test_tiny_sweep_schema_and_cache(tmp_path, monkeypatch):
    """A tiny grid + line returns the documented columns; a rerun trains nothing (all from the cache)."""
    base = sweeps.RunConfig(n_subjects=8, n_relations=2, max_steps=64, eval_every=32)
    exps = [
        sweeps.Experiment(name="pts", description="", points=tuple(dataclasses.replace(base, seed=s) for s in (0, 1))),
        sweeps.Experiment(name="line", description="", lines=(sweeps.Line(base=base, seeds=(0,), grid=(2, 4, 8), start=1),)),
    ]
    first = sweeps.run_experiments(exps, cache=tmp_path, progress=False)
    assert set(sweeps.TABLE_COLUMNS) <= set(first["pts"].columns)
    assert len(first["pts"]) == 2 and first["line"]["d_model"].is_unique
    calls = []
    monkeypatch.setattr(sweeps, "train_group", lambda *a, **k: calls.append(a) or [])
    again = sweeps.run_experiments(exps, cache=tmp_path, progress=False)
    assert not calls, "a rerun must load every point from the cache"
    for name in first:
        cols = list(sweeps.TABLE_COLUMNS)
        pd.testing.assert_frame_equal(first[name][cols], again[name][cols])


# --- analysis helpers ------------------------------------------------------------------------------------------------


def test_dstar_growth_and_exponent():
    th = pd.DataFrame({"n_relations": [2] * 4, "n_subjects": [64, 128, 256, 512], "d_star": [6, 7, 8, 9], "censored": [""] * 4})
    g = sweeps.dstar_growth(th).iloc[0]
    assert (g["d_min"], g["d_max"], g["N_ratio"]) == (6, 9, 8.0)
    assert g["r2_log2N"] == pytest.approx(1.0), "d* exactly linear in log2 N"
    assert g["exponent"] < 0.25 and g["r2_log2N"] > g["r2_N"]


def test_accuracy_curves_aggregate_seeds():
    rows = [dict(n_subjects=64, n_relations=2, d_model=4, seed=s, accuracy=a) for s, a in enumerate((0.98, 1.0, 0.995))]
    c = sweeps.accuracy_curves(_table(rows)).iloc[0]
    assert (c["n_ok"], c["n_seeds"]) == (2, 3) and c["accuracy_min"] == 0.98


def test_lr_summary_one_column_per_lr():
    rows = [dict(n_subjects=64, n_relations=2, d_model=4, seed=s, lr=lr, accuracy=1.0) for s in (0, 1) for lr in (3e-3, 1e-2)]
    t = sweeps.lr_summary(pd.DataFrame(rows))
    assert list(t.columns) == ["N", "R", "d", "lr=0.003", "lr=0.01"] and t.iloc[0]["lr=0.01"] == "2/2 (1.000)"


# --- the noisy T = 32 format (tasks.noisy_sequences, appended for E2) ------------------------------------------------


def test_noisy_sequences_layout():
    from georecall import tasks

    task = tasks.make_task(16, 3, seed=0)
    fs = tasks.noisy_sequences(task, seq_len=32, copies=2, seed=5)
    first_noise, eos = tasks.noisy_vocab(task, 16 + 3)
    assert fs.tokens.shape == (2 * 48, 32) and fs.d_vocab == eos + 1 and fs.d_vocab_out == 16
    assert (fs.tokens[:, -1] == eos).all() and fs.last_position_only
    body = fs.tokens[:, :-1]
    is_subject, is_relation = body < 16, (body >= 16) & (body < 19)
    assert (is_subject.sum(1) == 1).all() and (is_relation.sum(1) == 1).all(), "one subject and one relation per sequence"
    s = body[is_subject]
    r = body[is_relation] - 16
    assert (fs.targets[:, -1] == task.perms[r, s]).all(), "the target is pi_r(s)"
    again = tasks.noisy_sequences(task, seq_len=32, copies=2, seed=5)
    other = tasks.noisy_sequences(task, seq_len=32, copies=2, seed=6)
    assert (again.tokens == fs.tokens).all() and not (other.tokens == fs.tokens).all()
