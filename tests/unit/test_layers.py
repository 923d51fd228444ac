"""The L-layer transformer: at L = 1 it is the book's one-layer model, bit for bit; deeper models run forward and
backward with one set of hook points per block; the stacked trainer runs them; the one-layer-only tools refuse
them."""

import copy
import math
from dataclasses import replace

import pytest
import torch

from georecall import repro
from georecall.model import multihop, recall
from georecall.model import transformer as models
from georecall.probe import inputs as probe_inputs
from georecall.run import saved
from georecall.tasks import bijection as tasks
from georecall.tasks.sentences import make_sentence_task
from georecall.train import _fused, batched, loop, stacked
from georecall.train.recipe import TrainConfig


def _one_layer_reference(cfg: models.ModelConfig, tokens: torch.Tensor, last_only: bool):
    """The one-layer model written out by hand, as the book has defined it since Chapter 1: weights drawn from
    ``repro.generator(init_seed, "init")`` in the order W_E, W_pos, W_Q, W_K, W_V, W_O, W_in, W_out, W_U (b_in = 0),
    each ~ N(0, sigma^2) times init_scale, and the forward pass of the module docstring. Returns (weights, logits)."""
    g = repro.generator(cfg.init_seed, "init")
    d, H, dh, m = cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp

    def normal(*shape, std):
        return torch.randn(*shape, generator=g) * std * cfg.init_scale

    W = {"embed.W_E": normal(cfg.d_vocab, d, std=d**-0.5), "pos_embed.W_pos": normal(cfg.n_ctx, d, std=d**-0.5)}
    for n in "QKV":
        W[f"blocks.0.attn.W_{n}"] = normal(H, d, dh, std=d**-0.5)
    W["blocks.0.attn.W_O"] = normal(H, dh, d, std=(H * dh) ** -0.5)
    W["blocks.0.mlp.W_in"] = normal(d, m, std=d**-0.5)
    W["blocks.0.mlp.b_in"] = torch.zeros(m)
    W["blocks.0.mlp.W_out"] = normal(m, d, std=m**-0.5)
    W["unembed.W_U"] = normal(d, cfg.d_vocab_out, std=d**-0.5)
    T = tokens.shape[1]
    x = W["embed.W_E"][tokens] + W["pos_embed.W_pos"][:T]  # [B, T, d]
    xq = x[:, -1:] if last_only else x
    q = torch.einsum("btd,hde->bhte", xq, W["blocks.0.attn.W_Q"])
    k = torch.einsum("btd,hde->bhte", x, W["blocks.0.attn.W_K"])
    v = torch.einsum("btd,hde->bhte", x, W["blocks.0.attn.W_V"])
    scores = torch.einsum("bhqe,bhke->bhqk", q, k) * (1.0 / math.sqrt(dh))
    q_pos = torch.arange(T - q.shape[-2], T)
    scores = scores.masked_fill(~(q_pos[:, None] >= torch.arange(T)[None, :]), float("-inf"))
    z = torch.einsum("bhqk,bhke->bhqe", scores.softmax(dim=-1), v)
    resid_mid = xq + torch.einsum("bhqe,hed->bqd", z, W["blocks.0.attn.W_O"])
    pre = resid_mid @ W["blocks.0.mlp.W_in"] + W["blocks.0.mlp.b_in"]
    resid_post = resid_mid + torch.relu(pre) @ W["blocks.0.mlp.W_out"]
    return W, resid_post @ W["unembed.W_U"]


@pytest.mark.parametrize(
    "switches", [{}, {"n_heads": 2}, {"init_seed": 7, "init_scale": 0.5}, {"n_layers": 1, "d_mlp": 24}]
)
@pytest.mark.parametrize("last_only", [False, True])
def test_one_layer_is_the_books_model_bit_for_bit(switches, last_only):
    """Same init seed, same weights and the same logits, compared with torch.equal (bitwise): at L = 1 the model
    draws the same numbers in the same order and runs the same operations in the same order, so there is no
    round-off to allow for."""
    task = tasks.make_task(16, 3, seed=1)
    cfg = models.ModelConfig.for_task(task, 8, **switches)
    assert cfg.n_layers == 1
    model = models.Transformer(cfg)
    tokens = task.single_hop().tokens
    weights, logits = _one_layer_reference(cfg, tokens, last_only)
    state = model.state_dict()
    assert list(state) == list(weights)
    assert all(torch.equal(state[name], weights[name]) for name in weights)
    with torch.no_grad():
        assert torch.equal(model(tokens, last_only=last_only), logits)
    assert models.hook_names(1) == models.HOOK_NAMES


def test_a_deeper_model_draws_block_0_and_the_embeddings_as_the_one_layer_model_does():
    """Blocks 1 .. L-1 are drawn after block 0 and before W_U: W_E, W_pos and block 0 are the L = 1 weights."""
    task = tasks.make_task(16, 3, seed=1)
    one = models.Transformer(models.ModelConfig.for_task(task, 8, init_seed=3)).state_dict()
    two = models.Transformer(models.ModelConfig.for_task(task, 8, init_seed=3, n_layers=2)).state_dict()
    shared = [n for n in one if n != "unembed.W_U"]
    assert all(torch.equal(one[n], two[n]) for n in shared)
    assert not torch.equal(one["unembed.W_U"], two["unembed.W_U"])  # drawn after block 1 now
    assert {n for n in two if n.startswith("blocks.1.")} == {n.replace("blocks.0.", "blocks.1.") for n in shared[2:]}


@pytest.mark.parametrize("n_layers", [2, 4])
def test_deep_models_run_forward_and_backward_with_hooks_per_layer(n_layers):
    cfg = models.ModelConfig(d_vocab=12, d_vocab_out=12, n_ctx=6, d_model=8, n_heads=2, d_mlp=16, n_layers=n_layers)
    model = models.Transformer(cfg)
    tokens = torch.randint(12, (5, 6), generator=torch.Generator().manual_seed(0))
    names = models.hook_names(n_layers)
    assert len(names) == 3 + 9 * n_layers
    fired = []  # the order in which the forward pass reaches the hook points
    with model.hooks({n: lambda x, name: fired.append(name) for n in names}):
        model(tokens)
    assert fired == list(names)
    assert {f"blocks.{n_layers - 1}.mlp.hook_post", "hook_logits"} <= set(names)
    logits, cache = model.run_with_cache(tokens)
    assert set(cache) == set(names) and logits.shape == (5, 6, 12)
    for layer in range(n_layers):  # x_{l+1} = x_l + attn_out + mlp_out, and block l+1 reads block l's output
        b = f"blocks.{layer}."
        assert torch.allclose(cache[b + "hook_resid_post"], cache[b + "hook_resid_pre"] + cache[b + "hook_attn_out"]
                              + cache[b + "hook_mlp_out"], atol=1e-5)  # fmt: skip
        if layer:
            assert torch.equal(cache[b + "hook_resid_pre"], cache[f"blocks.{layer - 1}.hook_resid_post"])
    assert torch.allclose(logits, cache[f"blocks.{n_layers - 1}.hook_resid_post"] @ model.W_U, atol=1e-5)
    # last_only: every block but the last still sees all positions, so the last position's logits agree
    assert torch.allclose(model(tokens, last_only=True)[:, 0], logits[:, -1], atol=1e-5)
    # causal: changing a later token leaves earlier positions' logits unchanged, at every depth
    changed = tokens.clone()
    changed[:, 4] = (changed[:, 4] + 1) % 12
    assert torch.equal(model(changed)[:, :4], logits[:, :4]) and not torch.equal(model(changed)[:, 4], logits[:, 4])
    model(tokens).logsumexp(-1).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), f"{name} gets no gradient"
    # an ablation through the hooks of one deep layer changes the output
    with model.hooks({"blocks.1.hook_mlp_out": lambda x, name: torch.zeros_like(x)}):
        assert not torch.allclose(model(tokens), logits)


@pytest.mark.parametrize("bad", [0, -1, 65, 2.0, True])
def test_n_layers_is_checked(bad):
    with pytest.raises((TypeError, ValueError), match="n_layers"):
        models.ModelConfig(n_layers=bad)
    with pytest.raises((TypeError, ValueError), match="n_layers"):
        models.hook_names(bad)


def test_one_layer_tools_refuse_a_deep_model_clearly():
    task = tasks.make_task(8, 2, seed=0)
    deep = models.Transformer(models.ModelConfig.for_task(task, 8, n_layers=2))
    data = task.single_hop()
    for call in (
        lambda: deep.W_in,
        lambda: recall.evaluate_recall(deep, task, method=recall.FUSED),
        lambda: recall.hidden_activations(deep, task, [0, 1]),
        lambda: probe_inputs.check_probe_inputs(deep, task),
    ):
        with pytest.raises(ValueError, match="one-layer|n_layers"):
            call()
    with pytest.raises(ValueError, match="n_layers=2"):
        multihop.path_gate_matrix(deep, task, 1, [0])
    # what works at any depth: the forward-method recall and the trainer (autograd, not the fused one-layer step)
    assert not _fused.supported(deep, data)
    assert 0.0 <= recall.evaluate_recall(deep, task).accuracy <= 1.0
    res = loop.train(deep, data, TrainConfig(max_steps=3, eval_every=1), progress=False)
    assert res.steps == 3 and len(res.history["loss"]) == 4


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_the_stacked_forward_is_the_models_forward_at_every_depth(n_layers):
    cfg = models.ModelConfig(d_vocab=12, d_vocab_out=10, n_ctx=6, d_model=8, n_heads=2, d_mlp=16, n_layers=n_layers)
    ms = [models.Transformer(replace(cfg, init_seed=s)).double() for s in range(3)]
    params = batched.stack_params(ms)
    assert stacked.n_blocks(params) == n_layers
    tokens = torch.randint(12, (3, 5, 6), generator=torch.Generator().manual_seed(1))
    for last_only in (False, True):
        got = batched.batched_forward(params, tokens, last_only=last_only)
        for i, m in enumerate(ms):
            torch.testing.assert_close(got[i], m(tokens[i], last_only=last_only), rtol=0, atol=1e-12)
    params.pop(f"blocks.{n_layers - 1}.mlp.W_out")
    with pytest.raises(ValueError, match="every weight of blocks"):
        batched.batched_forward(params, tokens)


def test_train_batched_trains_deep_models_as_train_does_one_by_one():
    """Two-layer models on fact sentences (targets at every position: the autograd path of the stack), float64:
    the stacked AdamW follows each model's own trajectory to round-off."""
    sentences = make_sentence_task(6, 2, seed=0, n_templates=2, n_heldout=1)
    data = sentences.split("train").lm_facts()
    cfg = models.config_for(data, 8, n_layers=2)
    configs = [TrainConfig(max_steps=12, eval_every=4), TrainConfig(max_steps=12, eval_every=4, lr=3e-3)]
    alone = [models.Transformer(replace(cfg, init_seed=s)).double() for s in range(2)]
    together = [copy.deepcopy(m) for m in alone]
    ref = [loop.train(m, data, c, progress=False) for m, c in zip(alone, configs)]
    got = batched.train_batched(together, data, configs)
    for a, b, ma, mb in zip(ref, got, alone, together):
        assert a.history["step"] == b.history["step"] and a.history["accuracy"] == b.history["accuracy"]
        assert max(abs(x - y) for x, y in zip(a.history["loss"], b.history["loss"])) < 1e-9
        assert max((p - q).abs().max().item() for p, q in zip(ma.parameters(), mb.parameters())) < 1e-9
    assert a.history["loss"][-1] < a.history["loss"][0]  # it did train


def test_a_deep_model_saves_and_loads_and_old_files_read_as_one_layer(tmp_path):
    cfg = models.ModelConfig(d_vocab=12, d_vocab_out=10, n_ctx=6, d_model=8, d_mlp=16, n_layers=3, init_seed=4)
    model = models.Transformer(cfg)
    back = saved.load_model(saved.save_model(model, tmp_path / "deep.pt")).model
    assert back.config == cfg and len(back.blocks) == 3
    tokens = torch.randint(12, (4, 6), generator=torch.Generator().manual_seed(2))
    assert torch.equal(back(tokens), model(tokens))
    # a file written before n_layers existed has no such key: it loads as the one-layer model it was
    one = models.Transformer(replace(cfg, n_layers=1))
    path = saved.save_model(one, tmp_path / "old.pt")
    payload = torch.load(path, weights_only=True)
    del payload["config"]["n_layers"]
    torch.save(payload, path)
    assert saved.load_model(path).model.config == replace(cfg, n_layers=1)
