"""Running sweeps: the memory plan, one stack of points, the experiments' loop, and the producers of the tables.

A sweep (:mod:`georecall.sweep.configs`) is a list of experiments: fixed points and threshold lines. The scheduler
(:mod:`georecall.run.scheduler`) sends stacks of same-shape points (cache misses only) to any
``concurrent.futures.Executor`` (:mod:`georecall.run.executors`): inline (one process), a local spawn process pool
(the default), or a Dask ``distributed`` client (``client.get_executor()``), so the same sweep runs on a laptop or
a cluster. Each stack trains with :func:`georecall.train.batched.train_batched` (a probing stack then probes each
model, :mod:`georecall.run.study`); each point is stored on its own in the content-addressed cache
(:mod:`georecall.sweep.cache`), so an interrupted sweep resumes where it stopped. Threshold lines advance as their
probes finish (:class:`georecall.sweep.search.LineState`). Before anything trains, :func:`check_memory` refuses a
grid whose largest stacks would not fit in memory together, the arguments are checked, and the cache folder is
probed (read-only use if it cannot be written). A point whose loss becomes NaN or inf is kept with ``failed`` set.

:func:`make_table` computes any table of the registry (:mod:`georecall.sweep.tables`): a sweep table from its
preset's experiment, the dense-accuracy table from :func:`georecall.construct.views.dense_accuracy_table`.
Multi-hop points (:class:`georecall.sweep.configs.MultiHopConfig`) take their data, model and scores from
:mod:`georecall.run.multihop` and go to tables with the multi-hop columns; sentence points
(:class:`georecall.sweep.sentences.SentenceRunConfig`) take theirs, and the recall data every evaluation scores,
from :mod:`georecall.run.sentences`.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import repro
from .._checks import MAX_WORKERS, ArgumentTypeError, check_bool, check_choice, check_int
from ..construct import views as chapters
from ..sweep import cache as cache_mod
from ..sweep import tables
from ..sweep.configs import COT, DEVICES, Experiment, MultiHopConfig, RunConfig
from ..sweep.presets import preset
from ..sweep.search import LineState
from ..sweep.sentences import SENTENCES, SentenceRunConfig
from ..theory import bijection as theory
from ..train.batched import EVAL_ELEMENTS, train_batched
from . import bijection as bijection_runs
from . import crossset as crossset_runs
from . import disjoint as disjoint_runs
from . import heldout as heldout_runs
from . import layers as layers_runs
from . import multihop as multihop_sweep
from . import sentences as sentence_runs
from . import study
from .executors import InlineExecutor, check_dask_address, make_executor
from .scheduler import ROW_SCALARS, Scheduler, groups

__all__ = [
    "MEMORY_HEADROOM",
    "estimate_memory_bytes",
    "available_memory_bytes",
    "check_memory",
    "build",
    "train_group",
    "InlineExecutor",
    "make_executor",
    "ROW_SCALARS",
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
    if hasattr(configs[0], "memory_bytes"):  # cross-set points: one per stack, their own estimate
        return int(sum(c.memory_bytes() for c in configs) + 3 * 4 * EVAL_ELEMENTS)
    configs = [getattr(c, "run", c) for c in configs]  # a probing point trains its run
    c = configs[0]
    M = len(configs)
    n = c.n_sequences
    B = n if n <= c.full_batch_max else c.batch_size
    if c.task == "disjoint" and c.data_format == "noisy":  # fresh minibatches of batch_size
        B = max(B, c.batch_size)
    q = c.T if c.data_format in (COT, SENTENCES) else 1  # positions with logits: the query, or all T (CoT, sentences)
    V = c.d_vocab_out
    params = theory.param_count(c.d_model, c.d_mlp, d_vocab=c.d_vocab, d_vocab_out=V, n_ctx=c.T)
    per_model = 4 * (4 * B * q * V + 8 * B * c.T * (c.d_model + c.d_mlp) + 4 * params) + 16 * n * c.T
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
        first = max(groups, key=estimate_memory_bytes)[0]
        biggest = getattr(first, "run", first)  # a probing point's shape is its run's
        raise ValueError(
            f"this grid needs about {need / 2**30:.1f} GiB ({max(1, workers)} worker(s); largest stack "
            f"N={biggest.n_subjects}, R={biggest.n_relations}, d={biggest.d_model}, {len(groups[0])} model(s)), "
            f"more than {MEMORY_HEADROOM:.0%} of the {available / 2**30:.1f} GiB available; "
            "reduce N, R, d, the number of seeds, or --workers"
        )


# --- one stack of points ------------------------------------------------------------------------------------


def variant(config: RunConfig):
    """The module that builds and scores a point of this kind, each with ``build_point(config)`` and ``scores(config,
    task, model, result)``: :mod:`georecall.run.multihop` (a ``MultiHopConfig``), :mod:`georecall.run.disjoint`
    (``task="disjoint"``) or :mod:`georecall.run.bijection` (the shared-attribute task). The one place that tells
    the kinds apart."""
    if isinstance(config, MultiHopConfig):
        return multihop_sweep
    if isinstance(config, SentenceRunConfig):
        return sentence_runs
    return disjoint_runs if config.task == "disjoint" else bijection_runs


def build(config: RunConfig):
    """(task, training data, model, TrainConfig, resample) of one point, all from the point's seed; ``resample(step)``
    draws the fresh noisy batch of a step (noisy format), else it is None. Built by the point's :func:`variant`."""
    return variant(config).build_point(config)


def _non_finite(value) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _pack(config: RunConfig, task, model, result) -> dict:
    scalars = {
        "accuracy": result.accuracy,
        "loss": result.loss if math.isfinite(result.loss) else None,
        "failed": result.failed,
        "steps": result.steps,
        "reached_target": bool(result.reached_target),
        "seconds": result.seconds,
        "n_params": model.n_params(),
        "n_params_trainable": model.n_params(trainable_only=True),
        "n_params_nonembed": model.n_params(include_embeddings=False),
    }
    # the variant's own scores: the held-out accuracy, or (multi-hop) the decoded accuracy in place of the trainer's
    scalars.update(variant(config).scores(config, task, model, result))
    scored = ("accuracy", "train_accuracy", "heldout_accuracy", "heldout_templates_accuracy", "inverse_accuracy")
    bad = [k for k in scored if _non_finite(scalars.get(k))]
    for k in bad:  # a non-finite metric is no score: the row is kept, marked failed (the cache stores no NaN)
        scalars[k] = None
    if bad and not scalars["failed"]:
        scalars["failed"] = f"non-finite {', '.join(bad)}"
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
        kind = variant(configs[0])  # a kind with its own evaluation data (sentences: recall at the answer) gives it
        evals = [kind.eval_data(b[0]) for b in built] if hasattr(kind, "eval_data") else None
        models, datas, recipes = [b[2] for b in built], [b[1] for b in built], [b[3] for b in built]
        results = train_batched(models, datas, recipes, resample=resample, eval_datas=evals)
        return [_pack(c, b[0], b[2], r) for c, b, r in zip(configs, built, results)]


def _config(fields: dict) -> RunConfig:
    """A point from its fields (a multi-hop point is recognised by its ``hops``, a sentence point by its
    ``n_templates``)."""
    if "n_templates" in fields:
        return SentenceRunConfig(**fields)
    return MultiHopConfig(**fields) if "hops" in fields else RunConfig(**fields)


def _work(config_dicts: Sequence[dict]) -> list[dict]:
    """The executor's unit of work: a probing stack (``study.probe_group``), a cross-set point
    (``crossset.crossset_group``), a held-out-chains point (``heldout.heldout_group``), a layers point
    (``layers.layers_group``) or a training stack (``train_group``)."""
    if "run" in config_dicts[0]:
        return study.probe_group(config_dicts)
    if "parameterization" in config_dicts[0]:
        return crossset_runs.crossset_group(config_dicts)
    if "train_fraction" in config_dicts[0]:
        return heldout_runs.heldout_group(config_dicts)
    if config_dicts[0].get("study") == "layers":
        return layers_runs.layers_group(config_dicts)
    return train_group(config_dicts)


# --- the scheduler ---------------------------------------------------------------------------------------------


def _seed_ok(config: RunConfig, row: dict) -> bool:
    """A trained point reached its target in the column it is judged on (``RunConfig.judged_on``); a failed run
    (NaN or infinite loss) never does."""
    s = row["scalars"]
    return not s.get("failed") and s[config.judged_on] >= config.target_accuracy


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
    """Run every experiment (points and threshold lines) through one executor; return a table per experiment (a
    probing experiment returns the study's tables, :func:`georecall.run.study.experiment_tables`).

    A line's probe trains its seeds at the line's first rate; while its verdict is open
    (:meth:`georecall.sweep.search.Line.probe_verdict`) the failing seeds train again at the next rate. The table holds
    every point trained, so a probe's rows are one per (seed, rate tried).

    Before anything trains: the arguments are checked, the memory plan must fit, and the cache folder is probed
    (:meth:`georecall.sweep.cache.Cache.prepare`; a folder that cannot be written is used read-only, with a warning)."""
    experiments = list(experiments)
    for i, e in enumerate(experiments):
        if not isinstance(e, Experiment):
            raise ArgumentTypeError(f"experiments[{i}] must be a sweeps.Experiment, got {type(e).__name__}")
    if executor is not None and not isinstance(executor, cf.Executor):
        raise ArgumentTypeError(f"executor must be a concurrent.futures.Executor, got {type(executor).__name__}")
    for name, flag in (("use_cache", use_cache), ("progress", progress), ("recompute", recompute)):
        check_bool(name, flag)
    check_int("workers_for_memory", workers_for_memory, 1)
    executor = executor or InlineExecutor()
    store = (cache if isinstance(cache, cache_mod.Cache) else cache_mod.Cache(cache)) if use_cache else None
    if store is not None:
        store.prepare()
    # fail fast: every stack that could be trained must fit (lines: one rate's stack at every grid value)
    stacks = [g for e in experiments for g in groups(list(e.points))]
    stacks += [line.stage_configs(i, 0) for e in experiments for line in e.lines for i in range(len(line.grid))]
    check_memory(stacks, workers_for_memory)
    sched = Scheduler(executor, store, progress, recompute, _work)
    states = {(ei, li): LineState(line) for ei, e in enumerate(experiments) for li, line in enumerate(e.lines)}
    trained: dict[tuple, list[RunConfig]] = {k: [] for k in states}  # line -> every point its probes trained
    ok: dict[tuple, dict[int, bool]] = {}  # (line, grid index) -> seed -> some rate tried so far reached the target
    rechecks: dict[tuple, list[int]] = {k: [] for k in states}
    try:
        for ei, e in enumerate(experiments):
            for group in groups(list(e.points)):
                sched.request(group, ("points", ei))
        pending = []  # line probes whose points are available right away (cache hits)

        def probe(k, index: int, stage: int = 0, seeds: tuple[int, ...] | None = None) -> None:
            configs = states[k].line.stage_configs(index, stage, seeds)
            trained[k].extend(configs)
            tag = ("line", k, index, stage, tuple(c.seed for c in configs))
            if sched.request(configs, tag):
                pending.append(tag)

        for k, st in states.items():
            probe(k, st.line.start)
        while pending or sched.busy():
            tags = [pending.pop()] if pending else sched.wait_one()
            for tag in tags:
                if tag[0] != "line":
                    continue
                _, k, index, stage, seeds = tag
                st = states[k]
                seen = ok.setdefault((k, index), {s: False for s in st.line.seeds})
                for c in st.line.stage_configs(index, stage, seeds):
                    seen[c.seed] |= _seed_ok(c, sched.rows[c.key()])
                verdict, retry = st.line.probe_verdict(seen, stage)
                if verdict is None:
                    probe(k, index, stage + 1, retry)
                    continue
                st.results[index] = verdict
                nxt = st.next_index(index)
                if nxt is None:
                    st.done = True
                    for b in st.boundary() if st.line.rechecks else ():  # rows only; the boundary stays put
                        rechecks[k].append(b)
                        for group in groups(st.line.recheck_configs(b)):
                            sched.request(group, ("recheck", k, b))
                else:
                    probe(k, nxt)
    finally:
        sched.close()
    tables = {}
    for ei, e in enumerate(experiments):
        if e.probing:  # the probing study writes its own tables (probing, transfer, gates)
            tables |= study.experiment_tables(e.points, sched.rows)
            continue
        if e.crossset:  # so does the cross-set study (crossset, crossset_gates)
            tables |= crossset_runs.crossset_tables(e.points, sched.rows)
            continue
        if e.heldout:  # and the held-out chains (multihop_heldout)
            tables |= heldout_runs.heldout_tables(e.points, sched.rows)
            continue
        if e.layers:  # and the layers study (layers, layer_probes, layer_ablation)
            tables |= layers_runs.layers_tables(e.points, sched.rows)
            continue
        configs = list(e.points)
        for li, line in enumerate(e.lines):
            configs += trained[(ei, li)]
            for index in sorted(set(rechecks[(ei, li)])):
                configs += line.recheck_configs(index)
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
    if configs and isinstance(configs[0], SentenceRunConfig):
        df = pd.DataFrame.from_records(records, columns=list(tables.SENTENCE_COLUMNS) + ["seconds"])
        keys = ["n_layers", "n_relations", "n_subjects", "d_model", "d_mlp", "lr", "max_steps", "seed"]
        return df.sort_values(keys, kind="stable").reset_index(drop=True)
    if configs and isinstance(configs[0], MultiHopConfig):
        df = pd.DataFrame.from_records(records, columns=list(tables.MULTIHOP_COLUMNS) + ["seconds"])
        keys = ["hops", "data_format", "n_relations", "n_subjects", "d_model", "d_mlp", "lr", "seed"]
        return df.sort_values(keys, kind="stable").reset_index(drop=True)
    extra = [c for c in tables.DISJOINT_COLUMNS if c not in tables.SWEEP_COLUMNS]
    df = pd.DataFrame.from_records(records, columns=list(tables.SWEEP_COLUMNS) + extra + ["seconds"])
    df["heldout_accuracy"] = df["heldout_accuracy"].astype(float)
    keys = ["data_format", "freeze_embed", "n_relations", "n_subjects", "d_model", "d_mlp", "lr", "seed"]
    keys += ["max_steps", "batch_size"] + (["n_answers", "n_heads"] if df["n_answers"].notna().all() else [])
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def _check_run_args(device, workers, dask) -> None:
    check_choice("device", device, DEVICES)
    if device == "cuda":
        repro.default_device("cuda")  # ValueError naming the device when CUDA is not available
    if workers is not None:
        check_int("workers", workers, 1, MAX_WORKERS)
    if dask is not None:
        check_dask_address(dask)


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

    ``workers``: local processes (default: CPU count; 1 runs inline); ``dask``: a (trusted) scheduler address,
    which replaces the local pool by the cluster. ``only``: experiment names (one name may be a plain string).
    """
    _check_run_args(device, workers, dask)
    p = preset(name, device=device)
    if isinstance(only, str):
        only = [only]
    if only is not None:
        if not all(isinstance(o, str) for o in only):
            raise ArgumentTypeError(f"only must be experiment names (str), got {only!r}")
        unknown = sorted(set(only) - {e.name for e in p.experiments})
        if unknown or not only:
            raise ValueError(
                f"only: unknown experiment(s) {unknown}; preset {name!r} has {[e.name for e in p.experiments]}"
            )
    exps = [e for e in p.experiments if only is None or e.name in only]
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
    """Compute the registered table ``name`` (:data:`georecall.sweep.tables.TABLES`): a sweep table runs its preset's
    experiment of the same name (through the cache unless ``use_cache=False``); ``dense_accuracy`` scores the
    dense construction (no cache, about two minutes on one core)."""
    t = tables.spec(name)
    _check_run_args(device, workers, dask)
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
        only=[t.experiment or name],
    )[name]
