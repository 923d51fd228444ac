"""The sweep scheduler: sends stacks of cache misses to an executor, stores results, and never trains a point
that another process sharing the cache is already training (no torch at import).

A point is trained by one process at a time: before submitting a missing point the scheduler takes its cache
entry's advisory lock (:meth:`georecall.sweep.cache.Cache.try_claim`); a point whose lock another sweep holds waits,
polled every second, and is then loaded from the cache (or trained here if the other sweep died before storing
it). Cached rows are checked against :data:`ROW_SCALARS` (multi-hop points: :data:`MULTIHOP_ROW_SCALARS`, sentence
points: :data:`SENTENCE_ROW_SCALARS`) on load.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import time
from collections.abc import Sequence

from tqdm.auto import tqdm

from ..sweep import cache as cache_mod
from ..sweep.configs import MultiHopConfig, RunConfig
from ..sweep.multihop import HeldOutChains
from ..sweep.sentences import SentenceRunConfig

__all__ = [
    "ROW_SCALARS",
    "MULTIHOP_ROW_SCALARS",
    "HELDOUT_ROW_SCALARS",
    "SENTENCE_ROW_SCALARS",
    "row_scalars",
    "Scheduler",
    "groups",
]

ROW_SCALARS = {  # the scalars of one trained point, as stored in the cache (checked on load)
    "accuracy": (float, type(None)),  # None when not finite (the row is then marked failed)
    "loss": (float, type(None)),  # None when training diverged (see "failed")
    "steps": int,
    "reached_target": bool,
    "seconds": float,
    "n_params": int,
    "n_params_trainable": int,
    "n_params_nonembed": int,
    "heldout_accuracy": (float, type(None)),
    "failed": (str, type(None)),  # why training failed (a NaN or infinite loss), else None
}
MULTIHOP_ROW_SCALARS = {  # a multi-hop point (georecall.run.multihop.scores): no held-out draw, decoded scores
    **{k: v for k, v in ROW_SCALARS.items() if k != "heldout_accuracy"},
    "train_accuracy": (float, type(None)),  # the trainer's (teacher-forced with CoT); "accuracy" is the final answer's
    "step_accuracy": str,  # "a_1;...;a_h", decoded accuracy of each generated token
    "min_margin": (float, type(None)),  # None when the scores are not finite (a failed run)
}

HELDOUT_ROW_SCALARS = {  # a held-out-chains point (run.heldout.result_row less the config fields)
    "n_train": int,
    "n_heldout": int,
    "heldout_accuracy": (float, type(None)),  # None: not finite (a diverged run)
    "train_accuracy": (float, type(None)),
    "single_hop_accuracy": (float, type(None)),
    "chance": float,
    "last_hop_seen": float,
    "heldout_min_margin": (float, type(None)),
    "steps": int,
    "reached_target": bool,
    "seconds": float,
}
SENTENCE_ROW_SCALARS = {  # a sentence point (georecall.run.sentences.scores): "accuracy" is recall on the train split
    **{k: v for k, v in ROW_SCALARS.items() if k != "heldout_accuracy"},
    "heldout_templates_accuracy": (float, type(None)),  # None without held-out templates, or for a failed run
    "inverse_accuracy": (float, type(None)),  # None without an inverse split, or for a failed run
}


def row_scalars(config) -> dict | None:
    """The scalars a cached row of ``config`` must hold (None: not checked here, the study's rows vary)."""
    if isinstance(config, HeldOutChains):
        return HELDOUT_ROW_SCALARS
    if not isinstance(config, RunConfig):
        return None
    if isinstance(config, SentenceRunConfig):
        return SENTENCE_ROW_SCALARS
    return MULTIHOP_ROW_SCALARS if isinstance(config, MultiHopConfig) else ROW_SCALARS


def groups(configs: Sequence[RunConfig]) -> list[list[RunConfig]]:
    """The points grouped into stacks of one shape (equal ``RunConfig.group_key``), in first-seen order."""
    by_key: dict[tuple, list[RunConfig]] = {}
    for c in configs:
        by_key.setdefault(c.group_key(), []).append(c)
    return list(by_key.values())


class Scheduler:
    """Feeds ``executor`` with stacks of cache misses, each run as ``work(list of RunConfig dicts)`` (which returns
    one ``{"scalars", "arrays"}`` row per point), and stores the rows in ``store`` (None: no cache). A request's
    ``tag`` is returned by :meth:`wait_one` once all of its points are available (see the module docstring)."""

    POLL_SECONDS = 1.0

    def __init__(self, executor: cf.Executor, store: cache_mod.Cache | None, progress: bool, recompute: bool, work):
        self.executor, self.store, self.recompute, self.work = executor, store, recompute, work
        self.rows: dict[str, dict] = {}  # key -> row
        self.futures: dict[cf.Future, list[RunConfig]] = {}
        self.claims: dict[str, object] = {}  # key -> held cache lock
        self.waiting: dict[str, RunConfig] = {}  # key -> point another process is training
        self.inflight: set[str] = set()  # keys submitted or waiting
        self.tags: dict[object, set[str]] = {}  # tag -> keys not yet available
        self.done_tags: list = []
        self.bar = tqdm(desc="sweep points", unit="pt", disable=not progress)

    def _lookup(self, c: RunConfig) -> dict | None:
        if self.store is None or self.recompute:
            return None
        art = self.store.load(c, expect=row_scalars(c))
        return None if art is None else {"scalars": art.scalars, "arrays": art.arrays}

    def _available(self, key: str, row: dict) -> None:
        self.rows[key] = row
        self.inflight.discard(key)
        self.bar.update(1)
        for tag, keys in list(self.tags.items()):
            keys.discard(key)
            if not keys:
                del self.tags[tag]
                self.done_tags.append(tag)

    def _claim_and_submit(self, configs: Sequence[RunConfig]) -> None:
        to_train = []
        for c in configs:
            k = c.key()
            lock = self.store.try_claim(c) if self.store is not None else None
            if self.store is not None and lock is None:
                self.waiting[k] = c  # another process trains it
                continue
            self.waiting.pop(k, None)
            hit = self._lookup(c) if lock is not None else None  # stored by another process meanwhile?
            if hit is not None:
                lock.close()
                self._available(k, hit)
                continue
            if lock is not None:
                self.claims[k] = lock
            to_train.append(c)
        for group in groups(to_train):
            self.futures[self.executor.submit(self.work, [dataclasses.asdict(c) for c in group])] = group

    def request(self, configs: Sequence[RunConfig], tag) -> bool:
        """Ask for ``configs`` (one stack); returns True if all were already available (cache or earlier)."""
        pending = {c.key() for c in configs if c.key() not in self.rows}
        new = list({c.key(): c for c in configs if c.key() not in self.rows and c.key() not in self.inflight}.values())
        self.bar.total = (self.bar.total or 0) + len(new)
        missing = []
        for c in new:
            hit = self._lookup(c)
            if hit is not None:
                self.rows[c.key()] = hit
                self.bar.update(1)
                pending.discard(c.key())
            else:
                missing.append(c)
                self.inflight.add(c.key())
        if not pending:
            return True
        self.tags.setdefault(tag, set()).update(pending)
        self.bar.refresh()
        self._claim_and_submit(missing)
        return False

    def busy(self) -> bool:
        return bool(self.futures or self.waiting or self.done_tags)

    def wait_one(self) -> list:
        """Block until at least one request is complete; store what finished; return the completed tags."""
        while not self.done_tags and (self.futures or self.waiting):
            timeout = self.POLL_SECONDS if self.waiting else None
            done: set = set()
            if self.futures:
                done, _ = cf.wait(list(self.futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
            else:
                time.sleep(self.POLL_SECONDS)
            for fut in done:
                group = self.futures.pop(fut)
                for c, out in zip(group, fut.result()):
                    if self.store is not None:
                        self.store.store(c, cache_mod.Artifact(scalars=out["scalars"], arrays=out["arrays"]))
                    lock = self.claims.pop(c.key(), None)
                    if lock is not None:
                        lock.close()
                    self._available(c.key(), out)
            if self.waiting:
                self._claim_and_submit(list(self.waiting.values()))
        tags, self.done_tags = self.done_tags, []
        return tags

    def close(self) -> None:
        for lock in self.claims.values():
            lock.close()
        self.claims.clear()
        self.bar.close()
