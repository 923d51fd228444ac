"""The hand-written answer-position step (georecall.train._fused) against autograd through
model.transformer.Transformer, in float64."""

import pytest
import torch

from georecall.model import transformer as models
from georecall.tasks import bijection as tasks
from georecall.train import _fused, batched
from georecall.train import loop as train

GRAD_TOL = 1e-10  # float64: only summation order differs from autograd


def _models(fs, d, seeds, **kw):
    return [models.Transformer(models.ModelConfig.for_task(fs, d, init_seed=s, **kw)).double() for s in seeds]


def _autograd(model, fs):
    loss, _ = train.loss_and_correct(model(fs.tokens, last_only=True), fs.targets)
    model.zero_grad(set_to_none=True)
    loss.backward()
    return float(loss.detach()), {n: p.grad for n, p in model.named_parameters() if p.requires_grad}


CASES = {
    "single hop": dict(data="single_hop", d=8, kw={}),
    "noisy T=7, 2 heads": dict(data="noisy", d=8, kw=dict(n_heads=2)),
    "noisy frozen embeddings": dict(data="noisy", d=6, kw=dict(freeze_embed=True)),
    "tied readout": dict(data="single_hop", d=8, kw=dict(tie_embed=True)),
    "n_ctx beyond T": dict(data="single_hop", d=4, kw=dict(n_ctx=5)),
    "two positions, 2 heads": dict(data="single_hop", d=8, kw=dict(n_heads=2)),
    "two positions, frozen embeddings": dict(data="single_hop", d=8, kw=dict(freeze_embed=True)),
    "two positions, frozen, 3 heads": dict(data="single_hop", d=6, kw=dict(freeze_embed=True, n_heads=3)),
    "noisy T=3 (short path), 3 heads": dict(data="noisy", d=6, kw=dict(n_heads=3), seq_len=3),
    "noisy T=4 (short path), frozen": dict(data="noisy", d=6, kw=dict(freeze_embed=True), seq_len=4),
    "noisy T=5 (long path)": dict(data="noisy", d=6, kw={}, seq_len=5),
    "d = 16 (every product direct)": dict(data="single_hop", d=16, kw=dict(d_mlp=32)),
    "d = 16, noisy, 2 heads": dict(data="noisy", d=16, kw=dict(n_heads=2, d_mlp=20)),
}


@pytest.mark.parametrize("block", [7, 2**16])
@pytest.mark.parametrize("case", list(CASES))
def test_gradients_match_autograd(case, block):
    c = CASES[case]
    task = tasks.make_task(12, 3, seed=1)
    if c["data"] == "single_hop":
        fs = task.single_hop()
    else:
        fs = tasks.noisy_sequences(task, seq_len=c.get("seq_len", 7), seed=2)
    fs = tasks.FactSet(fs.tokens, fs.targets.clone(), fs.d_vocab, fs.d_vocab_out)
    fs.targets[3, -1] = tasks.IGNORE  # one untargeted sequence: it must carry no loss
    ms = _models(fs, c["d"], [0, 1, 2], **c["kw"])
    for m in ms:  # non-zero bias, so the ReLU mask is generic
        with torch.no_grad():
            m.blocks[0].mlp.b_in.normal_(0, 0.3, generator=torch.Generator().manual_seed(3))
    assert all(_fused.supported(m, fs) for m in ms)
    P = batched.stack_params(ms)
    M = len(ms)
    tokens = fs.tokens.expand(M, -1, -1)
    y = fs.targets[:, -1].expand(M, -1)
    mask = y != tasks.IGNORE
    weight = mask / mask.sum(dim=1, keepdim=True).double()
    act = _fused.forward(P, tokens)
    logits = torch.bmm(act.resid_post, _fused.unembedding(P, fs.d_vocab_out))
    for i, m in enumerate(ms):
        ref = m(fs.tokens, last_only=True)[:, 0]
        assert torch.allclose(logits[i], ref, atol=1e-12, rtol=0)
    trainable = {n for n, p in ms[0].named_parameters() if p.requires_grad}
    dres, dW_U = _fused.readout_grad(
        act.resid_post,
        _fused.unembedding(P, fs.d_vocab_out),
        y.clamp(min=0),
        weight,
        need_W_U=any(n in trainable for n in ("unembed.W_U", "embed.W_E")),
        block_elements=block,
    )
    grads = {n: torch.full_like(P[n], float("nan")) for n in trainable}
    _fused.backward(P, act, dres, dW_U, trainable, grads)
    total, count, correct = _fused.readout_eval(
        act.resid_post, _fused.unembedding(P, fs.d_vocab_out), fs.targets[:, -1].expand(M, -1), block_elements=block
    )
    for i, m in enumerate(ms):
        loss, ref = _autograd(m, fs)
        assert abs(float(total[i] / count[i]) - loss) < 1e-12
        _, right = train.loss_and_correct(m(fs.tokens, last_only=True), fs.targets)
        assert torch.equal(correct[i], right)
        assert set(ref) == trainable
        for n, g in ref.items():
            assert (grads[n][i] - g).abs().max().item() < GRAD_TOL, n


def test_uniform_weight_equals_tensor_weight():
    fs = tasks.make_task(10, 2, seed=0).single_hop()
    ms = _models(fs, 4, [0, 1])
    P = batched.stack_params(ms)
    act = _fused.forward(P, fs.tokens.expand(2, -1, -1))
    y = fs.targets[:, -1].expand(2, -1)
    W_U = _fused.unembedding(P, fs.d_vocab_out)
    a = _fused.readout_grad(act.resid_post, W_U, y, 1 / len(fs))
    b = _fused.readout_grad(
        act.resid_post, W_U, y, torch.full(y.shape, 1 / len(fs), dtype=torch.float64), block_elements=5
    )
    assert all(torch.allclose(u, v, atol=1e-14, rtol=0) for u, v in zip(a, b))


def test_supported():
    fs = tasks.make_task(6, 2, seed=0).single_hop()
    model = _models(fs, 4, [0])[0]
    assert _fused.supported(model, fs)
    all_positions = tasks.FactSet(fs.tokens, fs.tokens.clamp(max=5), fs.d_vocab, fs.d_vocab_out)
    assert not _fused.supported(model, all_positions)
    with model.hooks({"blocks.0.hook_resid_mid": lambda x, name: x}):
        assert not _fused.supported(model, fs)

    class Sub(models.Transformer):
        pass

    assert not _fused.supported(Sub(model.config), fs)


@pytest.mark.parametrize("seed", range(4))
def test_two_smallest_equals_argsort(seed):
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(3000, 31, generator=g)
    u[:50, 5] = u[:50].min(dim=1).values  # ties at the smallest value
    coarse = torch.randint(4, (200, 9), generator=g).float()  # many ties everywhere
    for x in (u, coarse, u[:, :2]):
        assert torch.equal(tasks._two_smallest(x), x.argsort(dim=1)[:, :2])


@pytest.mark.parametrize(
    "lrs, wds", [((1e-2, 1e-2), (0.0, 0.0)), ((1e-2, 1e-2), (1e-2, 1e-2)), ((3e-3, 3e-2), (0.0, 1e-2))]
)
def test_flat_adamw_is_torch_adamw_bitwise(lrs, wds):
    """The stack's one-buffer AdamW gives exactly torch.optim.AdamW's float32 numbers, model by model."""
    fs = tasks.make_task(8, 2, seed=0).single_hop()
    ms = [models.Transformer(models.ModelConfig.for_task(fs, 4, init_seed=s, freeze_embed=s == 9)) for s in (0, 1)]
    cfgs = [train.TrainConfig(lr=lr, weight_decay=wd) for lr, wd in zip(lrs, wds)]
    stack = batched._Stack(ms, [fs, fs], cfgs, torch.device("cpu"))
    opts = [torch.optim.AdamW(m.parameters(), lr=c.lr, weight_decay=c.weight_decay) for m, c in zip(ms, cfgs)]
    g = torch.Generator().manual_seed(0)
    for step in range(1, 4):
        stack.grad = torch.randn(stack.grad.shape, generator=g) * 10.0**-step
        grads = stack.views(stack.grad)
        for i, (m, opt) in enumerate(zip(ms, opts)):
            for n, p in m.named_parameters():
                p.grad = grads[n][i].clone()
            opt.step()
        stack.adamw_step(step)
        for i, m in enumerate(ms):
            for n, p in m.named_parameters():
                assert torch.equal(stack.params()[n][i], p.detach()), (step, n)


def test_model_groups_give_the_same_training(monkeypatch):
    """Running the fused step one model at a time (large shapes) or all at once gives the same models."""
    fs = tasks.make_task(10, 2, seed=0).single_hop()
    cfg = train.TrainConfig(lr=1e-2, max_steps=12, eval_every=4)
    runs = []
    for group_elements in (batched.GROUP_ELEMENTS, 1):
        monkeypatch.setattr(batched, "GROUP_ELEMENTS", group_elements)
        ms = _models(fs, 4, [0, 1, 2])
        batched.train_batched(ms, fs, [cfg, train.TrainConfig(lr=3e-3, max_steps=12, eval_every=4), cfg])
        runs.append(ms)
    for a, b in zip(*runs):
        for p, q in zip(a.parameters(), b.parameters()):
            assert (p - q).abs().max().item() < 1e-12


def test_pre_gathered_embeddings_give_the_same_forward():
    """A frozen W_E on a fixed batch is gathered once (``embedded``): the activations must not change."""
    fs = tasks.noisy_sequences(tasks.make_task(12, 3, seed=1), seq_len=6, seed=2)
    ms = _models(fs, 8, [0, 1], freeze_embed=True)
    P = batched.stack_params(ms)
    tokens = fs.tokens.expand(2, -1, -1)
    rows = _fused.embedding_rows(tokens, P["embed.W_E"].shape[1])
    embedded = P["embed.W_E"].reshape(-1, 8).index_select(0, rows).view(*tokens.shape, 8)
    a, b = _fused.forward(P, tokens, rows), _fused.forward(P, tokens, embedded=embedded)
    assert torch.equal(a.resid_post, b.resid_post) and torch.equal(a.x, b.x)
