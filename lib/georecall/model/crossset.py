"""One network read across K independent fact sets: the config, the fact sets and the model [recon].

A *fact set* k is R bijections pi^k_r of the same N attributes, drawn from an explicit seed (:func:`set_bijections`;
set k is the same for every K, so the K = 4 sets are the first four of the K = 16 sets). Every set is read by the same
one-layer :class:`georecall.model.transformer.Transformer`: relation embeddings W_E[N + r], positions, attention, MLP
and W_U are shared; only how subject s of set k is embedded, e^k_s, depends on the set. The logits of a query are the
shared network's last-position readout on the two-token input [e^k_s, W_E[N + r]] (the model's own block and
unembedding run on the embeddings directly). Training is in :mod:`georecall.train.crossset`, zero-shot evaluation in
:mod:`georecall.probe.crossset`.

Subject-embedding parameterizations (``CrossSetConfig.parameterization``), with u_a = W_U[:, a] the model's own
attribute vectors (the unembedding columns, trained with everything else):

    free              e^k_s = T^k[s]                                     one free table T^k [N, d] per set
    encoded           e^k_s = sum_r A_r u_{pi^k_r(s)} + b                A_r [d, d] and b [d] learned, shared
    encoded_residual  e^k_s = sum_r A_r u_{pi^k_r(s)} + b + D^k[s]       plus a free residual D^k, starting at 0
    free_penalty      free tables, plus a penalty during training on how far they are from one joint superposition
                      fit (:func:`superposition_map`; the penalty is in :mod:`georecall.train.crossset`)

K = inf (``math.inf``) draws fresh sets while training, so it needs an embedding that exists for a set never seen
before: it is allowed only with ``encoded``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .. import repro
from .._checks import ArgumentTypeError, check_choice, check_finite, check_float, check_int, check_seed
from ..tasks.bijection import MAX_RELATIONS, MAX_SUBJECTS, SINGLE_HOP
from .transformer import ModelConfig, Transformer

__all__ = [
    "PARAMETERIZATIONS",
    "ENCODED",
    "PER_SET_TABLE",
    "CrossSetConfig",
    "CrossSetModel",
    "draw_bijections",
    "fresh_bijections",
    "set_accuracy",
    "set_bijections",
    "superposition_features",
    "superposition_map",
]

PARAMETERIZATIONS = ("free", "encoded", "encoded_residual", "free_penalty")
PER_SET_TABLE = ("free", "encoded_residual", "free_penalty")  # those with a per-set table (free or residual)
ENCODED = ("encoded", "encoded_residual")  # those with a learned encoder A, b


def _check_n_sets(value) -> None:
    """K: an int >= 1, or math.inf (fresh sets every step)."""
    if isinstance(value, float):
        if value != math.inf:
            raise ValueError(f"n_sets (K) must be an int in [1, 1048576] or math.inf, got {value!r}")
        return
    check_int("n_sets (K)", value, 1, 2**20)


@dataclass(frozen=True, kw_only=True)
class CrossSetConfig:
    """One cross-set training run (the objective: :mod:`georecall.train.crossset`; the parameterizations: the module
    docstring). AdamW, constant lr."""

    n_subjects: int = 64  # N, subjects = attributes
    n_relations: int = 4  # R
    d_model: int = 16  # d
    d_mlp: int | None = None  # m; None: 4 d
    n_sets: int | float = 1  # K; math.inf: fresh bijections every `resample_every` steps
    parameterization: str = "encoded"
    penalty: float = 1.0  # lambda of free_penalty (ignored otherwise)
    sets_per_step: int = 16  # sets per step (all K when K is smaller)
    resample_every: int = 1  # K = inf: steps between fresh draws
    steps: int = 2000
    lr: float = 1e-2
    weight_decay: float = 0.0
    eval_every: int = 250  # steps between evaluations of the training accuracy (history)
    seed: int = 0  # the fact sets (and the fresh draws of K = inf)
    init_seed: int = 0  # the network, the tables and the encoder
    data_seed: int = 0  # which sets a step takes when K > sets_per_step

    def __post_init__(self) -> None:
        check_int("n_subjects (N)", self.n_subjects, 2, MAX_SUBJECTS)
        check_int("n_relations (R)", self.n_relations, 1, MAX_RELATIONS)
        check_int("d_model (d)", self.d_model, 1)
        if self.d_mlp is not None:
            check_int("d_mlp", self.d_mlp, 1)
        _check_n_sets(self.n_sets)
        check_choice("parameterization", self.parameterization, PARAMETERIZATIONS)
        check_float("penalty", self.penalty, 0.0)
        check_int("sets_per_step", self.sets_per_step, 1)
        check_int("resample_every", self.resample_every, 1)
        check_int("steps", self.steps, 0)
        check_float("lr", self.lr, 0.0, lo_open=True)
        check_float("weight_decay", self.weight_decay, 0.0)
        check_int("eval_every", self.eval_every, 1)
        for name in ("seed", "init_seed", "data_seed"):
            check_seed(name, getattr(self, name))
        if self.infinite and self.parameterization != "encoded":
            raise ValueError(
                f"n_sets (K) = inf needs parameterization 'encoded' (a fresh set has no table to learn), "
                f"got {self.parameterization!r}"
            )

    @property
    def infinite(self) -> bool:
        return self.n_sets == math.inf

    @property
    def m(self) -> int:
        return 4 * self.d_model if self.d_mlp is None else self.d_mlp

    @property
    def batch_sets(self) -> int:
        """Sets per step: min(K, sets_per_step)."""
        return self.sets_per_step if self.infinite else min(int(self.n_sets), self.sets_per_step)

    def model_config(self) -> ModelConfig:
        N, R = self.n_subjects, self.n_relations
        return ModelConfig(
            d_vocab=N + R,
            d_vocab_out=N,
            n_ctx=2,
            d_model=self.d_model,
            d_mlp=self.m,
            init_seed=self.init_seed,
            data_format=SINGLE_HOP,
        )


def draw_bijections(g: torch.Generator, n: int, R: int, N: int) -> torch.Tensor:
    """n sets of R uniform bijections, [n, R, N]: argsort of uniform draws from ``g`` (a uniform permutation)."""
    return torch.rand(n, R, N, generator=g).argsort(dim=-1)


def set_bijections(N: int, R: int, K: int, *, seed: int) -> torch.Tensor:
    """The K training sets, perms [K, R, N] with perms[k, r, s] = pi^k_r(s), from ``repro.generator(seed,
    "crossset-sets")``, drawn one set after the other, so set k does not depend on K.

    >>> p = set_bijections(5, 2, 3, seed=0)
    >>> tuple(p.shape), bool((p.sort(-1).values == torch.arange(5)).all()), bool((p[:2] == set_bijections(5, 2, 2,
    ...     seed=0)).all())
    ((3, 2, 5), True, True)
    """
    check_int("N (n_subjects)", N, 2)
    check_int("R (n_relations)", R, 1)
    check_int("K (n_sets)", K, 1)
    g = repro.generator(seed, "crossset-sets")
    return torch.cat([draw_bijections(g, 1, R, N) for _ in range(K)])


def fresh_bijections(N: int, R: int, n: int, *, seed: int, stream: str = "crossset-fresh") -> torch.Tensor:
    """``n`` sets drawn from ``repro.generator(seed, stream)``, [n, R, N] (the first draw of K = inf training)."""
    check_int("n", n, 1)
    return draw_bijections(repro.generator(seed, stream), n, R, N)


class CrossSetModel(nn.Module):
    """The shared :class:`Transformer` (``net``) plus how subjects are embedded: ``tables`` [K, N, d] (free,
    free_penalty), ``A`` [R, d, d] and ``b`` [d] (encoded), ``residual`` [K, N, d] (encoded_residual, zeros at init).

    Init: tables ~ N(0, 1/d) like W_E; A_r entries ~ N(0, 1/(R d)), so sum_r A_r u has about the scale of a W_E row
    (u = W_U columns have norm about 1); b = 0. Drawn from ``repro.generator(init_seed, "crossset-init")``."""

    def __init__(self, config: CrossSetConfig):
        super().__init__()
        if not isinstance(config, CrossSetConfig):
            raise ArgumentTypeError(f"config must be a CrossSetConfig, got {type(config).__name__}")
        self.config = config
        self.net = Transformer(config.model_config())
        N, R, d = config.n_subjects, config.n_relations, config.d_model
        g = repro.generator(config.init_seed, "crossset-init")
        p = config.parameterization
        K = 0 if config.infinite else int(config.n_sets)
        if p in ("free", "free_penalty"):
            self.tables = nn.Parameter(torch.randn(K, N, d, generator=g) / math.sqrt(d))
        if p in ENCODED:
            self.A = nn.Parameter(torch.randn(R, d, d, generator=g) / math.sqrt(R * d))
            self.b = nn.Parameter(torch.zeros(d))
        if p == "encoded_residual":
            self.residual = nn.Parameter(torch.zeros(K, N, d))

    @property
    def attributes(self) -> torch.Tensor:
        """u_a = W_U[:, a] as rows, [N, d]."""
        return self.net.W_U.T

    def encode(self, perms: torch.Tensor, A: torch.Tensor | None = None, b: torch.Tensor | None = None) -> torch.Tensor:
        """e_s = sum_r A_r u_{pi_r(s)} + b for perms [S, R, N]: [S, N, d] (the model's own A, b by default)."""
        A = self.A if A is None else A
        b = self.b if b is None else b
        u = self.attributes[perms]  # [S, R, N, d]
        return torch.einsum("srni,roi->sno", u, A) + b

    def embeddings(self, set_ids: torch.Tensor | None, perms: torch.Tensor) -> torch.Tensor:
        """Subject embeddings [S, N, d] of the sets ``set_ids`` [S] (None for fresh sets) with bijections perms."""
        p = self.config.parameterization
        if p in ("free", "free_penalty"):
            return self.tables[set_ids]
        E = self.encode(perms)
        if p == "encoded_residual" and set_ids is not None:
            E = E + self.residual[set_ids]
        return E

    def logits(self, E: torch.Tensor) -> torch.Tensor:
        """Logits [S, N, R, N] of every query [e^k_s, W_E[N + r]] for subject embeddings E [S, N, d], through the
        shared network's own block and unembedding (last position only)."""
        S, N, d = E.shape
        R = self.config.n_relations
        net = self.net
        rel = net.W_E[N : N + R]  # [R, d]
        x0 = E[:, :, None, :].expand(S, N, R, d)
        x1 = rel[None, None].expand(S, N, R, d)
        resid_pre = torch.stack([x0, x1], dim=3).reshape(S * N * R, 2, d) + net.W_pos[:2]
        out = net.unembed(net.blocks[0](resid_pre, True))  # [S N R, 1, V]
        return out.reshape(S, N, R, -1)


def superposition_features(u: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
    """phi(s) = [u_{pi_1(s)}, ..., u_{pi_R(s)}] for perms [S, R, N]: [S, N, R d]."""
    S, R, N = perms.shape
    return u[perms].permute(0, 2, 1, 3).reshape(S, N, -1)


def superposition_map(
    tables: torch.Tensor, perms: torch.Tensor, u: torch.Tensor, *, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """The joint superposition fit of K tables: (W [R d, d], c [d]) minimising

        sum_{k, s} ||T^k[s] - phi^k(s) W - c||^2 + eps * (mean feature variance) * ||W||^2,

    phi = :func:`superposition_features`, for tables [S, N, d], perms [S, R, N], u [N, d] (u detached); solved from
    the centred normal equations, in the dtype of ``tables``, no gradient. The fit is joint over the sets, so it asks
    for one encoding shared by all of them; with K = 1 it fits any table once R d + 1 >= N."""
    with torch.no_grad():
        d = tables.shape[-1]
        X = superposition_features(u.detach().to(tables.dtype), perms).reshape(-1, perms.shape[1] * u.shape[1])
        Y = tables.detach().reshape(-1, d)
        mx, my = X.mean(0), Y.mean(0)
        Xc, Yc = X - mx, Y - my
        G = Xc.T @ Xc
        p = G.shape[0]
        G = G + eps * max(float(G.diagonal().sum()) / p, 1e-30) * torch.eye(p, dtype=G.dtype)
        W = torch.linalg.solve(G, Xc.T @ Yc)
        return W, my - mx @ W


@torch.no_grad()
def set_accuracy(model: CrossSetModel, E: torch.Tensor, perms: torch.Tensor, *, chunk: int = 8) -> torch.Tensor:
    """Per-set share of the N R facts recalled (argmax = pi_r(s)) with subject embeddings E [S, N, d]: [S].

    A model or embeddings with a NaN or infinite value are refused, never scored (a diverged run ends here with
    that error rather than a plausible accuracy)."""
    if not isinstance(model, CrossSetModel):
        raise ArgumentTypeError(f"model must be a CrossSetModel, got {type(model).__name__}")
    check_int("chunk", chunk, 1)
    N, R = model.config.n_subjects, model.config.n_relations
    if not isinstance(E, torch.Tensor) or E.ndim != 3 or E.shape[1] != N or E.shape[0] < 1:
        raise ValueError(f"E must be [S, N, d] with S >= 1 and N={N}, got {tuple(getattr(E, 'shape', ()))}")
    if not isinstance(perms, torch.Tensor) or tuple(perms.shape) != (E.shape[0], R, N):
        raise ValueError(
            f"perms must be [S, R, N] = [{E.shape[0]}, {R}, {N}], got {tuple(getattr(perms, 'shape', ()))}"
        )
    check_finite("model", model), check_finite("E", E)
    out = []
    for i in range(0, E.shape[0], chunk):
        pred = model.logits(E[i : i + chunk]).argmax(-1)  # [s, N, R]
        out.append((pred == perms[i : i + chunk].permute(0, 2, 1)).double().mean(dim=(1, 2)))
    return torch.cat(out)
