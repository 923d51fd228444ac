"""Running sweeps: the memory plan, the scheduler with the cache, one point's build."""

import dataclasses
import threading
import time

import pandas as pd
import pytest

from georecall.run import runner
from georecall.sweep import cache, search, tables
from georecall.sweep import configs as sweeps


def test_grid_exceeding_memory_fails_fast():
    huge = sweeps.RunConfig(n_subjects=2**20, n_relations=8, d_model=64, d_mlp=256)
    with pytest.raises(ValueError, match="GiB"):
        runner.check_memory([[huge] * 3], workers=2, available=8 * 2**30)
    runner.check_memory([[sweeps.RunConfig()] * 3], workers=2, available=8 * 2**30)  # a small grid passes


def test_run_experiments_checks_memory_before_training(monkeypatch):
    monkeypatch.setattr(runner, "available_memory_bytes", lambda: 2**20)
    exp = sweeps.Experiment(name="x", description="", points=(sweeps.RunConfig(n_subjects=8),))
    with pytest.raises(ValueError, match="reduce N"):
        runner.run_experiments([exp], use_cache=False, progress=False)


def test_tiny_sweep_schema_and_cache(tmp_path, monkeypatch):
    """A tiny grid + line returns the documented columns; a rerun trains nothing (all from the cache)."""
    base = sweeps.RunConfig(n_subjects=8, n_relations=2, max_steps=64, eval_every=32)
    exps = [
        sweeps.Experiment(name="pts", description="", points=tuple(dataclasses.replace(base, seed=s) for s in (0, 1))),
        sweeps.Experiment(
            name="line", description="", lines=(search.Line(base=base, seeds=(0,), grid=(2, 4, 8), start=1),)
        ),
    ]
    first = runner.run_experiments(exps, cache=tmp_path, progress=False)
    assert set(tables.SWEEP_COLUMNS) <= set(first["pts"].columns)
    assert len(first["pts"]) == 2 and first["line"]["d_model"].is_unique
    calls = []
    monkeypatch.setattr(runner, "train_group", lambda *a, **k: calls.append(a) or [])
    again = runner.run_experiments(exps, cache=tmp_path, progress=False)
    assert not calls, "a rerun must load every point from the cache"
    for name in first:
        cols = list(tables.SWEEP_COLUMNS)
        pd.testing.assert_frame_equal(first[name][cols], again[name][cols])


def test_build_uses_the_points_recipe_and_seed():
    c = sweeps.RunConfig(n_subjects=8, n_relations=2, d_model=4, d_mlp=16, lr=3e-3, seed=3)
    task, data, model, tcfg, resample = runner.build(c)
    assert tcfg == c.train_config() and resample is None
    assert len(data) == 16 and model.config.d_model == 4 and model.config.init_seed == 3
    assert task.config.seed == 3


def test_only_accepts_one_name_as_a_string(monkeypatch):
    seen = []
    monkeypatch.setattr(runner, "run_experiments", lambda exps, **k: seen.append([e.name for e in exps]) or {})
    runner.run("smoke", only="e1_capacity", workers=1, use_cache=False, progress=False)
    runner.run("smoke", only=["e1_capacity", "e2_frozen"], workers=1, use_cache=False, progress=False)
    assert seen == [["e1_capacity"], ["e1_capacity", "e2_frozen"]]


def _row_scalars(accuracy: float) -> dict:
    return {
        "accuracy": accuracy,
        "loss": 0.5,
        "steps": 16,
        "reached_target": False,
        "seconds": 0.1,
        "n_params": 1,
        "n_params_trainable": 1,
        "n_params_nonembed": 1,
        "heldout_accuracy": None,
        "failed": None,
    }


def test_a_point_another_sweep_is_training_is_waited_for_not_trained_twice(tmp_path, monkeypatch):
    """Two sweeps share a cache: a point whose entry lock is held elsewhere is loaded once that holder stores it."""
    base = sweeps.RunConfig(n_subjects=8, n_relations=2, d_model=4, d_mlp=16, max_steps=16, eval_every=16)
    mine, theirs = base, dataclasses.replace(base, seed=1)
    exps = [sweeps.Experiment(name="pts", description="", points=(mine, theirs))]
    store = cache.Cache(tmp_path)
    held = store.try_claim(theirs)  # "another sweep" is training this point
    trained = []
    real = runner.train_group
    monkeypatch.setattr(
        runner, "train_group", lambda dicts, **k: trained.extend(d["seed"] for d in dicts) or real(dicts)
    )
    result = {}
    t = threading.Thread(target=lambda: result.update(runner.run_experiments(exps, cache=tmp_path, progress=False)))
    t.start()
    deadline = time.time() + 60
    while not trained and time.time() < deadline:  # the free point trains at once
        time.sleep(0.05)
    time.sleep(0.5)
    assert t.is_alive(), "the sweep must wait for the point the other sweep holds"
    store.store(theirs, cache.Artifact(scalars=_row_scalars(0.999), arrays={}))
    held.close()
    t.join(timeout=60)
    assert trained == [0], "only the free point is trained here"
    table = result["pts"].set_index("seed")
    assert table.loc[1, "accuracy"] == 0.999 and table.loc[0, "accuracy"] != 0.999  # loaded, and trained


def test_a_failed_point_keeps_its_reason_and_never_counts_as_a_success():
    bad = {"scalars": {**_row_scalars(1.0), "failed": "loss became nan at step 16"}}
    good = {"scalars": _row_scalars(1.0)}
    c = sweeps.RunConfig()
    assert not runner._seed_ok(c, bad) and runner._seed_ok(c, good)
    assert not runner._seed_ok(c, {"scalars": _row_scalars(0.98)}), "below the 0.99 target"


def test_line_with_rates_trains_failing_seeds_at_the_next_rate_only(monkeypatch):
    """A fake trainer (success iff d >= a per-(seed, rate) threshold): the search tries the second and third rates
    only for failing seeds of open probes, and the table's d* is the best-of-rates threshold."""
    from georecall.analyse import bijection as analysis

    need = {  # (seed, lr) -> smallest d that reaches the target
        (0, 1e-2): 5, (1, 1e-2): 8, (2, 1e-2): 12,
        (0, 3e-2): 8, (1, 3e-2): 5, (2, 3e-2): 12,
        (0, 3e-3): 12, (1, 3e-3): 12, (2, 3e-3): 4,
    }  # fmt: skip
    trained = []

    def fake_train_group(config_dicts, threads=1):
        out = []
        for c in map(lambda d: sweeps.RunConfig(**d), config_dicts):
            trained.append((c.d_model, c.seed, c.lr))
            acc = 1.0 if c.d_model >= need[c.seed, c.lr] else 0.5
            scalars = dict(
                accuracy=acc, loss=0.1, steps=64, reached_target=acc >= 0.99, seconds=0.0, n_params=1,
                n_params_trainable=1, n_params_nonembed=1, heldout_accuracy=None,
            )  # fmt: skip
            out.append({"scalars": scalars, "arrays": {}})
        return out

    monkeypatch.setattr(runner, "train_group", fake_train_group)
    line = search.Line(
        base=sweeps.RunConfig(n_subjects=8, n_relations=2), grid=(3, 4, 5, 6, 8, 12), start=1, lrs=(1e-2, 3e-2, 3e-3)
    )
    table = runner.run_experiments(
        [sweeps.Experiment(name="e1", description="", lines=(line,))], use_cache=False, progress=False
    )["e1"]
    # best rate per seed: seed 0 reaches the target at d = 5, seed 1 at 5, seed 2 at 4 -> 2 of 3 seeds first at d = 5
    th = analysis.thresholds(table)
    assert th["d_star"].tolist() == [5]
    assert sorted(trained) == sorted(zip(table["d_model"], table["seed"], table["lr"])), "each point trained once"
    # d = 4 (the start): every rate fails for seeds 0 and 1, so all three rates ran and the probe fails
    at4 = table[table["d_model"] == 4]
    assert len(at4) == 9
    # d = 5: only seed 0 passes at 1e-2; 3e-2 for seeds 1 and 2 gives seed 1 -> a majority, 3e-3 never runs
    at5 = table[table["d_model"] == 5]
    assert sorted(zip(at5["seed"], at5["lr"])) == [(0, 1e-2), (1, 1e-2), (1, 3e-2), (2, 1e-2), (2, 3e-2)]
    assert set(table["d_model"]) == {4, 5}, "a probe next to d* brackets it in two probes"
    effect = analysis.rate_effect(table, th).iloc[0]
    assert (effect["first_alone"], effect["n_ok_first"], effect["n_ok_best"], effect["rescued"]) == (
        False,
        1,
        2,
        "3e-2: 1 seed",
    )
