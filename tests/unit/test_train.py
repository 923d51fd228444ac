import pytest
import torch

from georecall.model import transformer as models
from georecall.tasks import bijection as tasks
from georecall.train import loop as train


def test_tiny_task_reaches_full_accuracy():
    task = tasks.make_task(16, 2, seed=0)  # 32 facts
    model = models.Transformer(models.ModelConfig.for_task(task, 16))
    result = train.train(
        model, task.single_hop(), train.TrainConfig(max_steps=2000, eval_every=16, target_accuracy=1.0), progress=False
    )
    assert result.accuracy == 1.0 and result.reached_target
    assert train.evaluate(model, task.single_hop()).accuracy == 1.0
    h = result.history
    assert len(h["step"]) == len(h["loss"]) == len(h["accuracy"]) >= 2
    assert h["loss"][-1] < h["loss"][0]


def test_training_is_deterministic():
    task = tasks.make_task(16, 2, seed=0)
    cfg = train.TrainConfig(lr=1e-2, max_steps=64, eval_every=32, target_accuracy=1.0)
    runs = []
    for _ in range(2):
        model = models.Transformer(models.ModelConfig.for_task(task, 8, init_seed=2))
        runs.append((train.train(model, task.single_hop(), cfg, progress=False), model))
    assert runs[0][0].history == runs[1][0].history
    assert torch.equal(runs[0][1].W_E, runs[1][1].W_E)


def test_minibatch_path_runs_and_respects_data_seed():
    task = tasks.make_task(32, 2, seed=0)
    cfg = train.TrainConfig(full_batch_max=16, batch_size=16, max_steps=12, eval_every=6)
    losses = []
    for seed in (0, 0, 1):
        model = models.Transformer(models.ModelConfig.for_task(task, 8))
        losses.append(
            train.train(
                model, task.single_hop(), train.TrainConfig(**{**cfg.__dict__, "data_seed": seed}), progress=False
            ).loss
        )
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]


def test_evaluate_chunking_is_exact():
    task = tasks.make_task(40, 3, seed=0)
    model = models.Transformer(models.ModelConfig.for_task(task, 8))
    a = train.evaluate(model, task.single_hop(), chunk_size=7)
    b = train.evaluate(model, task.single_hop(), chunk_size=10_000)
    assert torch.equal(a.correct, b.correct)
    assert a.loss == pytest.approx(b.loss, rel=1e-5)


def test_early_stop_false_trains_past_the_target():
    task = tasks.make_task(16, 2, seed=0)
    cfg = train.TrainConfig(max_steps=400, eval_every=40, target_accuracy=0.5, early_stop=False)
    model = models.Transformer(models.ModelConfig.for_task(task, 16))
    result = train.train(model, task.single_hop(), cfg, progress=False)
    assert result.steps == 400 and result.history["step"][-1] == 400
    assert min(a for a in result.history["accuracy"]) < 0.5 <= result.history["accuracy"][-1]
    with pytest.raises(TypeError, match="early_stop"):
        train.TrainConfig(early_stop=0)


def test_batched_early_stop_false_matches_train():
    from georecall.train.batched import train_batched

    task = tasks.make_task(16, 2, seed=0)
    cfg = train.TrainConfig(max_steps=96, eval_every=32, target_accuracy=0.1, early_stop=False)
    a, b = (models.Transformer(models.ModelConfig.for_task(task, 8, init_seed=1)) for _ in range(2))
    one = train.train(a, task.single_hop(), cfg, progress=False)
    (stacked,) = train_batched([b], task.single_hop(), cfg)
    assert one.steps == stacked.steps == 96
    assert torch.allclose(a.W_E, b.W_E, atol=1e-5)
