"""Running sweeps: the memory plan, the scheduler with the cache, one point's build."""

import dataclasses
import threading
import time

import pandas as pd
import pytest

from georecall import cache, runner, sweeps, tables


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
            name="line", description="", lines=(sweeps.Line(base=base, seeds=(0,), grid=(2, 4, 8), start=1),)
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
    seeds = [sweeps.RunConfig(seed=s) for s in range(3)]  # one point per seed
    assert not runner._majority(seeds, [bad, bad, good], 0.99) and runner._majority(seeds, [good, good, bad], 0.99)
