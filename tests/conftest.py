"""Shared test setup: deterministic mode, seeded globals and a tiny task/model fixture."""

import pytest

from georecall import repro
from georecall.model import transformer as models
from georecall.tasks import bijection as tasks


@pytest.fixture(autouse=True)
def _deterministic():
    repro.set_deterministic(True)
    repro.seed_everything(0)
    yield


@pytest.fixture(scope="module")
def tiny_task():
    return tasks.make_task(16, 2, seed=3)


@pytest.fixture
def tiny_model(tiny_task):
    return models.Transformer(models.ModelConfig.for_task(tiny_task, 8, init_seed=1))
