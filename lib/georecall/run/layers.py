"""The layers study's unit of work: train one model of L layers on fact sentences, then measure it [recon].

For each :class:`georecall.sweep.layers.LayersPoint`, :func:`measure` builds the sentence task and the model from the
point's seed, trains it by next-token prediction over whole sentences (``train.loop.train``, exactly ``steps``
full-batch AdamW steps) and records

1. recall at the answer token (argmax over the whole vocabulary) per split: the trained forward facts (``train``),
   the same facts in templates never trained (``heldout_templates``), the inverse questions of the subjects trained
   one way only (``inverse``) and of those trained both ways (``inverse_trained``);
2. Chapter 4's probes of the residual stream x_0 .. x_L at the subject token and at the last token before the answer
   (superposition R^2, per-relation decoders) and the logit lens at the last token, with the random-network and
   shuffled-label controls (:func:`georecall.probe.layers.layer_probes`);
3. the recall of the trained forward facts with each block's attention or MLP mean-ablated
   (:func:`georecall.probe.layers.mean_ablation`);
4. bits per parameter, N R log2 N over every parameter (:func:`georecall.probe.layers.bits_per_parameter`).

:func:`layers_tables` turns the stored results into the ``layers`` table (one row per point), ``layer_probes`` (one
row per point, control, token, layer and metric) and ``layer_ablation`` (one row per point, layer and component).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..model.transformer import Transformer, config_for
from ..probe import layers as probe_layers
from ..sweep import tables
from ..sweep.layers import LayersPoint, check_point
from ..tasks.sentences import make_sentence_task
from ..train.loop import train
from ..train.recipe import TrainConfig
from ._points import each_point, finite_or_none

__all__ = ["measure", "layers_group", "layers_tables", "train_point", "SPLIT_SCALARS"]

SPLIT_SCALARS = ("recall_train", "recall_heldout_templates", "recall_inverse", "recall_inverse_trained")


def train_point(point: LayersPoint):
    """(task, model, TrainResult) of one point, all from its seed (the :class:`LayersPoint` docstring)."""
    point = check_point(point)
    task = make_sentence_task(**point.sentence_kwargs())
    data = task.split("train").lm_facts()
    model = Transformer(config_for(data, point.d_model, n_layers=point.n_layers, init_seed=point.seed))
    model = model.to(point.device)
    recipe = TrainConfig(
        lr=point.lr, max_steps=point.steps, eval_every=point.steps, early_stop=False, data_seed=point.seed
    )
    return task, model, train(model, data, recipe, progress=False)


def _recalls(model: Transformer, task) -> dict:
    train_set = task.split("train")
    recall = probe_layers.sentence_recall
    return {
        "recall_train": recall(model, train_set.subset(~train_set.inverse)),
        "recall_heldout_templates": recall(model, task.split("heldout_templates")),
        "recall_inverse": recall(model, task.split("inverse")),
        "recall_inverse_trained": recall(model, train_set.subset(train_set.inverse)),
    }


def measure(point: LayersPoint) -> dict:
    """Train and measure one point (module docstring). Returns ``{"scalars": {...}, "arrays": {...}}``: JSON-able
    scalars (a NaN becomes None) and numpy arrays: ``probes`` [3 controls, 2 tokens, L + 1, 3 metrics] in the order of
    ``probe.layers.CONTROLS``, ``TOKENS`` and ``METRICS`` (NaN where a metric is not defined), ``ablation_recall``
    [L, 2 components] and the training curve."""
    point = check_point(point)
    task, model, result = train_point(point)
    scalars = {"loss": result.loss, "seconds": result.seconds, "failed": result.failed}
    L = point.n_layers
    probes = np.full((len(probe_layers.CONTROLS), len(probe_layers.TOKENS), L + 1, len(probe_layers.METRICS)), np.nan)
    ablation = np.full((L, len(probe_layers.COMPONENTS)), np.nan)
    if result.failed is None:  # a diverged model is kept with its failure, never probed
        scalars |= _recalls(model, task)
        for rec in probe_layers.layer_probes(model, task, seed=point.seed):
            i = probe_layers.CONTROLS.index(rec["control"])
            j = probe_layers.TOKENS.index(rec["token"])
            probes[i, j, rec["layer"], probe_layers.METRICS.index(rec["metric"])] = rec["value"]
        for rec in probe_layers.mean_ablation(model, task):
            ablation[rec["layer"], probe_layers.COMPONENTS.index(rec["component"])] = rec["recall"]
        vectors = probe_layers.residual_vectors(model, task)
        scalars["n_subject_sentences"] = vectors.n_subject_sentences
    bits = probe_layers.bits_per_parameter(model, task) if result.failed is None else {}
    scalars |= {
        "n_facts": point.n_entities * point.n_relations,
        "n_params": model.n_params(),
        "n_params_nonembed": model.n_params(include_embeddings=False),
        "bits_per_param": bits.get("bits_per_param"),
        "literature_bits_per_param": probe_layers.LITERATURE_BITS_PER_PARAM,
    }
    arrays = {
        "probes": probes,
        "ablation_recall": ablation,
        "history_step": np.asarray(result.history["step"], dtype=np.float64),
        "history_loss": np.asarray(result.history["loss"], dtype=np.float64),
    }
    return {"scalars": {k: finite_or_none(v) for k, v in scalars.items()}, "arrays": arrays}


def layers_group(point_dicts: Sequence[dict], threads: int | None = 1) -> list[dict]:
    """The executor's unit of work for layers points (each its own group): JSON-able in and out, on ``threads`` torch
    threads (1 by default, so the numbers do not depend on the machine's core count)."""
    points = [check_point(p) for p in point_dicts]
    return each_point(points, measure, threads)


def layers_tables(points: Sequence[LayersPoint], rows: dict[str, dict]) -> dict[str, pd.DataFrame]:
    """The ``layers``, ``layer_probes`` and ``layer_ablation`` tables of ``points`` from their results ``rows`` (cache
    key -> ``{"scalars", "arrays"}``), in the columns of :mod:`georecall.sweep.tables`, sorted by the point columns."""
    records, probes, ablation, seen = [], [], [], set()
    for p in map(check_point, points):
        if p.key() in seen:
            continue
        seen.add(p.key())
        s, a = rows[p.key()]["scalars"], rows[p.key()]["arrays"]
        base = {k: v for k, v in dataclasses.asdict(p).items() if k in tables.LAYERS_POINT_COLUMNS}
        records.append({**base, **{k: s.get(k) for k in tables.LAYERS_COLUMNS if k not in base}})
        values = np.asarray(a["probes"], dtype=np.float64)
        for i, control in enumerate(probe_layers.CONTROLS):
            for j, token in enumerate(probe_layers.TOKENS):
                for layer in range(values.shape[2]):
                    for k, metric in enumerate(probe_layers.METRICS):
                        v = float(values[i, j, layer, k])
                        row = {"layer": layer, "token": token, "metric": metric, "control": control, "value": v}
                        probes.append({**base, **row})
        recall = np.asarray(a["ablation_recall"], dtype=np.float64)
        for layer in range(recall.shape[0]):
            for c, component in enumerate(probe_layers.COMPONENTS):
                r = float(recall[layer, c])
                drop = s["recall_train"] - r if s.get("recall_train") is not None else math.nan
                ablation.append({**base, "layer": layer, "component": component, "recall": r, "drop": drop})
    keys = list(tables.LAYERS_POINT_COLUMNS)
    out = {
        "layers": pd.DataFrame.from_records(records, columns=list(tables.spec("layers").columns)),
        "layer_probes": pd.DataFrame.from_records(probes, columns=list(tables.spec("layer_probes").columns)),
        "layer_ablation": pd.DataFrame.from_records(ablation, columns=list(tables.spec("layer_ablation").columns)),
    }
    order = {
        "layers": keys,
        "layer_probes": [*keys, "control", "token", "layer", "metric"],
        "layer_ablation": [*keys, "layer", "component"],
    }
    return {name: df.sort_values(order[name], kind="stable").reset_index(drop=True) for name, df in out.items()}
