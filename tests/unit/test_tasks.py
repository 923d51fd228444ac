import math

import pytest
import torch

from georecall.tasks import bijection as tasks

GRID = [(2, 1), (7, 3), (64, 4), (300, 5)]


@pytest.mark.parametrize("N,R", GRID)
def test_every_relation_is_a_permutation(N, R):
    task = tasks.make_task(N, R, seed=0)
    assert task.perms.shape == (R, N)
    for r in range(R):
        assert sorted(task.perms[r].tolist()) == list(range(N)), f"relation {r} is not a bijection"


@pytest.mark.parametrize("N,R", GRID)
def test_inverse_inverts(N, R):
    task = tasks.make_task(N, R, seed=1)
    s = torch.arange(N)
    for r in range(R):
        assert torch.equal(task.inverse_perms[r][task.perms[r]], s)


def test_same_seed_same_bijections_and_seeds_differ():
    a, b = tasks.make_task(50, 3, seed=7), tasks.make_task(50, 3, seed=7)
    assert torch.equal(a.perms, b.perms)
    c = tasks.make_task(50, 3, seed=8)
    assert not torch.equal(a.perms, c.perms)


def test_relations_are_independent_draws():
    task = tasks.make_task(50, 3, seed=0)
    assert not torch.equal(task.perms[0], task.perms[1])


def test_global_rng_does_not_leak_in():
    torch.manual_seed(1)
    a = tasks.make_task(40, 2, seed=5).perms
    torch.manual_seed(2)
    torch.rand(10)
    b = tasks.make_task(40, 2, seed=5).perms
    assert torch.equal(a, b)


def test_single_hop_format():
    task = tasks.make_task(10, 3, seed=0)
    data = task.single_hop()
    assert len(data) == 30 and data.seq_len == 2
    assert data.last_position_only
    subjects, relations, answers = task.facts()
    assert torch.equal(data.tokens[:, 0], subjects)
    assert torch.equal(data.tokens[:, 1], 10 + relations)
    assert torch.equal(data.targets[:, 1], answers)
    assert (data.targets[:, 0] == tasks.IGNORE).all()
    # subject-major ordering: fact i is (i // R, i % R)
    assert subjects[4].item() == 1 and relations[4].item() == 1
    assert answers[4].item() == task.perms[1, 1].item()


def test_compose_applies_first_relation_first():
    task = tasks.make_task(30, 3, seed=2)
    path = (0, 2)
    x = torch.arange(30)
    assert torch.equal(task.compose(path), task.perms[2][task.perms[0][x]])
    assert torch.equal(task.compose(()), x)


def test_information_bits_matches_independent_count():
    task = tasks.make_task(1024, 8)
    independent = 8 * sum(math.log2(i) for i in range(1, 1025))
    assert task.information_bits == pytest.approx(independent, rel=1e-12)
    assert round(task.information_bits) == 70152


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        (dict(n_subjects=1, n_relations=2), "n_subjects (N) must be an int in [2,"),
        (dict(n_subjects=10, n_relations=0), "n_relations (R) must be an int in [1,"),
        (dict(n_subjects=2**30, n_relations=1), "n_subjects (N)"),
        (dict(n_subjects=10, n_relations=1, seed=-1), "seed"),
    ],
)
def test_bad_sizes_name_the_parameter_and_range(kwargs, needle):
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        tasks.TaskConfig(**kwargs)


def test_non_integer_size_is_rejected():
    with pytest.raises(ValueError, match="n_subjects"):
        tasks.TaskConfig(n_subjects=10.5, n_relations=1)


def test_unknown_relation_is_rejected():
    task = tasks.make_task(10, 3)
    with pytest.raises(ValueError, match=r"relation must be in \[0, 2\]"):
        task.answer(torch.tensor([0]), torch.tensor([3]))
    with pytest.raises(ValueError, match="relation"):
        task.compose((0, 5))


def test_fact_table_shape():
    table = tasks.make_task(20, 3).fact_table(5)
    assert table.shape == (5, 3)


def test_noisy_sequences_layout():
    task = tasks.make_task(16, 3, seed=0)
    fs = tasks.noisy_sequences(task, seq_len=32, copies=2, seed=5)
    first_noise, eos = tasks.noisy_vocab(task, 16 + 3)
    assert fs.tokens.shape == (2 * 48, 32) and fs.d_vocab == eos + 1 and fs.d_vocab_out == 16
    assert (fs.tokens[:, -1] == eos).all() and fs.last_position_only
    body = fs.tokens[:, :-1]
    is_subject, is_relation = body < 16, (body >= 16) & (body < 19)
    assert (is_subject.sum(1) == 1).all() and (is_relation.sum(1) == 1).all(), (
        "one subject and one relation per sequence"
    )
    s = body[is_subject]
    r = body[is_relation] - 16
    assert (fs.targets[:, -1] == task.perms[r, s]).all(), "the target is pi_r(s)"
    again = tasks.noisy_sequences(task, seq_len=32, copies=2, seed=5)
    other = tasks.noisy_sequences(task, seq_len=32, copies=2, seed=6)
    assert (again.tokens == fs.tokens).all() and not (other.tokens == fs.tokens).all()
