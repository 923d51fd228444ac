"""The same small sweep on a Dask LocalCluster (through client.get_executor()) equals the local run."""

import dataclasses

import pandas as pd
import pytest

from georecall.run import runner
from georecall.sweep import configs as sweeps
from georecall.sweep import search, tables

distributed = pytest.importorskip("distributed")

COLUMNS = list(tables.SWEEP_COLUMNS)


def _experiments():
    base = sweeps.RunConfig(n_subjects=8, n_relations=2, d_model=4, d_mlp=16, max_steps=64, eval_every=16)
    points = tuple(dataclasses.replace(base, seed=s, lr=lr) for s in (0, 1) for lr in (3e-3, 1e-2))
    line = search.Line(base=base, seeds=(0, 1, 2), grid=(2, 3, 4, 6, 8), start=2)
    return [
        sweeps.Experiment(name="points", description="a seed x lr grid", points=points),
        sweeps.Experiment(name="line", description="a d* search", lines=(line,)),
    ]


def test_dask_localcluster_equals_local_run(tmp_path):
    local = runner.run_experiments(_experiments(), executor=runner.InlineExecutor(), use_cache=False, progress=False)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            remote = runner.run_experiments(
                _experiments(), executor=client.get_executor(), cache=tmp_path, progress=False
            )
    for name in local:
        pd.testing.assert_frame_equal(local[name][COLUMNS], remote[name][COLUMNS])
    both = pd.concat([t[COLUMNS] for t in remote.values()]).drop_duplicates()  # the line re-uses two grid points
    assert len(list(tmp_path.rglob("*.json"))) == len(both), "every point is cached (by the client process)"


def test_make_executor_connects_to_a_scheduler_address():
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        with runner.make_executor(dask=cluster.scheduler_address) as ex:
            assert ex.submit(sum, [1, 2, 3]).result() == 6
