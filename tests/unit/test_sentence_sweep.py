"""Sentence-format sweep points: the config, one point's data, model and scores (trained and stopped on recall at the
answer token), determinism, a stack against its points trained alone, the cache, the table, the preset and the
analysis of d* against R log2 N."""

import dataclasses
import math

import pandas as pd
import pytest
import torch

from georecall import repro
from georecall.analyse import sentences as sentence_analysis
from georecall.model.transformer import Transformer, config_for
from georecall.run import runner
from georecall.run import sentences as run_sentences
from georecall.sweep import configs as sweeps
from georecall.sweep import presets, search, tables
from georecall.sweep import sentences as sweep_sentences
from georecall.sweep.sentences import SENTENCE_SEQ_LEN, SentenceRunConfig
from georecall.tasks import sentences as task_sentences
from georecall.tasks.bijection import IGNORE
from georecall.train.batched import train_batched
from georecall.train.loop import evaluate


@pytest.fixture(autouse=True)
def _one_thread():
    with repro.torch_threads(1):
        yield


def _point(**kw) -> SentenceRunConfig:
    base = dict(n_subjects=8, n_relations=2, n_layers=2, d_model=16, d_mlp=64, max_steps=512, eval_every=32)
    return SentenceRunConfig(**{**base, **kw})


def _scalars(row: dict) -> dict:
    return {k: v for k, v in row["scalars"].items() if k != "seconds"}


# --- the config ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(n_layers=0), "n_layers"),
        (dict(n_layers=9), "n_layers"),
        (dict(n_layers=2.0), "n_layers"),
        (dict(n_templates=0), "n_templates"),
        (dict(n_heldout=-1), "n_heldout"),
        (dict(n_templates=20, n_heldout=13), "n_templates \\+ n_heldout"),
        (dict(n_synonyms=0), "n_synonyms"),
        (dict(n_fillers=1), "n_fillers"),
        (dict(n_fillers=17), "n_fillers"),
        (dict(inverse_share=1.0), "inverse_share"),
        (dict(inverse_share=1), "inverse_share"),
        (dict(n_subjects=2, inverse_share=0.1), "inverse_share"),
        (dict(data_format="single_hop"), "data_format"),
        (dict(freeze_embed=True), "freeze_embed"),
        (dict(tie_embed=True), "tie_embed"),
        (dict(init_scale=0.5), "init_scale"),
        (dict(task="disjoint", n_answers=4), "task"),
        (dict(d_model=6, n_heads=4), "n_heads must divide d_model"),
    ],
)
def test_bad_sentence_points_fail_with_the_parameter_named(kw, match):
    with pytest.raises((TypeError, ValueError), match=match):
        _point(**kw)


def test_other_kinds_refuse_the_sentence_format():
    with pytest.raises(ValueError, match="data_format"):
        sweeps.RunConfig(data_format="sentences")


def test_bounds_are_the_tasks_own():
    assert sweep_sentences.SENTENCE_MAX_TEMPLATES == task_sentences.MAX_TEMPLATES
    assert sweep_sentences.SENTENCE_MAX_FILLERS == len(task_sentences.FILLERS)
    assert sweep_sentences.SENTENCES == task_sentences.SENTENCES


def test_the_padded_length_fits_the_longest_template_and_is_reached():
    """SENTENCE_SEQ_LEN is the longest sentence the templates can make, less its answer: many templates reach it."""
    lengths = [
        task_sentences.make_sentence_task(8, 2, seed=s, n_templates=24, n_heldout=4, n_fillers=16).seq_len
        for s in range(3)
    ]
    assert max(lengths) == SENTENCE_SEQ_LEN


def test_sizes_match_the_task_and_keys_stay_apart():
    c = _point(n_subjects=10, n_relations=3, n_templates=3, n_heldout=1, n_synonyms=2, n_fillers=6, seed=4)
    task = task_sentences.make_sentence_task(**c.task_kwargs())
    assert c.n_sequences == len(task.split("train")) and c.d_vocab == c.d_vocab_out == task.d_vocab
    assert c.n_facts == 30 and c.T == SENTENCE_SEQ_LEN and c.n_both == len(task.both_directions)
    plain = sweeps.RunConfig(n_subjects=10, n_relations=3, d_model=16, d_mlp=64, max_steps=512, eval_every=32)
    assert c.key() != plain.key() and c.key() != dataclasses.replace(c, n_layers=1).key()
    assert c.group_key() == dataclasses.replace(c, seed=9, lr=3e-3).group_key()
    assert c.group_key() != dataclasses.replace(c, n_layers=4).group_key()
    assert c.n_params_nonembed == 2 * (4 * 16**2 + 2 * 16 * 64 + 64)


def test_a_line_moves_d_and_keeps_the_kind():
    line = search.Line(base=_point(), seeds=(0, 1), grid=(4, 8), start=0)
    pts = line.stage_configs(1, 0)
    assert all(isinstance(p, SentenceRunConfig) for p in pts)
    assert [(p.seed, p.d_model, p.d_mlp, p.n_layers) for p in pts] == [(0, 8, 32, 2), (1, 8, 32, 2)]


# --- one point ----------------------------------------------------------------------------------------------------


def test_build_gives_padded_language_model_data_and_an_L_layer_model():
    c = _point(seed=3, n_layers=4)
    task, data, model, tcfg, resample = runner.build(c)
    assert resample is None and tcfg == c.train_config() and task.config.seed == 3
    assert tuple(data.tokens.shape) == (c.n_sequences, SENTENCE_SEQ_LEN)
    assert (model.config.n_layers, model.config.n_ctx, model.config.init_seed) == (4, SENTENCE_SEQ_LEN, 3)
    assert model.config.data_format == "sentences" and not data.last_position_only
    ev = run_sentences.eval_data(task)
    s = task.split("train")
    targeted = (ev.targets != IGNORE).nonzero()
    assert torch.equal(targeted[:, 1], s.query_at) and torch.equal(
        ev.targets[targeted[:, 0], targeted[:, 1]], s.answers
    )
    with pytest.raises(TypeError, match="SentenceRunConfig"):
        run_sentences.build_point(sweeps.RunConfig())


def test_padding_changes_no_prediction():
    """Causal attention: PAD appended after a sentence never changes a prediction inside it."""
    task = task_sentences.make_sentence_task(8, 2, seed=1, n_templates=2, n_heldout=1)
    raw = task.split("train").recall_facts()
    assert raw.seq_len < SENTENCE_SEQ_LEN
    model = Transformer(config_for(run_sentences.padded(raw, task.pad), 8, n_layers=2, init_seed=0))
    a = evaluate(model, raw)
    b = evaluate(model, run_sentences.padded(raw, task.pad))
    assert torch.equal(a.correct, b.correct) and a.loss == pytest.approx(b.loss, rel=1e-5)
    with pytest.raises(ValueError, match="seq_len"):
        run_sentences.padded(raw, task.pad, seq_len=raw.seq_len - 1)


@pytest.fixture(scope="module")
def trained():
    """Two seeds of a tiny point (N = 8, R = 2, L = 2, d = 16) trained as one stack, and each seed alone."""
    pts = [_point(seed=s) for s in (0, 1)]
    with repro.torch_threads(1):
        stack = runner.train_group([dataclasses.asdict(p) for p in pts])
        alone = [runner.train_group([dataclasses.asdict(p)])[0] for p in pts]
        again = runner.train_group([dataclasses.asdict(p) for p in pts])
    return pts, stack, alone, again


def test_a_tiny_point_trains_stops_on_recall_and_scores_its_splits(trained):
    pts, stack, _, _ = trained
    for p, row in zip(pts, stack):
        s = row["scalars"]
        assert s["failed"] is None and s["reached_target"] and s["accuracy"] >= 0.99
        assert s["steps"] < p.max_steps and s["steps"] % p.eval_every == 0, "stopped early, at an evaluation"
        assert 0.0 <= s["heldout_templates_accuracy"] <= 1.0 and 0.0 <= s["inverse_accuracy"] <= 1.0
        task, data, model, *_ = runner.build(p)
        assert s["n_params"] == model.n_params() == sum(w.numel() for w in model.parameters())
        assert list(row["arrays"]["history_accuracy"])[-1] == s["accuracy"]


def test_the_early_stop_reads_recall_not_next_word_accuracy():
    """The trainer stops at 99% recall at the answer, while every-word accuracy (fillers are unpredictable) stays far
    below: stopping on the language-model data would never stop."""
    p = _point(seed=0)
    task, data, model, tcfg, _ = runner.build(p)
    (result,) = train_batched([model], [data], [tcfg], eval_datas=[run_sentences.eval_data(task)])
    assert result.reached_target and result.steps < p.max_steps
    assert evaluate(model, run_sentences.eval_data(task)).accuracy == pytest.approx(result.accuracy)
    assert evaluate(model, data).accuracy < 0.5


def test_same_seed_same_numbers(trained):
    _, stack, _, again = trained
    assert [_scalars(r) for r in stack] == [_scalars(r) for r in again]


def test_a_stack_trains_each_point_as_it_trains_alone(trained):
    _, stack, alone, _ = trained
    for s, a in zip(stack, alone):
        s, a = s["scalars"], a["scalars"]
        assert (s["steps"], s["reached_target"]) == (a["steps"], a["reached_target"])
        for k in ("accuracy", "heldout_templates_accuracy", "inverse_accuracy"):
            assert s[k] == pytest.approx(a[k], abs=1.5 / 96), k  # at most one sentence apart (float round-off)
        assert s["loss"] == pytest.approx(a["loss"], rel=1e-3)


def test_eval_datas_are_checked_and_default_to_the_training_data():
    p = _point(max_steps=8, eval_every=4)
    task, data, model, tcfg, _ = runner.build(p)
    twin = runner.build(p)[2]
    plain = train_batched([model], [data], [tcfg])[0]
    same = train_batched([twin], [data], [tcfg], eval_datas=[data])[0]
    assert plain.history == same.history
    with pytest.raises(ValueError, match="eval_datas"):
        train_batched([runner.build(p)[2]], [data], [tcfg], eval_datas=[])


# --- sweep, cache, table --------------------------------------------------------------------------------------------


def test_tiny_sentence_sweep_table_and_cache(tmp_path, monkeypatch):
    base = _point(n_layers=1, max_steps=128, eval_every=64)
    exp = sweeps.Experiment(
        name="sentences", description="", lines=(search.Line(base=base, seeds=(0,), grid=(2, 32), start=1),)
    )
    first = runner.run_experiments([exp], cache=tmp_path / "cache", progress=False)["sentences"]
    assert set(tables.SENTENCE_COLUMNS) <= set(first.columns) and len(first) >= 1
    assert (first["n_layers"] == 1).all() and first["inverse_accuracy"].notna().all()
    tables.write_table("sentences", first, tmp_path / "out")
    back = tables.load_table("sentences", tmp_path / "out")
    assert list(back.columns) == list(tables.SENTENCE_COLUMNS) and len(back) == len(first)
    calls = []
    monkeypatch.setattr(runner, "train_group", lambda *a, **k: calls.append(a) or [])
    again = runner.run_experiments([exp], cache=tmp_path / "cache", progress=False)["sentences"]
    assert not calls, "a rerun must load every point from the cache"
    cols = list(tables.SENTENCE_COLUMNS)
    pd.testing.assert_frame_equal(first[cols], again[cols])


def test_the_preset_lines_and_the_smoke_points():
    (exp,) = presets.preset("sentences").experiments
    lines = exp.lines
    seen = [(ln.base.n_layers, ln.base.n_subjects, ln.base.n_relations) for ln in lines]
    assert sorted(seen) == sorted((L, N, R) for L in (1, 2, 4) for N, R in sweep_sentences.SENTENCE_PAIRS)
    cost = [L * N * R for L, N, R in seen]
    assert cost[0] == max(cost) and [L for L, _, _ in seen] == sorted((L for L, _, _ in seen), reverse=True)
    spread = {R * math.log2(N) for _, N, R in seen}
    assert len(spread) >= 4, "the pairs spread R log2 N"
    for ln in lines:
        assert isinstance(ln.base, SentenceRunConfig) and ln.seeds == (0, 1)
        assert ln.grid == sweep_sentences.SENTENCE_D_GRID and ln.rates == (sweep_sentences.SENTENCE_LR,)
    smoke = next(e for e in presets.preset("smoke").experiments if e.name == "sentences")
    cheapest = lines[-1]
    assert (cheapest.base.n_layers, cheapest.base.n_subjects, cheapest.base.n_relations) == (1, 16, 2)
    assert list(smoke.points) == cheapest.stage_configs(cheapest.start, 0), "the smoke points are a first probe"
    assert tables.spec("sentences").preset == "sentences" and "sentences" in tables.SWEEP_TABLES


# --- analysis -------------------------------------------------------------------------------------------------------


def _rows(L, N, R, accs_by_d, lr=1e-2):
    return [
        dict(n_layers=L, n_subjects=N, n_relations=R, d_model=d, seed=s, lr=lr, accuracy=a, steps=64, n_params=10 * d,
             heldout_templates_accuracy=0.1, inverse_accuracy=0.0, failed=None)
        for d, accs in accs_by_d.items() for s, a in enumerate(accs)
    ]  # fmt: skip


def test_thresholds_take_the_majority_and_never_count_a_failed_run():
    rows = _rows(1, 16, 2, {4: [0.5, 0.995], 6: [0.995, 0.999], 8: [1.0, 1.0]})
    rows += _rows(2, 16, 2, {6: [0.995, 0.999], 8: [1.0, 1.0]})
    rows[-3]["failed"] = "loss became nan at step 64"  # L = 2, d = 6, seed 1: no longer a success
    th = sentence_analysis.sentence_thresholds(pd.DataFrame(rows))
    assert th[["n_layers", "d_star", "censored"]].values.tolist() == [[1, 6, ""], [2, 8, ""]]
    one = th.iloc[0]
    assert one["R_log2_N"] == 8 and one["n_params_at_d_star"] == 60
    assert one["bits_per_param"] == pytest.approx(2 * math.log2(math.factorial(16)) / 60)
    assert one["heldout_at_d_star"] == pytest.approx(0.1) and one["probes"] == 3


def test_fits_recover_a_line_and_leave_out_censored_thresholds():
    th = pd.DataFrame(
        [dict(n_layers=L, R_log2_N=x, d_star=2 + L * x + (0.5 if i == 1 else 0), censored="")
         for L in (1, 2) for i, x in enumerate((8.0, 10.0, 12.0, 16.0))]
        + [dict(n_layers=1, R_log2_N=24.0, d_star=128, censored="above")]
    )  # fmt: skip
    fits = sentence_analysis.dstar_fits(th)
    assert fits["n_layers"].tolist() == [1, 2] and fits["n_censored"].tolist() == [1, 0]
    assert fits["n_points"].tolist() == [4, 4] and fits["x_max"].tolist() == [16.0, 16.0]
    assert fits["slope"].round(1).tolist() == [1.0, 2.0] and (fits["slope_se"] > 0).all()
    few = sentence_analysis.dstar_fits(th[th["R_log2_N"] <= 10])
    assert few["slope"].isna().all()
