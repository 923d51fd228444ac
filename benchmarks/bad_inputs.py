"""A careless user's sweep: over four hundred bad inputs to every public entry, the CLI and the cache, classified.

Each case is one call with one bad argument and the name its error should mention (``api``: the core; ``newer``:
probes, selector, transfer, multi-hop, analyses, plots, widgets and constructions, including non-finite models,
mismatched tasks, sizes above the memory budget, empty tables and lists, saved model files and committed tables
that are not regular files; ``cli``: ``sweep``, ``table`` and ``evaluate`` mistakes). A case is

- ``clear``: a ValueError/TypeError whose message names the parameter (or the file, for the cache);
- ``unclear``: an exception that does not name it, or of another type (a raw torch/index error);
- ``silent``: no error at all (a wrong result would follow);
- ``traceback``: a CLI mistake that did not end as one ``error:`` line with exit status 2.

Cache cases write a hostile entry file and expect ``load`` to return None with one ``CacheWarning`` naming the file;
anything raised out of the cache counts as ``unclear`` (``n/a``: the case cannot be built against this library).
An ``outcome`` case is a bad situation rather than a bad argument (a NaN accuracy in a table row, a table's file
mode, a cache that cannot be written, a diverged run, a FIFO cache entry met by a CLI sweep, a model file holding a
pickled object): it is ``clear`` when the library did the right thing.

    .venv/bin/python benchmarks/bad_inputs.py [--verbose]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import stat
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from georecall import __main__ as cli
from georecall import analyse, prose, repro
from georecall.analyse import crossset as crossset_analysis
from georecall.analyse import disjoint as disjoint_analysis
from georecall.analyse import multihop as multihop_analysis
from georecall.analyse import probing as probing_analysis
from georecall.construct import bijection as constructions
from georecall.construct import multihop as multihop_constructions
from georecall.construct import views
from georecall.explore import bijection as widgets
from georecall.explore import crossset as crossset_live
from georecall.explore import layers as layers_live
from georecall.model import crossset, multihop, recall
from georecall.model import transformer as models
from georecall.plot import bijection as bijection_plots
from georecall.plot import capacity as capacity_plots
from georecall.plot import construction as construction_plots
from georecall.plot import crossset as crossset_plots
from georecall.plot import disjoint as disjoint_plots
from georecall.plot import layers as layers_plots
from georecall.plot import multihop as multihop_plots
from georecall.plot import multihop_growth, tablefmt
from georecall.plot import probing as probing_plots
from georecall.plot import sentences as sentence_plots
from georecall.probe import crossset as probe_crossset
from georecall.probe import selector, storage, summary, transfer
from georecall.run import crossset as crossset_runs
from georecall.run import heldout as heldout_runs
from georecall.run import layers as layers_runs
from georecall.run import multihop as multihop_runs
from georecall.run import runner, saved
from georecall.sweep import cache, files, tables
from georecall.sweep import configs as sweeps
from georecall.sweep import crossset as crossset_sweep
from georecall.sweep import layers as layers_sweep
from georecall.sweep import multihop as multihop_sweep
from georecall.sweep import sentences as sentence_sweep
from georecall.tasks import bijection as tasks
from georecall.tasks import sentences
from georecall.train import batched, recipe
from georecall.train import crossset as train_crossset
from georecall.train import loop as train

TASK = tasks.make_task(8, 2, seed=0)
DATA = TASK.single_hop()
NOISY = tasks.noisy_sequences(TASK, seq_len=6, seed=0)
INT_BAD = [True, 2.5, "8", None, np.float64(3.0)]
BOOL_BAD = ["no", 1, 0, None, "False"]
FLOAT_BAD = [math.inf, math.nan, "0.1", True, None]
SEED_BAD = [-1, 1.5, True, 2**64]


def _crossset_run():
    """A two-step cross-set run on a tiny task (K = 2 sets of N = 8, R = 2), for the probe's argument checks."""
    cfg = crossset.CrossSetConfig(n_subjects=8, n_relations=2, d_model=4, n_sets=2, steps=2, eval_every=2)
    return train_crossset.train_crossset(cfg)


def _crossset_eval(scale: float = 1.0):
    """(model, E, perms) of a tiny cross-set run's first set, E times ``scale`` (NaN: non-finite embeddings)."""
    run = _crossset_run()
    model, perms = run.model, run.perms[:1]
    ids = None if model.config.infinite else torch.arange(1)
    return model, model.embeddings(ids, perms).detach() * scale, perms


class _SelfDisplaying:
    """An object that only displays itself (IPython's ``_ipython_display_``), as plotly figures do."""

    def _ipython_display_(self):
        pass


def _model(**kw):
    return models.Transformer(models.ModelConfig.for_task(DATA, 8, **kw))


def config_cases() -> list[tuple[str, object, str]]:
    """Every field of every config with values of the wrong type or out of range."""
    cases = []

    def field_cases(cls, name, bads, **base):
        for bad in bads:
            cases.append((f"{cls.__name__}({name}={bad!r})", lambda cls=cls, b=bad: cls(**base, **{name: b}), name))

    for name in ("n_subjects", "n_relations"):
        field_cases(tasks.TaskConfig, name, INT_BAD + [0, -3])
    field_cases(tasks.TaskConfig, "seed", SEED_BAD)
    for name in ("d_vocab", "d_vocab_out", "n_ctx", "d_model", "n_heads", "d_mlp"):
        field_cases(models.ModelConfig, name, INT_BAD + [0])
    for name in ("freeze_embed", "tie_embed"):
        field_cases(models.ModelConfig, name, BOOL_BAD)
    field_cases(models.ModelConfig, "init_seed", SEED_BAD)
    field_cases(models.ModelConfig, "n_layers", INT_BAD + [0, models.MAX_LAYERS + 1])
    for name in ("n_entities", "n_relations", "n_templates", "n_synonyms", "n_fillers"):
        field_cases(sentences.SentenceConfig, name, INT_BAD + [0])
    field_cases(sentences.SentenceConfig, "n_heldout", INT_BAD + [-1, sentences.MAX_TEMPLATES])
    field_cases(sentences.SentenceConfig, "inverse_share", FLOAT_BAD + [-0.1, 1.0])
    field_cases(sentences.SentenceConfig, "seed", SEED_BAD)
    for name in ("lr", "weight_decay", "target_accuracy"):
        field_cases(recipe.TrainConfig, name, FLOAT_BAD + [-0.5])
    for name in ("max_steps", "full_batch_max", "batch_size", "eval_every"):
        field_cases(recipe.TrainConfig, name, [True, 2.5, 0, None])
    field_cases(recipe.TrainConfig, "data_seed", SEED_BAD)
    for name in ("n_subjects", "d_model", "d_mlp", "noisy_copies", "max_steps"):
        field_cases(sweeps.RunConfig, name, [True, 2.5, 0])
    field_cases(sweeps.RunConfig, "freeze_embed", BOOL_BAD[:3])
    field_cases(sweeps.RunConfig, "lr", [math.inf, math.nan, 0.0, "0.01"])
    field_cases(sweeps.RunConfig, "weight_decay", [math.nan, -1.0])
    field_cases(sweeps.RunConfig, "seed", SEED_BAD)
    field_cases(sweeps.RunConfig, "data_format", ["cot", 3])
    field_cases(sweeps.RunConfig, "device", ["tpu", "CUDA"])
    return cases


def call_cases() -> list[tuple[str, object, str]]:
    m, noisy_m = _model(), models.Transformer(models.ModelConfig.for_task(NOISY, 8))
    t = DATA.tokens
    fs = lambda **kw: tasks.FactSet(  # noqa: E731
        kw.pop("tokens", t), kw.pop("targets", DATA.targets), kw.pop("d_vocab", 10), kw.pop("d_vocab_out", 8), **kw
    )
    return [
        ("FactSet negative token", lambda: fs(tokens=t - 1), "tokens"),
        ("FactSet token >= d_vocab", lambda: fs(d_vocab=4), "tokens"),
        ("FactSet float tokens", lambda: fs(tokens=t.float()), "tokens"),
        ("FactSet target too large", lambda: fs(targets=DATA.targets + 8), "targets"),
        ("FactSet target -5", lambda: fs(targets=DATA.targets - 4), "targets"),
        ("FactSet shape mismatch", lambda: fs(targets=DATA.targets[:2]), "targets"),
        ("forward negative id", lambda: m(torch.tensor([[-1, 9]])), "tokens"),
        ("forward id = d_vocab", lambda: m(torch.tensor([[0, 10]])), "tokens"),
        ("forward float tokens", lambda: m(t.float()), "tokens"),
        ("forward int8 negative", lambda: m(torch.tensor([[-2, 9]], dtype=torch.int8)), "tokens"),
        ("forward 1-D", lambda: m(t[:, 0]), "tokens"),
        ("forward 3-D", lambda: m(t[None]), "tokens"),
        ("forward T > n_ctx", lambda: m(torch.zeros(2, 5, dtype=torch.long)), "tokens"),
        ("forward T = 0", lambda: m(torch.zeros(2, 0, dtype=torch.long)), "tokens"),
        ("forward a list", lambda: m(t.tolist()), "tokens"),
        ("forward bool", lambda: m(t > 3), "tokens"),
        ("evaluate chunk 0", lambda: train.evaluate(m, DATA, chunk_size=0), "chunk_size"),
        ("evaluate chunk -1", lambda: train.evaluate(m, DATA, chunk_size=-1), "chunk_size"),
        ("evaluate chunk 2.5", lambda: train.evaluate(m, DATA, chunk_size=2.5), "chunk_size"),
        ("evaluate noisy model on [s, r]", lambda: train.evaluate(noisy_m, DATA), "format"),
        ("evaluate [s, r] model on noisy", lambda: train.evaluate(m, NOISY), "format"),
        ("evaluate tokens not FactSet", lambda: train.evaluate(m, t), "data"),
        ("train lr-less config dict", lambda: train.train(m, DATA, {"lr": 1.0}, progress=False), "config"),
        ("train noisy model on [s, r]", lambda: train.train(noisy_m, DATA, progress=False), "format"),
        ("train progress 'no'", lambda: train.train(m, DATA, progress="no"), "progress"),
        ("fit d 0", lambda: train.fit(TASK, 0), "d_model"),
        ("fit freeze 'no'", lambda: train.fit(TASK, 4, freeze_embed="no"), "freeze_embed"),
        ("train_batched empty", lambda: batched.train_batched([], DATA), "models"),
        ("train_batched noisy model", lambda: batched.train_batched([noisy_m], DATA), "format"),
        ("train_batched resample 3", lambda: batched.train_batched([m], DATA, resample=3), "resample"),
        ("train_batched progress 'y'", lambda: batched.train_batched([m], DATA, progress="y"), "progress"),
        ("evaluate_recall chunk 0", lambda: recall.evaluate_recall(m, TASK, chunk_size=0), "chunk_size"),
        ("evaluate_recall facts -1", lambda: recall.evaluate_recall(m, TASK, facts=[-1]), "facts"),
        ("evaluate_recall facts 0.5", lambda: recall.evaluate_recall(m, TASK, facts=[0.5]), "facts"),
        ("evaluate_recall method", lambda: recall.evaluate_recall(m, TASK, method="dense"), "method"),
        ("evaluate_recall workers", lambda: recall.evaluate_recall(m, TASK, method="fused", workers=0), "workers"),
        ("evaluate_recall noisy model", lambda: recall.evaluate_recall(noisy_m, TASK), "format"),
        ("evaluate_recall noisy data", lambda: recall.evaluate_recall(m, NOISY), "format"),
        ("evaluate_recall max_bytes 0", lambda: recall.evaluate_recall(m, TASK, max_bytes=0), "max_bytes"),
        ("noisy_sequences seed -7", lambda: tasks.noisy_sequences(TASK, seed=-7), "seed"),
        ("noisy_sequences seq_len 2", lambda: tasks.noisy_sequences(TASK, seq_len=2), "seq_len"),
        ("noisy_sequences copies 0", lambda: tasks.noisy_sequences(TASK, copies=0), "copies"),
        ("answer subject -1", lambda: TASK.answer(torch.tensor([-1]), torch.tensor([0])), "subject"),
        ("answer relation 5", lambda: TASK.answer(torch.tensor([0]), torch.tensor([5])), "relation"),
        ("generator seed -1", lambda: repro.generator(-1, "x"), "seed"),
        ("seed_everything -1", lambda: repro.seed_everything(-1), "seed"),
        ("build_block k 0", lambda: constructions.build_block(TASK, k=0), "k"),
        ("run only string typo", lambda: runner.run("smoke", only="e1_capacty"), "only"),
        ("run workers 0", lambda: runner.run("smoke", workers=0), "workers"),
        ("run device tpu", lambda: runner.run("smoke", device="tpu"), "device"),
        ("run dask no port", lambda: runner.run("smoke", dask="localhost"), "dask"),
        ("run preset typo", lambda: runner.run("smok"), "preset"),
        ("make_table typo", lambda: runner.make_table("e1"), "table"),
        ("Cache('')", lambda: cache.Cache(""), "cache root"),
        ("write_table typo", lambda: tables.write_table("e1", None, "/tmp"), "table"),
    ]


def _nan(model, value=math.nan):
    """``model`` with one MLP weight set to ``value`` (a diverged model)."""
    with torch.no_grad():
        model.blocks[0].mlp.W_in[0, 0] = value
    return model


def _untied(n_subjects=8, n_relations=2, d=8, **kw):
    task = tasks.make_task(n_subjects, n_relations, seed=0)
    return task, models.Transformer(models.ModelConfig.for_task(task.single_hop(), d, d_mlp=2 * n_relations * 2, **kw))


def _hop_model(n_ctx=3, d_vocab=10, d_mlp=8):
    return models.Transformer(models.ModelConfig(d_vocab=d_vocab, d_vocab_out=8, n_ctx=n_ctx, d_model=8, d_mlp=d_mlp))


def newer_cases() -> list[tuple[str, object, str]]:
    """The modules that landed after the first validation pass (probes, selector, transfer, multi-hop, analyses,
    plots, widgets, constructions): non-finite models and inputs, model-task mismatches, non-permutations,
    arguments out of range, empty inputs and sizes above the memory budget."""
    t, m = _untied()
    nan_m, inf_m = _nan(_untied()[1]), _nan(_untied()[1], math.inf)
    t3 = tasks.make_task(8, 3, seed=0)  # R differs from the model's R = 2
    t16 = tasks.make_task(16, 2, seed=0)  # N differs
    bad_perms = torch.tensor([[0, 0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5, 6, 7]])
    X, Y = torch.randn(10, 3, dtype=torch.float64), torch.randn(10, 2, dtype=torch.float64)
    Xnan = X.clone()
    Xnan[0, 0] = math.nan
    codes = torch.randn(8, 3, dtype=torch.float64)
    acts = storage.query_activations(m, t)
    nan_acts = storage.QueryActivations(**{**acts.__dict__, "post": acts.post * math.nan})
    E = torch.randn(8, 8, dtype=torch.float64)
    hop = _hop_model()
    big_perms = torch.stack([torch.randperm(100_000) for _ in range(8)])
    big_model = models.Transformer(models.ModelConfig(d_vocab=100_008, d_vocab_out=100_000, d_model=4, d_mlp=4))
    wide = tasks.make_task(8, 1024, seed=0)  # R^h grows fast
    budget_df = pd.DataFrame({c: [] for c in ("N", "information_bits")})
    return (
        [
            # a non-finite model or input is never scored
            ("evaluate_recall NaN model", lambda: recall.evaluate_recall(nan_m, t), "model"),
            ("evaluate_recall inf model", lambda: recall.evaluate_recall(inf_m, t), "model"),
            ("evaluate_recall NaN model on a FactSet", lambda: recall.evaluate_recall(nan_m, t.single_hop()), "model"),
            ("evaluate_multihop NaN model", lambda: multihop.evaluate_multihop(_nan(_hop_model()), t, 2), "model"),
            ("query_activations NaN model", lambda: storage.query_activations(nan_m, t), "model"),
            ("probe_all NaN model", lambda: summary.probe_all(nan_m, t), "model"),
            ("superposition NaN model", lambda: storage.superposition(nan_m, t), "model"),
            ("recall_accuracy NaN model", lambda: transfer.recall_accuracy(nan_m, t.perms), "model"),
            ("transfer_all NaN model", lambda: transfer.transfer_all(nan_m, t, steps=0), "model"),
            ("where_facts_live inf model", lambda: transfer.where_facts_live(inf_m, t, steps=1), "model"),
            ("with_subject_embeddings NaN E", lambda: transfer.with_subject_embeddings(m, E * math.nan), "E"),
            (
                "train_subject_embeddings NaN unembed",
                lambda: transfer.train_subject_embeddings(m, t.perms, steps=1, unembed=m.W_U.detach() * math.nan),
                "unembed",
            ),
            ("ridge_solve NaN X", lambda: storage.ridge_solve(Xnan, Y, 0.1), "X"),
            ("ridge inf Y", lambda: storage.ridge(X, Y * math.inf, storage.subject_split(10)), "Y"),
            ("nearest_code NaN codes", lambda: storage.nearest_code(Y[:, :1].repeat(1, 3), codes * math.nan), "codes"),
            ("attribute_codes NaN W_U", lambda: storage.attribute_codes(m.W_U.detach() * math.nan), "W_U"),
            ("superposition_fit NaN E", lambda: storage.superposition_fit(E * math.nan, t.perms, codes), "embeddings"),
            ("relation_decoders NaN codes", lambda: storage.relation_decoders(E, t.perms, codes * math.nan), "codes"),
            ("selectivity NaN acts", lambda: selector.selectivity(nan_acts), "acts.post"),
            ("restricted_accuracy NaN acts", lambda: selector.restricted_accuracy(m, t, acts=nan_acts), "acts.post"),
            ("fit_line NaN x", lambda: analyse.fit_line([1.0, 2.0, math.nan], [1.0, 2.0, 3.0]), "x"),
            ("fit_line inf y", lambda: analyse.fit_line([1.0, 2.0, 3.0], [1.0, math.inf, 3.0]), "y"),
            ("fit_line constant x", lambda: analyse.fit_line([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]), "x"),
            ("fit_line strings", lambda: analyse.fit_line("abc", [1.0, 2.0, 3.0]), "x"),
            ("fit_power_law y = 0", lambda: analyse.fit_power_law([1, 2, 4], [0.0, 1.0, 2.0]), "y"),
            ("fit_power_law negative x", lambda: analyse.fit_power_law([-1, 2, 4], [1.0, 1.0, 2.0]), "x"),
            ("fit_power_law NaN y", lambda: analyse.fit_power_law([1, 2, 4], [1.0, math.nan, 2.0]), "y"),
            # model and task checked against each other; permutations that are permutations
            ("evaluate_recall task N differs", lambda: recall.evaluate_recall(m, t16), "task"),
            ("evaluate_recall task R too large", lambda: recall.evaluate_recall(m, t3), "task"),
            ("gate_matrix task R differs", lambda: recall.gate_matrix(_untied(8, 3)[1], t, [0, 1]), "R"),
            ("hidden_activations subject 8", lambda: recall.hidden_activations(m, t, [8]), "subjects"),
            ("hidden_activations no subjects", lambda: recall.hidden_activations(m, t, []), "subjects"),
            ("evaluate_multihop task N differs", lambda: multihop.evaluate_multihop(hop, t16, 2), "task"),
            ("path_gate_matrix task N differs", lambda: multihop.path_gate_matrix(hop, t16, 2, [0]), "task"),
            (
                "path_gate_matrix no subjects",
                lambda: multihop.path_gate_matrix(_hop_model(d_mlp=8), t, 2, []),
                "subjects",
            ),
            ("cot_gate_steps task N differs", lambda: multihop.cot_gate_steps(_hop_model(4), t16, 0, [0, 1]), "task"),
            ("query_activations task N differs", lambda: storage.query_activations(m, t16), "N="),
            ("perms_of not a permutation", lambda: storage.perms_of(bad_perms), "perms"),
            ("recall_accuracy perms not permutations", lambda: transfer.recall_accuracy(m, bad_perms), "perms"),
            ("build_block perms not permutations", lambda: constructions.build_block(bad_perms), "perms"),
            ("build_block float perms", lambda: constructions.build_block(t.perms.double()), "perms"),
            (
                "subject_embeddings perms not permutations",
                lambda: constructions.subject_embeddings(constructions.block_recipe(8, 2), bad_perms),
                "perms",
            ),
            (
                "path_embeddings perms not permutations",
                lambda: multihop_constructions.path_embeddings(bad_perms, 2, codes),
                "perms",
            ),
            ("nearest_code k' differs", lambda: storage.nearest_code(Y, codes), "codes"),
            ("ridge_solve rows differ", lambda: storage.ridge_solve(X, Y[:5], 0.1), "X and Y"),
            ("ridge_solve X a list", lambda: storage.ridge_solve(X.tolist(), Y, 0.1), "X and Y"),
            ("compare_weights shapes differ", lambda: views.compare_weights(m, _untied(d=16)[1], 8), "a and b"),
            ("compare_weights b not a model", lambda: views.compare_weights(m, "b", 8), "b"),
            ("with_subject_embeddings E shape", lambda: transfer.with_subject_embeddings(m, E[:4]), "E"),
            # arguments out of their meaning
            ("ridge_solve lam -1", lambda: storage.ridge_solve(X, Y, -1.0), "lam"),
            ("ridge_solve lam NaN", lambda: storage.ridge_solve(X, Y, math.nan), "lam"),
            ("ridge_solve lam True", lambda: storage.ridge_solve(X, Y, True), "lam"),
            ("recall_accuracy chunk -1", lambda: transfer.recall_accuracy(m, t.perms, chunk=-1), "chunk"),
            ("recall_accuracy chunk 0", lambda: transfer.recall_accuracy(m, t.perms, chunk=0), "chunk"),
            ("evaluate_recall facts []", lambda: recall.evaluate_recall(m, t, facts=[]), "facts"),
            ("evaluate_multihop index []", lambda: multihop.evaluate_multihop(hop, t, 2, index=[]), "index"),
            (
                "evaluate_multihop chunk_size -1",
                lambda: multihop.evaluate_multihop(hop, t, 2, chunk_size=-1),
                "chunk_size",
            ),
            ("train_batched one model twice", lambda: batched.train_batched([m, m], DATA), "models"),
            ("train_subject_embeddings lr True", lambda: transfer.train_subject_embeddings(m, t.perms, lr=True), "lr"),
            (
                "train_subject_embeddings lr NaN",
                lambda: transfer.train_subject_embeddings(m, t.perms, lr=math.nan),
                "lr",
            ),
            ("log2_slider value True", lambda: widgets.log2_slider("N", True, 0, 4), "value"),
            ("int_slider value True", lambda: widgets.int_slider("R", True, 1, 8), "value"),
            ("int_slider value above hi", lambda: widgets.int_slider("R", 9, 1, 8), "value"),
            ("int_slider step 0", lambda: widgets.int_slider("R", 2, 1, 8, step=0), "step"),
            ("explorer debounce_s -1", lambda: widgets.explorer({}, lambda: 0, debounce_s=-1.0), "debounce_s"),
            ("explorer render not callable", lambda: widgets.explorer({}, "figure"), "render"),
            (
                "display_bundle self-displaying object",
                lambda: widgets.display_bundle(_SelfDisplaying()),
                "display bundle",
            ),
            ("CrossSetConfig n_sets 0", lambda: crossset.CrossSetConfig(n_sets=0), "n_sets"),
            ("CrossSetConfig unknown parameterization", lambda: crossset.CrossSetConfig(parameterization="x"), "param"),
            (
                "CrossSetConfig free tables with K = inf",
                lambda: crossset.CrossSetConfig(n_sets=math.inf, parameterization="free"),
                "encoded",
            ),
            ("CrossSetConfig penalty -1", lambda: crossset.CrossSetConfig(penalty=-1.0), "penalty"),
            ("train_crossset config None", lambda: train_crossset.train_crossset(None), "CrossSetConfig"),
            ("zero_shot result None", lambda: probe_crossset.zero_shot(None), "CrossSetResult"),
            ("set_model k out of range", lambda: probe_crossset.set_model(_crossset_run(), 5), "k"),
            (
                "zero_shot protocol_steps -1",
                lambda: probe_crossset.zero_shot(_crossset_run(), protocol_steps=-1),
                "steps",
            ),
            ("zero_shot lr NaN", lambda: probe_crossset.zero_shot(_crossset_run(), lr=math.nan), "lr"),
            (
                "evaluate_recall workers 10**6",
                lambda: recall.evaluate_recall(m, t, method="fused", workers=10**6),
                "workers",
            ),
            ("run workers 10**6", lambda: runner.run("smoke", workers=10**6), "workers"),
            ("ridge split a list", lambda: storage.ridge(X, Y, [0, 1]), "split"),
            ("ridge split of more rows", lambda: storage.ridge(X, Y, storage.subject_split(20)), "split"),
            ("train.evaluate NaN model", lambda: train.evaluate(nan_m, t.single_hop()), "model"),
            ("train.evaluate no facts", lambda: train.evaluate(m, t.single_hop().subset(torch.arange(0))), "data"),
            (
                "accuracy_from_logits NaN logits",
                lambda: selector.accuracy_from_logits(acts.logits * math.nan, t.perms),
                "logits",
            ),
            (
                "accuracy_from_logits [N R, V] logits",
                lambda: selector.accuracy_from_logits(acts.logits.reshape(16, 8), t.perms),
                "logits",
            ),
            ("r2_score NaN Y_hat", lambda: storage.r2_score(Y, Y * math.nan), "Y_hat"),
            ("r2_score shapes differ", lambda: storage.r2_score(Y, Y[:3]), "Y and Y_hat"),
            ("code_scores NaN codes", lambda: storage.code_scores(Y[:, :1].repeat(1, 3), codes * math.nan), "codes"),
            ("attribute_codes rtol -1", lambda: storage.attribute_codes(m.W_U.detach(), rtol=-1.0), "rtol"),
            ("superposition_fit codes k' = 0", lambda: storage.superposition_fit(E, t.perms, codes[:, :0]), "codes"),
            ("set_accuracy chunk 0", lambda: crossset.set_accuracy(*_crossset_eval(), chunk=0), "chunk"),
            ("set_accuracy NaN E", lambda: crossset.set_accuracy(*_crossset_eval(math.nan)), "E"),
            ("set_accuracy not a CrossSetModel", lambda: crossset.set_accuracy(m, *_crossset_eval()[1:]), "model"),
            # empty inputs and missing columns name the argument
            ("seed_summary missing columns", lambda: analyse.seed_summary(pd.DataFrame(), ["seed"]), "df"),
            ("seed_summary no cols", lambda: analyse.seed_summary(pd.DataFrame({"accuracy": [1.0]}), []), "cols"),
            ("dstar_growth empty frame", lambda: analyse.dstar_growth(pd.DataFrame()), "th"),
            ("rate_effect empty frames", lambda: analyse.rate_effect(pd.DataFrame(), pd.DataFrame()), "th"),
            ("bits_table empty frames", lambda: analyse.bits_table(pd.DataFrame(), pd.DataFrame()), "th"),
            ("plot_training_history {}", lambda: bijection_plots.plot_training_history({}), "history"),
            ("plot_bijections []", lambda: bijection_plots.plot_bijections([]), "perms"),
            ("plot_memory_budget empty", lambda: bijection_plots.plot_memory_budget(pd.DataFrame()), "table"),
            ("memory_budget_traces no rows", lambda: bijection_plots.memory_budget_traces(budget_df), "table"),
            ("multihop_thresholds empty frame", lambda: multihop_analysis.multihop_thresholds(pd.DataFrame()), "df"),
            ("multihop_curves empty frame", lambda: multihop_analysis.multihop_curves(pd.DataFrame()), "df"),
            ("step_accuracies empty frame", lambda: multihop_analysis.step_accuracies(pd.DataFrame()), "df"),
            ("tradeoff_traces empty frame", lambda: multihop_plots.tradeoff_traces(pd.DataFrame()), "dims"),
            ("plot_dstar_vs_rlogd empty frame", lambda: disjoint_plots.plot_dstar_vs_rlogd(pd.DataFrame()), "dstar"),
            (
                "plot_shared_vs_disjoint empty frame",
                lambda: disjoint_plots.plot_shared_vs_disjoint(pd.DataFrame()),
                "rows",
            ),
            (
                "plot_frozen_control empty frame",
                lambda: disjoint_plots.plot_frozen_control(pd.DataFrame()),
                "probe_rows",
            ),
            # sizes above the memory budget are refused before allocating
            ("query_activations N = 100000", lambda: storage.query_activations(big_model, big_perms), "memory budget"),
            ("one_hot_fit_r2 N = 100000", lambda: storage.one_hot_fit_r2(torch.zeros(100_000, 2), big_perms), "budget"),
            ("probe max_bytes 1000", lambda: storage.check_probe_inputs(m, t, max_bytes=1000), "max_bytes"),
            ("paths 10^12", lambda: multihop.paths(10, 12), "memory budget"),
            ("queries of 1024^8 paths", lambda: multihop.queries(wide, 8), "memory budget"),
            (
                "evaluate_multihop 8 * 1024^16 queries",
                lambda: multihop.evaluate_multihop(_hop_model(17, 1032), wide, 16),
                "queries",
            ),
            (
                "path_gate_matrix 1024^3 paths",
                lambda: multihop.path_gate_matrix(_hop_model(4, 1032), wide, 3, [0]),
                "budget",
            ),
            # the prose's glued numbers: a key the text cannot cite, a number glued twice, text that would lose its
            # quotes
            ("Glued.glue key with a space", lambda: prose.Glued().glue("a b", 1), "key"),
            ("Glued.glue key not a str", lambda: prose.Glued().glue(3, 1), "key"),
            ("Glued.glue the same key twice", lambda: _glued(x=1).glue("x", 2), "already glued"),
            ("glued[...] not a str", lambda: _glued(x=1)[3], "glued[...]"),
            ("glued[...] text in quotes", lambda: _glued(q="'a'")["q"], "quotes"),
        ]
        + empty_input_cases()
        + crossset_study_cases()
        + scale_study_cases()
    )


def _empty(*columns: str) -> pd.DataFrame:
    """A table with every column a function reads and no rows: only the emptiness is wrong."""
    return pd.DataFrame({c: [] for c in columns})


def empty_input_cases() -> list[tuple[str, object, str]]:
    """Every analysis and figure of the probing, capacity, construction, multi-hop and disjoint chapters with an
    empty table or list (all columns present, no rows): a ValueError naming the empty argument, never an empty
    figure, a zero or an IndexError/KeyError."""
    sweep = _empty("n_subjects", "n_relations", "d_model", "seed", "lr", "accuracy", "data_format", "freeze_embed")
    th = _empty("n_subjects", "n_relations", "d_star", "censored", "R_log2_N", "R_k", "counting_bound_d")
    point = _empty(*tables.POINT_COLUMNS)
    summ = _empty("recipe", "d_model", "weight_decay", "acc", "acc_min", "acc_max", "n_seeds")
    row = pd.Series({"acc": 0.5, "acc_min": 0.4, "acc_max": 0.6, "n_seeds": 3})
    group = {"name": "g", "values": {"acc": 0.5}}
    curves = _empty("n_subjects", "n_relations", "d_model", "accuracy_mean", "accuracy_min", "accuracy_max", "n_ok")
    curves = curves.assign(n_seeds=[])
    fit = analyse.fit_line([1.0, 2.0, 3.0], [1.0, 2.0, 3.1])
    mh = _empty(*multihop_analysis.MULTIHOP_LINE, "d_model", "seed", "lr", "accuracy", "steps", "max_steps")
    mh_curves = _empty(*multihop_analysis.MULTIHOP_LINE, "d_model", "accuracy_mean", "accuracy_min", "accuracy_max")
    mh_curves = mh_curves.assign(n_ok=[], n_seeds=[])
    dims = _empty("h", "format", "d", "per_entity_bound_d", "global_bound_d")
    dj = _empty("n_subjects", "n_relations", "n_answers", "d_model", "freeze_embed", "seed", "data_format")
    dj = dj.assign(accuracy=[], heldout_accuracy=[])
    budget = _empty("N", "R", "associative_params", "geometric_subject_table", "geometric_nonembedding_params")
    dense = _empty("N", "R", "d_model", "accuracy")
    bounds = _empty("N", "R", "block_d", "lower_bound_d")
    transfer = _empty(*tables.POINT_COLUMNS, "protocol", "step", "accuracy")
    colors = {"superposition": "#000000"}
    return [
        # analyses of the sweep tables
        ("thresholds empty table", lambda: analyse.thresholds(sweep), "df"),
        ("frozen_capacity empty table", lambda: analyse.frozen_capacity(sweep), "df"),
        ("accuracy_curves empty table", lambda: analyse.accuracy_curves(sweep), "df"),
        ("seed_summary empty table", lambda: analyse.seed_summary(sweep, ["n_subjects"]), "df"),
        ("rate_effect empty th", lambda: analyse.rate_effect(sweep.assign(steps=[]), th), "th"),
        ("dstar_growth empty th", lambda: analyse.dstar_growth(th), "th"),
        ("side_by_side no shapes", lambda: analyse.side_by_side(_SBS, _SBS, []), "shapes"),
        ("side_by_side shapes match nothing", lambda: analyse.side_by_side(_SBS, _SBS, [(99, 1, "x")]), "shapes"),
        ("side_by_side empty frozen", lambda: analyse.side_by_side(_SBS.iloc[:0], _SBS, [(8, 32, "x")]), "frozen"),
        ("bits_table both empty", lambda: analyse.bits_table(th, _empty(*_CAP)), "th and cap"),
        # the probing study (analyse.probing)
        ("recipe_labels empty table", lambda: probing_analysis.recipe_labels(point), "df"),
        ("summarise empty probing", lambda: probing_analysis.summarise(point.assign(acc=[]), ["acc"]), "probing"),
        ("summarise no metrics", lambda: probing_analysis.summarise(_POINT_ROW, []), "metrics"),
        ("transfer_finals empty transfer", lambda: probing_analysis.transfer_finals(transfer), "transfer"),
        ("where_facts empty transfer", lambda: probing_analysis.where_facts(transfer), "transfer"),
        ("point_rows empty df", lambda: probing_analysis.point_rows(point, d_model=16), "df"),
        ("core_rows empty summary", lambda: probing_analysis.core_rows(summ), "summary"),
        ("bar_group no metrics", lambda: probing_analysis.bar_group(row, [], "g"), "metrics"),
        ("bar_group row a dict", lambda: probing_analysis.bar_group({"acc": 0.5}, ["acc"], "g"), "row"),
        # multi-hop and disjoint analyses
        ("multihop_thresholds empty table", lambda: multihop_analysis.multihop_thresholds(mh), "df"),
        ("multihop_curves empty table", lambda: multihop_analysis.multihop_curves(mh), "df"),
        ("disjoint dstar empty table", lambda: disjoint_analysis.dstar(dj), "df"),
        ("disjoint probes by []", lambda: disjoint_analysis.probes(dj, []), "by"),
        ("disjoint budget_verdict empty table", lambda: disjoint_analysis.budget_verdict(dj, "noisy"), "df"),
        # figures: capacity
        ("accuracy_vs_d_traces empty curves", lambda: capacity_plots.accuracy_vs_d_traces(curves, 64), "curves"),
        ("plot_accuracy_vs_d_slider no Ns", lambda: capacity_plots.plot_accuracy_vs_d_slider(_CURVE, []), "Ns"),
        ("plot_accuracy_vs_d_slider N absent", lambda: capacity_plots.plot_accuracy_vs_d_slider(_CURVE, [3]), "N=3"),
        ("plot_threshold_scaling empty th", lambda: capacity_plots.plot_threshold_scaling(th, fit), "th"),
        ("plot_dstar_vs_N empty th", lambda: capacity_plots.plot_dstar_vs_N(th), "th"),
        ("plot_frozen_capacity empty cap", lambda: capacity_plots.plot_frozen_capacity(_empty(*_CAP), fit), "cap"),
        ("plot_side_by_side empty rows", lambda: capacity_plots.plot_side_by_side(_empty(*_SBS_ROWS)), "rows"),
        ("plot_bits_per_param empty table", lambda: capacity_plots.plot_bits_per_param(_empty(*_BITS)), "table"),
        # figures: the construction
        ("plot_codes []", lambda: construction_plots.plot_codes([]), "codes"),
        ("plot_codes [[]]", lambda: construction_plots.plot_codes([[]]), "codes"),
        (
            "plot_superposition no parts",
            lambda: construction_plots.plot_superposition([], [1.0], row_labels=["e"], title="t"),
            "parts",
        ),
        (
            "plot_construction_view no activations",
            lambda: construction_plots.plot_construction_view([], [1], [0.0, 1.0], k=2, title="t"),
            "activations",
        ),
        (
            "plot_construction_view no margin bins",
            lambda: construction_plots.plot_construction_view([[1.0]], [], [], k=2, title="t"),
            "margin_counts",
        ),
        ("plot_dense_accuracy empty table", lambda: construction_plots.plot_dense_accuracy(dense, bounds), "table"),
        (
            "dense_accuracy_traces bounds lack an R",
            lambda: construction_plots.dense_accuracy_traces(_DENSE, bounds),
            "bounds",
        ),
        (
            "plot_parameter_comparison empty budget",
            lambda: construction_plots.plot_parameter_comparison(budget),
            "budget",
        ),
        # figures: probing and transfer
        ("plot_probe_bars no groups", lambda: probing_plots.plot_probe_bars([], ["acc"], {}, title="t"), "groups"),
        ("plot_probe_bars no metrics", lambda: probing_plots.plot_probe_bars([group], [], {}, title="t"), "metrics"),
        (
            "plot_probe_bars group lacks a metric",
            lambda: probing_plots.plot_probe_bars([group], ["x"], {}, title="t"),
            "groups[0]",
        ),
        (
            "plot_probes_vs_d empty summary",
            lambda: probing_plots.plot_probes_vs_d(summ, ["acc"], {}, title="t"),
            "summary",
        ),
        ("plot_probes_vs_d no metrics", lambda: probing_plots.plot_probes_vs_d(summ, [], {}, title="t"), "metrics"),
        ("plot_gate_pictures []", lambda: probing_plots.plot_gate_pictures([], title="t"), "pictures"),
        ("plot_where_facts empty df", lambda: probing_plots.plot_where_facts(_empty(*_WHERE), title="t"), "df"),
        (
            "plot_transfer_vs_d no summaries",
            lambda: probing_plots.plot_transfer_vs_d({}, colors, colors, construction={}, title="t"),
            "summaries",
        ),
        (
            "plot_transfer_bars no protocols",
            lambda: probing_plots.plot_transfer_bars(_empty("label"), {}, colors, title="t"),
            "protocols",
        ),
        (
            "plot_transfer_curves empty curves",
            lambda: probing_plots.plot_transfer_curves(
                _empty("protocol", "step", "accuracy"), colors, colors, title="t"
            ),
            "curves",
        ),
        ("transfer_slider []", lambda: probing_plots.transfer_slider([], colors, colors), "steps"),
        # figures: multi-hop, disjoint, the task; tables for readers
        ("tradeoff_traces empty dims", lambda: multihop_plots.tradeoff_traces(dims), "dims"),
        ("plot_tradeoff []", lambda: multihop_plots.plot_tradeoff([]), "steps"),
        ("plot_path_gates empty matrix", lambda: multihop_plots.plot_path_gates([], [], title="t"), "matrix"),
        (
            "plot_path_gates labels differ",
            lambda: multihop_plots.plot_path_gates([[1.0]], ["a", "b"], title="t"),
            "matrix",
        ),
        (
            "plot_multihop_accuracy_slider empty curves",
            lambda: multihop_plots.plot_multihop_accuracy_slider(mh_curves, [(2, 2)], N=64),
            "curves",
        ),
        ("margin_traces no bins", lambda: disjoint_plots.margin_traces([], [], min_margin=0.5), "counts"),
        ("plot_margin_slider []", lambda: disjoint_plots.plot_margin_slider([]), "views"),
        ("slider_figure []", lambda: bijection_plots.slider_figure([], slider_label="x"), "steps"),
        ("plot_training_by_d []", lambda: bijection_plots.plot_training_by_d([], N=8, R=2), "runs"),
        ("show empty df", lambda: tablefmt.show(th, {"d_star": "d*"}), "df"),
    ]


_CAP = ("data_format", "params_nonembed", "capacity_facts", "d_model", "d_mlp", "capacity_N", "n_relations")
_CAP += ("censored", "bits_stored", "bits_per_param")
_SBS = pd.DataFrame({"d_model": [8], "d_mlp": [32], "data_format": ["x"], "n_subjects": [64], "accuracy": [1.0]})
_SBS_ROWS = ("label", "n_subjects", "accuracy_mean", "regime")
_BITS = ("label", "regime", "bits_per_param", "params_counted")
_WHERE = ("d_model", "weight_decay", "seed", "where_as_trained", "where_shuffled", "where_gaussian")
_CURVE = pd.DataFrame(
    {"n_subjects": [64], "n_relations": [2], "d_model": [8], "accuracy_mean": [1.0], "accuracy_min": [1.0]}
).assign(accuracy_max=1.0, n_ok=3, n_seeds=3)
_DENSE = pd.DataFrame({"N": [64], "R": [2], "d_model": [8], "accuracy": [1.0]})
_POINT_ROW = pd.DataFrame([{c: 0 for c in tables.POINT_COLUMNS}])


class _Unpicklable:
    """An object whose unpickling would create the folder ``marker``: a model file that must never be unpickled."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def model_files(tmp: Path) -> dict[str, Path]:
    """Model files for the saved-model cases (``run.saved``, ``python -m georecall evaluate``): a trained-shape model
    (N = 8, R = 2) with its task, the same diverged (a NaN weight), one without a task, an N = 100000 model whose
    probes need ~1 TiB, a FIFO, junk bytes, a pickled object, another format version and a tensor of the wrong shape."""
    tmp.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="models-", dir=tmp))  # a fresh folder per call
    task, model = _untied()
    paths = {name: folder / f"{name}.pt" for name in ("good", "nan", "no_task", "big", "fifo", "junk", "pickle", "v2")}
    saved.save_model(model, paths["good"], task=task)
    saved.save_model(model, paths["no_task"])
    saved.save_model(_nan(_untied()[1]), paths["nan"], task=task)
    big = models.Transformer(models.ModelConfig(d_vocab=100_008, d_vocab_out=100_000, d_model=4, d_mlp=4))
    saved.save_model(big, paths["big"], task=tasks.TaskConfig(n_subjects=100_000, n_relations=8))
    os.mkfifo(paths["fifo"])
    paths["junk"].write_bytes(b"not a model")
    torch.save({"x": _Unpicklable(folder / "unpickled")}, paths["pickle"])
    torch.save({"format": saved.FORMAT, "version": 2}, paths["v2"])
    good = torch.load(paths["good"], weights_only=True)
    good["state_dict"]["W_E"] = torch.zeros(3, 3)
    paths["shape"] = folder / "shape.pt"
    torch.save(good, paths["shape"])
    return paths


def saved_model_cases(tmp: Path) -> list[tuple[str, object, str]]:
    """A saved model through the API: files that are not regular, not models, another version or the wrong shape are
    refused naming the file; a diverged model, a task that does not fit and a probe above the budget are refused by
    the evaluators' own checks, before any work."""
    f, (t, m) = model_files(tmp), _untied()
    return [
        ("load_model a FIFO", lambda: saved.load_model(f["fifo"]), "FIFO"),
        ("load_model /dev/zero", lambda: saved.load_model("/dev/zero"), "/dev/zero"),
        ("load_model a folder", lambda: saved.load_model(tmp), "folder"),
        ("load_model above max_bytes", lambda: saved.load_model(f["good"], max_bytes=100), "100"),
        ("load_model junk bytes", lambda: saved.load_model(f["junk"]), "not a georecall model"),
        ("load_model a pickled object", lambda: saved.load_model(f["pickle"]), "nothing was unpickled"),
        ("load_model format version 2", lambda: saved.load_model(f["v2"]), "version"),
        ("load_model a tensor of another shape", lambda: saved.load_model(f["shape"]), "shape"),
        ("evaluate_saved NaN model", lambda: saved.evaluate_saved(f["nan"]), "non-finite"),
        ("evaluate_saved task N differs", lambda: saved.evaluate_saved(f["good"], n_subjects=16), "N=16"),
        ("evaluate_saved task R differs", lambda: saved.evaluate_saved(f["good"], n_relations=3), "R=3"),
        ("evaluate_saved no task anywhere", lambda: saved.evaluate_saved(f["no_task"]), "n_subjects"),
        ("evaluate_saved probe above the budget", lambda: saved.evaluate_saved(f["big"], probe=True), "memory budget"),
        ("evaluate_saved probe 'yes'", lambda: saved.evaluate_saved(f["good"], probe="yes"), "probe"),
        ("save_model not a model", lambda: saved.save_model("model", tmp / "x.pt"), "model"),
        ("save_model task a dict", lambda: saved.save_model(m, tmp / "x.pt", task={"n_subjects": 8}), "task"),
        ("save_model path a folder", lambda: saved.save_model(m, tmp), "folder"),
        ("probe_all max_bytes 1000", lambda: summary.probe_all(m, t, max_bytes=1000), "max_bytes"),
        ("probe_all max_bytes '1e9'", lambda: summary.probe_all(m, t, max_bytes="1e9"), "max_bytes"),
    ]


def table_file_cases(tmp: Path) -> list[tuple[str, object, str]]:
    """A committed table replaced by a FIFO or a link to an endless device: refused at once, naming the file."""
    folder = Path(tempfile.mkdtemp(prefix="tables-", dir=tmp))
    os.mkfifo(folder / "e1_capacity.csv")
    (folder / "e2_frozen.csv").symlink_to("/dev/zero")
    (folder / "multihop.csv").mkdir()
    return [
        ("load_table a FIFO", lambda: tables.load_table("e1_capacity", folder), "FIFO"),
        ("load_table a link to /dev/zero", lambda: tables.load_table("e2_frozen", folder), "e2_frozen.csv"),
        ("load_table a folder", lambda: tables.load_table("multihop", folder), "folder"),
        ("load_tables with a FIFO", lambda: tables.load_tables(folder, ["e1_capacity"]), "e1_capacity"),
    ]


def evaluate_cli_cases(tmp: Path) -> list[tuple[str, list[str], str]]:
    """``python -m georecall evaluate``: each fault is one line on stderr, exit status 2, no traceback."""
    f = model_files(tmp)
    ev = lambda name, *more: ["evaluate", str(f[name]), *more]  # noqa: E731
    return [
        ("evaluate NaN model", ev("nan"), "non-finite"),
        ("evaluate task N differs", ev("good", "--n-subjects", "16"), "N=16"),
        ("evaluate task R differs", ev("good", "--n-relations", "3"), "R=3"),
        ("evaluate model file is a FIFO", ev("fifo"), "FIFO"),
        ("evaluate /dev/zero", ["evaluate", "/dev/zero"], "/dev/zero"),
        ("evaluate oversize probe", ev("big", "--probe"), "memory budget"),
        ("evaluate probe above --max-bytes", ev("good", "--probe", "--max-bytes", "1000"), "max_bytes=1000"),
        ("evaluate junk bytes", ev("junk"), "not a georecall model"),
        ("evaluate a pickled object", ev("pickle"), "nothing was unpickled"),
        ("evaluate format version 2", ev("v2"), "version"),
        ("evaluate a tensor of another shape", ev("shape"), "shape"),
        ("evaluate missing file", ["evaluate", str(tmp / "missing.pt")], "missing.pt"),
        ("evaluate no task recorded", ev("no_task"), "n_subjects"),
        ("evaluate --seed -1", ev("good", "--seed", "-1"), "seed"),
        ("evaluate --max-bytes 0", ev("good", "--max-bytes", "0"), "--max-bytes"),
        ("evaluate --n-subjects eight", ev("good", "--n-subjects", "eight"), "--n-subjects"),
    ]


def _glued(**values) -> prose.Glued:
    glued = prose.Glued()
    for key, value in values.items():
        glued.glue(key, value)
    return glued


class _Result:  # a TrainResult stand-in for a diverged multi-hop run
    accuracy, failed = 0.125, "loss became nan at step 16"


def crossset_study_cases() -> list[tuple[str, object, str]]:
    """The cross-set study's points, unit of work, analyses, figures and live view."""
    point = crossset_sweep.CrossSetPoint
    cs = _empty(*tables.CROSSSET_COLUMNS)
    gates = _empty(*tables.CROSSSET_POINT_COLUMNS, "unit", "relation", "activation")
    summ = _empty("parameterization", "n_sets", "d_model", "zs_encoder", "zs_encoder_min")
    th = _empty("R_log2_N", "d_star")
    cross = _empty("R_log2_N", "d_threshold", "censored", "d_tried", "label")
    one = pd.DataFrame({"R_log2_N": [32.0], "d_star": [8]})
    return [
        ("CrossSetPoint n_sets 'many'", lambda: point(n_sets="many"), "n_sets"),
        ("CrossSetPoint K = inf with free tables", lambda: point(n_sets="inf", parameterization="free"), "encoded"),
        ("CrossSetPoint device cuda", lambda: point(device="cuda"), "device"),
        ("CrossSetPoint negative penalty", lambda: point(penalty=-1.0), "penalty"),
        ("CrossSetPoint bool steps", lambda: point(steps=True), "steps"),
        ("crossset_points unknown part", lambda: crossset_sweep.crossset_points("most"), "part"),
        ("crossset_group a list of ints", lambda: crossset_runs.crossset_group([1]), "CrossSetPoint"),
        ("crossset_group threads 0", lambda: crossset_runs.crossset_group([], threads=0), "threads"),
        ("crossset summarise empty table", lambda: crossset_analysis.summarise(cs), "crossset"),
        (
            "crossset transfer_thresholds target 2",
            lambda: crossset_analysis.transfer_thresholds(cs, target=2.0),
            "target",
        ),
        ("crossset best_zero_shot empty table", lambda: crossset_analysis.best_zero_shot(cs), "crossset"),
        ("crossset gate_picture empty gates", lambda: crossset_analysis.gate_picture(gates), "crossset_gates"),
        ("plot_phase_diagram empty summary", lambda: crossset_plots.plot_phase_diagram(summ, {}, title="t"), "summary"),
        ("plot_transfer_threshold empty", lambda: crossset_plots.plot_transfer_threshold(th, cross, title="t"), "rows"),
        (
            "plot_transfer_threshold no cross rows",
            lambda: crossset_plots.plot_transfer_threshold(one, cross, title="t"),
            "rows",
        ),
        (
            "unit_picture empty rows",
            lambda: probing_analysis.unit_picture(_empty("unit", "relation", "activation")),
            "rows",
        ),
        (
            "crossset_view sets_per_step 0",
            lambda: crossset_live.crossset_view(16, 2, 4, "4", "encoded", steps=2, sets_per_step=0),
            "sets_per_step",
        ),
        (
            "crossset_view K = inf with free tables",
            lambda: crossset_live.crossset_view(16, 2, 4, "∞ (fresh sets every step)", "free", steps=2),
            "encoded",
        ),
        ("crossset_view unknown K", lambda: crossset_live.crossset_view(16, 2, 4, "7", "encoded", steps=2), "K"),
        ("crossset_view N 2", lambda: crossset_live.crossset_view(2, 2, 4, "4", "encoded", steps=2), "N"),
    ]


def scale_study_cases() -> list[tuple[str, object, str]]:
    """The studies at scale: held-out chains (Chapter 6), the sentence-format sweep and the layers study (Chapter 7):
    their points, units of work, analyses, figures and live view."""
    ho = _empty(*tables.HELDOUT_COLUMNS)
    th = _empty("data_format", "n_subjects", "n_relations", "hops", "d_star", "censored", "max_steps")
    dims = _empty("N", "h", "format", "d", "per_entity_bound_d", "global_bound_d")
    fits = _empty("data_format", "hops", "slope", "slope_se", "intercept", "N_min", "N_max")
    summ = _empty(
        "data_format", "early_stop", "max_steps", "weight_decay", "train_fraction", "heldout_mean", "heldout_min",
        "heldout_max", "chance", "train_mean", "n_seeds",
    )  # fmt: skip
    sent = _empty(*tables.SENTENCE_COLUMNS)
    sth = _empty("n_layers", "n_subjects", "n_relations", "R_log2_N", "d_star", "censored")
    probes = _empty(*tables.LAYER_PROBES_COLUMNS)
    study = _empty("n_layers", "recall_train", "recall_heldout_templates", "recall_inverse", "recall_inverse_trained")
    psumm = _empty("n_layers", "control", "token", "metric", "layer", "value")
    one = pd.DataFrame({"n_layers": [1], "R_log2_N": [8.0], "d_star": [12], "censored": [""]})
    return [
        ("HeldOutChains train_fraction 1", lambda: multihop_sweep.HeldOutChains(train_fraction=1.0), "train_fraction"),
        ("HeldOutChains hops 1", lambda: multihop_sweep.HeldOutChains(hops=1), "hops"),
        ("heldout_group a list of ints", lambda: heldout_runs.heldout_group([1]), "HeldOutChains"),
        ("heldout_group threads 0", lambda: heldout_runs.heldout_group([], threads=0), "threads"),
        ("heldout_summary empty table", lambda: multihop_analysis.heldout_summary(ho), "df"),
        ("plot_growth empty dims", lambda: multihop_growth.plot_growth(dims, th, fits, R=2), "dims"),
        ("plot_heldout empty summary", lambda: multihop_growth.plot_heldout(summ, N=64, R=2, h=2), "summary"),
        ("SentenceRunConfig n_layers 0", lambda: sentence_sweep.SentenceRunConfig(n_layers=0), "n_layers"),
        ("SentenceRunConfig n_templates 0", lambda: sentence_sweep.SentenceRunConfig(n_templates=0), "n_templates"),
        ("sentence_thresholds empty table", lambda: analyse.sentences.sentence_thresholds(sent), "df"),
        ("dstar_fits empty thresholds", lambda: analyse.sentences.dstar_fits(sth), "thresholds"),
        ("dstar_fits min_points 2", lambda: analyse.sentences.dstar_fits(one, min_points=2), "min_points"),
        (
            "plot_sentence_capacity empty",
            lambda: sentence_plots.plot_sentence_capacity(sth, fits, title="t"),
            "thresholds",
        ),
        ("LayersPoint n_layers 0", lambda: layers_sweep.LayersPoint(n_layers=0), "n_layers"),
        ("layers_group a list of ints", lambda: layers_runs.layers_group([1]), "LayersPoint"),
        ("layers_group threads 0", lambda: layers_runs.layers_group([], threads=0), "threads"),
        ("peak_layers empty probes", lambda: analyse.layers.peak_layers(probes), "layer_probes"),
        ("removes_recall min_drop 0", lambda: analyse.layers.removes_recall(_empty(), min_drop=0.0), "min_drop"),
        ("plot_layers_twin empty study", lambda: layers_plots.plot_layers_twin(psumm, study, d_model=32), "study"),
        ("plot_ablation value 'loss'", lambda: layers_plots.plot_ablation(_empty(), title="t", value="loss"), "value"),
        ("layers_view n_layers 0", lambda: layers_live.layers_view(0, 16), "n_layers"),
        ("layers_view d_model 2", lambda: layers_live.layers_view(1, 2), "d_model"),
    ]


def outcome_cases(tmp: Path) -> list[tuple[str, object]]:
    """Bad situations that are not bad arguments: each call returns True when the library did the right thing (a
    row marked failed, a file with the umask's mode, a cache that degrades with one warning naming the entry)."""

    def table_marks(value):
        t = tables.spec("e1_capacity")
        df = pd.DataFrame([{c: 0 for c in t.columns} | {"accuracy": value, "failed": None}])
        out = tmp / f"table-{value}"
        return tables.load_table("e1_capacity", tables.write_table("e1_capacity", df, out).parent)["failed"].iloc[0]

    def table_mode(mask):
        old = os.umask(mask)
        try:
            t = tables.spec("dense_accuracy")
            path = tables.write_table("dense_accuracy", pd.DataFrame({c: [] for c in t.columns}), tmp / f"m{mask}")
        finally:
            os.umask(old)
        return stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask

    def degrades(damage):
        root = tmp / f"degrade-{damage}"
        store, cfg = cache.Cache(root), {"case": damage}
        store.prepare()
        json_path, _ = store.paths(cache.config_key(cfg))
        if damage == "shard is a file":
            json_path.parent.write_text("x")
        else:
            json_path.mkdir(parents=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stored = [store.store(cfg, cache.Artifact({"accuracy": 0.5})), store.store({"b": 1}, cache.Artifact())]
        named = [w for w in caught if str(json_path.with_suffix("")) in str(w.message)]  # the entry's JSON or NPZ
        return stored == [None, None] and store.read_only and len(caught) == 1 and len(named) == 1

    def multihop_failed_not_scored():
        cfg = sweeps.MultiHopConfig(n_subjects=8, n_relations=2, hops=2, d_model=8, d_mlp=8, n_heads=2)
        out = multihop_runs.scores(cfg, TASK, _nan(_hop_model()), _Result())
        return out["min_margin"] is None and out["accuracy"] == _Result.accuracy

    def fifo_read_refused():
        path = tmp / "fifo"
        os.mkfifo(path)
        try:
            files.read_regular(path, 100)
        except files.NotRegularFileError as err:
            return str(path) in str(err)
        return False

    def cli_fifo_cache_entry():
        """A sweep whose cache entry is a FIFO: one warning line naming the entry, the table written, exit 0."""
        argv = ["sweep", "smoke", "--only", "disjoint_frozen", "--workers", "1", "--quiet"]
        argv += ["--cache-dir", str(tmp / "cli-cache"), "--out", str(tmp / "cli-out")]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            cli.main(argv)  # fills the cache
        entry = next((tmp / "cli-cache").rglob("*.json"))
        entry.unlink()
        os.mkfifo(entry)
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("default")  # as in a fresh process (the audit silences warnings around each case)
            code = cli.main(argv)
        lines = err.getvalue().strip().splitlines()
        return code == 0 and len(lines) == 1 and "warning:" in lines[0] and str(entry) in lines[0]

    def never_unpickled():
        f = model_files(tmp / "unpickle")
        code = classify_cli(["evaluate", str(f["pickle"])], "model file")[0]
        return not (f["pickle"].parent / "unpickled").exists() and code == "clear"

    return [
        ("CLI sweep with a FIFO cache entry warns on one line", cli_fifo_cache_entry),
        ("a pickled object in a model file is never unpickled", never_unpickled),
        ("table row with NaN accuracy marked failed", lambda: table_marks(math.nan) == "accuracy is not finite"),
        ("table row with inf accuracy marked failed", lambda: table_marks(math.inf) == "accuracy is not finite"),
        ("table written with umask 022 is 0644", lambda: table_mode(0o022)),
        ("table written with umask 002 is 0664", lambda: table_mode(0o002)),
        ("cache shard folder is a file: store degrades", lambda: degrades("shard is a file")),
        ("cache entry is a folder: store degrades", lambda: degrades("entry is a folder")),
        ("diverged multi-hop run is not scored", multihop_failed_not_scored),
        ("read_regular refuses a FIFO at once", fifo_read_refused),
    ]


def classify_outcome(call) -> tuple[str, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok = call()
    except Exception as err:  # noqa: BLE001 - an error here is a wrong answer to a bad situation
        return "unclear", f"{type(err).__name__}: {err}"
    return ("clear", "as expected") if ok is True else ("silent", f"returned {ok!r}")


def cli_cases(tmp: Path) -> list[tuple[str, list[str], str]]:
    f = tmp / "a-file"
    f.write_text("x")
    out = ["--out", str(tmp / "out")]
    cases = [
        ("--workers 0", ["sweep", "smoke", "--workers", "0", *out], "--workers"),
        ("--workers -2", ["sweep", "smoke", "--workers", "-2", *out], "--workers"),
        ("--workers two", ["sweep", "smoke", "--workers", "two", *out], "--workers"),
        ("--only nope", ["sweep", "smoke", "--only", "nope", *out], "--only"),
        ("--device cuda", ["sweep", "smoke", "--device", "cuda", *out], "cuda"),
        ("--device gpu", ["sweep", "smoke", "--device", "gpu", *out], "--device"),
        ("--dask localhost", ["sweep", "smoke", "--dask", "localhost", *out], "--dask"),
        ("--dask 8786", ["sweep", "smoke", "--dask", "8786", *out], "--dask"),
        ("--cache-dir ''", ["sweep", "smoke", "--cache-dir", "", *out], "--cache-dir"),
        ("--out ''", ["sweep", "smoke", "--out", ""], "--out"),
        ("--out /dev/null", ["sweep", "smoke", "--out", "/dev/null"], "--out"),
        ("--out a file", ["sweep", "smoke", "--out", str(f)], "--out"),
        ("table --out under a file", ["table", "dense_accuracy", "--out", str(f / "x.csv")], "--out"),
        ("table unknown", ["table", "e9", *out], "e9"),
        ("table without --out", ["table", "dense_accuracy"], "--out"),
        ("preset typo", ["sweep", "smok", *out], "smok"),
        ("no command", [], "command"),
        ("--workers 10**9", ["sweep", "smoke", "--workers", "1000000000", *out], "--workers"),
        ("--workers 1025", ["sweep", "smoke", "--workers", "1025", *out], "--workers"),
        ("--out path too long", ["sweep", "smoke", "--out", str(tmp / ("x" * 300))], "--out"),
        ("table --out path too long", ["table", "dense_accuracy", "--out", str(tmp / ("y" * 300))], "--out"),
        ("--out component too long", ["sweep", "smoke", "--out", str(tmp / ("z" * 300) / "a")], "--out"),
    ]
    if torch.cuda.is_available():
        cases = [c for c in cases if c[0] != "--device cuda"]
    return cases


def hostile_cache_cases() -> dict[str, object]:
    def edit(fn, sign=False):
        def apply(j: Path):
            meta = json.loads(j.read_text())
            fn(meta)
            if sign:
                meta["checksum"] = cache._checksum(meta)
            j.write_text(json.dumps(meta))

        return apply

    return {
        "edited value": edit(lambda m: m["scalars"].update(accuracy=1.0)),
        "1e999 text": lambda j: j.write_text(j.read_text().replace('"accuracy": 0.5', '"accuracy": 1e999')),
        "wrong type, re-signed": edit(lambda m: m["scalars"].update(accuracy="high"), sign=True),
        "empty scalars, re-signed": edit(lambda m: m.update(scalars={}), sign=True),
        "5000 digits": lambda j: j.write_text('{"a": ' + "9" * 5000 + "}"),
        "100000-deep": lambda j: j.write_text("[" * 100_000 + "]" * 100_000),
        "names = 5, re-signed": edit(lambda m: m["arrays"].update(names=5), sign=True),
        "not JSON": lambda j: j.write_text("{"),
        "binary": lambda j: j.write_bytes(bytes(range(256))),
        "folder": lambda j: (j.unlink(), j.mkdir()),
        "17 MiB": lambda j: j.write_bytes(b" " * (17 * 2**20)),
        "NaN": lambda j: j.write_text('{"schema": NaN}'),
        "truncated": lambda j: j.write_text(j.read_text()[:40]),
        "older version": edit(lambda m: m.update(cache_version=1), sign=True),
        "FIFO": lambda j: (j.unlink(), os.mkfifo(j)),
        "symlink to /dev/zero": lambda j: (j.unlink(), j.symlink_to("/dev/zero")),
        "symlink to /dev/urandom": lambda j: (j.unlink(), j.symlink_to("/dev/urandom")),
        "symlink to a valid copy": lambda j: (j.rename(j.with_suffix(".copy")), j.symlink_to(j.with_suffix(".copy"))),
        "dangling symlink": lambda j: (j.unlink(), j.symlink_to(j.with_suffix(".gone"))),
        "NPZ is a FIFO": lambda j: (j.with_suffix(".npz").unlink(), os.mkfifo(j.with_suffix(".npz"))),
        "NPZ symlink to /dev/zero": lambda j: (
            j.with_suffix(".npz").unlink(),
            j.with_suffix(".npz").symlink_to("/dev/zero"),
        ),
        "NPZ is a folder": lambda j: (j.with_suffix(".npz").unlink(), j.with_suffix(".npz").mkdir()),
    }


EXPECT = {"accuracy": float}


def classify_call(call, name) -> tuple[str, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except (ValueError, TypeError) as err:
        return ("clear" if name in str(err) else "unclear"), f"{type(err).__name__}: {err}"
    except Exception as err:  # noqa: BLE001 - any other error is what this sweep looks for
        return "unclear", f"{type(err).__name__}: {err}"
    return "silent", "no error"


def classify_cli(argv, name) -> tuple[str, str]:
    """``clear``: exit status 2 (raised by argparse or returned by ``main``) and one ``error:`` line naming ``name``
    on stderr (argparse's usage lines before it allowed), no traceback."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    except BaseException as exc:  # noqa: BLE001 - an exception escaping main() is a traceback for the user
        return "traceback", f"{type(exc).__name__}: {exc}"
    if code == 0:
        return "silent", "ran"
    text = err.getvalue().strip().splitlines()
    errors = [line for line in text if "error:" in line]
    ok = code == 2 and len(errors) == 1 and errors[0] == text[-1] and "Traceback" not in err.getvalue()
    return ("clear" if ok and name in text[-1] else "unclear" if ok else "traceback"), (text or [""])[-1]


def classify_cache(tmp: Path, label: str, damage) -> tuple[str, str]:
    cfg = {"case": label}
    store = cache.Cache(tmp / "cache")
    store.store(cfg, cache.Artifact(scalars={"accuracy": 0.5}))
    json_path, _ = store.paths(cache.config_key(cfg))
    try:
        damage(json_path)
    except Exception as err:  # noqa: BLE001 - e.g. an older library without a checksum to re-sign
        return "n/a", f"could not build the case ({type(err).__name__}: {err})"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            art = cache.Cache(tmp / "cache").load(cfg, expect=EXPECT)
        except BaseException as err:  # noqa: BLE001
            return "unclear", f"raised {type(err).__name__}: {err}"
    named = [w for w in caught if str(json_path.with_suffix("")) in str(w.message)]  # the entry's JSON or NPZ
    if art is not None:
        return "silent", f"loaded {art.scalars}"
    return ("clear" if len(named) == 1 else "unclear"), (str(named[0].message) if named else "no warning")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", action="store_true", help="print every case, not only the failures")
    args = parser.parse_args()
    repro.seed_everything(0)
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for label, call, name in config_cases() + call_cases():
            results.append(("api", label, *classify_call(call, name)))
        for label, call, name in newer_cases() + saved_model_cases(tmp) + table_file_cases(tmp):
            results.append(("newer", label, *classify_call(call, name)))
        for label, call in outcome_cases(tmp):
            results.append(("outcome", label, *classify_outcome(call)))
        for label, argv, name in cli_cases(tmp) + evaluate_cli_cases(tmp):
            results.append(("cli", label, *classify_cli(argv, name)))
        for label, damage in hostile_cache_cases().items():
            results.append(("cache", label, *classify_cache(tmp, label, damage)))
    for kind, label, verdict, detail in results:
        if args.verbose or verdict != "clear":
            print(f"{verdict:9s} {kind:5s} {label}: {detail[:160]}")
    counts = Counter(verdict for _, _, verdict, _ in results)
    by_kind = Counter(kind for kind, *_ in results)
    print(
        json.dumps(
            {
                "tried": len(results),
                **{k: counts.get(k, 0) for k in ("clear", "unclear", "silent", "traceback", "n/a")},
                "by_kind": dict(by_kind),
            }
        )
    )


if __name__ == "__main__":
    main()
