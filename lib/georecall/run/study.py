"""The probing study's unit of work: train (or build) each point's model, then probe it and try every transfer [recon].

A probing experiment is a list of :class:`georecall.sweep.probing.ProbePoint`. :mod:`georecall.run.runner` sends
stacks of same-shape points to an executor exactly as it sends training stacks, and caches each point on its own;
:func:`probe_group` is the function it sends. For each point it

1. builds the model: trained by the point's recipe (same-shape points train together with
   :func:`georecall.train.batched.train_batched`), the hand-built block construction (positive control), or the
   untrained model (negative control);
2. runs every probe (:func:`georecall.probe.summary.probe_all`) and keeps the gate picture
   abar[j, r] = mean_s ReLU(pre)[s, r, j], the mean activation of hidden unit j on relation r's queries;
3. runs the transfer protocols (:func:`georecall.probe.transfer.transfer_all`: (a), (b), (c) and (c') as curves, (d),
   the lookup baseline), protocol (b) linearised at ``resid_post`` as well, and optionally
   :func:`georecall.probe.transfer.where_facts_live`. Tied models skip transfer: their W_U cannot stay frozen while the
   subject rows are replaced.

:func:`experiment_tables` turns the stored results into the three tidy tables of :mod:`georecall.sweep.tables`:
``probing`` (one row per point), ``transfer`` (one row per point, protocol and step) and ``gates`` (one row per
point, hidden unit and relation; seed 0 of the core recipe and the controls only, to keep the committed file small).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import repro
from .._checks import check_int
from ..analyse.probing import CONSTRUCTION, CORE, UNTRAINED, recipe_labels
from ..construct import bijection as constructions
from ..model import transformer as models
from ..probe import selector, transfer
from ..probe import summary as probe_summary
from ..probe.storage import query_activations
from ..sweep import tables
from ..sweep.configs import RunConfig
from ..sweep.probing import ProbePoint
from ..tasks import bijection as tasks
from ..train.batched import train_batched

__all__ = ["build_point", "steps_to_target", "measure", "probe_group", "experiment_tables", "GATE_SEEDS"]

GATE_SEEDS = (0,)  # the gates table keeps these seeds' points only ...
GATE_RECIPES = (CORE, CONSTRUCTION, UNTRAINED)  # ... of these recipes (analyse.probing.recipe_labels)


def _point(obj) -> ProbePoint:
    if isinstance(obj, ProbePoint):
        return obj
    if isinstance(obj, dict):
        return ProbePoint(**{**obj, "run": RunConfig(**obj["run"])})
    raise TypeError(f"a probing point must be a ProbePoint or its asdict(), got {type(obj).__name__}")


def build_point(point: ProbePoint):
    """(task, model) of ``point`` before any training: the task from the run's seed, and the construction, or a
    fresh model of the run's shape (its init stream is the run's seed)."""
    point = _point(point)
    c = point.run
    task = tasks.make_task(c.n_subjects, c.n_relations, seed=c.seed)
    if point.source == "construction":
        return task, constructions.build_block(task)
    cfg = models.ModelConfig.for_task(task.single_hop(), **c.model_kwargs())
    return task, models.Transformer(cfg).to(repro.default_device(c.device))


def steps_to_target(steps: Sequence[float], accuracy: Sequence[float], target: float) -> float:
    """The first evaluated step whose accuracy is >= ``target`` (NaN if none): the "steps to 99%" of a run whose
    training went on past it."""
    if len(steps) != len(accuracy):
        raise ValueError(f"steps and accuracy must have equal lengths, got {len(steps)} and {len(accuracy)}")
    if not 0 < target <= 1:
        raise ValueError(f"target must be in (0, 1], got {target}")
    hit = [s for s, a in zip(steps, accuracy) if a >= target]
    return float(hit[0]) if hit else float("nan")


def measure(point: ProbePoint, task, model, result=None) -> dict:
    """Every probe and transfer protocol of ``point`` on ``model`` (``result``: its ``TrainResult``, if trained).

    Returns ``{"scalars": {...}, "arrays": {...}}`` (JSON-able scalars, numpy arrays): the training record, every
    :class:`georecall.probe.summary.ProbeSummary` field, each transfer protocol's final accuracy (``t_<name>``),
    the (c)/(c') curves and the gate picture ``gate_pattern`` [m, R]. A value that does not apply (the loss and
    steps to target of an untrained model, a NaN probe) is None."""
    point = _point(point)
    seed = point.run.seed
    model = model.cpu().eval()
    with repro.torch_threads(1):
        summary = probe_summary.probe_all(model, task, seed=seed).asdict()
        pattern = selector.selectivity(query_activations(model, task))["pattern"].numpy()  # [m, R]
        scalars = {
            "loss": float("nan") if result is None else result.loss,
            "steps": 0 if result is None else result.steps,
            "steps_to_target": float("nan")
            if result is None
            else steps_to_target(result.history["step"], result.history["accuracy"], point.run.target_accuracy),
            **{k: v for k, v in summary.items() if k not in ("N", "R", "d", "m")},
        }
        arrays = {"gate_pattern": pattern}
        if result is not None:
            arrays |= {f"history_{k}": np.asarray(v, dtype=np.float64) for k, v in result.history.items()}
        if not model.unembed.tied:
            scalars |= _transfer(point, task, model, arrays)
    finite = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in scalars.items()}
    return {"scalars": finite, "arrays": arrays}  # None: not applicable (the cache stores no NaN)


def _transfer(point: ProbePoint, task, model, arrays: dict) -> dict:
    seed, steps = point.run.seed, point.transfer_steps
    tr = transfer.transfer_all(model, task, seed=seed, steps=steps, eval_every=point.transfer_eval_every)
    new = transfer.new_bijections(task.N, task.R, seed=seed)  # the draw transfer_all used
    E = transfer.reinit_selector_inverse(model, task, new, seed=seed, site="resid_post")
    out = {f"t_{k}": v for k, v in tr.asdict().items() if not k.endswith("curve") and k != "trained_steps"}
    out["t_selector_inverse_resid_post"] = transfer.recall_accuracy(transfer.with_subject_embeddings(model, E), new)
    if point.where_facts:
        out |= {f"t_where_{k}": v for k, v in transfer.where_facts_live(model, task, steps=steps, seed=seed).items()}
    arrays["transfer_steps"] = np.asarray(tr.trained_steps, dtype=np.float64)
    arrays["transfer_trained"] = np.asarray(tr.trained_curve, dtype=np.float64)
    arrays["transfer_random_network"] = np.asarray(tr.random_network_curve, dtype=np.float64)
    return out


def probe_group(point_dicts: Sequence[dict], threads: int | None = 1) -> list[dict]:
    """The unit of work of a probing experiment: points of one group (``ProbePoint.group_key``) as dicts, trained
    together (trained points), then measured one by one (:func:`measure`); JSON-able in and out."""
    points = [_point(p) for p in point_dicts]
    if not points:
        return []
    if len({p.group_key() for p in points}) != 1:
        raise ValueError("probe_group needs points of one group (equal ProbePoint.group_key)")
    if threads is not None:
        check_int("threads", threads, 1)
    repro.reuse_freed_memory()
    with repro.torch_threads(threads) if threads is not None else contextlib.nullcontext():
        built = [build_point(p) for p in points]
        results = [None] * len(points)
        if points[0].source == "trained":
            results = train_batched(
                [m for _, m in built], [t.single_hop() for t, _ in built], [p.run.train_config() for p in points]
            )
        return [measure(p, t, m, r) for p, (t, m), r in zip(points, built, results)]


# --- tables ---------------------------------------------------------------------------------------------------------


def _point_record(point: ProbePoint, d_model: int, d_mlp: int) -> dict:
    c = dataclasses.asdict(point.run)
    rec = {k: c[k] for k in tables.POINT_COLUMNS if k in c}
    return {**rec, "source": point.source, "d_model": d_model, "d_mlp": d_mlp}


TRANSFER_FINALS = (  # protocol name in the transfer table -> scalar of measure(); the curves add "trained" and
    ("old_facts", "t_old_accuracy"),  # "random_network" rows at every evaluated step
    ("superposition", "t_superposition"),
    ("selector_inverse", "t_selector_inverse"),
    ("selector_inverse_resid_post", "t_selector_inverse_resid_post"),
    ("random", "t_random"),
    ("lookup", "t_lookup"),
    ("where_as_trained", "t_where_as_trained"),
    ("where_shuffled", "t_where_shuffled"),
    ("where_gaussian", "t_where_gaussian"),
)


def experiment_tables(points: Sequence[ProbePoint], rows: dict[str, dict]) -> dict[str, pd.DataFrame]:
    """The ``probing``, ``transfer`` and ``gates`` tables of ``points`` from their results ``rows`` (cache key ->
    ``{"scalars", "arrays"}``), in the columns of :mod:`georecall.sweep.tables`, sorted by the point columns."""
    probing, transfer_rows, gates = [], [], []
    seen = set()
    for p in map(_point, points):
        if p.key() in seen:
            continue
        seen.add(p.key())
        s, a = rows[p.key()]["scalars"], rows[p.key()]["arrays"]
        pattern = np.asarray(a["gate_pattern"])  # [m, R]
        base = _point_record(p, p.run.d_model, pattern.shape[0])
        probing.append({**base, **s, "transfer_steps": p.transfer_steps, "where_facts": p.where_facts})
        for name, key in TRANSFER_FINALS:
            if key in s:
                step = p.transfer_steps if name.startswith("where_") else 0
                transfer_rows.append({**base, "protocol": name, "step": step, "accuracy": s[key]})
        for name in ("trained", "random_network"):
            if f"transfer_{name}" in a:
                for step, acc in zip(a["transfer_steps"], a[f"transfer_{name}"]):
                    transfer_rows.append({**base, "protocol": name, "step": int(step), "accuracy": float(acc)})
        if p.run.seed in GATE_SEEDS and recipe_labels(pd.DataFrame([base])).item() in GATE_RECIPES:
            m, R = pattern.shape
            for j in range(m):
                for r in range(R):
                    gates.append({**base, "unit": j, "relation": r, "activation": float(pattern[j, r])})
    keys = list(tables.POINT_COLUMNS)
    out = {
        "probing": pd.DataFrame.from_records(probing, columns=list(tables.spec("probing").columns)),
        "transfer": pd.DataFrame.from_records(transfer_rows, columns=list(tables.spec("transfer").columns)),
        "gates": pd.DataFrame.from_records(gates, columns=list(tables.spec("gates").columns)),
    }
    order = {"probing": keys, "transfer": [*keys, "protocol", "step"], "gates": [*keys, "unit", "relation"]}
    return {name: df.sort_values(order[name], kind="stable").reset_index(drop=True) for name, df in out.items()}
