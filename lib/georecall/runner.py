"""Running sweeps: the memory plan, the executors, the scheduler, and the producers of the committed tables.

A sweep (:mod:`georecall.sweeps`) is a list of experiments: fixed points and threshold lines. The scheduler
sends stacks of same-shape points (cache misses only) to any ``concurrent.futures.Executor``: inline (one
process), a local spawn process pool (the default), or a Dask ``distributed`` client
(``client.get_executor()``), so the same sweep runs on a laptop or a cluster. Each stack trains with
:func:`georecall.batched.train_batched`; each point is stored on its own in the content-addressed cache
(:mod:`georecall.cache`), so an interrupted sweep resumes where it stopped. Threshold lines advance as their
probes finish (:class:`georecall.sweeps.LineState`). Before anything trains, :func:`check_memory` refuses a
grid whose largest stacks would not fit in memory together.

:func:`make_table` computes any table of the registry (:mod:`georecall.tables`): a sweep table from its
preset's experiment, the dense-accuracy table from :func:`georecall.chapters.dense_accuracy_table`.
Multi-hop points (:class:`georecall.sweeps.MultiHopConfig`) take their data, model and scores from
:mod:`georecall.multihop_sweep` and go to tables with the multi-hop columns.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import functools
import multiprocessing
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import cache as cache_mod
from . import chapters, models, multihop_sweep, repro, tables, tasks, theory, train
from .batched import EVAL_ELEMENTS, train_batched
from .presets import preset
from .sweeps import MAJORITY, Experiment, LineState, MultiHopConfig, RunConfig

__all__ = [
    "MEMORY_HEADROOM",
    "estimate_memory_bytes",
    "available_memory_bytes",
    "check_memory",
    "build",
    "train_group",
    "InlineExecutor",
    "make_executor",
    "run_experiments",
    "run",
    "make_table",
]

MEMORY_HEADROOM = 0.8  # a grid may plan for at most this share of the available memory


# --- the memory plan ----------------------------------------------------------------------------------------------


def estimate_memory_bytes(configs: Sequence[RunConfig]) -> int:
    """A rough upper estimate of the memory one stack of ``configs`` (one shape) needs while training.

    Per model: float32 logits with log-softmax and their gradients (4 * B * V_out), activations
    (~8 * B * T * (d + m)), data (2 int64 tensors of n * T), and weights with gradient and AdamW moments
    (4 * parameters). B is the full data (or ``batch_size`` beyond ``full_batch_max``), and evaluation chunks
    are bounded by ``batched.EVAL_ELEMENTS``.
    """
    c = configs[0]
    M = len(configs)
    n = c.n_sequences
    B = n if n <= c.full_batch_max else c.batch_size
    q = c.T if c.data_format == "cot" else 1  # positions with logits: the query position, or all T with CoT
    params = theory.param_count(c.d_model, c.d_mlp, d_vocab=c.d_vocab, d_vocab_out=c.n_subjects, n_ctx=c.T)
    per_model = 4 * (4 * B * q * c.n_subjects + 8 * B * c.T * (c.d_model + c.d_mlp) + 4 * params) + 16 * n * c.T
    return int(M * per_model + 3 * 4 * EVAL_ELEMENTS)


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo, else total physical memory."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(groups: Sequence[Sequence[RunConfig]], workers: int, *, available: int | None = None) -> None:
    """Fail fast (``ValueError``) if the ``workers`` largest stacks would not fit in memory together."""
    if not groups:
        return
    available = available_memory_bytes() if available is None else available
    sizes = sorted((estimate_memory_bytes(g) for g in groups), reverse=True)
    need = sum(sizes[: max(1, workers)])
    if need > MEMORY_HEADROOM * available:
        biggest = max(groups, key=estimate_memory_bytes)[0]
        raise ValueError(
            f"this grid needs about {need / 2**30:.1f} GiB ({max(1, workers)} worker(s); largest stack "
            f"N={biggest.n_subjects}, R={biggest.n_relations}, d={biggest.d_model}, {len(groups[0])} model(s)), "
            f"more than {MEMORY_HEADROOM:.0%} of the {available / 2**30:.1f} GiB available; "
            "reduce N, R, d, the number of seeds, or --workers"
        )


# --- one stack of points ------------------------------------------------------------------------------------


def build(config: RunConfig):
    """(task, training data, model, TrainConfig, resample) of one point, all from the point's seed; ``resample(step)``
    draws the fresh noisy batch of a step (noisy format), else it is None."""
    if isinstance(config, MultiHopConfig):
        return multihop_sweep.build(config)
    task = tasks.make_task(config.n_subjects, config.n_relations, seed=config.seed)
    if config.data_format == "noisy":  # fresh noise every step (Nichani et al.); accuracy on a fixed fresh draw
        noisy = functools.partial(tasks.noisy_sequences, task, seq_len=config.seq_len, copies=config.noisy_copies)
        data = noisy(seed=repro.stream_seed(config.seed, "noisy-eval"))

        def resample(step: int):
            return noisy(seed=repro.stream_seed(config.seed, f"noisy-train/{step}"))

    else:
        data, resample = task.single_hop(), None
    mcfg = models.ModelConfig.for_task(
        data,
        config.d_model,
        d_mlp=config.d_mlp,
        n_heads=config.n_heads,
        freeze_embed=config.freeze_embed,
        init_seed=config.seed,
    )
    model = models.Transformer(mcfg).to(repro.default_device(config.device))
    return task, data, model, config.train_config(), resample


def _heldout_accuracy(config: RunConfig, task, model) -> float | None:
    """Noisy format: accuracy on another fresh noisy copy of every fact (a second, independent draw); else None."""
    if config.data_format != "noisy":
        return None
    fresh = tasks.noisy_sequences(
        task, seq_len=config.seq_len, copies=1, seed=repro.stream_seed(config.seed, "heldout")
    )
    return train.evaluate(model, fresh).accuracy


def _pack(config: RunConfig, task, model, result) -> dict:
    if isinstance(config, MultiHopConfig):
        extra = multihop_sweep.scores(config, task, model, result)
    scalars = {
        "accuracy": result.accuracy,
        "loss": result.loss,
        "steps": result.steps,
        "reached_target": bool(result.reached_target),
        "seconds": result.seconds,
        "n_params": model.n_params(),
        "n_params_trainable": model.n_params(trainable_only=True),
        "n_params_nonembed": model.n_params(include_embeddings=False),
    }
    if isinstance(config, MultiHopConfig):
        scalars.update(extra)  # the final answer's accuracy (decoded with CoT) replaces the trainer's
    else:
        scalars["heldout_accuracy"] = _heldout_accuracy(config, task, model)
    arrays = {f"history_{k}": np.asarray(v, dtype=np.float64) for k, v in result.history.items()}
    return {"scalars": scalars, "arrays": arrays}


def train_group(config_dicts: Sequence[dict], threads: int | None = 1) -> list[dict]:
    """Train one stack of same-shape points (the unit of work sent to an executor); JSON-able in and out.

    ``threads`` pins torch's intra-op threads for the duration (1 by default: results then do not depend
    on the worker's core count, and a stack's results do not depend on which other models share it).
    """
    configs = [_config(c) for c in config_dicts]
    keys = {c.group_key() for c in configs}
    if len(keys) != 1:
        raise ValueError("train_group needs points of one shape (equal group_key)")
    repro.reuse_freed_memory()  # per-step tensors are reused, not re-faulted from the kernel (see its docstring)
    with repro.torch_threads(threads) if threads is not None else contextlib.nullcontext():
        built = [build(c) for c in configs]
        noisy = configs[0].data_format == "noisy"
        resample = (lambda i, step: built[i][4](step)) if noisy else None
        results = train_batched([b[2] for b in built], [b[1] for b in built], [b[3] for b in built], resample=resample)
        return [_pack(c, b[0], b[2], r) for c, b, r in zip(configs, built, results)]


def _config(fields: dict) -> RunConfig:
    """A point from its fields (a multi-hop point is recognised by its ``hops``)."""
    return MultiHopConfig(**fields) if "hops" in fields else RunConfig(**fields)


# --- executors ---------------------------------------------------------------------------------------------


class InlineExecutor(cf.Executor):
    """An ``Executor`` that runs each call immediately in this process (no pool, no pickling)."""

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as err:  # delivered through the future, as a pool would
            fut.set_exception(err)
        return fut


def _init_worker() -> None:
    torch.set_num_threads(1)


@contextlib.contextmanager
def make_executor(workers: int | None = None, dask: str | None = None):
    """Yield an Executor: a Dask client's executor if ``dask`` (a scheduler address) is given, else a spawn
    process pool of ``workers`` processes (default: CPU count), or :class:`InlineExecutor` for ``workers=1``."""
    if dask:
        from distributed import Client  # optional (the `cluster` extra): imported only when a cluster is asked for

        client = Client(dask)
        try:
            yield client.get_executor()
        finally:
            client.close()
        return
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        yield InlineExecutor()
        return
    pool = cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --- the scheduler ---------------------------------------------------------------------------------------------


class _Scheduler:
    """Feeds an executor with stacks (cache misses only), stores results, and advances threshold lines."""

    def __init__(self, executor: cf.Executor, store: cache_mod.Cache | None, progress: bool, recompute: bool):
        self.executor, self.store, self.recompute = executor, store, recompute
        self.rows: dict[str, dict] = {}  # key -> row
        self.futures: dict[cf.Future, tuple] = {}
        self.bar = tqdm(desc="sweep points", unit="pt", disable=not progress)

    def _lookup(self, c: RunConfig) -> dict | None:
        if self.store is None or self.recompute:
            return None
        art = self.store.load(c)
        return None if art is None else {"scalars": art.scalars, "arrays": art.arrays}

    def request(self, configs: Sequence[RunConfig], tag) -> bool:
        """Ask for ``configs`` (one stack); returns True if all were already available (cache or earlier)."""
        missing, new = [], [c for c in configs if c.key() not in self.rows]
        self.bar.total = (self.bar.total or 0) + len(new)
        for c in new:
            hit = self._lookup(c)
            if hit is not None:
                self.rows[c.key()] = hit
                self.bar.update(1)
            else:
                missing.append(c)
        if not missing:
            return True
        self.bar.refresh()
        for group in _groups(missing):
            fut = self.executor.submit(train_group, [dataclasses.asdict(c) for c in group])
            self.futures[fut] = (group, tag)
        return False

    def wait_one(self) -> list:
        """Block until at least one stack finishes; store it; return the tags of finished stacks."""
        done, _ = cf.wait(list(self.futures), return_when=cf.FIRST_COMPLETED)
        tags = []
        for fut in done:
            group, tag = self.futures.pop(fut)
            outs = fut.result()
            for c, out in zip(group, outs):
                self.rows[c.key()] = out
                if self.store is not None:
                    self.store.store(c, cache_mod.Artifact(scalars=out["scalars"], arrays=out["arrays"]))
            self.bar.update(len(group))
            tags.append(tag)
        return tags

    def close(self) -> None:
        self.bar.close()


def _groups(configs: Sequence[RunConfig]) -> list[list[RunConfig]]:
    by_key: dict[tuple, list[RunConfig]] = {}
    for c in configs:
        by_key.setdefault(c.group_key(), []).append(c)
    return list(by_key.values())


def _majority(configs: Sequence[RunConfig], rows: Sequence[dict], target: float) -> bool:
    """More than MAJORITY of the seeds succeed; a seed succeeds when any of its points (lrs) reaches ``target``."""
    ok: dict[int, bool] = {}
    for c, r in zip(configs, rows):
        ok[c.seed] = ok.get(c.seed, False) or r["scalars"]["accuracy"] >= target
    return sum(ok.values()) > MAJORITY * len(ok)


def run_experiments(
    experiments: Sequence[Experiment],
    *,
    executor: cf.Executor | None = None,
    cache: cache_mod.Cache | str | None = None,
    use_cache: bool = True,
    progress: bool = True,
    recompute: bool = False,
    workers_for_memory: int = 1,
) -> dict[str, pd.DataFrame]:
    """Run every experiment (points and threshold lines) through one executor; return a table per experiment."""
    executor = executor or InlineExecutor()
    store = (cache if isinstance(cache, cache_mod.Cache) else cache_mod.Cache(cache)) if use_cache else None
    # fail fast: every stack that could be trained must fit (lines: their whole grid)
    stacks = [g for e in experiments for g in _groups(list(e.points))]
    stacks += [line.configs_at(i) for e in experiments for line in e.lines for i in range(len(line.grid))]
    check_memory(stacks, workers_for_memory)
    sched = _Scheduler(executor, store, progress, recompute)
    states = {(ei, li): LineState(line) for ei, e in enumerate(experiments) for li, line in enumerate(e.lines)}
    probes: dict[tuple, list[int]] = {k: [] for k in states}
    try:
        for ei, e in enumerate(experiments):
            for group in _groups(list(e.points)):
                sched.request(group, ("points", ei))
        pending = []  # line probes whose points are available right away (cache hits)

        def probe(k, index) -> None:
            probes[k].append(index)
            line = states[k].line
            if sched.request(line.configs_at(index), ("line", k, index)):
                pending.append(("line", k, index))

        for k, st in states.items():
            probe(k, st.line.start)
        while pending or sched.futures:
            tags = [pending.pop()] if pending else sched.wait_one()
            for tag in tags:
                if tag[0] != "line":
                    continue
                _, k, index = tag
                st = states[k]
                probe_configs = st.line.configs_at(index)
                rows = [sched.rows[c.key()] for c in probe_configs]
                st.results[index] = _majority(probe_configs, rows, st.line.base.target_accuracy)
                nxt = st.next_index(index)
                if nxt is None:
                    st.done = True
                else:
                    probe(k, nxt)
    finally:
        sched.close()
    tables = {}
    for ei, e in enumerate(experiments):
        configs = list(e.points)
        for li, line in enumerate(e.lines):
            for index in sorted(set(probes[(ei, li)])):
                configs += line.configs_at(index)
        tables[e.name] = _table(configs, sched.rows)
    return tables


def _table(configs: Sequence[RunConfig], rows: dict[str, dict]) -> pd.DataFrame:
    """One row per point, deterministic columns only (no wall times), sorted; ``seconds`` kept separately."""
    records = []
    seen = set()
    for c in configs:
        if c.key() in seen:
            continue
        seen.add(c.key())
        s = rows[c.key()]["scalars"]
        rec = {**dataclasses.asdict(c), "n_facts": c.n_facts, **s}
        records.append(rec)
    multi = bool(configs) and isinstance(configs[0], MultiHopConfig)
    columns = tables.MULTIHOP_COLUMNS if multi else tables.SWEEP_COLUMNS
    df = pd.DataFrame.from_records(records, columns=list(columns) + ["seconds"])
    if not multi:
        df["heldout_accuracy"] = df["heldout_accuracy"].astype(float)
    keys = ["data_format", "freeze_embed", "n_relations", "n_subjects", "d_model", "d_mlp", "lr", "seed"]
    keys = ["hops", *(k for k in keys if k != "freeze_embed")] if multi else keys
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def run(
    name: str,
    *,
    device: str = "cpu",
    workers: int | None = None,
    dask: str | None = None,
    cache: cache_mod.Cache | str | None = None,
    use_cache: bool = True,
    progress: bool = True,
    only: Sequence[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Run the preset ``name`` and return its tables (``{experiment name: DataFrame}``).

    ``workers``: local processes (default: CPU count; 1 runs inline); ``dask``: a scheduler address, which
    replaces the local pool by the cluster.
    """
    p = preset(name, device=device)
    exps = [e for e in p.experiments if only is None or e.name in only]
    if only is not None and len(exps) != len(set(only)):
        raise ValueError(
            f"unknown experiment(s) in {list(only)}; preset {name!r} has {[e.name for e in p.experiments]}"
        )
    with make_executor(workers, dask) as ex:
        n_workers = 1 if dask else (workers or os.cpu_count() or 1)
        return run_experiments(
            exps, executor=ex, cache=cache, use_cache=use_cache, progress=progress, workers_for_memory=n_workers
        )


# --- the committed tables --------------------------------------------------------------------------------------


def make_table(
    name: str,
    *,
    device: str = "cpu",
    workers: int | None = None,
    dask: str | None = None,
    cache: cache_mod.Cache | str | None = None,
    use_cache: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Compute the registered table ``name`` (:data:`georecall.tables.TABLES`): a sweep table runs its preset's
    experiment of the same name (through the cache unless ``use_cache=False``); ``dense_accuracy`` scores the
    dense construction (no cache, about two minutes on one core)."""
    t = tables.spec(name)
    if t.kind == tables.DENSE:
        return chapters.dense_accuracy_table()
    return run(
        t.preset,
        device=device,
        workers=workers,
        dask=dask,
        cache=cache,
        use_cache=use_cache,
        progress=progress,
        only=[name],
    )[name]
