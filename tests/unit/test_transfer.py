"""Zero-shot transfer: exact on the construction by (a) and (b), chance by random re-init, input never mutated."""

import pytest
import torch

from georecall.model import transformer as models
from georecall.probe import transfer
from georecall.tasks import bijection as tasks

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_new_bijections_are_seeded_permutations():
    a, b, c = (transfer.new_bijections(50, 3, seed=s) for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a.sort(dim=1).values, torch.arange(50).expand(3, 50))


def test_construction_transfers_exactly_by_a_and_b(block, task):
    before = _snapshot(block)
    result = transfer.transfer_all(block, task, seed=3, steps=0)
    assert result.old_accuracy == 1.0
    assert result.superposition == 1.0, "protocol (a): the fitted superposition map should be exact on the construction"
    assert result.selector_inverse == 1.0, "protocol (b): the construction's branches are exactly linear"
    assert result.random <= 5 * result.chance
    assert abs(result.lookup - 1 / task.R) < 0.1  # relation 1 right by construction of the baseline, others chance
    after = block.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "transfer must not mutate the input model"


def test_construction_transfers_from_a_subset_of_old_subjects(block, task):
    new = transfer.new_bijections(task.N, task.R, seed=4)
    for reinit in (transfer.reinit_superposition, transfer.reinit_selector_inverse):
        E = reinit(block, task, new, n_fit=40)
        assert transfer.recall_accuracy(transfer.with_subject_embeddings(block, E), new) == 1.0


def test_random_network_does_not_transfer(task):
    model = models.Transformer(models.ModelConfig.for_task(task, 16, init_seed=2))
    result = transfer.transfer_all(model, task, seed=0, steps=0)
    for name in ("superposition", "selector_inverse", "random", "lookup"):
        assert getattr(result, name) <= 5 * result.chance, name


def test_embedding_training_moves_only_subject_rows():
    task = tasks.make_task(16, 2, seed=1)
    model = models.Transformer(models.ModelConfig.for_task(task, 16, init_seed=0))
    before = _snapshot(model)
    new = transfer.new_bijections(16, 2, seed=9)
    out = transfer.train_subject_embeddings(model, new, steps=150, lr=3e-2, eval_every=50)
    assert out["steps"] == [0, 50, 100, 150] and len(out["accuracy"]) == 4
    assert out["final"] > out["accuracy"][0] + 0.2, "embeddings alone should store facts through a random network"
    trained = out["model"].state_dict()
    for k, v in before.items():
        if k == "embed.W_E":
            assert torch.equal(trained[k][16:], v[16:]), "relation rows must stay frozen"
            assert not torch.equal(trained[k][:16], v[:16])
        else:
            assert torch.equal(trained[k], v), f"{k} must stay frozen"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_where_facts_live_runs_every_unembedding():
    task = tasks.make_task(16, 2, seed=1)
    model = models.Transformer(models.ModelConfig.for_task(task, 8, init_seed=0))
    out = transfer.where_facts_live(model, task, steps=5)
    assert set(out) == {"as_trained", "shuffled", "gaussian"}
    assert all(0.0 <= v <= 1.0 for v in out.values())


def test_bad_inputs_name_the_parameter(block, task):
    tied = models.Transformer(models.ModelConfig.for_task(task, 16, tie_embed=True))
    with pytest.raises(ValueError, match="tie_embed"):
        transfer.transfer_all(tied, task, steps=0)
    with pytest.raises(ValueError, match="new_perms"):
        transfer.reinit_superposition(block, task, transfer.new_bijections(64, 2, seed=0))
    with pytest.raises(ValueError, match="n_fit"):
        transfer.reinit_selector_inverse(block, task, transfer.new_bijections(64, 3, seed=0), n_fit=2)
    with pytest.raises(ValueError, match="site"):
        transfer.reinit_selector_inverse(block, task, transfer.new_bijections(64, 3, seed=0), site="logits")
    with pytest.raises(ValueError, match="steps"):
        transfer.train_subject_embeddings(block, task, steps=-1)
    with pytest.raises(ValueError, match="lr"):
        transfer.train_subject_embeddings(block, task, lr=0)
    with pytest.raises(ValueError, match="unembed"):
        transfer.train_subject_embeddings(block, task, steps=1, unembed=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="E must be"):
        transfer.with_subject_embeddings(block, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="N \\(n_subjects\\)"):
        transfer.new_bijections(1, 2, seed=0)
