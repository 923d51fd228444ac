"""One model-agnostic training loop (AdamW, full batch or shuffled minibatches, early stop) and evaluation.

Loss: mean cross-entropy over every position whose target is not ``IGNORE``. A sequence counts as correct
when the argmax is right at every targeted position, so for single-hop data accuracy is the share of the
N*R facts recalled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import repro
from .._checks import ArgumentTypeError, check_bool, check_finite, check_int
from ..model.transformer import ModelConfig, Transformer, check_model_and_data
from ..tasks.bijection import IGNORE, BijectionTask, FactSet
from . import _fused, batched
from .recipe import BOOK_RECIPE, TrainConfig, TrainResult, non_finite_reason

__all__ = [
    "TrainConfig",
    "BOOK_RECIPE",
    "TrainResult",
    "Evaluation",
    "train",
    "fit",
    "evaluate",
    "loss_and_correct",
    "check_model_and_data",
    "non_finite_reason",
]


@dataclass(frozen=True)
class Evaluation:
    loss: float  # mean cross-entropy over targeted positions
    accuracy: float  # share of sequences correct at every targeted position
    correct: torch.Tensor  # [n] bool, per sequence


def loss_and_correct(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean CE over targeted positions, and a [n] bool of sequences right at all targeted positions.

    ``logits`` is [n, T, V] with ``targets`` [n, T]; or [n, 1, V] with ``targets`` [n, T] whose only target is
    at the last position.
    """
    if logits.shape[1] != targets.shape[1]:
        targets = targets[:, -logits.shape[1] :]
    mask = targets != IGNORE  # [n, T]
    loss = F.cross_entropy(logits[mask], targets[mask])
    right = (logits.argmax(-1) == targets) | ~mask  # [n, T]
    return loss, right.all(dim=1)


def evaluate(model: Transformer, data: FactSet, *, chunk_size: int = 8192) -> Evaluation:
    """Loss and accuracy on every sequence of ``data`` (at least one), in chunks of ``chunk_size`` sequences.

    A model with a NaN or infinite weight is refused, never scored (training records a diverging run's NaN loss
    through the same loop without this check, and marks the run failed)."""
    check_finite("model", model)
    return _evaluate(model, data, chunk_size=chunk_size)


@torch.no_grad()
def _evaluate(model: Transformer, data: FactSet, *, chunk_size: int = 8192) -> Evaluation:
    check_model_and_data(model, data)
    check_int("chunk_size", chunk_size, 1)
    if len(data) == 0:
        raise ValueError("data must not be empty (a FactSet with no sequences has no accuracy)")
    last_only = data.last_position_only
    total_loss, n_targets, correct = 0.0, 0, []
    for start in range(0, len(data), chunk_size):
        tokens = data.tokens[start : start + chunk_size].to(model.device)
        targets = data.targets[start : start + chunk_size].to(model.device)
        logits = model(tokens, last_only=last_only)
        loss, right = loss_and_correct(logits, targets)
        k = int((targets[:, -logits.shape[1] :] != IGNORE).sum())
        total_loss += float(loss) * k if k else 0.0  # a chunk without targets has a NaN mean, weight 0
        n_targets += k
        correct.append(right.cpu())
    correct_all = torch.cat(correct)
    return Evaluation(
        loss=total_loss / max(n_targets, 1), accuracy=float(correct_all.float().mean()), correct=correct_all
    )


def train(
    model: Transformer, data: FactSet, config: TrainConfig = BOOK_RECIPE, *, progress: bool = True
) -> TrainResult:
    """Train ``model`` on ``data`` with AdamW until ``config.target_accuracy`` or ``config.max_steps`` (always
    ``max_steps`` when ``config.early_stop`` is False).

    Returns a :class:`TrainResult` whose ``history`` holds loss and accuracy on all the data every
    ``eval_every`` steps (and at step 0). Shows a ``tqdm.auto`` bar when ``progress``. A loss that becomes NaN or
    infinite at an evaluation stops training; the result then has ``failed`` set to the reason.

    Models and data that ``georecall.train._fused`` supports (a plain ``Transformer``, no hooks, targets at the last
    position only: every single-hop and noisy-format run) train through ``batched.train_batched`` as a stack of
    one, with the hand-written step; the result is the same to float round-off. Anything else runs the autograd
    loop below.
    """
    check_model_and_data(model, data)
    if not isinstance(config, TrainConfig):
        raise ArgumentTypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    check_bool("progress", progress)
    if _fused.supported(model, data):
        return batched.train_batched([model], [data], [config], progress=progress)[0]
    data = data.to(model.device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    g = repro.generator(config.data_seed, "data")
    n = len(data)
    full_batch = n <= config.full_batch_max
    last_only = data.last_position_only
    result = TrainResult(accuracy=0.0, loss=float("inf"), steps=0, reached_target=False, seconds=0.0)
    t0 = time.perf_counter()

    def record(step: int) -> bool:
        model.eval()
        ev = _evaluate(model, data)  # a NaN loss here marks the run failed (evaluate() would refuse the model)
        model.train()
        result.history["step"].append(step)
        result.history["loss"].append(ev.loss)
        result.history["accuracy"].append(ev.accuracy)
        result.accuracy, result.loss, result.steps = ev.accuracy, ev.loss, step
        bar.set_postfix(loss=f"{ev.loss:.3g}", acc=f"{ev.accuracy:.3f}")
        result.failed = non_finite_reason(ev.loss, step)
        return (config.early_stop and ev.accuracy >= config.target_accuracy) or result.failed is not None

    order, cursor = torch.empty(0, dtype=torch.long), 0
    with tqdm(total=config.max_steps, desc="train", disable=not progress, leave=False) as bar:
        done = record(0)
        step = 0
        model.train()
        while not done and step < config.max_steps:
            if full_batch:
                tokens, targets = data.tokens, data.targets
            else:
                if cursor + config.batch_size > len(order):
                    order, cursor = torch.randperm(n, generator=g).to(model.device), 0
                idx = order[cursor : cursor + config.batch_size]
                cursor += config.batch_size
                tokens, targets = data.tokens[idx], data.targets[idx]
            loss, _ = loss_and_correct(model(tokens, last_only=last_only), targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            bar.update(1)
            if step % config.eval_every == 0 or step == config.max_steps:
                done = record(step)
    model.eval()
    result.reached_target = result.failed is None and result.accuracy >= config.target_accuracy
    result.seconds = time.perf_counter() - t0
    return result


def fit(
    task: BijectionTask,
    d_model: int,
    config: TrainConfig = BOOK_RECIPE,
    *,
    init_seed: int = 0,
    progress: bool = False,
    **model_kwargs,
) -> tuple[Transformer, TrainResult]:
    """Build a fresh single-hop model of width ``d_model`` for ``task`` and train it on all N*R facts."""
    model = Transformer(ModelConfig.for_task(task, d_model, init_seed=init_seed, **model_kwargs))
    return model, train(model, task.single_hop(), config, progress=progress)
