"""Training one network across K fact sets (:mod:`georecall.model.crossset`: the sets, the model, the
parameterizations) [recon]. The objective is

    L = mean over sets k and facts (s, r) of  CE( logits([e^k_s, W_E[N + r]]), pi^k_r(s) )   (+ a penalty, below).

A step takes ``sets_per_step`` of the K sets (all of them when K <= sets_per_step; otherwise a seeded shuffle, epoch
by epoch) and every one of their N R facts. K = inf (``math.inf``) draws ``sets_per_step`` fresh sets every
``resample_every`` steps (default: every step), so no set is ever seen twice.

The penalty of ``free_penalty`` is lambda * (1 - R^2) of the tables' best-fitting superposition:
(W, c) = argmin sum_{k, s} ||T^k[s] - phi^k(s) W - c||^2 + eps ||W||^2 over the step's sets,
phi^k(s) = [u_{pi^k_1(s)}, ..., u_{pi^k_R(s)}] (u detached), eps = 1e-6 x mean feature variance
(:func:`georecall.model.crossset.superposition_map`); then 1 - R^2 = sum ||T - phi W - c||^2 / sum ||T - mean T||^2
with (W, c) held fixed (no gradient through the fit). The fit is joint over the sets, so it asks for one encoding
shared by all of them; with K = 1 it is vacuous once R d + 1 >= N.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .. import repro
from .._checks import ArgumentTypeError, check_int
from ..model.crossset import (
    CrossSetConfig,
    CrossSetModel,
    draw_bijections,
    fresh_bijections,
    set_accuracy,
    set_bijections,
    superposition_features,
    superposition_map,
)

__all__ = ["CrossSetResult", "crossset_loss", "train_crossset"]


def _penalty(model: CrossSetModel, E: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
    """1 - R^2 of the step's tables against their joint superposition fit (held fixed)."""
    u = model.attributes
    W, c = superposition_map(E, perms, u)
    fit = superposition_features(u.detach(), perms) @ W + c  # [S, N, d]
    resid = ((E - fit) ** 2).sum()
    total = ((E - E.reshape(-1, E.shape[-1]).mean(0)) ** 2).sum()
    return resid / total.clamp_min(1e-30)


def crossset_loss(model: CrossSetModel, set_ids: torch.Tensor | None, perms: torch.Tensor) -> torch.Tensor:
    """The objective on one step's sets: mean over the sets ``set_ids`` [S] (bijections perms [S, R, N]) and their
    N R facts of CE(logits, pi^k_r(s)), plus ``penalty`` x (1 - R^2) for free_penalty (module docstring)."""
    E = model.embeddings(set_ids, perms)
    logits = model.logits(E)  # [S, N, R, V]
    target = perms.permute(0, 2, 1)  # [S, N, R]: pi_r(s)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
    cfg = model.config
    if cfg.parameterization == "free_penalty" and cfg.penalty > 0:
        loss = loss + cfg.penalty * _penalty(model, E, perms)
    return loss


@dataclass
class CrossSetResult:
    """A trained :class:`CrossSetModel` with its training sets (``perms`` [K, R, N]; for K = inf, the fixed
    ``n_eval`` sets its training accuracy is measured on, drawn from the training distribution). The zero-shot
    probes of :mod:`georecall.probe.crossset` read ``model`` and ``perms``."""

    model: CrossSetModel
    perms: torch.Tensor
    train_accuracy: float  # mean over the K sets of the share of facts recalled (K = inf: over fresh draws)
    min_set_accuracy: float
    loss: float  # last step's loss
    seconds: float
    steps_per_second: float
    history: dict[str, list[float]] = field(default_factory=lambda: {"step": [], "accuracy": []})


def _training_accuracy(model: CrossSetModel, perms: torch.Tensor) -> torch.Tensor:
    cfg = model.config
    ids = None if cfg.infinite else torch.arange(perms.shape[0])
    return set_accuracy(model, model.embeddings(ids, perms), perms)


def train_crossset(config: CrossSetConfig, *, n_eval: int = 8) -> CrossSetResult:
    """Train a :class:`CrossSetModel` with AdamW on :func:`crossset_loss` for ``config.steps`` steps (module
    docstring). Step order, set choice and fresh draws come from explicit seeds: same config, same numbers."""
    if not isinstance(config, CrossSetConfig):
        raise ArgumentTypeError(f"config must be a CrossSetConfig, got {type(config).__name__}")
    check_int("n_eval", n_eval, 1)
    N, R = config.n_subjects, config.n_relations
    model = CrossSetModel(config)
    if config.infinite:
        perms = fresh_bijections(N, R, n_eval, seed=config.seed, stream="crossset-eval")
        fresh = repro.generator(config.seed, "crossset-fresh")
    else:
        perms = set_bijections(N, R, int(config.n_sets), seed=config.seed)
    order_g = repro.generator(config.data_seed, "crossset-order")
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    S = config.batch_sets
    history = {"step": [], "accuracy": []}
    order, cursor, batch, loss = torch.empty(0, dtype=torch.long), 0, None, float("nan")
    t0 = time.perf_counter()
    train_seconds = 0.0
    for step in range(config.steps + 1):
        if step % config.eval_every == 0 or step == config.steps:
            history["step"].append(step)
            history["accuracy"].append(float(_training_accuracy(model, perms).mean()))
        if step == config.steps:
            break
        t1 = time.perf_counter()
        if config.infinite:
            if step % config.resample_every == 0:
                batch = draw_bijections(fresh, S, R, N)
            ids, batch_perms = None, batch
        else:
            if S == int(config.n_sets):
                ids = torch.arange(S)
            else:
                if cursor + S > len(order):
                    order, cursor = torch.randperm(int(config.n_sets), generator=order_g), 0
                ids = order[cursor : cursor + S]
                cursor += S
            batch_perms = perms[ids]
        loss_t = crossset_loss(model, ids, batch_perms)
        opt.zero_grad(set_to_none=True)
        loss_t.backward()
        opt.step()
        loss = float(loss_t.detach())
        train_seconds += time.perf_counter() - t1
    model.eval()
    acc = _training_accuracy(model, perms)
    return CrossSetResult(
        model=model,
        perms=perms,
        train_accuracy=float(acc.mean()),
        min_set_accuracy=float(acc.min()),
        loss=loss,
        seconds=time.perf_counter() - t0,
        steps_per_second=config.steps / train_seconds if train_seconds > 0 else float("nan"),
        history=history,
    )
