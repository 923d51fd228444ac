"""Training across fact sets: the loss and its gradients against a plain autograd reference, bad inputs, seeds."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from georecall.model import crossset
from georecall.model.crossset import CrossSetConfig, CrossSetModel, set_bijections
from georecall.probe import crossset as crossset_probe
from georecall.probe import transfer
from georecall.train import crossset as crossset_train
from georecall.train.crossset import crossset_loss

TINY = dict(n_subjects=6, n_relations=2, d_model=4, d_mlp=8, steps=0)


def _reference_loss(model: CrossSetModel, set_ids, perms: torch.Tensor) -> torch.Tensor:
    """The objective written out from the raw weights, one fact at a time."""
    cfg = model.config
    N, R, d = cfg.n_subjects, cfg.n_relations, cfg.d_model
    net = model.net
    W_E, W_pos, W_U = net.embed.W_E, net.pos_embed.W_pos, net.unembed.W_U
    attn, mlp = net.blocks[0].attn, net.blocks[0].mlp
    losses, tables = [], []
    for i in range(perms.shape[0]):
        pi = perms[i]
        E = []
        for s in range(N):
            if cfg.parameterization in ("free", "free_penalty"):
                e = model.tables[set_ids[i], s]
            else:
                e = model.b + sum(model.A[r] @ W_U[:, pi[r, s]] for r in range(R))
                if cfg.parameterization == "encoded_residual":
                    e = e + model.residual[set_ids[i], s]
            E.append(e)
        tables.append(torch.stack(E))
        for s in range(N):
            for r in range(R):
                x = torch.stack([E[s] + W_pos[0], W_E[N + r] + W_pos[1]])  # [2, d]
                z = 0
                for h in range(cfg.model_config().n_heads):
                    q = x[1] @ attn.W_Q[h]
                    k = x @ attn.W_K[h]
                    v = x @ attn.W_V[h]
                    a = torch.softmax(k @ q / math.sqrt(d), dim=0)
                    z = z + (a @ v) @ attn.W_O[h]
                mid = x[1] + z
                post = mid + torch.relu(mid @ mlp.W_in + mlp.b_in) @ mlp.W_out
                logits = post @ W_U
                losses.append(F.cross_entropy(logits[None], pi[r, s][None]))
    loss = torch.stack(losses).mean()
    if cfg.parameterization == "free_penalty":
        T = torch.cat(tables)  # [S N, d]
        X = torch.cat([torch.cat([W_U.detach()[:, p[r]].T for r in range(R)], dim=1) for p in perms])  # [S N, R d]
        Xc = X - X.mean(0)
        eps = 1e-6 * float((Xc * Xc).sum()) / X.shape[1]
        A = torch.cat([Xc, math.sqrt(eps) * torch.eye(X.shape[1], dtype=X.dtype)])
        Y = torch.cat([T.detach() - T.detach().mean(0), torch.zeros(X.shape[1], d, dtype=X.dtype)])
        W = torch.linalg.lstsq(A, Y).solution
        fit = Xc @ W + T.detach().mean(0)
        loss = loss + cfg.penalty * ((T - fit) ** 2).sum() / ((T - T.mean(0)) ** 2).sum()
    return loss


@pytest.mark.parametrize("parameterization", crossset.PARAMETERIZATIONS)
def test_loss_and_gradients_match_reference(parameterization):
    cfg = CrossSetConfig(**TINY, n_sets=3, parameterization=parameterization, penalty=0.7, init_seed=3)
    model = CrossSetModel(cfg).double()
    with torch.no_grad():  # make the residual and bias nonzero so their gradients are tested on a general point
        for name in ("residual", "b"):
            if hasattr(model, name):
                getattr(model, name).normal_(0, 0.3, generator=torch.Generator().manual_seed(1))
    perms = set_bijections(6, 2, 3, seed=5)
    ids = torch.tensor([2, 0])
    params = [p for p in model.parameters()]
    loss = crossset_loss(model, ids, perms[ids])
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    ref = _reference_loss(model, ids, perms[ids])
    ref_grads = torch.autograd.grad(ref, params, allow_unused=True)
    assert torch.allclose(loss, ref, rtol=1e-10, atol=1e-12)
    for (name, _), g, r in zip(model.named_parameters(), grads, ref_grads):
        g = torch.zeros_like(_) if g is None else g
        r = torch.zeros_like(_) if r is None else r
        assert torch.allclose(g, r, rtol=1e-8, atol=1e-10), name
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_encoded_fresh_sets_need_no_table():
    cfg = CrossSetConfig(**TINY, n_sets=math.inf, parameterization="encoded")
    model = CrossSetModel(cfg).double()
    perms = crossset.fresh_bijections(6, 2, 2, seed=0).long()
    assert torch.allclose(crossset_loss(model, None, perms), _reference_loss(model, None, perms))


def test_sets_do_not_depend_on_K():
    assert torch.equal(set_bijections(16, 3, 4, seed=2), set_bijections(16, 3, 9, seed=2)[:4])
    p = set_bijections(16, 3, 4, seed=2)
    assert torch.equal(p.sort(-1).values, torch.arange(16).expand(4, 3, 16))
    assert not torch.equal(p, set_bijections(16, 3, 4, seed=3))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_sets=0), "n_sets"),
        (dict(n_sets=-2), "n_sets"),
        (dict(n_sets=2.5), "n_sets"),
        (dict(parameterization="tied"), "parameterization"),
        (dict(n_sets=math.inf, parameterization="free"), "inf needs parameterization 'encoded'"),
        (dict(n_sets=math.inf, parameterization="free_penalty"), "inf"),
        (dict(penalty=-1.0), "penalty"),
        (dict(sets_per_step=0), "sets_per_step"),
        (dict(d_model=0), "d_model"),
        (dict(n_subjects=1), "n_subjects"),
        (dict(lr=0.0), "lr"),
        (dict(seed=-1), "seed"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CrossSetConfig(**{**TINY, **kwargs})


def test_bad_calls():
    with pytest.raises(TypeError, match="CrossSetConfig"):
        crossset_train.train_crossset({"n_sets": 2})
    with pytest.raises(TypeError, match="CrossSetResult"):
        crossset_probe.zero_shot("model")


def test_same_seed_same_numbers():
    cfg = CrossSetConfig(n_subjects=8, n_relations=2, d_model=8, n_sets=5, sets_per_step=2, steps=12, eval_every=4)
    a, b = crossset_train.train_crossset(cfg), crossset_train.train_crossset(cfg)
    assert a.history == b.history and a.loss == b.loss
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)
    c = crossset_train.train_crossset(dataclasses.replace(cfg, data_seed=1))
    assert c.loss != a.loss


def test_infinite_sets_learn_and_transfer():
    """Tiny K = inf run: the encoder must store the eval sets and a fresh draw far above chance (1/8)."""
    torch.manual_seed(0)
    cfg = CrossSetConfig(
        n_subjects=8, n_relations=2, d_model=16, n_sets=math.inf, parameterization="encoded", steps=300, sets_per_step=4
    )
    res = crossset_train.train_crossset(cfg)
    z = crossset_probe.zero_shot(res, seed=0)
    assert res.train_accuracy > 0.6 and z["encoder"] > 0.6
    assert z["untrained_encoder"] < 0.5 and z["random"] < 0.5
    assert set(z) >= {"superposition", "selector_inverse", "lookup", "old", "chance"}
    net, perms = crossset_probe.set_model(res, 1)  # a plain Transformer holding eval set 1's embeddings
    own = crossset.set_accuracy(res.model, res.model.embeddings(None, res.perms[1:2]), res.perms[1:2])
    assert transfer.recall_accuracy(net, perms) == pytest.approx(float(own[0]))
    with pytest.raises(ValueError, match="k must be"):
        crossset_probe.set_model(res, len(res.perms))
