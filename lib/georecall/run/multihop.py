"""One multi-hop sweep point: its task, training data and model, and its scores after training [recon].

The runner (:mod:`georecall.run.runner`) trains multi-hop points like any other: a stack of same-shape points through
``batched.train_batched``. This module supplies what differs from a single-hop point:

- **data** (:func:`build_point`): all N R^h queries of ``make_task(N, R, seed)``; without CoT ``multihop.no_cot_facts``
  (tokens [x, N+r_1, ..., N+r_h], target y_h at the last position) and a model with h heads; with CoT
  ``multihop.cot_facts`` (teacher forcing: tokens [x, N+r_1, y_1, ..., N+r_h], target y_i at r_i's position) and
  one head. The training loss is the mean cross-entropy over the targeted positions; the training accuracy (and the
  early stop at the target) counts a query as right when every targeted position is.
- **scores** (:func:`scores`): every query is re-scored through the recall engine
  (``multihop.evaluate_multihop``): without CoT one forward pass, with CoT autoregressive decoding, in which each
  predicted y_i is fed back. ``accuracy`` is the share of queries whose final answer y_h is right; with CoT it is
  at least the teacher-forced accuracy (a query right at every step under teacher forcing decodes exactly the true
  chain), and ``step_accuracy`` holds the decoded accuracy of every generated token y_1, ..., y_h.
"""

from __future__ import annotations

import math

from .. import repro
from ..model import multihop
from ..model import transformer as models
from ..sweep.configs import NO_COT, MultiHopConfig
from ..tasks import bijection as tasks

__all__ = ["build_point", "scores", "STEP_SEPARATOR"]

STEP_SEPARATOR = ";"  # per-step accuracies in one table cell: "a_1;a_2;...;a_h"


def build_point(config: MultiHopConfig):
    """(task, training data, model, TrainConfig, None) of one multi-hop point, all from the point's seed."""
    if not isinstance(config, MultiHopConfig):
        raise TypeError(f"config must be a MultiHopConfig, got {type(config).__name__}")
    task = tasks.make_task(config.n_subjects, config.n_relations, seed=config.seed)
    facts = multihop.no_cot_facts if config.data_format == NO_COT else multihop.cot_facts
    data = facts(task, config.hops)
    mcfg = models.ModelConfig.for_task(
        data, config.d_model, d_mlp=config.d_mlp, n_heads=config.n_heads, init_seed=config.seed
    )
    model = models.Transformer(mcfg).to(repro.default_device(config.device))
    return task, data, model, config.train_config(), None


def scores(config: MultiHopConfig, task, model, result) -> dict:
    """The point's scalars after training: ``accuracy`` (final answer, decoded with CoT), ``train_accuracy`` (the
    trainer's, teacher-forced with CoT), ``step_accuracy`` ("a_1;...;a_h" with CoT, the final accuracy without),
    ``min_margin`` (the final answer's smallest correct-minus-best-other logit over all queries; None if not finite,
    as after a diverged run)."""
    if result.failed:  # a diverged model is never scored: the row keeps the trainer's record, marked failed
        return {"accuracy": result.accuracy, "train_accuracy": result.accuracy, "step_accuracy": "", "min_margin": None}
    ev = multihop.evaluate_multihop(model, task, config.hops, fmt=config.data_format)
    return {
        "accuracy": ev.accuracy,
        "train_accuracy": result.accuracy,
        "step_accuracy": STEP_SEPARATOR.join(f"{a:.9g}" for a in ev.step_accuracy),
        "min_margin": ev.min_margin if math.isfinite(ev.min_margin) else None,
    }
