"""Evaluation of a model on a fact set: margins, memory budget, the fused path, the readout, hidden units."""

import math

import pytest
import torch

from georecall.construct import bijection as constructions
from georecall.model import recall
from georecall.model import transformer as models
from georecall.tasks import bijection as tasks
from georecall.theory import bijection as theory

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MARGIN_TOL = 1e-9  # float64 rounding (summation order differs between chunkings and methods)


def _all_tokens(task):
    return task.single_hop().tokens


def test_evaluate_on_factset_and_subsets_agree(block_300_5):
    task, model = block_300_5
    full = recall.evaluate_recall(model, task, return_margins=True)
    fs = recall.evaluate_recall(model, task.single_hop(), chunk_size=77, return_margins=True)
    # BLAS blocking depends on the chunk size, so agreement is up to float64 rounding
    assert torch.allclose(full.margins, fs.margins, rtol=0, atol=MARGIN_TOL)
    idx = torch.tensor([0, 5, 1499])
    sub = recall.evaluate_recall(model, task, facts=idx, return_margins=True)
    assert torch.allclose(sub.margins, full.margins[idx], rtol=0, atol=MARGIN_TOL)


def test_evaluation_counts_a_wrong_model(block_300_5):
    task, model = block_300_5
    broken = constructions.build_block(task.perms[:, torch.roll(torch.arange(task.N), 1)])
    ev = recall.evaluate_recall(broken, task)
    assert ev.accuracy < 0.05 and ev.min_margin < 0


def test_too_large_evaluation_fails_before_allocating(block_300_5):
    task, model = block_300_5
    with pytest.raises(ValueError, match="max_bytes"):
        recall.evaluate_recall(model, task, max_bytes=1000)
    with pytest.raises(ValueError, match="chunk_size"):
        recall.evaluate_recall(model, task, max_bytes=10**6, chunk_size=10**6)


def test_fused_evaluation_equals_the_forward_pass(block_300_5):
    """method='fused' (per-token tables + tiled readout, threads) must give the forward pass's margins."""
    task, model = block_300_5
    forward = recall.evaluate_recall(model, task, return_margins=True)
    for workers in (1, 2):
        fused = recall.evaluate_recall(model, task, method="fused", workers=workers, chunk_size=97, return_margins=True)
        # summation order differs from the forward pass's BLAS call: equal up to float64 rounding
        assert torch.allclose(fused.margins, forward.margins, rtol=0, atol=MARGIN_TOL)
        assert fused.n_correct == forward.n_correct == len(forward.margins)


def test_fused_evaluation_of_a_trained_like_model_and_a_fact_subset():
    task = tasks.make_task(40, 3, seed=2)
    model = models.Transformer(models.ModelConfig.for_task(task, 12, init_seed=4)).double()
    idx = torch.tensor([0, 7, 8, 119, 50])
    forward = recall.evaluate_recall(model, task, facts=idx, return_margins=True)
    fused = recall.evaluate_recall(
        model, task.single_hop(), facts=idx, method="fused", workers=2, chunk_size=2, return_margins=True
    )
    assert torch.allclose(fused.margins, forward.margins, rtol=0, atol=1e-12)
    assert fused.n_correct == forward.n_correct


def test_evaluation_method_and_workers_are_checked(block_300_5):
    task, model = block_300_5
    with pytest.raises(ValueError, match="method"):
        recall.evaluate_recall(model, task, method="tiled")
    with pytest.raises(ValueError, match="workers"):
        recall.evaluate_recall(model, task, workers=2)
    with pytest.raises(ValueError, match="workers"):
        recall.evaluate_recall(model, task, method="fused", workers=0)
    with pytest.raises(ValueError, match="max_bytes"):
        recall.evaluate_recall(model, task, method="fused", max_bytes=1000)


def test_forward_method_reads_only_the_non_zero_rows_of_W_U(block_300_5):
    """The forward method's readout skips all-zero rows of W_U: exactly the dense logits' margins, and it reads
    the model's current W_U (an in-place change between two evaluations is seen)."""
    task, model = block_300_5
    rows, W_rows_T = recall.readout_support(model.W_U)
    k = theory.code_length(task.N)
    assert rows.tolist() == list(range(model.config.d_model - k, model.config.d_model))
    assert torch.equal(W_rows_T, model.W_U[rows].T)
    tokens = _all_tokens(task)[:200]
    logits = model(tokens, last_only=True)[:, 0].detach()  # the plain dense product
    target = task.single_hop().targets[:200, -1]
    right = logits.gather(1, target[:, None])[:, 0]
    dense_margins = right - logits.scatter(1, target[:, None], -math.inf).amax(1)
    ev = recall.evaluate_recall(model, task, facts=torch.arange(200), return_margins=True)
    assert torch.equal(ev.margins, dense_margins)
    with torch.no_grad():
        model.unembed.W_U[0, 3] = 5.0  # a subject coordinate now reaches the readout
    try:
        changed = recall.evaluate_recall(model, task, facts=torch.arange(200), return_margins=True)
    finally:
        with torch.no_grad():
            model.unembed.W_U[0, 3] = 0.0
    assert not torch.equal(changed.margins, ev.margins), "evaluate_recall used a stale readout"


# --- the tiled readout -------------------------------------------------------------------------------------


def _reference(W_U, resid, target):
    logits = resid @ W_U  # [B, V]
    right = logits.gather(1, target[:, None])[:, 0]
    wrong = logits.scatter(1, target[:, None], -math.inf).amax(1)
    return right - wrong


@pytest.mark.parametrize(
    ("V", "B", "tile", "block"), [(50, 33, 16, 8), (64, 64, 64, 64), (37, 5, 100, 2), (2, 1, 1, 1)]
)
def test_margins_equal_the_full_logit_computation(V, B, tile, block):
    g = torch.Generator().manual_seed(V + B)
    W_U = torch.randn(12, V, generator=g, dtype=torch.float64)
    W_U[[0, 5, 7]] = 0.0  # coordinates the readout ignores
    resid = torch.randn(B, 12, generator=g, dtype=torch.float64)
    target = torch.randint(0, V, (B,), generator=g)
    readout = recall.Readout.of(W_U, tile=tile, block=block)
    assert readout.rows.tolist() == [i for i in range(12) if i not in (0, 5, 7)]
    got = readout.margins(resid, target)
    assert got.dtype == torch.float64 and got.shape == (B,)
    assert torch.allclose(got, _reference(W_U, resid, target), rtol=0, atol=1e-12)


def test_a_tie_is_a_zero_margin_and_a_wrong_argmax_is_negative():
    W_U = torch.tensor([[1.0, 1.0, 0.0, -1.0]])  # attributes 0 and 1 tie for any positive x
    resid = torch.tensor([[2.0], [2.0], [-1.0]])
    margins = recall.Readout.of(W_U, tile=2, block=2).margins(resid, torch.tensor([0, 2, 3]))
    assert margins.tolist() == [0.0, -2.0, 1.0]  # logits (-1, -1, 0, 1): 1 - 0


def test_bad_tile_is_refused():
    with pytest.raises(ValueError, match="tile"):
        recall.Readout.of(torch.ones(2, 3), tile=0)


# --- the per-token-table residual ---------------------------------------------------------------------------


@pytest.mark.parametrize(("n_heads", "seq_len"), [(1, 2), (2, 3), (4, 5)])
def test_last_residual_equals_the_hooked_forward_pass(n_heads, seq_len):
    """The per-token-table path must compute the same resid_post as the ordinary forward pass."""
    cfg = models.ModelConfig(
        d_vocab=40, d_vocab_out=30, n_ctx=seq_len, d_model=16, n_heads=n_heads, d_mlp=24, init_seed=seq_len
    )
    model = models.Transformer(cfg).double()
    with torch.no_grad():
        model.pos_embed.W_pos.mul_(3.0)  # make positions matter
    tokens = torch.randint(0, 40, (300, seq_len), generator=torch.Generator().manual_seed(0))
    _, cache = model.run_with_cache(tokens, ["blocks.0.hook_resid_post"], last_only=True)
    got = recall.last_residual(model, tokens)
    assert got.shape == (300, 16)
    assert torch.allclose(got, cache["blocks.0.hook_resid_post"][:, 0], rtol=0, atol=1e-12)
    assert not got.requires_grad


def test_last_residual_refuses_bad_token_shapes(tiny_model):
    with pytest.raises(ValueError, match="n_ctx"):
        recall.last_residual(tiny_model, torch.zeros(4, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="B, T"):
        recall.last_residual(tiny_model, torch.zeros(4, dtype=torch.long))
