"""Held-out chains [recon]: train on part of the h-hop queries, every single hop seen, and score the unseen queries.

Does a model that knows every single-hop fact answer a chain it never saw? A point is a
:class:`georecall.sweep.multihop.HeldOutChains`. Query i = (x, r_1, ..., r_h) (``model.multihop.queries``) belongs to
the first-hop group g = i // R^(h-1), i.e. (x, r_1); :func:`split_chains` holds out round((1 - f) N R^h) queries, at
most R^(h-1) - 1 per group, so every group keeps a training query. Training data (:func:`held_out_facts`), on the
training queries only:

    no CoT   tokens [x, N+r_1, ..., N+r_h]           targets y_1 at position 1, y_h at position h (the last)
    CoT      tokens [x, N+r_1, y_1, ..., N+r_h]      targets y_i at r_i's position 2i - 1 (``multihop.cot_facts``)

so in both formats every single-hop fact (e, r) -> pi_r(e) is a supervised target at position 1 (every (e, r) is
the first hop of a training query), and the no-CoT and CoT models see the same facts and the same chains. The score
(:func:`train_held_out`) is ``multihop.evaluate_multihop`` on the held-out queries only (the final answer; decoded
autoregressively with CoT), next to the same score on the training queries, the single-hop accuracy and chance, 1/N
(a bijection's answers are uniform over the N entities, so no constant guess beats 1/N).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch

from .. import repro
from ..model import multihop
from ..model.transformer import ModelConfig, Transformer
from ..sweep import tables
from ..sweep.multihop import HeldOutChains
from ..tasks import bijection as tasks
from ..tasks.bijection import BijectionTask, FactSet
from ..theory.multihop import COT, NO_COT, check_format
from ..train.batched import train_batched
from ..train.recipe import TrainConfig
from ._points import each_point, finite_or_none
from .scheduler import HELDOUT_ROW_SCALARS

__all__ = [
    "split_chains",
    "held_out_facts",
    "HeldOutResult",
    "train_held_out",
    "result_row",
    "HELDOUT_ROW_SCALARS",
    "heldout_group",
    "heldout_tables",
]


def split_chains(task: BijectionTask, h: int, train_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(training query indices, held-out query indices), each sorted int64: a seeded random order of the N R^h
    queries (stream "heldout" of ``seed``) holds out the first round((1 - f) N R^h) queries whose first-hop group
    (x, r_1) = i // R^(h-1) still keeps another query, so each group keeps at least one training query.

    >>> from georecall.tasks.bijection import make_task
    >>> tr, ho = split_chains(make_task(4, 2, seed=0), 2, 0.5, seed=0)
    >>> len(tr), len(ho), sorted(set((tr // 2).tolist())) == list(range(8))
    (8, 8, True)
    """
    cfg = HeldOutChains(
        n_subjects=task.N, n_relations=task.R, hops=h, train_fraction=train_fraction, seed=seed, d_model=h
    )  # validates h, f (in [1/R^(h-1), 1), holding out at least one query) and the seed
    n, G = cfg.n_queries, task.R ** (h - 1)
    order = torch.randperm(n, generator=repro.generator(seed, "heldout"))  # order[k]: the k-th query drawn
    group = order // G  # [n]: first-hop group of each drawn query
    by_group = torch.argsort(group * n + torch.arange(n), stable=True)  # draws sorted by group, then by draw rank
    rank = torch.empty(n, dtype=torch.int64)
    rank[by_group] = torch.arange(n) - torch.searchsorted(group[by_group], group[by_group])  # rank in its group
    eligible = torch.nonzero(rank < G - 1)[:, 0]  # draw ranks that may be held out (increasing)
    held = order[eligible[: cfg.n_heldout]].sort().values
    keep = torch.ones(n, dtype=torch.bool)
    keep[held] = False
    return torch.nonzero(keep)[:, 0], held


def held_out_facts(task: BijectionTask, h: int, fmt: str, train_index: torch.Tensor) -> FactSet:
    """The training data of the queries ``train_index``: CoT as ``multihop.cot_facts``; no CoT as
    ``multihop.no_cot_facts`` plus the single-hop target y_1 at position 1 (module docstring)."""
    if check_format(fmt) == COT:
        return multihop.cot_facts(task, h, train_index)
    data = multihop.no_cot_facts(task, h, train_index)
    subjects, p = multihop.queries(task, h, train_index)
    targets = data.targets.clone()
    targets[:, 1] = multihop.chain(task, subjects, p)[:, 0]  # y_1 = pi_{r_1}(x), at r_1's position
    return FactSet(data.tokens, targets, d_vocab=data.d_vocab, d_vocab_out=data.d_vocab_out, data_format=NO_COT)


@dataclass(frozen=True)
class HeldOutResult:
    """Scores of one held-out-chains point; accuracies are of the final answer y_h (decoded with CoT)."""

    config: HeldOutChains
    n_train: int
    n_heldout: int
    heldout_accuracy: float  # on the unseen queries only
    train_accuracy: float  # on the training queries (the same scoring)
    single_hop_accuracy: float  # on all N R single-hop facts [x, N+r], read at position 1
    chance: float  # 1/N
    last_hop_seen: float  # share of held-out queries whose last hop (y_{h-1}, r_h) ends some training query too
    heldout_min_margin: float
    steps: int
    reached_target: bool  # the training sequences reached 99% (every targeted position right)
    heldout_index: tuple[int, ...] = field(repr=False)
    seconds: float = field(default=0.0, compare=False)


def _last_hops(task: BijectionTask, h: int, index: torch.Tensor) -> torch.Tensor:
    """(y_{h-1}, r_h) of each query as one int64 code y_{h-1} R + r_h, [n]."""
    x, p = multihop.queries(task, h, index)
    ys = multihop.chain(task, x, p)  # [n, h]
    return ys[:, h - 2] * task.R + p[:, -1]


def train_held_out(config: HeldOutChains) -> tuple[HeldOutResult, Transformer]:
    """Train one :class:`HeldOutChains` point (``batched.train_batched``, one thread's arithmetic, seeded task, split,
    init and data order) and score it: ``(result, trained model)``. Same config, same numbers."""
    if not isinstance(config, HeldOutChains):
        raise TypeError(f"config must be a HeldOutChains, got {type(config).__name__}")
    h, fmt = config.hops, config.data_format
    task = tasks.make_task(config.n_subjects, config.n_relations, seed=config.seed)
    train_index, held = split_chains(task, h, config.train_fraction, config.seed)
    data = held_out_facts(task, h, fmt, train_index)
    mcfg = ModelConfig.for_task(data, config.d_model, d_mlp=config.d_mlp, n_heads=config.n_heads, init_seed=config.seed)
    model = Transformer(mcfg).to(repro.default_device(config.device))
    recipe = TrainConfig(
        lr=config.lr,
        weight_decay=config.weight_decay,
        max_steps=config.max_steps,
        eval_every=config.eval_every,
        target_accuracy=0.99,
        data_seed=config.seed,
        early_stop=config.early_stop,
    )
    (res,) = train_batched([model], [data], [recipe])
    ev_held = multihop.evaluate_multihop(model, task, h, fmt=fmt, index=held)
    ev_train = multihop.evaluate_multihop(model, task, h, fmt=fmt, index=train_index)
    ev_single = multihop.evaluate_multihop(model, task, 1, fmt=NO_COT)
    seen = torch.isin(_last_hops(task, h, held), _last_hops(task, h, train_index))
    result = HeldOutResult(
        config=config,
        n_train=len(train_index),
        n_heldout=len(held),
        heldout_accuracy=ev_held.accuracy,
        train_accuracy=ev_train.accuracy,
        single_hop_accuracy=ev_single.accuracy,
        chance=1.0 / task.N,
        last_hop_seen=float(seen.double().mean()),
        heldout_min_margin=ev_held.min_margin,
        steps=res.steps,
        reached_target=bool(res.reached_target),
        heldout_index=tuple(held.tolist()),
        seconds=res.seconds,
    )
    return result, model


def result_row(result: HeldOutResult) -> dict:
    """One flat table row of a result: the config's fields, then the scores (no indices, no wall time)."""
    skip = {"config", "heldout_index", "seconds"}
    scores = {k: v for k, v in dataclasses.asdict(result).items() if k not in skip}
    return {**dataclasses.asdict(result.config), **scores}


def _check_point(obj) -> HeldOutChains:
    if isinstance(obj, HeldOutChains):
        return obj
    if isinstance(obj, dict):
        return HeldOutChains(**obj)
    raise TypeError(f"a held-out-chains point must be a HeldOutChains or its fields, got {type(obj).__name__}")


def _measure(point: HeldOutChains) -> dict:
    """One point's cached row: its scores (non-finite ones as None) and wall time, no arrays."""
    result, _ = train_held_out(point)
    row = result_row(result)
    scalars = {k: finite_or_none(row[k]) for k in HELDOUT_ROW_SCALARS if k != "seconds"}
    return {"scalars": {**scalars, "seconds": float(result.seconds)}, "arrays": {}}


def heldout_group(point_dicts: Sequence[dict], threads: int | None = 1) -> list[dict]:
    """The executor's unit of work for held-out-chains points (each its own group): JSON-able in and out, on
    ``threads`` torch threads (1 by default, so the numbers do not depend on the machine's core count)."""
    return each_point([_check_point(p) for p in point_dicts], _measure, threads)


def heldout_tables(points: Sequence[HeldOutChains], rows: dict[str, dict]) -> dict[str, pd.DataFrame]:
    """The ``multihop_heldout`` table of ``points`` from their results ``rows`` (cache key -> ``{"scalars",
    "arrays"}``): one row per point, the config's fields then the scores (no wall time), sorted by the fields."""
    records, seen = [], set()
    for p in map(_check_point, points):
        if p.key() in seen:
            continue
        seen.add(p.key())
        s = {k: v for k, v in rows[p.key()]["scalars"].items() if k != "seconds"}
        records.append({**dataclasses.asdict(p), **s})
    spec = tables.spec("multihop_heldout")
    df = pd.DataFrame.from_records(records, columns=list(spec.columns))
    order = ["data_format", "train_fraction", "early_stop", "seed"]
    return {"multihop_heldout": df.sort_values(order, kind="stable").reset_index(drop=True)}
