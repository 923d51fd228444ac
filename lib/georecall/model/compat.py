"""Where a model meets a task: one check that they fit each other, before anything is scored or allocated.

:func:`check_model_task` refuses a model that is not a :class:`~georecall.model.transformer.Transformer`, a model
with a NaN or infinite weight (a diverged model is never scored), a task that is not a ``BijectionTask``, and a
pair whose sizes disagree: the model's output classes must be the task's N attributes, its vocabulary must hold the
N + R tokens of the task (exactly N + R when ``exact_vocab``, as for pictures that split the MLP by relation), its
format must be the one asked for and its context must hold an ``hops``-hop query. :func:`check_permutations`
checks that ``perms`` [R, N] holds one bijection of [0, N) per row.
"""

from __future__ import annotations

import torch

from .._checks import ArgumentTypeError, check_finite, check_int
from ..tasks.bijection import SINGLE_HOP, BijectionTask
from .transformer import Transformer

__all__ = ["check_model", "check_model_task", "check_permutations"]


def check_model(model, name: str = "model") -> Transformer:
    """``model`` if it is a Transformer with finite weights; ``TypeError`` or ``ValueError`` naming ``name``."""
    if not isinstance(model, Transformer):
        raise ArgumentTypeError(f"{name} must be a georecall.model.transformer.Transformer, got {type(model).__name__}")
    return check_finite(name, model)


def check_model_task(
    model, task, *, data_format: str | None = SINGLE_HOP, seq_len: int = 2, exact_vocab: bool = False
) -> BijectionTask:
    """Raise unless ``model`` (finite) can score ``task``: N = d_vocab_out, N + R <= d_vocab (== with
    ``exact_vocab``), the format ``data_format`` and sequences of ``seq_len`` tokens. Returns ``task``."""
    check_model(model)
    if not isinstance(task, BijectionTask):
        raise ArgumentTypeError(f"task must be a georecall.tasks.bijection.BijectionTask, got {type(task).__name__}")
    cfg = model.config
    N, R = task.N, task.R
    if N != cfg.d_vocab_out or N + R > cfg.d_vocab or (exact_vocab and N + R != cfg.d_vocab):
        raise ValueError(
            f"task has N={N}, R={R} (N + R = {N + R} tokens) but the model has d_vocab_out={cfg.d_vocab_out}, "
            f"d_vocab={cfg.d_vocab}" + (" (the model's R must equal the task's)" if exact_vocab else "")
        )
    cfg.check_fits(task.config.d_vocab, N, seq_len, data_format)
    return task


def check_permutations(name: str, perms, N: int | None = None, R: int | None = None) -> torch.Tensor:
    """``perms`` as int64 [R, N] if each row is a permutation of [0, N) (and the shape is [R, N] when given);
    otherwise ``ValueError`` naming ``name``."""
    if not isinstance(perms, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be an integer tensor [R, N], got {type(perms).__name__}")
    if perms.dtype.is_floating_point or perms.dtype.is_complex or perms.dtype == torch.bool:
        raise ArgumentTypeError(f"{name} must be an integer tensor [R, N], got dtype {perms.dtype}")
    if perms.ndim != 2 or perms.shape[1] < 2 or perms.shape[0] < 1:
        raise ValueError(f"{name} must be [R, N] with R >= 1 and N >= 2, got shape {tuple(perms.shape)}")
    if N is not None and R is not None and tuple(perms.shape) != (check_int("R", R, 1), check_int("N", N, 2)):
        raise ValueError(f"{name} must be [R, N] = [{R}, {N}], got {list(perms.shape)}")
    perms = perms.to(torch.int64)
    n = perms.shape[1]
    if not torch.equal(perms.sort(dim=1).values.cpu(), torch.arange(n).expand(perms.shape[0], n)):
        raise ValueError(f"{name} must hold one permutation of [0, {n}) per row (a bijection for each relation)")
    return perms
