"""The plain training step that the fused engine is tested against: autograd through the model's own forward and
``torch.optim.AdamW``, the loop ``train.loop.train`` ran before its fused step. ``tests/unit/test_train_reference.py``
checks, for every switch of the fused step, that ``train.loop.train`` gives this loop's history and weights to 1e-9
in float64; Chapter 1 prints this function.

Each step, on all facts (or a shuffled minibatch of ``batch_size`` when there are more than ``full_batch_max``):

    loss(theta) = mean over the batch of -log softmax(logits(s, r))[pi_r(s)]     (cross-entropy at the answer)
    g = d loss / d theta                                                         (autograd)
    theta <- theta - lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * theta)   (AdamW: m, v the running means of
                                                                                  g and g^2, bias-corrected)
"""

from __future__ import annotations

import torch

from .. import repro
from .loop import _evaluate, loss_and_correct

__all__ = ["reference_train"]


def reference_train(model, data, config):
    """Train ``model`` on ``data`` in place by ``config``, plainly; returns the history ``[(step, accuracy, loss)]``,
    evaluated at step 0, every ``eval_every`` steps and at the end (it stops at the first evaluation that reaches
    ``target_accuracy``). The batch order comes from the ``"data"`` stream of ``data_seed``, as in ``train``."""
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=config.lr, weight_decay=config.weight_decay
    )
    g = repro.generator(config.data_seed, "data")
    n, history = len(data), []
    order, cursor = torch.empty(0, dtype=torch.long), 0
    for step in range(config.max_steps + 1):
        if step % config.eval_every == 0 or step == config.max_steps:
            with torch.no_grad():
                ev = _evaluate(model, data)  # records a diverging run's NaN loss
            history.append((step, ev.accuracy, ev.loss))
            if ev.accuracy >= config.target_accuracy or step == config.max_steps:
                return history
        if n <= config.full_batch_max:
            tokens, targets = data.tokens, data.targets
        else:
            if cursor + config.batch_size > len(order):
                order, cursor = torch.randperm(n, generator=g), 0
            idx = order[cursor : cursor + config.batch_size]
            cursor += config.batch_size
            tokens, targets = data.tokens[idx], data.targets[idx]
        loss, _ = loss_and_correct(model(tokens, last_only=True), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return history
