"""The fast training paths (train.train through the fused stack, batched.train_batched) against the plain autograd
reference (georecall.train.reference: torch.optim.AdamW on the Transformer's own forward, the loop train.train ran
before the fused step)."""

import copy
from dataclasses import replace

import pytest
import torch

from georecall.model import transformer as models
from georecall.tasks import bijection as tasks
from georecall.train import _fused, batched
from georecall.train import loop as train
from georecall.train.reference import reference_train

CFG = train.TrainConfig(lr=1e-2, max_steps=40, eval_every=8, target_accuracy=1.0)


CASES = {  # six small configurations covering every switch of the fused step
    "single hop": dict(N=16, R=2, d=8, cfg=CFG, kw={}),
    "weight decay, lr 3e-3": dict(N=16, R=3, d=6, cfg=replace(CFG, lr=3e-3, weight_decay=1e-2), kw={}),
    "minibatches": dict(N=16, R=4, d=8, cfg=replace(CFG, full_batch_max=32, batch_size=24, data_seed=3), kw={}),
    "frozen embeddings": dict(N=16, R=2, d=8, cfg=CFG, kw=dict(freeze_embed=True)),
    "tied readout, 2 heads": dict(N=12, R=2, d=8, cfg=CFG, kw=dict(tie_embed=True, n_heads=2)),
    "noisy T=8, frozen": dict(N=12, R=2, d=8, cfg=CFG, kw=dict(freeze_embed=True), noisy=True),
}


def _setup(case, dtype):
    c = CASES[case]
    task = tasks.make_task(c["N"], c["R"], seed=1)
    data = tasks.noisy_sequences(task, seq_len=8, copies=2, seed=4) if c.get("noisy") else task.single_hop()
    model = models.Transformer(models.ModelConfig.for_task(data, c["d"], init_seed=2, **c["kw"])).to(dtype)
    return model, data, c["cfg"]


@pytest.mark.parametrize("case", list(CASES))
def test_float64_matches_reference(case):
    model, data, cfg = _setup(case, torch.float64)
    assert _fused.supported(model, data)
    ref_model = copy.deepcopy(model)
    ref = reference_train(ref_model, data, cfg)
    got = train.train(model, data, cfg, progress=False)
    assert [h[0] for h in ref] == got.history["step"]
    assert [h[1] for h in ref] == got.history["accuracy"]
    assert max(abs(h[2] - loss) for h, loss in zip(ref, got.history["loss"])) < 1e-9
    for (n, p), q in zip(model.named_parameters(), ref_model.parameters()):
        assert (p - q).abs().max().item() < 1e-9, n


@pytest.mark.parametrize("case", list(CASES))
def test_float32_same_accuracies(case):
    """float32, as the sweeps run: the one-model and the stacked path reach the reference's accuracies."""
    model, data, cfg = _setup(case, torch.float32)
    ref = reference_train(copy.deepcopy(model), data, cfg)
    one = train.train(copy.deepcopy(model), data, cfg, progress=False)
    stacked = batched.train_batched([copy.deepcopy(model), copy.deepcopy(model)], data, [cfg, cfg])
    for res in (one, *stacked):
        assert res.history["accuracy"] == [h[1] for h in ref]
        assert res.history["loss"] == pytest.approx([h[2] for h in ref], rel=1e-4, abs=1e-6)
