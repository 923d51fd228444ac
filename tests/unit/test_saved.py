"""A trained model saved to a file and scored from it (run.saved, `python -m georecall evaluate`)."""

import json
import os
import stat

import pytest
import torch

from georecall import __main__ as cli
from georecall.run import saved
from georecall.sweep import files
from georecall.tasks import bijection as tasks
from georecall.train import loop


@pytest.fixture(scope="module")
def trained():
    task = tasks.make_task(8, 2, seed=3)
    model, result = loop.fit(task, 8)
    assert result.accuracy == 1.0
    return task, model


def test_a_saved_model_loads_with_the_same_weights_config_and_task(trained, tmp_path):
    task, model = trained
    path = saved.save_model(model, tmp_path / "m.pt", task=task)
    back = saved.load_model(path)
    assert back.model.config == model.config and back.task == task.config
    for (name, a), (_, b) in zip(model.state_dict().items(), back.model.state_dict().items()):
        assert torch.equal(a, b), name
    tokens = task.single_hop().tokens
    assert torch.equal(model(tokens), back.model(tokens))
    assert saved.load_model(saved.save_model(model, tmp_path / "n.pt")).task is None


def test_the_file_is_a_plain_dict_written_with_the_umask_mode(trained, tmp_path):
    path = saved.save_model(trained[1], tmp_path / "m.pt", task=trained[0])
    raw = torch.load(path, weights_only=True)  # only tensors, numbers and strings: loads without unpickling objects
    assert raw["format"] == saved.FORMAT and raw["version"] == saved.FORMAT_VERSION
    assert raw["task"] == {"n_subjects": 8, "n_relations": 2, "seed": 3}
    assert stat.S_IMODE(os.stat(path).st_mode) == files.file_mode()


def test_evaluate_scores_the_saved_model_on_its_recorded_task(trained, tmp_path, capsys):
    path = saved.save_model(trained[1], tmp_path / "m.pt", task=trained[0])
    assert cli.main(["evaluate", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["accuracy"] == 1.0 and out["min_margin"] > 0 and (out["n_subjects"], out["seed"]) == (8, 3)
    direct = saved.evaluate_saved(path, probe=True)
    assert direct["accuracy"] == 1.0 and direct["probes"]["N"] == 8 and direct["probes"]["accuracy"] == 1.0


def test_another_task_seed_is_a_different_task(trained, tmp_path):
    """The same sizes with another seed are other bijections: the model recalls its own facts, not these."""
    path = saved.save_model(trained[1], tmp_path / "m.pt", task=trained[0])
    assert saved.evaluate_saved(path, seed=4)["accuracy"] < 0.5
