"""Disjoint attribute sets: the task, its two formats, the exact construction and its closed forms."""

import math

import pytest
import torch

from georecall import repro
from georecall.construct import bijection as constructions
from georecall.construct import disjoint as dc
from georecall.model import recall
from georecall.model import transformer as models
from georecall.tasks import bijection as tasks
from georecall.tasks import disjoint as dj
from georecall.theory import disjoint as dt
from georecall.train import batched
from georecall.train import loop as train


def margins_by_kind(model, task):
    """Per fact: correct logit minus the best wrong answer of the same relation, and minus the best answer of any
    other relation (inf when R = 1 or D = 1 leaves no such competitor); through the model's forward pass."""
    fs = task.single_hop()
    with torch.no_grad():
        logits = model(fs.tokens, last_only=True)[:, 0].double()  # [S*R, R*D]
    target = fs.targets[:, -1]
    right = logits.gather(1, target[:, None])[:, 0]
    rel = (torch.arange(task.R * task.D) // task.D)[None, :]  # class -> relation
    q_rel = (target // task.D)[:, None]
    same = logits.masked_fill((rel != q_rel) | (torch.arange(task.R * task.D)[None, :] == target[:, None]), -math.inf)
    other = logits.masked_fill(rel == q_rel, -math.inf)
    return right - same.amax(1), right - other.amax(1)


CASES = [  # (S, R, D, bijective, k)
    (64, 4, 8, False, None),  # power of two
    (100, 3, 5, False, None),  # D not a power of two
    (200, 4, 13, False, None),
    (40, 1, 2, False, None),  # k = 1, one relation
    (50, 3, 1, False, None),  # D = 1: k = 0, the tag alone decides
    (50, 3, 1, False, 1),  # D = 1 with a one-bit code
    (30, 2, 6, False, 5),  # a longer code than needed
    (32, 3, 32, True, None),  # D = S, bijections
    (48, 2, 48, True, None),  # bijections, S not a power of two
]


@pytest.mark.parametrize("S,R,D,bijective,k", CASES)
def test_construction_is_exact_with_the_stated_margin(S, R, D, bijective, k):
    task = dj.make_disjoint_task(S, R, D, bijective=bijective, seed=3)
    model = dc.build_disjoint(task, k=k)
    recipe = dc.disjoint_recipe(R, D, k=k)
    same, other = margins_by_kind(model, task)
    margin = torch.minimum(same, other)
    assert bool((margin > 0).all()), f"{int((margin <= 0).sum())} facts wrong: gate threshold or tag sign off?"
    assert float(margin.min()) == pytest.approx(recipe.min_margin, abs=1e-9), "min margin is not 2/max(k, 1)"
    if R > 1:  # a wrong relation's best class sits exactly lambda below the correct one
        assert float(other.min()) == pytest.approx(recipe.tag, abs=1e-9)
    if D > 1:
        assert float(same.min()) == pytest.approx(2 / recipe.k, abs=1e-9)
    kk = recipe.k
    assert model.config.d_model == R * kk + R + kk == recipe.d_model
    assert model.config.d_mlp == max(1, 2 * R * kk)
    ev = train.evaluate(model, task.single_hop())  # the ordinary evaluation agrees
    assert ev.accuracy == 1.0


def test_construction_accuracy_matches_the_recall_evaluator():
    task = dj.make_disjoint_task(300, 5, 9, seed=0)
    model = dc.build_disjoint(task)
    ev = recall.evaluate_recall(model, task.single_hop())
    assert ev.accuracy == 1.0 and ev.n_facts == 1500
    assert ev.min_margin == pytest.approx(2 / 4, abs=1e-9)


def test_construction_mlp_writes_the_answer_code_and_keeps_the_tag():
    task = dj.make_disjoint_task(20, 3, 6, seed=1)
    model = dc.build_disjoint(task)
    k, R = 3, 3
    _, cache = model.run_with_cache(
        task.single_hop().tokens, ["blocks.0.hook_mlp_out", "blocks.0.hook_resid_post"], last_only=True
    )
    subjects, relations, _ = task.facts()
    codes = dc.disjoint_codes(6, k)
    expected = codes[task.answers[relations, subjects]]  # [S*R, k]
    torch.testing.assert_close(cache["blocks.0.hook_mlp_out"][:, 0, R * k + R :], expected)
    tag = cache["blocks.0.hook_resid_post"][:, 0, R * k : R * k + R]
    torch.testing.assert_close(tag, torch.nn.functional.one_hot(relations, R).double())


def test_only_subject_rows_depend_on_the_fact_table():
    a = dc.build_disjoint(dj.make_disjoint_task(64, 3, 7, seed=0))
    b = dc.build_disjoint(dj.make_disjoint_task(64, 3, 7, seed=1))
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    for name in pa:
        if name == "embed.W_E":
            assert not torch.equal(pa[name][:64], pb[name][:64])
            assert torch.equal(pa[name][64:], pb[name][64:])
        else:
            assert torch.equal(pa[name], pb[name]), f"{name} depends on the fact table"


def test_bijective_case_matches_the_shared_attribute_construction():
    S, R = 40, 3
    task = dj.make_disjoint_task(S, R, S, bijective=True, seed=5)
    assert torch.equal(task.answers, tasks.make_task(S, R, seed=5).perms)
    built = dc.build_disjoint(task)
    shared = constructions.build_block(tasks.make_task(S, R, seed=5))
    assert built.config.d_model == shared.config.d_model
    torch.testing.assert_close(built.W_E[:S], shared.W_E[:S], rtol=0, atol=0)


def test_theory_matches_the_built_model():
    for R, D in [(1, 2), (3, 1), (4, 5), (4, 8), (2, 33)]:
        S = max(D, 10) + 3
        model = dc.build_disjoint(dj.make_disjoint_task(S, R, D, seed=0))
        assert model.config.d_model == dt.disjoint_dimension(R, D)
        assert model.config.d_mlp == dt.disjoint_built_width(R, D) == max(1, dt.disjoint_width(R, D))
        assert model.n_params(include_embeddings=False) == dt.disjoint_nonembedding_param_count(R, D)
        assert dc.disjoint_recipe(R, D).min_margin == dt.disjoint_min_margin(D)
    # the width depends on R and log D, not on S
    d_small = dc.build_disjoint(dj.make_disjoint_task(16, 4, 8, seed=0)).config.d_model
    d_large = dc.build_disjoint(dj.make_disjoint_task(4096, 4, 8, seed=0)).config.d_model
    assert d_small == d_large == 4 * 3 + 4 + 3


def test_information_and_bounds():
    assert dt.disjoint_information_bits(128, 4, 8) == 128 * 4 * 3
    assert dt.disjoint_information_bits(100, 2, 1) == 0
    assert dt.disjoint_information_bits(16, 3, 16, bijective=True) == pytest.approx(3 * math.log2(math.factorial(16)))
    cfg = dj.DisjointConfig(n_subjects=16, n_relations=3, n_answers=16, bijective=True)
    assert cfg.information_bits == pytest.approx(dt.disjoint_information_bits(16, 3, 16, bijective=True))
    assert dj.DisjointConfig(n_subjects=128, n_relations=4, n_answers=8).information_bits == 1536
    # counting: (S + R D) d p >= H; the per-entity bound is R log2 D / p
    assert dt.disjoint_lower_bound_d(1024, 4, 8, bits_per_param=2) == pytest.approx(4 * 1024 * 3 / (2 * (1024 + 32)))
    assert dt.disjoint_per_entity_lower_bound_d(4, 8, bits_per_param=1) == 12
    assert dt.disjoint_lower_bound_d(1024, 4, 8, fixed_params=10**6) == 0
    # the construction sits above the per-entity bound at p = 1 bit per parameter
    for R, D in [(1, 2), (4, 8), (8, 1000)]:
        assert dt.disjoint_dimension(R, D) >= dt.disjoint_per_entity_lower_bound_d(R, D, bits_per_param=1)
    with pytest.raises(ValueError, match="bijective needs D"):
        dt.disjoint_information_bits(16, 2, 8, bijective=True)
    with pytest.raises(ValueError, match="D \\(n_answers\\)"):
        dt.disjoint_dimension(2, 0)


# --- the task -------------------------------------------------------------------------------------------------


def test_answers_are_seeded_in_range_and_roughly_uniform():
    a = dj.make_disjoint_task(4096, 2, 8, seed=7)
    b = dj.make_disjoint_task(4096, 2, 8, seed=7)
    c = dj.make_disjoint_task(4096, 2, 8, seed=8)
    assert torch.equal(a.answers, b.answers) and not torch.equal(a.answers, c.answers)
    assert a.answers.shape == (2, 4096) and a.answers.dtype == torch.int64
    assert int(a.answers.min()) == 0 and int(a.answers.max()) == 7
    counts = torch.bincount(a.answers.flatten(), minlength=8).double()  # expected 1024 each, sd ~30
    assert bool(((counts - 1024).abs() < 150).all()), counts
    assert len(set(a.answers[0].tolist())) == 8  # a function onto [D], many subjects per answer


def test_bijective_answers_are_permutations():
    task = dj.make_disjoint_task(50, 4, 50, bijective=True, seed=2)
    for r in range(4):
        assert sorted(task.answers[r].tolist()) == list(range(50))
    assert not torch.equal(task.answers[0], task.answers[1])


def test_single_hop_format():
    task = dj.make_disjoint_task(10, 3, 4, seed=0)
    fs = task.single_hop()
    assert fs.tokens.shape == fs.targets.shape == (30, 2)
    assert fs.d_vocab == 13 and fs.d_vocab_out == 12 and fs.last_position_only
    s, r = fs.tokens[:, 0], fs.tokens[:, 1] - 10
    assert torch.equal(fs.targets[:, -1], r * 4 + task.answers[r, s])
    assert torch.equal(task.target_class(s, r), fs.targets[:, -1])
    assert bool((fs.targets[:, 0] == tasks.IGNORE).all())
    assert task.fact_table(3).shape == (3, 3)
    with pytest.raises(ValueError, match="relation must be in \\[0, 2\\]"):
        task.answer(torch.tensor([0]), torch.tensor([3]))


def _check_noisy(task, fs, T, n_noise):
    S, R = task.S, task.R
    eos = S + R + n_noise
    assert fs.tokens.shape[1] == T and fs.d_vocab == eos + 1 and fs.d_vocab_out == R * task.D
    assert bool((fs.tokens[:, -1] == eos).all())
    body = fs.tokens[:, :-1]
    is_subject, is_relation = body < S, (body >= S) & (body < S + R)
    assert bool((is_subject.sum(1) == 1).all()) and bool((is_relation.sum(1) == 1).all())
    assert bool(((body >= S + R) | is_subject | is_relation).all()) and bool((body < eos).all())
    s = body[is_subject]
    r = body[is_relation] - S
    assert torch.equal(fs.targets[:, -1], r * task.D + task.answers[r, s])
    assert bool((fs.targets[:, :-1] == tasks.IGNORE).all())
    return is_subject.float().argmax(1), is_relation.float().argmax(1), s, r


def test_noisy_sequences_shapes_positions_and_fresh_noise():
    task = dj.make_disjoint_task(12, 3, 5, seed=0)
    fs = dj.noisy_sequences(task, copies=4, seed=1)
    sub_pos, rel_pos, s, r = _check_noisy(task, fs, 32, 15)
    assert len(fs) == 4 * 36
    subjects, relations, _ = task.facts()
    assert torch.equal(s, subjects.repeat(4)) and torch.equal(r, relations.repeat(4))
    assert bool((sub_pos < rel_pos).any()) and bool((sub_pos > rel_pos).any())  # either order
    assert len(set(sub_pos.tolist())) > 15  # positions spread over the first T - 1
    again, other = dj.noisy_sequences(task, copies=4, seed=1), dj.noisy_sequences(task, copies=4, seed=2)
    assert torch.equal(fs.tokens, again.tokens) and not torch.equal(fs.tokens, other.tokens)
    short = dj.noisy_sequences(task, seq_len=5, n_noise=3, seed=0)
    _check_noisy(task, short, 5, 3)


def test_noisy_batch_draws_random_facts():
    task = dj.make_disjoint_task(20, 4, 3, seed=0)
    fs = dj.noisy_batch(task, 512, seed=0)
    _, _, s, r = _check_noisy(task, fs, 32, 24)
    assert len(fs) == 512 and len(set((s * 4 + r).tolist())) > 60  # most of the 80 facts appear
    assert not torch.equal(fs.tokens, dj.noisy_batch(task, 512, seed=1).tokens)


def test_trainers_accept_both_formats_with_several_heads():
    task = dj.make_disjoint_task(16, 2, 4, seed=0)
    data = task.single_hop()
    model = models.Transformer(models.config_for(data, 8, n_heads=2))
    res = train.train(model, data, train.TrainConfig(max_steps=4, eval_every=2), progress=False)
    assert res.steps == 4 and math.isfinite(res.loss)
    evaluation = dj.noisy_sequences(task, copies=1, seed=0)
    cfg = models.config_for(evaluation, 8, n_heads=4, freeze_embed=True)
    assert cfg.n_ctx == 32 and cfg.d_vocab == 16 + 2 + 18 + 1 and cfg.d_head == 2
    stack = [models.Transformer(models.ModelConfig(**{**cfg.__dict__, "init_seed": i})) for i in range(2)]
    W_E0 = stack[0].W_E.detach().clone()
    results = batched.train_batched(
        stack,
        evaluation,
        train.TrainConfig(max_steps=3, eval_every=3),
        resample=lambda i, step: dj.noisy_batch(task, 64, seed=repro.stream_seed(i, f"train/{step}")),
    )
    assert all(r.steps == 3 for r in results)
    assert torch.equal(stack[0].W_E, W_E0)  # frozen embeddings stay at init


# --- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_subjects=8, n_relations=2, n_answers=0), r"n_answers \(D\) must be an int in \[1, "),
        (
            dict(n_subjects=8, n_relations=2, n_answers=9, bijective=True),
            r"n_answers \(D\) must equal n_subjects \(S\) = 8",
        ),
        (
            dict(n_subjects=8, n_relations=2, n_answers=4, bijective=True),
            r"n_answers \(D\) must equal n_subjects \(S\) = 8",
        ),
        (dict(n_subjects=1, n_relations=2, n_answers=1), r"n_subjects \(S\) must be an int in \[2, "),
        (dict(n_subjects=8, n_relations=0, n_answers=2), r"n_relations \(R\) must be an int in \[1, "),
        (dict(n_subjects=8, n_relations=1, n_answers=1), r"output classes must be >= 2"),
        (dict(n_subjects=8, n_relations=2, n_answers=2.0), r"n_answers \(D\) must be an int"),
    ],
)
def test_bad_task_config_raises_naming_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dj.DisjointConfig(**kwargs)


def test_bad_model_and_construction_input():
    data = dj.make_disjoint_task(8, 2, 4, seed=0).single_hop()
    with pytest.raises(ValueError, match=r"n_heads must be an int in \[1, 6\]"):
        models.config_for(data, 6, n_heads=8)
    with pytest.raises(ValueError, match=r"n_heads must divide d_model = 6 \(allowed: \[1, 2, 3, 6\]\)"):
        models.config_for(data, 6, n_heads=4)
    with pytest.raises(TypeError, match="tasks.FactSet"):
        models.config_for("data", 6)
    task = dj.make_disjoint_task(8, 2, 5, seed=0)
    with pytest.raises(ValueError, match=r"k \(code length\) must be an int in \[3, "):
        dc.build_disjoint(task, k=2)
    with pytest.raises(TypeError, match="DisjointTask"):
        dc.build_disjoint(tasks.make_task(8, 2))
    with pytest.raises(TypeError, match="bijective must be a bool"):
        dj.DisjointConfig(n_subjects=8, n_answers=8, bijective=1)
    with pytest.raises(ValueError, match=r"batch_size must be an int in \[1, "):
        dj.noisy_batch(task, 0)
    with pytest.raises(ValueError, match=r"seq_len \(T\) must be an int in \[3, "):
        dj.noisy_sequences(task, seq_len=2)
