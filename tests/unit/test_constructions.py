"""The hand-built constructions: exact recall in float64, gating, generic selector, errors before allocation."""

import pytest
import torch

from georecall.construct import bijection as constructions
from georecall.model import recall
from georecall.tasks import bijection as tasks
from georecall.theory import bijection as theory
from georecall.train import loop as train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MARGIN_TOL = 1e-9  # float64 rounding allowed below the 2/k margin
EXACT_GRID = [(2, 1), (5, 1), (7, 3), (64, 1), (100, 4), (256, 4), (300, 5), (1000, 8), (1024, 8)]
F64 = torch.float64


def _all_tokens(task):
    return task.single_hop().tokens


@pytest.mark.parametrize(("N", "R"), EXACT_GRID)
def test_block_construction_is_exact(N, R):
    task = tasks.make_task(N, R, seed=N + R)
    model = constructions.build_block(task)
    k = theory.code_length(N)
    assert model.config.d_model == theory.block_dimension(N, R) == R * k + R + k
    assert model.config.d_mlp == theory.block_width(N, R) == 2 * R * k
    assert model.dtype == F64
    ev = recall.evaluate_recall(model, task)
    assert ev.n_facts == N * R
    assert ev.accuracy == 1.0, f"{N * R - ev.n_correct} facts wrong at N={N}, R={R}"
    assert ev.min_margin >= 2 / k - MARGIN_TOL, f"margin {ev.min_margin} below 2/k = {2 / k}: gate leak or code clash?"
    # the same through the training code's evaluation (FactSet, cross-entropy path)
    assert train.evaluate(model, task.single_hop()).accuracy == 1.0


@pytest.mark.parametrize("k", [9, 12])
def test_longer_codes_stay_exact(k):
    task = tasks.make_task(300, 3, seed=2)
    ev = recall.evaluate_recall(constructions.build_block(task, k=k), task)
    assert ev.accuracy == 1.0 and ev.min_margin >= 2 / k - MARGIN_TOL


def test_gaussian_codes_in_blocks_are_exact():
    task = tasks.make_task(128, 3, seed=4)
    model = constructions.build_block(task, k=24, codes=constructions.GAUSSIAN)
    assert recall.evaluate_recall(model, task).accuracy == 1.0


def test_float32_block_is_exact_when_k_is_16():
    """k = 16: every weight and activation is a dyadic rational (1/sqrt(k) = 1/4), so float32 is exact too."""
    task = tasks.make_task(60_000, 1, seed=0)
    assert theory.code_length(60_000) == 16
    model = constructions.build_block(task, dtype=torch.float32)
    ev = recall.evaluate_recall(model, task, facts=torch.arange(0, 60_000, 97))
    assert ev.accuracy == 1.0 and ev.min_margin == 2 / 16


def test_sign_codes_distinct_unit_norm_and_separated():
    for N, k in [(5, 3), (16, 4), (300, 9), (300, 11)]:
        u = constructions.sign_codes(N, k)
        assert u.shape == (N, k)
        assert torch.allclose(u.norm(dim=1), torch.ones(N, dtype=F64))
        gram = u @ u.T
        off = gram - 2 * torch.eye(N, dtype=F64)
        assert off.max() <= 1 - 2 / k + MARGIN_TOL, "two codes closer than Hamming distance 1"


def test_attention_routes_subject_into_query_position(block_300_5):
    task, model = block_300_5
    tokens = _all_tokens(task)
    _, cache = model.run_with_cache(tokens, ["blocks.0.attn.hook_pattern", "blocks.0.hook_resid_mid"], last_only=True)
    pattern = cache["blocks.0.attn.hook_pattern"][:, 0, 0]  # [n, 2]
    assert torch.equal(pattern, torch.full_like(pattern, 0.5)), "W_Q = W_K = 0 must give uniform attention"
    expected = model.W_E[tokens[:, 0]] + model.W_E[tokens[:, 1]]  # e_s + v_r
    assert torch.equal(cache["blocks.0.hook_resid_mid"][:, 0], expected)
    assert torch.count_nonzero(model.W_pos) == 0


@pytest.mark.parametrize("kind", ["block", "dense"])
def test_closed_gates_contribute_exactly_zero(kind):
    task = tasks.make_task(200, 4, seed=5)
    if kind == "block":
        model = constructions.build_block(task)
    else:
        model = constructions.build_dense(task, d_model=120, seed=3)
    m, R = model.config.d_mlp, task.R
    two_k = m // R
    acts = recall.hidden_activations(model, task, torch.arange(task.N))  # [N, R, m]
    unit_rel = torch.arange(m) // two_k  # [m] relation block of each unit
    closed = unit_rel[None, None, :] != torch.arange(R)[None, :, None]  # [1, R, m]
    assert torch.count_nonzero(acts * closed) == 0, "a closed gate leaked: B below the largest cross-talk?"
    gm = recall.gate_matrix(model, task, torch.arange(task.N))
    assert torch.count_nonzero(gm - torch.diag(torch.diagonal(gm))) == 0
    assert (torch.diagonal(gm) > 0).all(), "an open gate is silent"


def test_mlp_output_is_the_selected_code(block_300_5):
    task, model = block_300_5
    tokens = _all_tokens(task)
    _, cache = model.run_with_cache(tokens, ["blocks.0.hook_mlp_out"], last_only=True)
    subjects, relations, answers = task.facts()
    k = theory.code_length(task.N)
    codes = constructions.sign_codes(task.N, k)
    out = cache["blocks.0.hook_mlp_out"][:, 0]  # [n, d]
    assert torch.equal(out[:, -k:], codes[answers]), "MLP(e_s + v_r) must be P_O u_{pi_r(s)}"
    assert torch.count_nonzero(out[:, :-k]) == 0


@pytest.mark.parametrize("kind", ["block", "dense"])
def test_non_embedding_weights_do_not_depend_on_bijections(kind):
    """The generic selector: only the subject rows of W_E change with the bijections."""
    N, R = 97, 3
    a, b = tasks.make_task(N, R, seed=10), tasks.make_task(N, R, seed=11)
    assert not torch.equal(a.perms, b.perms)
    if kind == "block":
        ma, mb = constructions.build_block(a), constructions.build_block(b)
    else:
        ma, mb = (constructions.build_dense(t, d_model=64, seed=7) for t in (a, b))
    pa, pb = dict(ma.named_parameters()), dict(mb.named_parameters())
    assert pa.keys() == pb.keys()
    for name in pa:
        if name == "embed.W_E":
            assert torch.equal(pa[name][N:], pb[name][N:]), "relation rows depend on the bijections"
            assert not torch.equal(pa[name][:N], pb[name][:N])
        else:
            assert torch.equal(pa[name], pb[name]), f"{name} depends on the bijections"


def test_relabelling_subjects_relabels_answers():
    task = tasks.make_task(50, 3, seed=0)
    sigma = torch.randperm(50, generator=torch.Generator().manual_seed(1))
    relabelled = task.perms[:, sigma]  # pi'_r(s) = pi_r(sigma(s))
    m1, m2 = constructions.build_block(task), constructions.build_block(relabelled)
    assert torch.equal(m2.W_E[:50], m1.W_E[sigma])
    tokens = _all_tokens(task)
    moved = tokens.clone()
    moved[:, 0] = sigma[tokens[:, 0]]
    assert torch.equal(m2(tokens, last_only=True), m1(moved, last_only=True))


def test_param_counts_match_theory(block_300_5):
    task, model = block_300_5
    assert model.n_params(include_embeddings=False) == theory.geometric_nonembedding_param_count(task.N, task.R)


def test_dense_matches_reference_accuracies():
    """Reference accuracies of the dense placement at N=512, R=8, k=24, B=10, by subject-space dimension d_s
    (d = d_s + R + k); Chapter 2 prints the same comparison."""
    task = tasks.make_task(512, 8, seed=0)
    reference = {32: 0.12, 128: 0.68, 384: 0.996}
    for d_s, acc in reference.items():
        rec = constructions.dense_recipe(512, 8, d_model=d_s + 8 + 24, k=24, gate=10.0, seed=0)
        got = recall.evaluate_recall(constructions.build(rec, task.perms), task).accuracy
        assert abs(got - acc) < 0.03, f"d_s={d_s}: {got:.3f} vs reference {acc}"


def test_safe_gate_block_is_max_code_entry():
    rec = constructions.block_recipe(300, 5)
    assert constructions.safe_gate(rec.codes, rec.placements) == pytest.approx(rec.gate, rel=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: constructions.sign_codes(9, 3), "k"),
        (lambda: constructions.build_block(tasks.make_task(20, 2).perms, k=4), "k"),
        (lambda: constructions.build_dense(tasks.make_task(20, 2), d_model=12), "d_model"),
        (lambda: constructions.block_recipe(2**24, 64), "max_bytes"),
        (lambda: constructions.dense_recipe(64, 2, d_model=64, codes="ternary"), "codes"),
        (lambda: constructions.block_recipe(64, 0), "R"),
    ],
)
def test_bad_requests_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_huge_build_is_refused_from_the_estimate():
    """N = 2^24, R = 64 would need ~100 GiB: the estimate refuses it, before any tensor of that size exists."""
    with pytest.raises(ValueError, match="GiB"):
        constructions.block_recipe(2**24, 64)
    assert constructions.model_bytes(2**24, 64, 1600, 3072) > constructions.DEFAULT_MAX_BYTES
