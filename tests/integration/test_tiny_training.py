"""A tiny model learns a 32-fact bijection set to 100%, and the learned answers are the task's answers."""

import torch

from georecall.tasks import bijection as tasks
from georecall.train import loop as train


def test_tiny_model_memorises_32_facts():
    task = tasks.make_task(16, 2, seed=11)
    model, result = train.fit(
        task, 16, train.TrainConfig(max_steps=3000, eval_every=32, target_accuracy=1.0), init_seed=5
    )
    assert result.reached_target, f"only {result.accuracy:.3f} after {result.steps} steps"
    s, r, a = task.facts()
    predicted = model(task.single_hop().tokens, last_only=True)[:, 0].argmax(-1)
    assert torch.equal(predicted, a)
    assert torch.equal(predicted, task.answer(s, r))
