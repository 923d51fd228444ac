"""One sentence-format sweep point: its task, training and evaluation data, model, and scores after training [recon].

The runner (:mod:`georecall.run.runner`) trains sentence points like any other: a stack of same-shape points through
``batched.train_batched``. This module supplies what differs:

- **data** (:func:`build_point`): the ``train`` split of ``make_sentence_task(N, R, seed, ...)`` as language-model
  data (next-token targets at every word, ``SentenceSet.lm_facts``), padded with PAD to ``SENTENCE_SEQ_LEN``
  positions so that every seed's data has one shape; an ``n_layers``-layer model reading that many positions.
- **evaluation** (:func:`eval_data`): the same sentences with one target, the answer, at the position before it
  (``SentenceSet.recall_facts``): the trainer's every evaluation, its early stop at the target and its final
  ``accuracy`` are recall at the answer token on every training sentence, never the next-word accuracy.
- **scores** (:func:`scores`): recall on the templates never trained (``heldout_templates_accuracy``) and on the
  facts asked in the untrained direction (``inverse_accuracy``); None where the point has no such split, or when the
  run failed (a diverged model is never scored).

Right padding changes no score: attention is causal, so a position never reads the PAD after it.
"""

from __future__ import annotations

import torch

from .. import repro
from ..model import transformer as models
from ..sweep.sentences import SENTENCE_SEQ_LEN, SentenceRunConfig
from ..tasks import sentences
from ..tasks.bijection import IGNORE, FactSet
from ..train.loop import evaluate

__all__ = ["build_point", "eval_data", "scores", "padded"]


def padded(data: FactSet, pad: int, seq_len: int = SENTENCE_SEQ_LEN) -> FactSet:
    """``data`` with PAD tokens (targets ``IGNORE``) appended up to ``seq_len`` positions."""
    n, T = data.tokens.shape
    if T > seq_len:
        raise ValueError(f"sentences of {T} positions do not fit seq_len={seq_len}")
    tokens = torch.cat([data.tokens, torch.full((n, seq_len - T), pad, dtype=data.tokens.dtype)], dim=1)
    targets = torch.cat([data.targets, torch.full((n, seq_len - T), IGNORE, dtype=data.targets.dtype)], dim=1)
    return FactSet(tokens, targets, data.d_vocab, data.d_vocab_out, data.data_format)


def _check(config) -> None:
    if not isinstance(config, SentenceRunConfig):
        raise TypeError(f"config must be a SentenceRunConfig, got {type(config).__name__}")


def build_point(config: SentenceRunConfig):
    """(task, training data, model, TrainConfig, None) of one sentence point, all from the point's seed: the task is a
    ``SentenceTask``, the data its padded ``train`` split as next-token targets."""
    _check(config)
    task = sentences.make_sentence_task(**config.task_kwargs())
    data = padded(task.split("train").lm_facts(), task.pad)
    mcfg = models.config_for(
        data,
        config.d_model,
        n_heads=config.n_heads,
        d_mlp=config.d_mlp,
        n_layers=config.n_layers,
        init_seed=config.seed,
    )
    model = models.Transformer(mcfg).to(repro.default_device(config.device))
    return task, data, model, config.train_config(), None


def eval_data(task: sentences.SentenceTask, split: str = "train") -> FactSet:
    """Recall data of one split (padded): every sentence with its answer as the one target, at the position before
    it. The trainer evaluates on the ``train`` split's."""
    return padded(task.split(split).recall_facts(), task.pad)


def scores(config: SentenceRunConfig, task, model, result) -> dict:
    """The point's scalars after training: ``heldout_templates_accuracy`` and ``inverse_accuracy``, the share of the
    split's sentences recalled (argmax at the answer position over the whole vocabulary); None for a split the point
    does not have (``n_heldout`` = 0, ``inverse_share`` = 0) and for a failed run. ``accuracy`` (training recall)
    is the trainer's, evaluated on :func:`eval_data`."""
    out = {"heldout_templates_accuracy": None, "inverse_accuracy": None}
    if result.failed:
        return out
    if config.n_heldout:
        out["heldout_templates_accuracy"] = evaluate(model, eval_data(task, "heldout_templates")).accuracy
    if config.inverse_share > 0:
        out["inverse_accuracy"] = evaluate(model, eval_data(task, "inverse")).accuracy
    return out
