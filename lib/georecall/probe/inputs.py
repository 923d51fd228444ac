"""The inputs every probe checks before it computes: a finite model that fits the task's bijections within the memory
budget, permutations that are permutations, finite arrays of matching shapes."""

from __future__ import annotations

import torch

from .._checks import check_budget, check_finite, check_int
from ..model.compat import check_model, check_permutations
from ..model.recall import DEFAULT_MAX_BYTES

__all__ = ["F64", "perms_of", "check_probe_inputs", "check_codes", "check_embeddings", "check_xy"]

F64 = torch.float64


def perms_of(task) -> torch.Tensor:
    """The bijections of ``task`` (a ``BijectionTask`` or a perms tensor [R, N]) as an int64 tensor [R, N]."""
    perms = task.perms if hasattr(task, "perms") else task
    if not isinstance(perms, torch.Tensor):
        raise TypeError(f"task must be a BijectionTask or a perms tensor [R, N], got {type(task).__name__}")
    return check_permutations("task perms", perms)


def check_probe_inputs(model, task, max_bytes: int = DEFAULT_MAX_BYTES) -> torch.Tensor:
    """Validate (model, task) for the single-hop ``[s, N + r]`` probes, and that their N R queries' activations
    (float64 copies of every site and the logits, about 16 N R (4 d + 2 m + N) bytes) fit ``max_bytes``, before
    anything is allocated; return perms [R, N]."""
    check_model(model)  # a Transformer with finite weights: a diverged model is not probed
    model.one_layer("the single-hop probes")  # they read blocks.0 as the last block
    check_int("max_bytes", max_bytes, 1)
    perms = perms_of(task)
    R, N = perms.shape
    cfg = model.config
    if cfg.d_vocab_out != N:
        raise ValueError(f"model has d_vocab_out={cfg.d_vocab_out} output classes but the task has N={N} attributes")
    if cfg.d_vocab < N + R:
        raise ValueError(f"model embeds d_vocab={cfg.d_vocab} tokens but the task needs N + R = {N + R}")
    if cfg.n_ctx < 2:
        raise ValueError(f"model has n_ctx={cfg.n_ctx}; the [s, r] queries need n_ctx >= 2")
    need = 16 * N * R * (4 * cfg.d_model + 2 * cfg.d_mlp + cfg.d_vocab_out + 2)
    check_budget(f"probing the N R = {N * R} queries (N={N}, R={R}, d={cfg.d_model}, m={cfg.d_mlp})", need, max_bytes)
    return perms


def check_xy(X, Y) -> tuple[torch.Tensor, torch.Tensor]:
    """(X, Y) as float64 if they are finite [n, p] and [n, q] tensors with the same n >= 1."""
    if not isinstance(X, torch.Tensor) or not isinstance(Y, torch.Tensor):
        raise TypeError(f"X and Y must be tensors, got {type(X).__name__} and {type(Y).__name__}")
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0] or X.shape[0] < 1:
        raise ValueError(
            f"X and Y must be [n, p] and [n, q] with the same n >= 1, got {tuple(X.shape)}, {tuple(Y.shape)}"
        )
    return check_finite("X", X.to(F64)), check_finite("Y", Y.to(F64))


def check_codes(codes: torch.Tensor, N: int) -> torch.Tensor:
    """``codes`` as float64 on CPU if it is a finite [N, k'] tensor."""
    if not isinstance(codes, torch.Tensor) or codes.ndim != 2 or codes.shape[0] != N or codes.shape[1] < 1:
        raise ValueError(
            f"codes must be an [N, k'] tensor with N={N}, k' >= 1, got {getattr(codes, 'shape', type(codes))}"
        )
    return check_finite("codes", codes.to("cpu", F64))


def check_embeddings(E: torch.Tensor, N: int) -> torch.Tensor:
    """``E`` as float64 on CPU if it is a finite [N, d] tensor."""
    if not isinstance(E, torch.Tensor) or E.ndim != 2 or E.shape[0] != N:
        raise ValueError(f"embeddings must be an [N, d] tensor with N={N}, got {getattr(E, 'shape', type(E))}")
    return check_finite("embeddings E", E.detach().to("cpu", F64))
