"""Probes: ideal scores on the hand-built construction, chance on a random network, planted superposition, pitfalls."""

import math

import pytest
import torch

from georecall import repro
from georecall.construct import bijection as constructions
from georecall.model import transformer as models
from georecall.probe import selector
from georecall.probe import storage as probes
from georecall.probe import summary as probe_summary
from georecall.tasks import bijection as tasks
from georecall.theory import bijection as theory

pytestmark = pytest.mark.usefixtures("one_torch_thread")

F64 = torch.float64
EXACT = 1 - 1e-9  # float64 round-off allowed below an ideal score of 1


@pytest.fixture(scope="module")
def random_model(task):
    return models.Transformer(models.ModelConfig.for_task(task, 16, init_seed=7))


@pytest.fixture(scope="module")
def block_summary(block, task):
    return probe_summary.probe_all(block, task, seed=0)


@pytest.fixture(scope="module")
def random_summary(random_model, task):
    return probe_summary.probe_all(random_model, task, seed=0)


def test_construction_scores_ideal(block_summary):
    s = block_summary
    assert s.accuracy == 1.0
    assert s.superposition_r2 >= EXACT, f"held-out R^2 {s.superposition_r2}: wrong attribute vectors from W_U?"
    assert s.decode_accuracy == 1.0 and s.top_R == 1.0
    assert s.selectivity == 1.0 and s.selectivity_normalised == 1.0 and s.selectivity_tau == 1.0
    assert s.active_units == s.m
    assert s.linear_branch_r2 >= EXACT
    assert s.restricted_accuracy == 1.0, "a unit of relation r fires under another relation: gate leak?"
    assert s.swap_success == 1.0, "swapping the gate direction should move every answer to pi_r'(s)"
    assert s.unit_ablation_selectivity == 1.0
    assert s.gate_ablation_accuracy < 1 / s.R  # no selection signal, no recall
    assert abs(s.superposition_r2_null) < 0.2  # unrelated bijections explain nothing


@pytest.mark.parametrize("rule", ["dot", "nearest"])
def test_construction_decodes_exactly_when_n_is_not_a_power_of_two(rule):
    """N = 70 < 2^7: the sign codes do not average to zero, so the codes must keep W_U's dot products (no centring)."""
    task = tasks.make_task(70, 2, seed=8)
    model = constructions.build_block(task)
    codes = probes.attribute_codes(model.W_U)
    dec = probes.relation_decoders(model.W_E[:70], task.perms, codes, rule=rule)
    assert dec["accuracy_mean"] == 1.0 and dec["top_R"] == 1.0
    assert probes.superposition(model, task)["r2_heldout"] >= EXACT


def test_random_network_scores_near_chance(random_summary):
    s, chance = random_summary, random_summary.chance
    assert s.accuracy <= 5 * chance
    assert s.superposition_r2 < 0.1
    assert s.decode_accuracy <= 5 * chance
    assert s.top_R <= 5 * s.R * chance
    assert s.swap_success <= 5 * chance and s.restricted_accuracy <= 5 * chance
    assert s.gate_ablation_accuracy <= 5 * chance
    assert s.unembed_facts <= 0.1


def test_random_network_is_already_partly_gated(random_summary, block_summary):
    """Pinned pitfall: at the query position the relation token dominates the residual, so random ReLU units are
    partly relation-gated. Selectivity must be read against an untrained network, not against 1/R."""
    s = random_summary
    assert 1 / s.R < s.selectivity < 0.85
    assert abs(s.selectivity - s.selectivity_random_net) < 0.15
    assert block_summary.selectivity - block_summary.selectivity_random_net > 0.2


def test_planted_superposition_is_recovered_on_held_out_subjects():
    N, R, k, d = 200, 3, 6, 24
    perms = tasks.make_task(N, R, seed=11).perms
    g = repro.generator(0, "test")
    codes = torch.randn(N, k, generator=g, dtype=F64)
    codes = codes / codes.norm(dim=1, keepdim=True)  # unit codes: the dot-product decoding rule needs equal norms
    Q = torch.randn(R, d, k, generator=g, dtype=F64) / math.sqrt(d)
    E = sum(codes[perms[r]] @ Q[r].T for r in range(R)) + 0.3  # [N, d] with an offset
    noisy = E + 0.05 * torch.randn(N, d, generator=g, dtype=F64)
    fit = probes.superposition_fit(noisy, perms, codes, seed=1)
    assert fit["r2_heldout"] > 0.9
    exact = probes.superposition_fit(E, perms, codes, seed=1)
    assert exact["r2_heldout"] >= EXACT
    # the fitted Q_r reproduce the planted ones (the map is identifiable once every relation's codes vary)
    assert torch.allclose(exact["Q"], Q, atol=1e-8)
    for rule in ("dot", "nearest"):
        dec = probes.relation_decoders(noisy, perms, codes, seed=1, rule=rule)
        assert dec["accuracy_mean"] > 0.5 and dec["top_R"] > 0.5, (rule, dec)
    shuffled = probes.superposition_fit(noisy, tasks.make_task(N, R, seed=12).perms, codes, seed=1)
    assert shuffled["r2_heldout"] < 0.1


def test_one_hot_pitfall_fits_random_embeddings_perfectly(task):
    """Untied per-(relation, attribute) regression reaches R^2 = 1 on random embeddings; the tied fit does not."""
    E = torch.randn(task.N, 12, generator=repro.generator(3, "test"), dtype=F64)
    assert probes.one_hot_fit_r2(E, task.perms) >= EXACT
    codes = torch.randn(task.N, 6, generator=repro.generator(4, "test"), dtype=F64)
    assert probes.superposition_fit(E, task.perms, codes)["r2_heldout"] < 0.1


def test_query_activations_match_forward(block, task):
    acts = probes.query_activations(block, task)
    logits = block(task.single_hop().tokens, last_only=True)[:, -1].reshape(task.N, task.R, -1)
    assert torch.allclose(acts.logits, logits.double(), atol=1e-12)
    assert torch.allclose(acts.resid_post, acts.resid_mid + acts.mlp_out, atol=1e-12)
    assert torch.equal(acts.embed, block.W_E[: task.N].double())


def test_analytic_unit_ablation_matches_hooked_forward(block, task):
    acts = probes.query_activations(block, task)
    j = 5
    W_U = block.W_U.double()
    analytic = acts.logits - acts.post[..., j, None] * (block.W_out[j].double() @ W_U)

    def zero_unit(x, name):
        x = x.clone()
        x[..., j] = 0
        return x

    with block.hooks({"blocks.0.mlp.hook_post": zero_unit}):
        hooked = block(task.single_hop().tokens, last_only=True)[:, -1].reshape(task.N, task.R, -1)
    assert torch.allclose(analytic, hooked.double(), atol=1e-12)


def test_relation_swap_is_a_real_intervention(block, task):
    """Swapping to the same relation (r' = r) changes nothing; the patched run equals the plain run."""
    acts = probes.query_activations(block, task)
    same = selector.patched_logits(block, task, acts.resid_mid)
    assert torch.allclose(same, acts.logits, atol=1e-12)


def test_unembed_alone_carries_no_facts_in_the_construction(block, task):
    out = probes.unembed_fact_decoding(block.W_U, task.perms, seed=0)
    assert out["accuracy"] <= 0.1 and out["null"] <= 0.1
    assert math.isnan(probes.unembed_fact_decoding(block.W_U, task.perms[:1], seed=0)["accuracy"])


def test_bits_per_weight_formula():
    out = probes.bits_per_weight(256, 4, 8)
    assert out["information_bits"] == pytest.approx(float(theory.information_bits(256, 4)))
    assert out["subject_table"] == pytest.approx(2 * out["both_tables"])
    assert out["subject_table"] == pytest.approx(out["information_bits"] / (256 * 8))


def test_attribute_codes_of_the_construction_have_rank_k(block, task):
    codes = probes.attribute_codes(block.W_U)
    assert codes.shape == (task.N, theory.code_length(task.N))


def test_probes_are_deterministic_and_leave_the_model_alone(random_model, task, random_summary):
    before = {k: v.clone() for k, v in random_model.state_dict().items()}
    again = probe_summary.probe_all(random_model, task, seed=0)
    assert again == random_summary
    assert all(torch.equal(before[k], v) for k, v in random_model.state_dict().items())
    other = probe_summary.probe_all(random_model, task, seed=1)
    assert other.superposition_r2 != random_summary.superposition_r2  # the split follows the seed


def test_bad_inputs_name_the_parameter(block, task):
    with pytest.raises(TypeError, match="model must be"):
        probe_summary.probe_all("not a model", task)
    with pytest.raises(ValueError, match="d_vocab_out"):
        probe_summary.probe_all(block, tasks.make_task(32, 3, seed=0))
    with pytest.raises(ValueError, match="bijection"):
        probes.superposition(block, torch.zeros(3, 64, dtype=torch.long))
    with pytest.raises(ValueError, match="N \\(n_subjects\\)"):
        probes.subject_split(3)
    with pytest.raises(ValueError, match="test"):
        probes.subject_split(20, test=1.5)
    with pytest.raises(ValueError, match="k_prime"):
        probes.attribute_codes(block.W_U, 1000)
    with pytest.raises(ValueError, match="codes"):
        probes.superposition_fit(block.W_E[:64], task.perms, torch.zeros(10, 3))
    with pytest.raises(ValueError, match="lambdas"):
        probes.ridge(torch.zeros(10, 2), torch.zeros(10, 1), probes.subject_split(10), lambdas=(-1.0,))
    acts = probes.query_activations(block, task)
    with pytest.raises(ValueError, match="rule"):
        probes.relation_decoders(block.W_E[:64], task.perms, probes.attribute_codes(block.W_U), rule="cosine")
    with pytest.raises(ValueError, match="site"):
        selector.linear_branch(acts, site="attn_out")
    with pytest.raises(TypeError, match="acts"):
        selector.selectivity(acts.post)
