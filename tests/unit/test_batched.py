"""Batched training equals training each model alone (train.train), model by model."""

import copy
from dataclasses import replace

import pytest
import torch

from georecall.model import multihop
from georecall.model import transformer as models
from georecall.tasks import bijection as tasks
from georecall.train import _fused, _readout, batched
from georecall.train import loop as train

PARAM_TOL_F64 = 1e-9  # float64: only summation order differs, so trajectories agree to round-off
LOSS_TOL_F64 = 1e-9
PARAM_TOL_F32_SHORT = 1e-3  # float32, 8 steps: Adam divides by sqrt(v), so round-off in tiny gradients moves
# weights by up to ~lr/10 (trajectories are chaotic near capacity; float64 is the exact check)
FAST = train.TrainConfig(lr=1e-2, max_steps=48, eval_every=8, target_accuracy=0.99)


def _pair(N, R, d, seeds, *, dtype=torch.float64, data="single_hop", **model_kw):
    """Models (twice: for the loop and for the stack) and their data sets, one task per seed."""
    ms, datas = [], []
    for s in seeds:
        task = tasks.make_task(N, R, seed=s)
        if data == "cot":  # targets at two positions: the autograd path with the blocked readout
            fs = multihop.cot_facts(task, 2)
        else:
            fs = task.single_hop() if data == "single_hop" else tasks.noisy_sequences(task, seq_len=6, copies=2, seed=s)
        datas.append(fs)
        ms.append(models.Transformer(models.ModelConfig.for_task(fs, d, init_seed=s, **model_kw)).to(dtype))
    return ms, [copy.deepcopy(m) for m in ms], datas


def _max_param_diff(a, b):
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


CASES = {
    "full batch, lr/wd/seed differ": dict(
        N=16, R=2, d=8, configs=[FAST, replace(FAST, lr=3e-3, data_seed=5), replace(FAST, weight_decay=1e-2)]
    ),
    "minibatches": dict(
        N=16,
        R=4,
        d=8,
        configs=[
            replace(FAST, full_batch_max=32, batch_size=24),
            replace(FAST, full_batch_max=32, batch_size=24, data_seed=1),
        ],
    ),
    "frozen embeddings": dict(N=16, R=2, d=8, configs=[FAST, FAST], model_kw=dict(freeze_embed=True)),
    "tied embeddings": dict(N=16, R=2, d=8, configs=[FAST, FAST], model_kw=dict(tie_embed=True)),
    "two heads": dict(N=16, R=2, d=8, configs=[FAST, FAST], model_kw=dict(n_heads=2)),
    "CoT, targets at two positions": dict(N=8, R=2, d=8, configs=[FAST, replace(FAST, lr=3e-3)], data="cot"),
    "noisy T=6 format": dict(N=8, R=2, d=8, configs=[FAST, replace(FAST, lr=3e-3)], data="noisy"),
    "early stop differs per model": dict(
        N=16, R=2, d=8, configs=[replace(FAST, target_accuracy=0.5), FAST, replace(FAST, target_accuracy=1.0)]
    ),
}


@pytest.mark.parametrize("blocked", [False, True], ids=["full logits", "blocked readout"])
@pytest.mark.parametrize("name", list(CASES))
def test_batched_equals_one_by_one_float64(name, blocked, monkeypatch):
    if blocked and CASES[name].get("data") != "cot":
        pytest.skip("the blocked readout is the autograd path's (targets at several positions)")
    monkeypatch.setattr(batched, "FULL_LOGITS", 0 if blocked else batched.FULL_LOGITS)
    case = CASES[name]
    seeds = list(range(len(case["configs"])))
    loop, stack, datas = _pair(
        case["N"], case["R"], case["d"], seeds, data=case.get("data", "single_hop"), **case.get("model_kw", {})
    )
    ref = [train.train(m, fs, c, progress=False) for m, fs, c in zip(loop, datas, case["configs"])]
    got = batched.train_batched(stack, datas, case["configs"])
    for i, (a, b) in enumerate(zip(ref, got)):
        assert a.steps == b.steps, f"model {i}: stopped at step {b.steps}, alone at {a.steps} (early-stop bookkeeping?)"
        assert a.reached_target == b.reached_target
        assert a.history["step"] == b.history["step"], f"model {i}: evaluation steps differ"
        assert a.history["accuracy"] == b.history["accuracy"], f"model {i}: accuracy histories differ"
        assert max(abs(x - y) for x, y in zip(a.history["loss"], b.history["loss"])) < LOSS_TOL_F64
        diff = _max_param_diff(loop[i], stack[i])
        assert diff < PARAM_TOL_F64, f"model {i}: weights differ by {diff:.2e} (AdamW step or gradient scaling wrong?)"


def test_float32_short_horizon_matches():
    cfg = replace(FAST, max_steps=8, eval_every=4)
    loop, stack, datas = _pair(32, 2, 8, [0, 1], dtype=torch.float32)
    for m, fs in zip(loop, datas):
        train.train(m, fs, cfg, progress=False)
    batched.train_batched(stack, datas, cfg)
    for a, b in zip(loop, stack):
        assert _max_param_diff(a, b) < PARAM_TOL_F32_SHORT


def test_results_do_not_depend_on_stack_companions():
    """At one thread a model's trajectory is bitwise the same alone or stacked with others (sweeps rely on it)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        task = tasks.make_task(32, 2, seed=0)
        fs = task.single_hop()
        mk = lambda s: models.Transformer(models.ModelConfig.for_task(task, 6, init_seed=s))  # noqa: E731
        alone, group = mk(0), [mk(0), mk(1), mk(2)]
        cfg = replace(FAST, max_steps=64)
        r_alone = batched.train_batched([alone], fs, cfg)[0]
        r_group = batched.train_batched(group, fs, cfg)[0]
    finally:
        torch.set_num_threads(old)
    assert r_alone.history == r_group.history
    assert _max_param_diff(alone, group[0]) == 0.0


def test_batched_forward_equals_model_forward():
    task = tasks.make_task(16, 3, seed=1)
    fs = tasks.noisy_sequences(task, seq_len=7, copies=1, seed=2)
    ms = [models.Transformer(models.ModelConfig.for_task(fs, 8, n_heads=2, init_seed=s)).double() for s in range(3)]
    params = batched.stack_params(ms)
    tokens = fs.tokens.expand(3, -1, -1)
    for last_only in (False, True):
        got = batched.batched_forward(params, tokens, last_only=last_only)
        for i, m in enumerate(ms):
            torch.testing.assert_close(got[i], m(fs.tokens, last_only=last_only), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(d_models=(8, 12)), "differs from model 0"),
        (dict(configs=(FAST, replace(FAST, max_steps=10))), "max_steps must be equal"),
        (dict(n_data=1), "must match"),
    ],
)
def test_bad_stacks_fail_fast(bad, match):
    task = tasks.make_task(8, 2, seed=0)
    fs = task.single_hop()
    ms = [models.Transformer(models.ModelConfig.for_task(task, d)) for d in bad.get("d_models", (8, 8))]
    configs = list(bad.get("configs", (FAST, FAST)))
    datas = [fs] * bad.get("n_data", 2)
    with pytest.raises(ValueError, match=match):
        batched.train_batched(ms, datas, configs)


def test_resample_hook_feeds_fresh_batches():
    """With ``resample`` the batches come from the hook (step 1, 2, ...) and ``datas`` only score; a hook that
    returns the fixed data reproduces fixed-data training exactly."""
    cfg = replace(FAST, max_steps=16, target_accuracy=1.0)
    a, b, datas = _pair(16, 2, 8, [0, 1])
    calls = []

    def same(i, step):
        calls.append((i, step))
        return datas[i]

    ref = batched.train_batched(a, datas, cfg)
    got = batched.train_batched(b, datas, cfg, resample=same)
    assert [r.history for r in ref] == [r.history for r in got]
    assert all(_max_param_diff(x, y) == 0.0 for x, y in zip(a, b))
    assert sorted(calls) == [(i, s) for i in (0, 1) for s in range(1, 17)], "one call per model and step, steps from 1"


def test_stacked_cross_entropy_and_its_gradient_equal_log_softmax():
    """The hand-written backward (softmax - onehot) must equal autograd through log_softmax, IGNORE included."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 2, 7, generator=g, dtype=torch.float64) * 4
    targets = torch.randint(0, 7, (3, 5, 2), generator=g)
    targets[0, :, 0] = tasks.IGNORE  # model 0 is scored at the last position only
    targets[1, 2] = tasks.IGNORE
    z1 = logits.clone().requires_grad_(True)
    mean, total, right = batched._loss_and_correct(z1, targets)
    (mean * torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)).sum().backward()
    z2 = logits.clone().requires_grad_(True)
    mask = targets != tasks.IGNORE
    nll = -z2.log_softmax(-1).gather(-1, targets.clamp(min=0)[..., None])[..., 0] * mask
    ref = nll.sum(dim=(1, 2)) / mask.sum(dim=(1, 2))
    (ref * torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)).sum().backward()
    assert torch.allclose(mean, ref, rtol=0, atol=1e-12)
    assert torch.allclose(total, nll.sum(dim=(1, 2)), rtol=0, atol=1e-12)
    assert torch.allclose(z1.grad, z2.grad, rtol=0, atol=1e-12)
    assert torch.equal(right, ((logits.argmax(-1) == targets) | ~mask).all(-1))


def test_blocked_cross_entropy_equals_the_loss_on_full_logits():
    """The training step's blocked readout: loss and gradients (resid and W_U) of the full-logits mean CE, with
    untargeted positions (skipped) and a partly targeted one; blocks smaller than the rows force several blocks."""
    g = torch.Generator().manual_seed(1)
    resid = torch.randn(3, 5, 4, 6, generator=g, dtype=torch.float64)
    W_U = torch.randn(3, 6, 7, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 7, (3, 5, 4), generator=g)
    targets[:, :, 0::2] = tasks.IGNORE  # entity positions: never targeted (as CoT)
    targets[1, 2, 1] = tasks.IGNORE
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    r1, u1 = resid.clone().requires_grad_(True), W_U.clone().requires_grad_(True)
    ref = batched._loss_and_correct(torch.einsum("mbqd,mdv->mbqv", r1, u1), targets, correct=False)[0]
    (ref * w).sum().backward()
    for block in (_fused.BLOCK_ELEMENTS, 21):
        orig, _readout.BLOCK_ELEMENTS = _readout.BLOCK_ELEMENTS, block
        try:
            r2, u2 = resid.clone().requires_grad_(True), W_U.clone().requires_grad_(True)
            got = _readout.BlockedCrossEntropy.apply(r2, u2, targets)
            (got * w).sum().backward()
        finally:
            _readout.BLOCK_ELEMENTS = orig
        assert torch.allclose(got, ref, rtol=0, atol=1e-12)
        assert torch.allclose(r2.grad, r1.grad, rtol=0, atol=1e-12) and (r2.grad[:, :, 0::2] == 0).all()
        assert torch.allclose(u2.grad, u1.grad, rtol=0, atol=1e-12)


def test_frozen_embeddings_are_gathered_once_per_fixed_batch():
    fs = tasks.noisy_sequences(tasks.make_task(8, 2, seed=0), seq_len=5, seed=1)
    cfg = train.TrainConfig(max_steps=1)
    for frozen in (True, False):
        m = models.Transformer(models.ModelConfig.for_task(fs, 4, init_seed=0, freeze_embed=frozen))
        stack = batched._Stack([m], [fs], [cfg], "cpu")
        stack.rows = _fused.embedding_rows(stack.tokens, fs.d_vocab)
        got = stack.gathered_embeddings()
        if not frozen:
            assert got is None
            continue
        assert torch.equal(got[0], m.embed.W_E.detach()[fs.tokens])
        assert stack.gathered_embeddings() is got  # kept, not gathered again
        stack.keep([0])
        assert stack.embedded is None  # a changed stack gathers afresh
