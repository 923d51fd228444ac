import pytest
import torch

from georecall.model import transformer as models
from georecall.tasks import bijection as tasks

ATOL = 1e-6


def test_shapes(tiny_task, tiny_model):
    data = tiny_task.single_hop()
    logits = tiny_model(data.tokens)
    assert logits.shape == (len(data), 2, tiny_task.N)
    assert tiny_model(data.tokens, last_only=True).shape == (len(data), 1, tiny_task.N)


def test_last_only_matches_full_forward(tiny_task, tiny_model):
    data = tiny_task.single_hop()
    full = tiny_model(data.tokens)[:, -1]
    last = tiny_model(data.tokens, last_only=True)[:, 0]
    assert torch.allclose(full, last, atol=ATOL)


def test_run_with_cache_returns_every_hook_and_same_logits(tiny_task, tiny_model):
    data = tiny_task.single_hop()
    logits, cache = tiny_model.run_with_cache(data.tokens)
    assert set(cache) == set(models.HOOK_NAMES)
    assert torch.equal(logits, tiny_model(data.tokens))
    # the residual stream decomposes as the docstring says
    assert torch.allclose(
        cache["blocks.0.hook_resid_mid"], cache["blocks.0.hook_resid_pre"] + cache["blocks.0.hook_attn_out"], atol=ATOL
    )
    assert torch.allclose(
        cache["blocks.0.hook_resid_post"], cache["blocks.0.hook_resid_mid"] + cache["blocks.0.hook_mlp_out"], atol=ATOL
    )
    assert torch.allclose(cache["blocks.0.mlp.hook_post"], cache["blocks.0.mlp.hook_pre"].clamp_min(0))
    pattern = cache["blocks.0.attn.hook_pattern"]
    assert torch.allclose(pattern.sum(-1), torch.ones_like(pattern.sum(-1)), atol=ATOL)
    assert (pattern[..., 0, 1] == 0).all(), "attention is not causal"


def test_hook_can_replace_an_activation_and_is_removed(tiny_task, tiny_model):
    tokens = tiny_task.single_hop().tokens
    with tiny_model.hooks({"blocks.0.hook_mlp_out": lambda x, name: torch.zeros_like(x)}):
        ablated = tiny_model(tokens)
    _, cache = tiny_model.run_with_cache(tokens)
    expected = cache["blocks.0.hook_resid_mid"] @ tiny_model.W_U
    assert torch.allclose(ablated, expected, atol=ATOL)
    assert not torch.allclose(tiny_model(tokens), ablated)


def test_hooks_are_removed_after_an_exception(tiny_task, tiny_model):
    tokens = tiny_task.single_hop().tokens

    def boom(x, name):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        with tiny_model.hooks({"hook_embed": boom}):
            tiny_model(tokens)
    tiny_model(tokens)  # would raise if the hook were still attached


def test_unknown_hook_name(tiny_model):
    with pytest.raises(KeyError, match="unknown hook point"):
        with tiny_model.hooks({"blocks.0.nope": lambda x, n: x}):
            pass


def test_init_is_deterministic_and_seeded(tiny_task):
    cfg = models.ModelConfig.for_task(tiny_task, 8, init_seed=4)
    a, b = models.Transformer(cfg), models.Transformer(cfg)
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb)
    c = models.Transformer(models.ModelConfig.for_task(tiny_task, 8, init_seed=5))
    assert not torch.equal(a.W_E, c.W_E)


def test_state_dict_round_trip(tmp_path, tiny_task, tiny_model):
    path = tmp_path / "m.pt"
    torch.save(tiny_model.state_dict(), path)
    other = models.Transformer(models.ModelConfig.for_task(tiny_task, 8, init_seed=99))
    other.load_state_dict(torch.load(path, weights_only=True))
    tokens = tiny_task.single_hop().tokens
    assert torch.equal(other(tokens), tiny_model(tokens))


def test_freeze_embed_really_freezes(tiny_task):
    from georecall.train import loop as train

    model = models.Transformer(models.ModelConfig.for_task(tiny_task, 8, freeze_embed=True))
    W_E, W_U, W_in = model.W_E.clone(), model.W_U.clone(), model.W_in.clone()
    train.train(model, tiny_task.single_hop(), train.TrainConfig(max_steps=20, eval_every=10), progress=False)
    assert torch.equal(model.W_E, W_E) and torch.equal(model.W_U, W_U)
    assert not torch.equal(model.W_in, W_in), "the MLP should still train"
    assert model.n_params(trainable_only=True) == model.n_params() - model.W_E.numel() - model.W_U.numel()


def test_tie_embed_shares_weights(tiny_task):
    model = models.Transformer(models.ModelConfig.for_task(tiny_task, 8, tie_embed=True))
    assert torch.equal(model.W_U, model.W_E[: tiny_task.N].T)
    assert "unembed.W_U" not in dict(model.named_parameters())


def test_n_params_without_embeddings(tiny_task):
    cfg = models.ModelConfig.for_task(tiny_task, 8, d_mlp=12)
    model = models.Transformer(cfg)
    attn = 4 * 8 * 8
    mlp = 8 * 12 + 12 + 12 * 8
    assert model.n_params(include_embeddings=False) == attn + mlp


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        (dict(d_model=0), r"d_model \(d\) must be an int >= 1"),
        (dict(d_model=6, n_heads=4), "n_heads must divide d_model"),
        (dict(d_mlp=0), "d_mlp must be an int >= 1"),
        (dict(d_vocab=3, d_vocab_out=8, tie_embed=True), "tie_embed needs d_vocab_out <= d_vocab"),
    ],
)
def test_bad_model_config(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        models.ModelConfig(**kwargs)


def test_vocabulary_must_fit_task():
    from georecall.train import loop as train

    small = tasks.make_task(8, 2)
    big = tasks.make_task(32, 2)
    model = models.Transformer(models.ModelConfig.for_task(small, 8))
    with pytest.raises(ValueError, match="input tokens but the model embeds only d_vocab=10"):
        train.evaluate(model, big.single_hop())


def test_init_scale_multiplies_every_initial_weight(tiny_task):
    base = models.Transformer(models.ModelConfig.for_task(tiny_task, 8, init_seed=4))
    scaled = models.Transformer(models.ModelConfig.for_task(tiny_task, 8, init_seed=4, init_scale=0.5))
    for (name, p), (_, q) in zip(base.named_parameters(), scaled.named_parameters()):
        assert torch.equal(q, 0.5 * p), name
    assert scaled.b_in.abs().sum() == 0


def test_freeze_unembed_keeps_only_W_U_fixed(tiny_task):
    model = models.Transformer(models.ModelConfig.for_task(tiny_task, 8, freeze_unembed=True))
    assert not model.unembed.W_U.requires_grad and model.embed.W_E.requires_grad and model.W_in.requires_grad


@pytest.mark.parametrize(
    "kw, err, match",
    [
        ({"init_scale": 0.0}, ValueError, "init_scale"),
        ({"init_scale": -1.0}, ValueError, "init_scale"),
        ({"init_scale": "big"}, TypeError, "init_scale"),
        ({"freeze_unembed": 1}, TypeError, "freeze_unembed"),
        ({"freeze_unembed": True, "tie_embed": True}, ValueError, "freeze_unembed"),
    ],
)
def test_bad_init_switches_fail_with_the_parameter_named(tiny_task, kw, err, match):
    with pytest.raises(err, match=match):
        models.ModelConfig.for_task(tiny_task, 8, **kw)
