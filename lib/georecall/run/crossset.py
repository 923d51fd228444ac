"""The cross-set study's unit of work: train one network across K fact sets, then measure it [recon].

For each :class:`georecall.sweep.crossset.CrossSetPoint`, :func:`measure` trains the model
(:func:`georecall.train.crossset.train_crossset`) and records

1. accuracy on its training sets (mean and worst set; K = inf: a fixed draw of eight sets from the training stream);
2. zero-shot accuracy on a fresh draw pi' (``probe.transfer.new_bijections(N, R, seed=1000 + seed)``) through the
   learned encoder (free tables: their joint superposition fit), and by Chapter 5's protocols on the shared network
   with set 0 as the old facts: (a) superposition, (b) selector inverse, (d) random rows, the lookup baseline,
   (c) fresh rows trained through the frozen network and (c') the same through an untrained network; the untrained
   cross-set model through its own encoder (:func:`georecall.probe.crossset.zero_shot`);
3. for (c), the held-out superposition R^2 of the rows it found (does the superposition emerge through a frozen
   generic selector without being imposed?);
4. Chapter 4's probes (:func:`georecall.probe.summary.probe_all`) on the network with set 0's embeddings, and the
   gate picture abar[j, r] (mean ReLU activation of unit j on relation r's queries).

:func:`crossset_tables` turns the stored results into the ``crossset`` table (one row per point) and the
``crossset_gates`` table (one row per point, unit and relation, for the points :func:`keeps_gates` names).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import repro
from ..model.crossset import CrossSetConfig
from ..probe import crossset as cross_probe
from ..probe import selector, transfer
from ..probe import storage as probe_storage
from ..probe import summary as probe_summary
from ..probe.storage import query_activations
from ..sweep import tables
from ..sweep.crossset import CrossSetPoint, check_point
from ..train.crossset import train_crossset
from ._points import each_point, finite_or_none

__all__ = ["measure", "crossset_group", "crossset_tables", "keeps_gates", "ZERO_SHOT_KEYS", "GATE_D"]

ZERO_SHOT_KEYS = (  # zero_shot()'s keys -> the table's columns
    ("encoder", "zs_encoder"),
    ("encoder_fit_r2", "encoder_fit_r2"),
    ("old", "zs_old_facts"),
    ("superposition", "zs_superposition"),
    ("selector_inverse", "zs_selector_inverse"),
    ("random", "zs_random"),
    ("lookup", "zs_lookup"),
    ("untrained_encoder", "zs_untrained_encoder"),
    ("chance", "chance"),
)
GATE_D = 44  # the gates table keeps points at this d (the construction's), N = 256 (see keeps_gates)


def keeps_gates(p: CrossSetPoint) -> bool:
    """Whether the ``crossset_gates`` table holds point ``p``: N = 256, d = 44, and K in {64, inf} or the untrained
    controls; seed 0, and both seeds of the encoded K = inf networks (the ones Chapter 4 shows)."""
    if p.n_subjects != 256 or p.d_model != GATE_D:
        return False
    if p.steps == 0:
        return True
    return p.n_sets in (64, "inf") and (p.seed == 0 or p.n_sets == "inf")


def measure(point: CrossSetPoint) -> dict:
    """Train and measure one point (module docstring). Returns ``{"scalars": {...}, "arrays": {...}}``, JSON-able
    scalars (a NaN becomes None: not applicable) and numpy arrays (``gate_pattern`` [m, R], the training curve)."""
    point = check_point(point)
    res = train_crossset(CrossSetConfig(**point.config_kwargs()))
    zs_seed = 1000 + point.seed
    z = cross_probe.zero_shot(res, seed=zs_seed, protocol_steps=0)
    scalars = {
        "train_accuracy": res.train_accuracy,
        "train_min_set_accuracy": res.min_set_accuracy,
        "loss": res.loss,
        "seconds": res.seconds,
        "steps_per_second": res.steps_per_second,
        **{col: z[key] for key, col in ZERO_SHOT_KEYS},
    }
    net, perms0 = cross_probe.set_model(res, 0)
    new = transfer.new_bijections(point.n_subjects, point.n_relations, seed=zs_seed)
    if point.protocol_steps:
        c = transfer.train_subject_embeddings(net, new, steps=point.protocol_steps, seed=zs_seed, eval_every=10**9)
        c_prime = transfer.train_subject_embeddings(
            transfer.random_network(net, zs_seed), new, steps=point.protocol_steps, seed=zs_seed, eval_every=10**9
        )
        r2 = probe_storage.superposition(c["model"], new, seed=zs_seed)["r2_heldout"]
        scalars |= {"zs_trained": c["final"], "zs_random_network": c_prime["final"], "trained_rows_r2": r2}
    with repro.torch_threads(1):
        summary = probe_summary.probe_all(net, perms0, seed=point.seed).asdict()
        pattern = selector.selectivity(query_activations(net, perms0))["pattern"].numpy()  # [m, R]
    scalars |= {f"probe_{k}": v for k, v in summary.items() if k not in ("N", "R", "d", "m", "chance")}
    arrays = {
        "gate_pattern": pattern,
        "history_step": np.asarray(res.history["step"], dtype=np.float64),
        "history_accuracy": np.asarray(res.history["accuracy"], dtype=np.float64),
    }
    return {"scalars": {k: finite_or_none(v) for k, v in scalars.items()}, "arrays": arrays}


def crossset_group(point_dicts: Sequence[dict], threads: int | None = 1) -> list[dict]:
    """The executor's unit of work for cross-set points (each its own group): JSON-able in and out, on ``threads``
    torch threads (1 by default, so the numbers do not depend on the machine's core count)."""
    points = [check_point(p) for p in point_dicts]
    return each_point(points, measure, threads)


def crossset_tables(points: Sequence[CrossSetPoint], rows: dict[str, dict]) -> dict[str, pd.DataFrame]:
    """The ``crossset`` and ``crossset_gates`` tables of ``points`` from their results ``rows`` (cache key ->
    ``{"scalars", "arrays"}``), in the columns of :mod:`georecall.sweep.tables`, sorted by the point columns."""
    records, gates, seen = [], [], set()
    for p in map(check_point, points):
        if p.key() in seen:
            continue
        seen.add(p.key())
        s, a = rows[p.key()]["scalars"], rows[p.key()]["arrays"]
        base = {k: v for k, v in dataclasses.asdict(p).items() if k in tables.CROSSSET_POINT_COLUMNS}
        base["n_sets"] = str(p.n_sets)
        records.append({**base, **s})
        if keeps_gates(p):
            pattern = np.asarray(a["gate_pattern"])
            m, R = pattern.shape
            gates += [
                {**base, "unit": j, "relation": r, "activation": float(pattern[j, r])}
                for j in range(m)
                for r in range(R)
            ]
    keys = list(tables.CROSSSET_POINT_COLUMNS)
    out = {
        "crossset": pd.DataFrame.from_records(records, columns=list(tables.spec("crossset").columns)),
        "crossset_gates": pd.DataFrame.from_records(gates, columns=list(tables.spec("crossset_gates").columns)),
    }
    order = {"crossset": keys, "crossset_gates": [*keys, "unit", "relation"]}
    return {name: df.sort_values(order[name], kind="stable").reset_index(drop=True) for name, df in out.items()}
