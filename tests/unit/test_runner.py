"""Running sweeps: the memory plan, the scheduler with the cache, one point's build."""

import dataclasses

import pandas as pd
import pytest

from georecall import runner, sweeps, tables


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
