"""One sweep point of the shared-attribute (bijection) task: its task, data, model and recipe, and its held-out score.

A :class:`georecall.sweep.RunConfig` with ``task="bijection"`` names N = ``n_subjects`` subjects and R relations of
``make_task(N, R, seed)``. ``[s, r]`` format: all N*R facts, trained and scored on all of them. Noisy format (T =
``seq_len`` tokens): each step trains on a fresh noisy copy of every fact (stream ``noisy-train/<step>``), the
trainer evaluates on a fixed draw (``noisy-eval``) and the point is also scored on a third, independent draw
(``heldout``).
"""

from __future__ import annotations

import functools

from .. import repro
from ..model import transformer as models
from ..sweep.configs import RunConfig
from ..tasks import bijection as tasks
from ..train import loop as train

__all__ = ["build_point", "heldout_accuracy", "scores"]


def build_point(config: RunConfig):
    """(task, training data, model, TrainConfig, resample) of one shared-attribute point, all from the point's seed;
    ``resample(step)`` draws the fresh noisy batch of a step (noisy format), else it is None."""
    task = tasks.make_task(config.n_subjects, config.n_relations, seed=config.seed)
    if config.data_format == "noisy":  # fresh noise every step (Nichani et al.); accuracy on a fixed fresh draw
        noisy = functools.partial(tasks.noisy_sequences, task, seq_len=config.seq_len, copies=config.noisy_copies)
        data = noisy(seed=repro.stream_seed(config.seed, "noisy-eval"))

        def resample(step: int):
            return noisy(seed=repro.stream_seed(config.seed, f"noisy-train/{step}"))

    else:
        data, resample = task.single_hop(), None
    mcfg = models.ModelConfig.for_task(data, **config.model_kwargs())
    model = models.Transformer(mcfg).to(repro.default_device(config.device))
    return task, data, model, config.train_config(), resample


def heldout_accuracy(config: RunConfig, task, model) -> float | None:
    """Noisy format: accuracy on another fresh noisy copy of every fact (a second, independent draw); else None."""
    if config.data_format != "noisy":
        return None
    fresh = tasks.noisy_sequences(
        task, seq_len=config.seq_len, copies=1, seed=repro.stream_seed(config.seed, "heldout")
    )
    return train.evaluate(model, fresh).accuracy


def scores(config: RunConfig, task, model, result) -> dict:
    """The point's scalars beyond the trainer's: ``heldout_accuracy`` (None for a failed run)."""
    return {"heldout_accuracy": None if result.failed else heldout_accuracy(config, task, model)}
