"""Fact sentences: the vocabulary, every fact asked, held-out templates unseen in training, the inverse split,
determinism, bad input, and a two-layer model that learns a tiny sentence task end to end."""

import pytest
import torch

from georecall import repro
from georecall.model.transformer import Transformer, config_for
from georecall.tasks import bijection, sentences
from georecall.tasks.bijection import IGNORE
from georecall.tasks.sentences import SentenceConfig, SentenceTask, make_sentence_task
from georecall.train.loop import evaluate, train
from georecall.train.recipe import TrainConfig

N, R, K, H = 10, 3, 4, 2


@pytest.fixture(scope="module")
def task():
    return make_sentence_task(N, R, seed=3, n_templates=K, n_heldout=H, n_synonyms=2, n_fillers=6)


def _words_without_pad(s, i):
    return s.words[i, : int(s.lengths[i])].tolist()


def test_vocabulary_layout(task):
    c = task.config
    assert task.d_vocab == N + R * 2 + 6 + 2 == len(task.words) == len(set(task.words))
    assert task.words[:N] == tuple(f"e{i}" for i in range(N))  # one token per entity, the book's layout
    assert task.words[task.pad] == "<pad>" and task.words[task.direction_word] == "whose"
    assert task.words[task.first_filler : task.direction_word] == sentences.FILLERS[: c.n_fillers]
    for name in sentences.SPLITS:
        s = task.split(name)
        assert int(s.words.max()) < task.d_vocab and int(s.words.min()) >= 0
        for i in range(len(s)):
            w = _words_without_pad(s, i)
            r = int(s.relations[i])
            rel = [t for t in w if N <= t < task.first_filler]
            assert len(rel) == 1 and (rel[0] - N) // 2 == r  # one relation word, one of relation r's synonyms
            entities = [t for t in w if t < N]
            assert len(entities) == 2 and entities[-1] == w[-1] == int(s.answers[i])  # the known entity, the answer
            assert (task.direction_word in w) == bool(s.inverse[i])
            assert task.pad not in w and all(t == task.pad for t in s.words[i, len(w) :].tolist())


def test_answers_are_the_bijection_facts(task):
    assert torch.equal(task.facts.perms, bijection.make_task(N, R, seed=3).perms)
    for name in sentences.SPLITS:
        s = task.split(name)
        image = task.facts.perms[s.relations, s.subjects]
        assert torch.equal(s.answers, torch.where(s.inverse, s.subjects, image))
        known = s.words[torch.arange(len(s)), s.known_at]  # the one entity before the answer
        assert torch.equal(known, torch.where(s.inverse, image, s.subjects))
        before = s.words.clone()
        before[torch.arange(len(s)), s.known_at] = task.pad
        assert not bool((before[:, :-1][torch.arange(s.words.shape[1] - 1) <= s.query_at[:, None]] < N).any())
        assert torch.equal(s.words[torch.arange(len(s)), s.query_at + 1], s.answers)


def test_every_fact_is_asked_in_every_template(task):
    train_set = task.split("train")
    forward = train_set.subset(~train_set.inverse)
    ones = torch.ones(len(forward), dtype=torch.bool)
    assert len(forward) == N * R * K
    assert torch.equal(forward.per_fact(ones, N, R), torch.ones(N, R, dtype=torch.float64))
    pairs = set(zip(forward.subjects.tolist(), forward.relations.tolist(), forward.templates.tolist()))
    assert len(pairs) == N * R * K  # every (s, r) in every training template, once
    held = task.split("heldout_templates")
    assert len(held) == N * R * H and len(set(zip(*(held.subjects.tolist(), held.relations.tolist())))) == N * R
    # the inverse direction: trained for the both-direction subjects, asked (never trained) for the others
    both = set(task.both_directions.tolist())
    assert len(both) == round(0.5 * N)
    assert set(train_set.subjects[train_set.inverse].tolist()) == both
    inverse = task.split("inverse")
    assert set(inverse.subjects.tolist()) == set(range(N)) - both and len(inverse) == (N - len(both)) * R * K
    asked = inverse.per_fact(torch.ones(len(inverse), dtype=torch.bool), N, R)
    assert asked[sorted(both)].isnan().all() and (asked[sorted(set(range(N)) - both)] == 1).all()


def test_heldout_templates_never_appear_in_training(task):
    for r in range(R):
        trained, held = task.forward_templates[r][:K], task.forward_templates[r][K:]
        assert len(held) == H and not set(held) & set(trained) and len(set(trained)) == K
    train_sentences = {tuple(_words_without_pad(task.split("train"), i)) for i in range(len(task.split("train")))}
    held = task.split("heldout_templates")
    assert not any(tuple(_words_without_pad(held, i)) in train_sentences for i in range(len(held)))
    inverse = task.split("inverse")
    assert not any(tuple(_words_without_pad(inverse, i)) in train_sentences for i in range(len(inverse)))


def test_language_model_and_recall_targets(task):
    s = task.split("train")
    lm, rec = s.lm_facts(), s.recall_facts()
    assert lm.seq_len == rec.seq_len == task.seq_len == s.words.shape[1] - 1
    assert lm.d_vocab == lm.d_vocab_out == task.d_vocab and lm.data_format == sentences.SENTENCES
    assert torch.equal(lm.tokens, s.words[:, :-1])
    pad = s.words[:, 1:] == task.pad
    assert torch.equal(lm.targets[~pad], s.words[:, 1:][~pad]) and bool((lm.targets[pad] == IGNORE).all())
    targeted = (rec.targets != IGNORE).nonzero()
    assert torch.equal(targeted[:, 0], torch.arange(len(s))) and torch.equal(targeted[:, 1], s.lengths - 2)
    assert torch.equal(rec.targets[torch.arange(len(s)), s.lengths - 2], s.answers)


def test_same_seed_same_sentences_and_the_seed_matters():
    cfg = SentenceConfig(n_entities=6, n_relations=2, n_templates=3, n_heldout=1, seed=11)
    a, b = SentenceTask(cfg), SentenceTask(cfg)
    for name in sentences.SPLITS:
        assert torch.equal(a.split(name).words, b.split(name).words)
    assert torch.equal(a.both_directions, b.both_directions)
    other = SentenceTask(SentenceConfig(n_entities=6, n_relations=2, n_templates=3, n_heldout=1, seed=12))
    assert a.forward_templates != other.forward_templates


def test_without_inverse_share_there_is_no_inverse_split():
    t = make_sentence_task(6, 2, n_templates=2, n_heldout=1, inverse_share=0.0)
    s = t.split("train")
    assert not bool(s.inverse.any()) and len(s) == 6 * 2 * 2 and t.both_directions.numel() == 0
    assert not bool((s.words == t.direction_word).any())
    with pytest.raises(ValueError, match="inverse_share"):
        t.split("inverse")
    with pytest.raises(ValueError, match="n_heldout"):
        make_sentence_task(6, 2, n_heldout=0).split("heldout_templates")
    with pytest.raises(ValueError, match="split must be one of"):
        t.split("test")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_entities": 1}, "n_entities"),
        ({"n_relations": 0}, "n_relations"),
        ({"n_templates": 0}, "n_templates"),
        ({"n_heldout": -1}, "n_heldout"),
        ({"n_templates": 20, "n_heldout": 13}, "n_templates \\+ n_heldout"),
        ({"n_synonyms": 0}, "n_synonyms"),
        ({"n_fillers": 1}, "n_fillers"),
        ({"n_fillers": len(sentences.FILLERS) + 1}, "n_fillers"),
        ({"inverse_share": 1.0}, "inverse_share"),
        ({"n_entities": 2, "inverse_share": 0.1}, "inverse_share"),
        ({"n_templates": 2.0}, "n_templates"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_configs_are_refused_by_name(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        SentenceConfig(**kwargs)


def test_a_two_layer_model_learns_a_tiny_sentence_task(one_torch_thread):
    """N = 8, R = 2, three templates: 300 full-batch AdamW steps of next-token prediction take a two-layer model
    from chance to recalling the trained facts at the answer token (about 1 s on one core)."""
    t = make_sentence_task(8, 2, seed=0, n_templates=3, n_heldout=1)
    train_set = t.split("train")
    model = Transformer(config_for(train_set.lm_facts(), 32, n_layers=2, init_seed=0))
    forward = train_set.subset(~train_set.inverse).recall_facts()
    before = evaluate(model, forward).accuracy
    with repro.torch_threads(1):
        result = train(model, train_set.lm_facts(), TrainConfig(max_steps=300, eval_every=300), progress=False)
    assert result.failed is None and result.steps == 300
    after = evaluate(model, forward)
    assert before < 0.3 and after.accuracy >= 0.9, (before, after.accuracy)
    assert evaluate(model, train_set.subset(train_set.inverse).recall_facts()).accuracy >= 0.9
    per_fact = train_set.subset(~train_set.inverse).per_fact(after.correct, 8, 2)
    assert per_fact.shape == (8, 2) and float(per_fact.mean()) == pytest.approx(after.accuracy)
