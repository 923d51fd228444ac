"""Zero-shot evaluation of a cross-set model (:mod:`georecall.model.crossset`, trained by
:mod:`georecall.train.crossset`) on a fresh draw of facts [recon].

:func:`zero_shot` draws fresh bijections pi' (:func:`.transfer.new_bijections`) and embeds them (i) through the
learned encoder, e'_s = sum_r A_r u_{pi'_r(s)} + b (for the free parameterizations, the joint superposition fit over
all K tables plays the encoder: the natural "appropriate re-initialization"), and (ii) by Chapter 5's protocols
(:func:`.transfer.transfer_all`) applied to set 0 as the "old" facts; controls: random rows (d), the lookup
baseline, an untrained cross-set model through its own encoder, and (c') when protocol training runs.

Both functions take a training result by what it holds (``result.model``, a :class:`CrossSetModel`, and
``result.perms`` [K, R, N], its training sets; a ``train.crossset.CrossSetResult`` has both), so this stage does not
import training.
"""

from __future__ import annotations

import dataclasses

import torch

from .. import repro
from .._checks import ArgumentTypeError, check_int, check_seed
from ..model.crossset import (
    ENCODED,
    PER_SET_TABLE,
    CrossSetModel,
    set_accuracy,
    set_bijections,
    superposition_features,
    superposition_map,
)
from ..model.transformer import Transformer
from . import transfer

__all__ = ["set_model", "zero_shot"]


def _check_result(result) -> tuple[CrossSetModel, torch.Tensor]:
    """(result.model, result.perms) of a CrossSetResult, or an ArgumentTypeError naming what is missing."""
    model, perms = getattr(result, "model", None), getattr(result, "perms", None)
    if not isinstance(model, CrossSetModel) or not isinstance(perms, torch.Tensor):
        raise ArgumentTypeError(
            "result must be a CrossSetResult (a CrossSetModel .model and its training sets .perms), "
            f"got {type(result).__name__}"
        )
    return model, perms


def _encoder(model: CrossSetModel, perms: torch.Tensor):
    """The map from fresh bijections to embeddings: the learned encoder, or for free tables the joint
    superposition fit over all K training tables (:func:`superposition_map`, float64)."""
    if model.config.parameterization in ENCODED:
        return lambda new: model.encode(new)
    u = model.attributes.detach().double()
    W, c = superposition_map(model.tables.detach().double(), perms, u)
    return lambda new: (superposition_features(u, new) @ W + c).to(model.net.dtype)


@torch.no_grad()
def set_model(result, k: int = 0) -> tuple[Transformer, torch.Tensor]:
    """A plain :class:`Transformer` (a copy of the shared network with W_E[:N] = set k's subject embeddings) and set
    k's perms [R, N], for every single-set probe and protocol of the package (K = inf: the k-th evaluation draw).
    ``result``: a ``CrossSetResult`` (module docstring)."""
    model, perms = _check_result(result)
    check_int("k", k, 0, perms.shape[0] - 1)
    ids = None if model.config.infinite else torch.tensor([k])
    E = model.embeddings(ids, perms[k : k + 1])[0]
    return transfer.with_subject_embeddings(model.net, E), perms[k]


@torch.no_grad()
def zero_shot(result, *, seed: int = 0, protocol_steps: int = 0, lr: float = 1e-2) -> dict:
    """Accuracy on a fresh draw pi' = ``transfer.new_bijections(N, R, seed=seed)`` of ``result``, a
    ``CrossSetResult`` (module docstring):

    ``encoder``            through the learned encoder (free tables: their joint superposition fit)
    ``encoder_fit_r2``     in-sample R^2 of the K tables against that joint fit (free, free_penalty; else NaN)
    ``old``, ``superposition`` (a), ``selector_inverse`` (b), ``random`` (d), ``lookup``, ``trained`` (c),
    ``random_network`` (c')   Chapter 5's protocols (``transfer.transfer_all``) on a copy of the shared network
                           whose W_E[:N] holds set 0's embeddings, with set 0 as the old facts; (c) and (c')
                           train ``protocol_steps`` steps (0: skipped, NaN)
    ``untrained_encoder``  an untrained cross-set model of the same config (init seed derived from ``seed``)
                           through its own encoder or fitted map: the untrained-network control
    ``chance``             1 / N
    """
    model, perms = _check_result(result)
    check_seed("seed", seed)
    check_int("protocol_steps", protocol_steps, 0)
    cfg = model.config
    N, R = cfg.n_subjects, cfg.n_relations
    new = transfer.new_bijections(N, R, seed=seed)[None]  # [1, R, N]
    out = {"encoder": float(set_accuracy(model, _encoder(model, perms)(new), new)[0])}
    if cfg.parameterization in PER_SET_TABLE and cfg.parameterization != "encoded_residual":
        u = model.attributes.double()
        T = model.tables.double()
        W, c = superposition_map(T, perms, u)
        resid = ((T - (superposition_features(u, perms) @ W + c)) ** 2).sum()
        out["encoder_fit_r2"] = float(1 - resid / ((T - T.reshape(-1, T.shape[-1]).mean(0)) ** 2).sum())
    else:
        out["encoder_fit_r2"] = float("nan")
    old, perms0 = set_model(result, 0)
    with torch.enable_grad():
        tr = transfer.transfer_all(old, perms0, seed=seed, steps=protocol_steps, lr=lr, eval_every=10**9)
    out.update(
        old=tr.old_accuracy,
        superposition=tr.superposition,
        selector_inverse=tr.selector_inverse,
        random=tr.random,
        lookup=tr.lookup,
        trained=tr.trained if protocol_steps else float("nan"),
        random_network=tr.random_network if protocol_steps else float("nan"),
    )
    init_seed = repro.stream_seed(seed, "crossset-untrained") % 2**31
    blank = CrossSetModel(dataclasses.replace(cfg, init_seed=init_seed, steps=0)).eval()
    if cfg.infinite:
        blank_perms = perms
    else:
        blank_perms = set_bijections(N, R, int(cfg.n_sets), seed=cfg.seed)
    out["untrained_encoder"] = float(set_accuracy(blank, _encoder(blank, blank_perms)(new), new)[0])
    out["chance"] = 1.0 / N
    return out
