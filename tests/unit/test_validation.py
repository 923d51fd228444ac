"""Every public entry refuses bad input with an error that names the parameter (table-driven).

Each case calls one entry point with one bad argument and expects a ``ValueError`` or ``TypeError`` whose message
contains the parameter's name (or the thing that is wrong). Wrong types raise ``_checks.ArgumentTypeError``,
which is both.
"""

import importlib.util
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from georecall import _checks, repro
from georecall.explore import bijection as widgets
from georecall.model import recall
from georecall.model import transformer as models
from georecall.run import executors, runner
from georecall.sweep import cache, search, tables
from georecall.sweep import configs as sweeps
from georecall.tasks import bijection as tasks
from georecall.train import batched, recipe
from georecall.train import loop as train

TASK = tasks.make_task(8, 2, seed=0)
DATA = TASK.single_hop()
NOISY = tasks.noisy_sequences(TASK, seq_len=6, seed=0)


def _model(**kw):
    return models.Transformer(models.ModelConfig.for_task(DATA, 8, **kw))


def _noisy_model():
    return models.Transformer(models.ModelConfig.for_task(NOISY, 8))


def _factset(tokens=None, targets=None, **kw):
    tokens = DATA.tokens if tokens is None else tokens
    targets = DATA.targets if targets is None else targets
    return tasks.FactSet(tokens, targets, kw.pop("d_vocab", DATA.d_vocab), kw.pop("d_vocab_out", 8), **kw)


def _nan_model():
    m = _model()
    with torch.no_grad():
        m.blocks[0].mlp.W_in.fill_(math.nan)
    return m


def _audit():
    """The bad-input audit (benchmarks/bad_inputs.py), whose case tables these tests share."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bad_inputs.py"
    spec = importlib.util.spec_from_file_location("bad_inputs_audit", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


AUDIT = _audit()
NEWER = AUDIT.newer_cases()  # probes, selector, transfer, multi-hop, analyses, plots, widgets, constructions
SMALL_EXP = sweeps.Experiment(name="x", description="", points=(sweeps.RunConfig(n_subjects=8),))

# (case id, call, the name the message must contain)
CASES = [
    # tasks
    ("TaskConfig N too small", lambda: tasks.TaskConfig(n_subjects=1), "n_subjects"),
    ("TaskConfig N is a bool", lambda: tasks.TaskConfig(n_subjects=True), "n_subjects"),
    ("TaskConfig N is a float", lambda: tasks.TaskConfig(n_subjects=8.0), "n_subjects"),
    ("TaskConfig R zero", lambda: tasks.TaskConfig(n_relations=0), "n_relations"),
    ("TaskConfig negative seed", lambda: tasks.TaskConfig(seed=-1), "seed"),
    ("TaskConfig float seed", lambda: tasks.TaskConfig(seed=1.5), "seed"),
    ("make_task negative seed", lambda: tasks.make_task(8, 2, seed=-7), "seed"),
    ("BijectionTask not a config", lambda: tasks.BijectionTask({"n_subjects": 8}), "config"),
    ("answer negative subject", lambda: TASK.answer(torch.tensor([-1]), torch.tensor([0])), "subject"),
    ("answer relation too large", lambda: TASK.answer(torch.tensor([0]), torch.tensor([2])), "relation"),
    ("compose relation too large", lambda: TASK.compose([5]), "relation"),
    ("FactSet negative token", lambda: _factset(tokens=DATA.tokens - 1), "tokens"),
    ("FactSet token >= d_vocab", lambda: _factset(d_vocab=5), "tokens"),
    ("FactSet float tokens", lambda: _factset(tokens=DATA.tokens.float()), "tokens"),
    ("FactSet bool tokens", lambda: _factset(tokens=DATA.tokens > 0), "tokens"),
    ("FactSet tokens not a tensor", lambda: _factset(tokens=DATA.tokens.tolist()), "tokens"),
    ("FactSet 1-D tokens", lambda: _factset(tokens=DATA.tokens[:, 0], targets=DATA.targets[:, 0]), "tokens"),
    ("FactSet target out of range", lambda: _factset(targets=DATA.targets + 8), "targets"),
    ("FactSet target below IGNORE", lambda: _factset(targets=DATA.targets - 2), "targets"),
    ("FactSet float targets", lambda: _factset(targets=DATA.targets.float()), "targets"),
    ("FactSet shape mismatch", lambda: _factset(targets=DATA.targets[:3]), "targets"),
    ("FactSet d_vocab_out zero", lambda: _factset(d_vocab_out=0), "d_vocab_out"),
    ("FactSet format not a str", lambda: _factset(data_format=3), "data_format"),
    ("noisy_sequences negative seed", lambda: tasks.noisy_sequences(TASK, seed=-7), "seed"),
    ("noisy_sequences seq_len 2", lambda: tasks.noisy_sequences(TASK, seq_len=2), "seq_len"),
    ("noisy_sequences copies 0", lambda: tasks.noisy_sequences(TASK, copies=0), "copies"),
    ("noisy_sequences n_noise 0", lambda: tasks.noisy_sequences(TASK, n_noise=0), "n_noise"),
    ("noisy_sequences task not a task", lambda: tasks.noisy_sequences(TASK.config), "task"),
    # models
    ("ModelConfig freeze_embed 'no'", lambda: models.ModelConfig(freeze_embed="no"), "freeze_embed"),
    ("ModelConfig freeze_embed 1", lambda: models.ModelConfig(freeze_embed=1), "freeze_embed"),
    ("ModelConfig tie_embed 'yes'", lambda: models.ModelConfig(tie_embed="yes"), "tie_embed"),
    ("ModelConfig negative init_seed", lambda: models.ModelConfig(init_seed=-1), "init_seed"),
    ("ModelConfig d_model 0", lambda: models.ModelConfig(d_model=0), "d_model"),
    ("ModelConfig d_model numpy float", lambda: models.ModelConfig(d_model=np.float64(8)), "d_model"),
    ("ModelConfig heads do not divide d", lambda: models.ModelConfig(d_model=32, n_heads=3), "n_heads"),
    ("ModelConfig d_vocab 1", lambda: models.ModelConfig(d_vocab=1), "d_vocab"),
    ("ModelConfig n_ctx 0", lambda: models.ModelConfig(n_ctx=0), "n_ctx"),
    ("ModelConfig empty format", lambda: models.ModelConfig(data_format=""), "data_format"),
    ("for_task not a task", lambda: models.ModelConfig.for_task("task", 8), "task"),
    ("for_task d 0", lambda: models.ModelConfig.for_task(TASK, 0), "d_model"),
    ("forward negative token", lambda: _model()(torch.tensor([[-1, 9]])), "tokens"),
    ("forward token >= d_vocab", lambda: _model()(torch.tensor([[0, 10]])), "tokens"),
    ("forward float tokens", lambda: _model()(torch.tensor([[0.0, 9.0]])), "tokens"),
    ("forward bool tokens", lambda: _model()(torch.tensor([[True, False]])), "tokens"),
    ("forward 1-D tokens", lambda: _model()(torch.tensor([0, 9])), "tokens"),
    ("forward 3-D tokens", lambda: _model()(torch.zeros(1, 1, 2, dtype=torch.long)), "tokens"),
    ("forward too long", lambda: _model()(torch.zeros(1, 3, dtype=torch.long)), "tokens"),
    ("forward a list", lambda: _model()([[0, 9]]), "tokens"),
    ("forward last_only 'yes'", lambda: _model()(DATA.tokens, last_only="yes"), "last_only"),
    # the training recipe
    ("TrainConfig lr inf", lambda: recipe.TrainConfig(lr=math.inf), "lr"),
    ("TrainConfig lr nan", lambda: recipe.TrainConfig(lr=math.nan), "lr"),
    ("TrainConfig lr 0", lambda: recipe.TrainConfig(lr=0.0), "lr"),
    ("TrainConfig lr a string", lambda: recipe.TrainConfig(lr="0.01"), "lr"),
    ("TrainConfig weight_decay nan", lambda: recipe.TrainConfig(weight_decay=math.nan), "weight_decay"),
    ("TrainConfig weight_decay < 0", lambda: recipe.TrainConfig(weight_decay=-1e-4), "weight_decay"),
    ("TrainConfig max_steps 0", lambda: recipe.TrainConfig(max_steps=0), "max_steps"),
    ("TrainConfig max_steps True", lambda: recipe.TrainConfig(max_steps=True), "max_steps"),
    ("TrainConfig eval_every float", lambda: recipe.TrainConfig(eval_every=1.5), "eval_every"),
    ("TrainConfig batch_size 0", lambda: recipe.TrainConfig(batch_size=0), "batch_size"),
    ("TrainConfig target 0", lambda: recipe.TrainConfig(target_accuracy=0.0), "target_accuracy"),
    ("TrainConfig target nan", lambda: recipe.TrainConfig(target_accuracy=math.nan), "target_accuracy"),
    ("TrainConfig negative data_seed", lambda: recipe.TrainConfig(data_seed=-1), "data_seed"),
    # train, evaluate, train_batched
    ("evaluate chunk_size 0", lambda: train.evaluate(_model(), DATA, chunk_size=0), "chunk_size"),
    ("evaluate data not a FactSet", lambda: train.evaluate(_model(), DATA.tokens), "data"),
    ("evaluate model not a Transformer", lambda: train.evaluate("model", DATA), "model"),
    ("evaluate [s, r] data on a noisy model", lambda: train.evaluate(_noisy_model(), DATA), "format"),
    ("train noisy data on an [s, r] model", lambda: train.train(_model(), NOISY, progress=False), "format"),
    ("train config not a TrainConfig", lambda: train.train(_model(), DATA, {"lr": 0.1}), "config"),
    ("train progress 'no'", lambda: train.train(_model(), DATA, progress="no"), "progress"),
    ("train_batched no models", lambda: batched.train_batched([], DATA), "models"),
    ("train_batched config dict", lambda: batched.train_batched([_model()], DATA, [{}]), "configs[0]"),
    ("train_batched lengths differ", lambda: batched.train_batched([_model()], [DATA, DATA]), "data sets"),
    ("train_batched resample not callable", lambda: batched.train_batched([_model()], DATA, resample=3), "resample"),
    ("train_batched wrong format", lambda: batched.train_batched([_noisy_model()], DATA), "format"),
    # recall
    ("evaluate_recall chunk_size 0", lambda: recall.evaluate_recall(_model(), TASK, chunk_size=0), "chunk_size"),
    ("evaluate_recall method", lambda: recall.evaluate_recall(_model(), TASK, method="fast"), "method"),
    ("evaluate_recall workers 0", lambda: recall.evaluate_recall(_model(), TASK, method="fused", workers=0), "workers"),
    ("evaluate_recall max_bytes 0", lambda: recall.evaluate_recall(_model(), TASK, max_bytes=0), "max_bytes"),
    ("evaluate_recall negative fact", lambda: recall.evaluate_recall(_model(), TASK, facts=[-1]), "facts"),
    ("evaluate_recall float facts", lambda: recall.evaluate_recall(_model(), TASK, facts=[0.5]), "facts"),
    ("evaluate_recall task a string", lambda: recall.evaluate_recall(_model(), "task"), "task"),
    ("evaluate_recall margins 'yes'", lambda: recall.evaluate_recall(_model(), TASK, return_margins="y"), "margins"),
    ("evaluate_recall noisy model", lambda: recall.evaluate_recall(_noisy_model(), TASK), "format"),
    # sweep points and lines
    ("RunConfig freeze_embed 'no'", lambda: sweeps.RunConfig(freeze_embed="no"), "freeze_embed"),
    ("RunConfig negative seed", lambda: sweeps.RunConfig(seed=-1), "seed"),
    ("RunConfig lr inf", lambda: sweeps.RunConfig(lr=math.inf), "lr"),
    ("RunConfig lr an int", lambda: sweeps.RunConfig(lr=1), "lr"),
    ("RunConfig weight_decay nan", lambda: sweeps.RunConfig(weight_decay=math.nan), "weight_decay"),
    ("RunConfig data_format", lambda: sweeps.RunConfig(data_format="cot"), "data_format"),
    ("RunConfig device", lambda: sweeps.RunConfig(device="tpu"), "device"),
    ("RunConfig N 1", lambda: sweeps.RunConfig(n_subjects=1), "n_subjects"),
    ("RunConfig noisy_copies 0", lambda: sweeps.RunConfig(noisy_copies=0), "noisy_copies"),
    ("RunConfig target 2", lambda: sweeps.RunConfig(target_accuracy=2.0), "target_accuracy"),
    ("Line no seeds", lambda: search.Line(base=sweeps.RunConfig(), seeds=()), "seeds"),
    ("Line start off the grid", lambda: search.Line(base=sweeps.RunConfig(), start=99), "start"),
    ("Line grid decreasing", lambda: search.Line(base=sweeps.RunConfig(), grid=(3, 2)), "grid"),
    # the runner and the executors
    ("run unknown preset", lambda: runner.run("nope"), "preset"),
    ("run unknown experiment", lambda: runner.run("smoke", only="nope"), "only"),
    ("run only not names", lambda: runner.run("smoke", only=[1]), "only"),
    ("run workers 0", lambda: runner.run("smoke", workers=0), "workers"),
    ("run device tpu", lambda: runner.run("smoke", device="tpu"), "device"),
    ("run bad dask address", lambda: runner.run("smoke", dask="localhost"), "dask"),
    ("run_experiments not experiments", lambda: runner.run_experiments([1]), "experiments[0]"),
    ("run_experiments progress 'no'", lambda: runner.run_experiments([SMALL_EXP], progress="no"), "progress"),
    ("run_experiments executor", lambda: runner.run_experiments([SMALL_EXP], executor=2), "executor"),
    ("make_table unknown", lambda: runner.make_table("e9"), "table"),
    ("make_table workers 0", lambda: runner.make_table("e1_capacity", workers=0), "workers"),
    ("make_executor workers 0", lambda: executors.make_executor(workers=0).__enter__(), "workers"),
    ("dask address not a str", lambda: executors.check_dask_address(8786), "dask"),
    ("dask address without port", lambda: executors.check_dask_address("tcp//host"), "dask"),
    # cache, tables, repro, paths
    ("Cache empty root", lambda: cache.Cache(""), "cache root"),
    ("Cache root not a path", lambda: cache.Cache(3), "cache root"),
    ("check_scalars via store NaN", lambda: cache.Cache("/tmp").store({"a": 1}, cache.Artifact({"x": math.nan})), "x"),
    ("store not an Artifact", lambda: cache.Cache("/tmp").store({"a": 1}, {"x": 1}), "artifact"),
    ("write_table unknown", lambda: tables.write_table("e9", pd.DataFrame(), "/tmp"), "table"),
    ("write_table missing columns", lambda: tables.write_table("dense_accuracy", pd.DataFrame(), "/tmp"), "columns"),
    ("generator negative seed", lambda: repro.generator(-1, "task"), "seed"),
    ("stream_seed float seed", lambda: repro.stream_seed(1.5, "task"), "seed"),
    ("stream_seed stream not a str", lambda: repro.stream_seed(1, 2), "stream"),
    ("seed_everything negative", lambda: repro.seed_everything(-1), "seed"),
    ("torch_threads 0", lambda: repro.torch_threads(0).__enter__(), "threads"),
    ("writable dir empty", lambda: _checks.check_writable_dir("--out", ""), "--out"),
    ("writable dir is a file", lambda: _checks.check_writable_dir("--out", __file__), "--out"),
]


def test_the_table_is_large_and_its_ids_unique():
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize(("call", "name"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_naming_the_parameter(call, name):
    with pytest.raises((ValueError, TypeError)) as err:
        call()
    assert name in str(err.value), f"message does not name {name!r}: {err.value}"


def test_wrong_types_raise_an_error_that_is_both_type_and_value_error():
    with pytest.raises(TypeError):
        models.ModelConfig(freeze_embed="no")
    with pytest.raises(ValueError):
        models.ModelConfig(freeze_embed="no")


def test_numpy_scalars_are_accepted_where_they_mean_the_same():
    cfg = models.ModelConfig(d_model=np.int64(8), d_mlp=np.int32(16), freeze_embed=np.bool_(True), n_ctx=2)
    assert cfg.freeze_embed is not False and _checks.check_int("n", np.int16(3), 1) == 3
    assert recipe.TrainConfig(lr=np.float32(0.01)).lr == np.float32(0.01)


def test_a_diverging_run_stops_and_is_recorded_as_failed():
    """A NaN loss stops training at the next evaluation; the run is marked failed with the reason."""
    res = train.train(_nan_model(), DATA, recipe.TrainConfig(max_steps=64, eval_every=16), progress=False)
    assert res.failed and "nan" in res.failed and res.steps == 0 and not res.reached_target
    good, bad = _model(init_seed=1), _nan_model()
    out = batched.train_batched([good, bad], DATA, recipe.TrainConfig(max_steps=32, eval_every=16))
    assert out[1].failed and not out[1].reached_target
    assert out[0].failed is None and out[0].steps == 32 and math.isfinite(out[0].loss)


def test_a_format_tag_passes_through_subsets_and_devices():
    assert NOISY.subset(torch.arange(4)).data_format == tasks.NOISY == NOISY.to("cpu").data_format
    assert _noisy_model().config.data_format == tasks.NOISY and _model().config.data_format == tasks.SINGLE_HOP
    untagged = models.Transformer(models.ModelConfig(d_vocab=10, d_vocab_out=8, d_model=8, d_mlp=8))
    assert train.evaluate(untagged, DATA).accuracy >= 0  # a model that names no format reads any


def test_the_live_explorers_refuse_bad_sizes_naming_them():
    for kwargs, name in [
        (dict(N=8, R=2, d=4, freeze_embed="no"), "freeze_embed"),
        (dict(N="8", R=2, d=4), "N"),
        (dict(N=8, R=0, d=4), "R"),
        (dict(N=8, R=2, d=2.0), "d"),
    ]:
        with pytest.raises(ValueError, match=name):
            widgets.train_live(**kwargs)
    with pytest.raises(ValueError, match="power of two"):
        widgets.log2_slider("N", 100, 3, 10)


def test_the_newer_modules_table_is_large_and_its_ids_unique():
    assert len(NEWER) >= 60 and len({c[0] for c in NEWER}) == len(NEWER)


@pytest.mark.parametrize(("call", "name"), [c[1:] for c in NEWER], ids=[c[0] for c in NEWER])
def test_the_newer_modules_refuse_bad_input_naming_it(call, name):
    """A non-finite model or input, a model that does not fit the task, a non-permutation, an argument out of range,
    an empty input or a size above the memory budget: a ValueError/TypeError that names it, before any work."""
    with pytest.raises((ValueError, TypeError)) as err:
        call()
    assert name in str(err.value), f"message does not name {name!r}: {err.value}"


def test_bad_situations_end_as_they_should(tmp_path):
    """A NaN or infinite accuracy marks its table row failed; tables get the umask's mode; a cache whose shard or
    entry has the wrong type degrades to read-only with one warning naming the entry; a diverged multi-hop run is
    not scored; a FIFO is refused at once."""
    cases = AUDIT.outcome_cases(tmp_path)
    assert len(cases) >= 8
    for label, call in cases:
        assert AUDIT.classify_outcome(call) == ("clear", "as expected"), label


@pytest.mark.parametrize("damage", ["FIFO", "symlink to /dev/zero", "symlink to a valid copy", "NPZ is a FIFO"])
def test_a_cache_entry_that_is_not_a_regular_file_is_refused_at_once(tmp_path, damage):
    verdict, detail = AUDIT.classify_cache(tmp_path, damage, AUDIT.hostile_cache_cases()[damage])
    assert verdict == "clear", detail


def test_a_row_with_a_non_finite_metric_is_marked_failed_by_the_runner(monkeypatch):
    cfg = sweeps.RunConfig(n_subjects=8)
    task, _, model, _, _ = runner.build(cfg)
    result = recipe.TrainResult(accuracy=math.nan, loss=0.1, steps=1, reached_target=False, seconds=0.0)
    monkeypatch.setattr(runner.bijection_runs, "scores", lambda *a: {"heldout_accuracy": math.inf})
    row = runner._pack(cfg, task, model, result)["scalars"]
    assert row["accuracy"] is None and row["heldout_accuracy"] is None
    assert row["failed"] == "non-finite accuracy, heldout_accuracy"
    assert cache.check_scalars(row) is None  # storable: the cache holds no NaN


def test_loading_a_fifo_cache_entry_never_hangs(tmp_path):
    """The cache never blocks on a FIFO: loading an entry replaced by one warns once and returns None at once."""
    store = cache.Cache(tmp_path)
    store.store({"a": 1}, cache.Artifact({"x": 1.0}))
    json_path, _ = store.paths(cache.config_key({"a": 1}))
    json_path.unlink()
    os.mkfifo(json_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cache.Cache(tmp_path).load({"a": 1}) is None
    assert len(caught) == 1 and str(json_path) in str(caught[0].message)


def test_a_saved_model_is_refused_through_the_api_naming_the_fault(tmp_path):
    """Model files that are not regular, not models, of another version or shape; a diverged model, a task that does
    not fit and a probe above the memory budget; a committed table that is a FIFO, a device link or a folder: a
    ValueError/TypeError naming it, before any work (and never a read that blocks)."""
    cases = AUDIT.saved_model_cases(tmp_path) + AUDIT.table_file_cases(tmp_path)
    assert len(cases) >= 20 and len({c[0] for c in cases}) == len(cases)
    for label, call, name in cases:
        assert AUDIT.classify_call(call, name)[0] == "clear", (label, AUDIT.classify_call(call, name)[1])


def test_the_evaluate_command_ends_each_fault_with_one_line(tmp_path):
    """`python -m georecall evaluate`: a NaN model, a mismatched task, a FIFO model file, an oversize probe, ... each
    end with one `error:` line on stderr and exit status 2, never a traceback."""
    cases = AUDIT.evaluate_cli_cases(tmp_path)
    assert len(cases) >= 12
    for label, argv, name in cases:
        assert AUDIT.classify_cli(argv, name) == ("clear", AUDIT.classify_cli(argv, name)[1]), label
