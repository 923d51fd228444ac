"""One sweep point of the disjoint-attribute task: its task, data, model, recipe and held-out score [recon].

A :class:`georecall.sweep.configs.RunConfig` with ``task="disjoint"`` names S = ``n_subjects`` subjects, R relations and
D = ``n_answers`` answers per relation (a random function, ``georecall.tasks.disjoint``). Every stream comes from the
point's ``seed`` (``repro.stream_seed``), so a point is reproducible on its own:

- ``[s, r]`` format (``data_format="single_hop"``): the S*R facts, trained and scored on all of them (the
  trainer's full batch or shuffled minibatches), exactly like the shared-attribute sweeps;
- noisy format (``data_format="noisy"``, T = ``seq_len`` tokens, Nichani, Lee & Bietti 2025): every step draws a fresh
  minibatch of ``batch_size`` noisy sequences of uniformly drawn facts (:func:`georecall.tasks.disjoint.noisy_batch`,
  stream ``disjoint-train/<step>``). The trainer evaluates (and may stop early) on a fixed *stopping draw*,
  ``noisy_copies`` noisy copies of every fact (stream ``disjoint-stop``); the point is judged on a separate *held-out
  draw* of ``HELDOUT_COPIES`` copies of every fact (stream ``disjoint-heldout``), which the run never sees. Runs in this
  format stop early only at 100% on the stopping draw, so a stop never lands on a model that merely crossed the success
  threshold on the draw it stopped on.

``n_heads`` attention heads (they must divide d_model) and ``freeze_embed`` (W_E and W_U stay at their random
initialisation; attention, MLP and W_pos train) are the model's, as in the shared-attribute sweeps.
"""

from __future__ import annotations

from dataclasses import replace

from .. import repro
from ..model import transformer as models
from ..sweep.configs import RunConfig
from ..tasks import disjoint
from ..train import loop as train

__all__ = ["HELDOUT_COPIES", "build_point", "heldout_accuracy", "scores"]

HELDOUT_COPIES = 4  # noisy copies of every fact in the held-out draw that judges a noisy point


def _check(config: RunConfig) -> None:
    if not isinstance(config, RunConfig):
        raise TypeError(f"config must be a sweeps.RunConfig, got {type(config).__name__}")
    if config.task != "disjoint":
        raise ValueError(f"config.task must be 'disjoint' here, got {config.task!r}")


def _task(config: RunConfig) -> disjoint.DisjointTask:
    return disjoint.make_disjoint_task(config.n_subjects, config.n_relations, config.n_answers, seed=config.seed)


def build_point(config: RunConfig):
    """``(task, evaluation data, model, TrainConfig, resample)`` of a disjoint point; ``resample(step)`` returns
    the fresh noisy minibatch of optimisation step ``step`` (noisy format), else it is None."""
    _check(config)
    task = _task(config)
    train_config = config.train_config()
    if config.data_format == "noisy":
        data = disjoint.noisy_sequences(
            task,
            seq_len=config.seq_len,
            copies=config.noisy_copies,
            seed=repro.stream_seed(config.seed, "disjoint-stop"),
        )
        train_config = replace(train_config, target_accuracy=1.0)  # stop only at 100% on the stopping draw

        def resample(step: int):
            seed = repro.stream_seed(config.seed, f"disjoint-train/{step}")
            return disjoint.noisy_batch(task, config.batch_size, seq_len=config.seq_len, seed=seed)

    else:
        data, resample = task.single_hop(), None
    mcfg = models.config_for(
        data,
        config.d_model,
        n_heads=config.n_heads,
        d_mlp=config.d_mlp,
        freeze_embed=config.freeze_embed,
        init_seed=config.seed,
    )
    model = models.Transformer(mcfg).to(repro.default_device(config.device))
    return task, data, model, train_config, resample


def heldout_accuracy(config: RunConfig, task: disjoint.DisjointTask, model: models.Transformer) -> float | None:
    """Noisy format: accuracy on ``HELDOUT_COPIES`` fresh noisy copies of every fact (never used in training or
    stopping); ``[s, r]`` format: None (every fact is scored in ``accuracy``)."""
    _check(config)
    if config.data_format != "noisy":
        return None
    heldout = disjoint.noisy_sequences(
        task, seq_len=config.seq_len, copies=HELDOUT_COPIES, seed=repro.stream_seed(config.seed, "disjoint-heldout")
    )
    return train.evaluate(model, heldout).accuracy


def scores(config: RunConfig, task: disjoint.DisjointTask, model: models.Transformer, result) -> dict:
    """The point's scalars beyond the trainer's: ``heldout_accuracy`` (None for a failed run)."""
    return {"heldout_accuracy": None if result.failed else heldout_accuracy(config, task, model)}
