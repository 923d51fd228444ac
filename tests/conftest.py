"""Shared test setup: deterministic mode, seeded globals, markers and a tiny task/model fixture."""

import pytest
import torch

from georecall import models, repro, tasks


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="device for tests that accept one (cpu or cuda)")


@pytest.fixture(autouse=True)
def _deterministic():
    repro.set_deterministic(True)
    repro.seed_everything(0)
    yield


@pytest.fixture
def device(request):
    name = request.config.getoption("--device")
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    return torch.device(name)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def tiny_task():
    return tasks.make_task(16, 2, seed=3)


@pytest.fixture
def tiny_model(tiny_task):
    return models.Transformer(models.ModelConfig.for_task(tiny_task, 8, init_seed=1))
