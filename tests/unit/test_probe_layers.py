"""Layer-by-layer probes of a deep model on fact sentences (probe.layers): a planted superposition is read exactly at
every layer, the controls fall below it, the vectors are the model's own residual stream, mean-ablation and recall
agree with the trainer's evaluation, and bad input is refused by name."""

import math

import pytest
import torch

from georecall import repro
from georecall.model.transformer import Transformer, config_for
from georecall.probe import layers as pl
from georecall.probe import storage
from georecall.tasks.sentences import make_sentence_task
from georecall.train.loop import evaluate, train
from georecall.train.recipe import TrainConfig

N, R, K = 32, 2, 5  # 32 entities named by the 32 sign vectors of length 5
EXACT = 1e-9  # a planted, noise-free fit
# the tiny trained model beats its controls by at least this much (measured: R^2 0.45 against <= -0.07; decoders
# 2 of 12 held-out answers against 0): R^2 clearly, decoders by one held-out answer (6 subjects x 2 relations)
MARGIN = {"superposition_r2": 0.3, "decoder_accuracy": 0.08, "logit_lens": 0.5}


def _task():
    return make_sentence_task(N, R, seed=0, n_templates=2, n_heldout=1)


def _planted(n_layers: int, d: int = 16) -> tuple:
    """A model whose blocks write nothing (W_O = W_out = 0) and has no positions, so x_l = W_E[w] at every layer, with
    W_U[:, :N] = B C (C: the N sign codes, rank K, B orthonormal) and the subject rows W_E[s] = sum_r Q_r c_{pi_r(s)}:
    a planted, exact superposition of the model's own attribute vectors."""
    task = _task()
    model = Transformer(config_for(task.split("train").lm_facts(), d, n_layers=n_layers, init_seed=3)).double()
    g = torch.Generator().manual_seed(0)
    bits = [[1.0 if (a >> j) & 1 else -1.0 for j in range(K)] for a in range(N)]
    signs = torch.tensor(bits, dtype=torch.float64).T  # [K, N]
    B = torch.linalg.qr(torch.randn(d, K, generator=g, dtype=torch.float64)).Q  # orthonormal: equal-norm codes
    Q = torch.randn(R, d, K, generator=g, dtype=torch.float64)
    perms = task.facts.perms
    with torch.no_grad():
        model.unembed.W_U[:, :N] = B @ signs
        model.embed.W_E[:N] = sum(signs[:, perms[r]].T @ Q[r].T for r in range(R))  # [N, d]
        model.pos_embed.W_pos.zero_()
        for block in model.blocks:
            block.attn.W_O.zero_()
            block.mlp.W_out.zero_()
    return task, model


@pytest.fixture(scope="module")
def trained():
    """Two layers, d = 16, on the sentences of 32 entities and 2 relations: 200 steps (about a second)."""
    task = _task()
    data = task.split("train").lm_facts()
    model = Transformer(config_for(data, 16, n_layers=2, init_seed=0))
    with repro.torch_threads(1):
        res = train(model, data, TrainConfig(max_steps=200, eval_every=200, early_stop=False), progress=False)
    assert res.failed is None
    return task, model


@pytest.mark.parametrize("n_layers", [1, 2])
def test_a_planted_superposition_is_read_exactly_at_every_layer(n_layers):
    task, model = _planted(n_layers)
    v = pl.residual_vectors(model, task)
    assert v.subject.shape == (n_layers + 1, N, 16) and v.last.shape == (n_layers + 1, N, R, 16)
    assert v.n_layers == n_layers and v.n_subject_sentences >= 1 and v.n_last_sentences == 2
    for layer in range(n_layers + 1):
        torch.testing.assert_close(v.subject[layer], model.W_E[:N].detach(), rtol=0, atol=1e-12)
    codes = pl.entity_codes(model, N)
    assert codes.shape == (N, K)
    for layer in range(n_layers + 1):
        got = pl.probe_vectors(v, task.facts.perms, codes, token="subject", layer=layer)
        assert got["superposition_r2"] > 1 - EXACT and got["decoder_accuracy"] == 1.0
        # Chapter 4's fit on the same vectors and codes gives the same number
        ch4 = storage.superposition_fit(model.W_E[:N], task.facts.perms, codes)["r2_heldout"]
        assert got["superposition_r2"] == pytest.approx(ch4, abs=1e-12)
    # the last token before the answer is a template word: its x_0 is the same for every subject, R^2 undefined
    last0 = pl.probe_vectors(v, task.facts.perms, codes, token="last", layer=0)
    assert math.isnan(last0["superposition_r2"])


def test_controls_fall_below_a_planted_superposition():
    task, model = _planted(2)
    records = pl.layer_probes(model, task, seed=0)
    assert len(records) == len(pl.CONTROLS) * len(pl.TOKENS) * 3 * len(pl.METRICS)
    value = {(r["control"], r["token"], r["layer"], r["metric"]): r["value"] for r in records}
    for layer in range(3):
        trained = value[("trained", "subject", layer, "superposition_r2")]
        assert trained > 1 - EXACT
        for control in ("random_network", "shuffled_labels"):
            assert value[(control, "subject", layer, "superposition_r2")] < 0.5, control
            assert value[(control, "subject", layer, "decoder_accuracy")] < 0.5, control


def test_the_vectors_are_the_models_residual_stream(trained):
    task, model = trained
    tokens = task.split("train").words[:5, :-1]
    x = pl.residual_stream(model, tokens)
    assert x.shape == (3, 5, tokens.shape[1], 16) and x.dtype == torch.float64
    with torch.no_grad():
        torch.testing.assert_close(x[0], (model.W_E[tokens] + model.W_pos[: tokens.shape[1]]).double())
        torch.testing.assert_close((x[-1] @ model.W_U.double()).float(), model(tokens), rtol=1e-4, atol=1e-4)
    forward = task.split("train")
    first = pl.subject_first(task, forward)
    assert bool(first.any()) and not bool(first[forward.inverse].any())


def test_trained_probes_beat_their_controls_and_repeat_exactly(trained):
    task, model = trained
    records = pl.layer_probes(model, task, seed=0)
    again = pl.layer_probes(model, task, seed=0)

    def key(recs):  # NaN (an undefined R^2) compares equal to itself here
        return [{**r, "value": "nan" if math.isnan(r["value"]) else r["value"]} for r in recs]

    assert key(records) == key(again)  # same seed, same numbers
    assert key(records) != key(pl.layer_probes(model, task, seed=1))  # another split and other controls

    def best(control, metric):
        vals = [r["value"] for r in records if r["control"] == control and r["metric"] == metric]
        return max(v for v in vals if not math.isnan(v))

    lens = {(r["control"], r["token"], r["layer"]): r["value"] for r in records if r["metric"] == "logit_lens"}
    assert lens[("trained", "last", 2)] >= 0.9  # the model's own readout of the averaged last-token vectors
    assert math.isnan(lens[("trained", "subject", 2)])  # the subject token does not know the relation
    for metric in pl.METRICS:
        for control in ("random_network", "shuffled_labels"):
            assert best("trained", metric) > best(control, metric) + MARGIN[metric], (metric, control)


def test_recall_is_the_trainers_evaluation_and_ablation_measures_drops(trained):
    task, model = trained
    train_set = task.split("train")
    forward = train_set.subset(~train_set.inverse)
    base = pl.sentence_recall(model, forward)
    assert base == pytest.approx(evaluate(model, forward.recall_facts()).accuracy)
    assert base >= 0.9
    rows = pl.mean_ablation(model, task)
    assert [(r["layer"], r["component"]) for r in rows] == [(0, "attn"), (0, "mlp"), (1, "attn"), (1, "mlp")]
    for r in rows:
        assert 0.0 <= r["recall"] <= 1.0 and r["drop"] == pytest.approx(base - r["recall"])
    assert max(r["drop"] for r in rows) > 0.5  # some component carries the facts


def test_component_means_are_per_position_means_over_real_words(trained):
    task, model = trained
    s = task.split("train")
    means = pl.component_means(model, s)
    T = s.words.shape[1] - 1
    assert means.shape == (2, 2, T, 16)
    _, cache = model.run_with_cache(s.words[:, :-1], ["blocks.1.hook_mlp_out"])
    t = 3
    real = s.query_at >= t
    torch.testing.assert_close(means[1, 1, t], cache["blocks.1.hook_mlp_out"][real, t].mean(0), rtol=1e-5, atol=1e-6)


def test_ablating_a_component_that_writes_nothing_changes_nothing():
    task, model = _planted(2)
    train_set = task.split("train")
    base = pl.sentence_recall(model, train_set.subset(~train_set.inverse))
    for component in pl.COMPONENTS:  # W_O = W_out = 0: both outputs are 0, and so are their means
        assert pl.ablated_recall(model, task, layer=1, component=component) == base


def test_bits_per_parameter_counts_every_weight(trained):
    task, model = trained
    b = pl.bits_per_parameter(model, task)
    assert b["n_facts"] == N * R and b["bits"] == N * R * 5  # log2 32 = 5
    assert b["n_params"] == sum(p.numel() for p in model.parameters())
    assert b["bits_per_param"] == pytest.approx(N * R * 5 / b["n_params"])
    assert b["literature_bits_per_param"] == 2.0


def test_bad_input_is_refused_by_name(trained):
    task, model = trained
    v = pl.residual_vectors(model, task)
    codes = pl.entity_codes(model, N)
    with pytest.raises(ValueError, match="token"):
        pl.probe_vectors(v, task.facts.perms, codes, token="object", layer=0)
    with pytest.raises(ValueError, match="layer"):
        pl.probe_vectors(v, task.facts.perms, codes, token="subject", layer=3)
    with pytest.raises(ValueError, match="layer"):
        pl.ablated_recall(model, task, layer=2, component="mlp")
    with pytest.raises(ValueError, match="component"):
        pl.ablated_recall(model, task, layer=0, component="norm")
    one = Transformer(config_for(task.split("train").lm_facts(), 16, n_layers=1))
    with pytest.raises(ValueError, match="n_layers=2"):  # means of a one-layer model for a two-layer one
        pl.ablated_recall(model, task, layer=0, component="attn", means=pl.component_means(one, task.split("train")))
    broken = Transformer(config_for(task.split("train").lm_facts(), 16, n_layers=2))
    with torch.no_grad():
        broken.blocks[1].mlp.W_in[0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        pl.residual_vectors(broken, task)
    with pytest.raises(ValueError, match="non-finite"):
        pl.mean_ablation(broken, task)
    other = make_sentence_task(16, 2, seed=0, n_templates=2, n_heldout=1)
    with pytest.raises(ValueError, match="d_vocab|tokens|classes"):
        pl.layer_probes(model, other)
    with pytest.raises(TypeError, match="SentenceTask"):
        pl.residual_vectors(model, task.facts)
