"""Fixtures shared by the construction, recall, probe and transfer tests: one torch thread, and the block
constructions they all inspect (built once per test module)."""

import pytest

from georecall import repro
from georecall.construct import bijection as constructions
from georecall.tasks import bijection as tasks


@pytest.fixture
def one_torch_thread():
    """Small workloads: one thread avoids thread-pool stalls on a busy 2-core runner (see repro.torch_threads)."""
    with repro.torch_threads(1):
        yield


@pytest.fixture(scope="module")
def task():
    """N = 64 entities, R = 3 relations (seed 5): the probe and transfer tests' task."""
    return tasks.make_task(64, 3, seed=5)


@pytest.fixture(scope="module")
def block(task):
    """The block construction of ``task``."""
    return constructions.build_block(task)


@pytest.fixture(scope="module")
def block_300_5():
    """(task, block construction) at N = 300, R = 5 (seed 1): sizes that are not powers of two."""
    task = tasks.make_task(300, 5, seed=1)
    return task, constructions.build_block(task)
