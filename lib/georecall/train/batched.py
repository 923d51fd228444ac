"""Train many same-shape transformers (of one layer or L) at once: one stacked forward, one stacked AdamW.

A sweep trains hundreds of tiny models that differ only in seeds or learning rate. Looping over
:func:`georecall.train.loop.train` pays Python and kernel-launch overhead once per model and step; here every
weight gets a leading *instance* axis M (ARENA's habit) and one step runs M models:

    W_E [M, V, d], W_Q [M, H, d, dh], ..., W_U [M, d, V_out]
    loss = sum_m  mean-CE_m(logits_m, targets_m)          (one backward for all models)

Because the models share no parameter, d loss / d theta_m is exactly model m's own gradient, and AdamW is
elementwise, so each model follows the same trajectory as when trained alone (to float round-off: the
batched matmuls sum in a different order). Each model keeps its own learning rate, weight decay,
data-order seed, target accuracy and early stop: a model that reaches its target at an evaluation is
written back and dropped from the stack (the others continue), exactly where ``train.train`` would stop.

When every model and data set qualifies (``_fused.supported``: plain one-layer ``Transformer``, no hooks, targets at
the last position only, i.e. every single-hop and noisy-format run) a step is the hand-written forward and backward
of ``georecall.train._fused``: logits in cache-sized row blocks whose softmax becomes the gradient in place, keys and
values never projected position by position. Otherwise (deeper models, sentence data, the multi-hop CoT format)
autograd runs through :func:`batched_forward` (``.stacked``, L blocks) with the same mean cross-entropy and a
one-buffer backward (``_MeanCrossEntropy``); beyond ``FULL_LOGITS`` logits per model (CoT at N >= 256) the logits
are formed in row blocks and only at targeted positions (``._readout``). Weights, gradients and AdamW moments live
in flat buffers, so AdamW is one handful of elementwise passes for the whole stack. Together with
``repro.reuse_freed_memory`` (the sweep workers call it) a step re-faults no fresh pages. Training runs inside
``repro.flush_denormals``: trained softmax probabilities fall below 2^-126, where x86 arithmetic is slow.
``benchmarks/bench_training.py`` measures it against a naive loop.

The recipe replicated is ``train.train``'s: AdamW (beta = (0.9, 0.999), eps = 1e-8, decoupled weight decay),
full batch while n <= ``full_batch_max`` else shuffled minibatches from ``repro.generator(data_seed, "data")``,
evaluation on all data at step 0, every ``eval_every`` steps and at ``max_steps``. A caller may evaluate on other
data than it trains on (``eval_datas``: a sentence-trained language model is judged on recall at the answer token).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
from tqdm.auto import tqdm

from .. import repro
from .._checks import ArgumentTypeError, check_bool
from ..model.transformer import Transformer, check_model_and_data
from ..tasks.bijection import IGNORE, FactSet
from . import _fused
from ._readout import BlockedCrossEntropy
from .recipe import BOOK_RECIPE, TrainConfig, TrainResult, non_finite_reason
from .stacked import batched_forward, batched_resid

__all__ = ["train_batched", "batched_forward", "stack_params", "SHARED_TRAIN_FIELDS", "EVAL_ELEMENTS"]

BETAS = (0.9, 0.999)  # torch.optim.AdamW defaults, as used by train.train
EPS = 1e-8
SHARED_TRAIN_FIELDS = ("max_steps", "full_batch_max", "batch_size", "eval_every")  # must agree across a stack
EMBED_CACHE = 2**24  # fused step, frozen W_E on a fixed batch: keep W_E[tokens] if it has at most this many floats
EVAL_ELEMENTS = 2**24  # logits entries per evaluation chunk (M * chunk * V_out), ~64 MB in float32
FULL_LOGITS = 2**20  # autograd step: full logits up to this many per model (b * Tq * V_out), else the blocked readout


def stack_params(models: Sequence[Transformer]) -> dict[str, torch.Tensor]:
    """Every parameter of ``models`` stacked on a new leading axis: name -> [M, *shape] (detached copies)."""
    states = [dict(m.named_parameters()) for m in models]
    return {name: torch.stack([s[name].detach() for s in states]).clone() for name in states[0]}


class _MeanCrossEntropy(torch.autograd.Function):
    """Per-model mean cross-entropy [M] of logits [M, B, Tq, V], with the gradient written in one pass.

        loss_m = sum_{b,q} w_{mbq} (logsumexp_v z_{mbqv} - z_{mbq,y}),   w = mask / (targeted positions of model m)
        d loss_m / d z_{mbqv} = w_{mbq} (softmax(z_{mbq})_v - [v = y_{mbq}])

    The same function as ``log_softmax`` + ``gather`` + mean (``train.loss_and_correct``), but the backward
    builds softmax - onehot directly instead of differentiating through a stored [M, B, Tq, V] log-softmax:
    two full-size buffers per step instead of four, which matters when each is megabytes (fresh pages cost
    more than the arithmetic on a small machine).
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        nll = -logits.log_softmax(dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # [M, B, Tq]
        ctx.save_for_backward(logits, targets, weight)
        return (nll * weight).sum(dim=(1, 2))  # [M]

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        logits, targets, weight = ctx.saved_tensors
        scale = (weight * grad_loss[:, None, None]).unsqueeze(-1)  # [M, B, Tq, 1]
        grad = logits.softmax(dim=-1)  # [M, B, Tq, V]
        grad.scatter_add_(-1, targets.unsqueeze(-1), torch.full_like(scale, -1.0))  # - onehot
        return grad.mul_(scale), None, None


def _loss_and_correct(
    logits: torch.Tensor, targets: torch.Tensor, *, correct: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Per-model mean CE [M], per-model summed CE [M] and per-sequence correctness [M, B] (``train.loss_and_correct``).

    ``correct=False`` skips the argmax (training steps need only the loss).
    """
    targets = targets[..., -logits.shape[2] :]  # [M, B, Tq]
    mask = targets != IGNORE  # [M, B, Tq]
    count = mask.sum(dim=(1, 2)).clamp(min=1)  # [M]
    weight = mask / count[:, None, None].to(logits.dtype)  # [M, B, Tq]
    mean = _MeanCrossEntropy.apply(logits, targets.clamp(min=0), weight.to(logits.dtype))  # [M]
    right = ((logits.argmax(-1) == targets) | ~mask).all(dim=-1) if correct else None  # [M, B]
    return mean, mean * count, right


class _Stack:
    """The active models: weights, gradients and AdamW moments as flat buffers, frozen weights, per-model
    hyper-parameters and data.

    A buffer holds every trainable parameter as a contiguous [M, *shape] block, one block after another, so
    the step's matrix products read and write contiguous stacks and AdamW runs once over the whole buffer
    (``model_of`` maps each entry to its model, for per-model learning rates and weight decays).
    """

    def __init__(self, models, datas, configs, device, eval_datas=None):
        self.index = list(range(len(models)))  # position in the caller's list
        stacked = {k: v.to(device) for k, v in stack_params(models).items()}
        self.trainable = [n for n, p in models[0].named_parameters() if p.requires_grad]
        self.frozen = {n: v for n, v in stacked.items() if n not in self.trainable}
        self.shapes = {n: tuple(stacked[n].shape[1:]) for n in self.trainable}
        self.flat = torch.cat([stacked[n].reshape(-1) for n in self.trainable])  # [sum of M * size]
        self.grad = torch.zeros_like(self.flat)
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        self.lr = torch.tensor([c.lr for c in configs], dtype=torch.float64)  # [M]
        self.wd = torch.tensor([c.weight_decay for c in configs], dtype=torch.float64)  # [M]
        self.tokens = torch.stack([d.tokens for d in datas]).to(device)  # [M, n, T]
        self.targets = torch.stack([d.targets for d in datas]).to(device)  # [M, n, T]
        # what the evaluations score: the training data itself unless the caller gives other data (same tensors then)
        self.eval_tokens, self.eval_targets = self.tokens, self.targets
        if eval_datas is not None:
            self.eval_tokens = torch.stack([d.tokens for d in eval_datas]).to(device)  # [M, n_eval, T_eval]
            self.eval_targets = torch.stack([d.targets for d in eval_datas]).to(device)  # [M, n_eval, T_eval]
        self.gens = [repro.generator(c.data_seed, "data") for c in configs]
        self.orders = torch.empty(len(models), 0, dtype=torch.long, device=device)  # [M, n] once shuffled
        self._derived()

    def _derived(self) -> None:
        """Per-entry model index and cached embedding rows (recomputed whenever the stack changes)."""
        M = len(self.index)
        ids = torch.arange(M, device=self.flat.device)
        self.model_of = torch.cat([ids.repeat_interleave(math.prod(s)) for s in self.shapes.values()])
        self.rows = None  # fused path: embedding rows of self.tokens, computed on first use
        self.embedded = None  # fused path, frozen W_E: W_E[self.tokens] [M, n, T, d], gathered on first use
        if M:  # one AdamW setting for the whole stack?
            self.lr0, self.wd0 = float(self.lr[0]), float(self.wd[0])
            self.uniform = bool((self.lr == self.lr0).all()) and bool((self.wd == self.wd0).all())

    def gathered_embeddings(self) -> torch.Tensor | None:
        """W_E[self.tokens] [M, n, T, d] when W_E is frozen and that fits ``EMBED_CACHE`` floats (gathered on first
        use, kept until the stack changes); None otherwise. Needs ``self.rows``."""
        W_E = self.frozen.get("embed.W_E")
        if W_E is None or self.tokens.numel() * W_E.shape[2] > EMBED_CACHE:
            return None
        if self.embedded is None:
            self.embedded = W_E.reshape(-1, W_E.shape[2]).index_select(0, self.rows).view(*self.tokens.shape, -1)
        return self.embedded

    def views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """name -> contiguous [M, *shape] views of one flat buffer (trainable parameters only)."""
        M, out, offset = len(self.index), {}, 0
        for n, shape in self.shapes.items():
            size = M * math.prod(shape)
            out[n] = flat[offset : offset + size].view(M, *shape)
            offset += size
        return out

    def params(self, flat: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Every weight by name, [M, *shape]: views of ``flat`` (default the weights buffer) and the frozen ones."""
        return {**self.views(self.flat if flat is None else flat), **self.frozen}

    def keep(self, rows: list[int]) -> None:
        """Drop every model whose row is not in ``rows`` (rows index the current stack)."""
        sel = torch.tensor(rows, dtype=torch.long)
        dev_sel = sel.to(self.tokens.device)
        for name in ("flat", "grad", "exp_avg", "exp_avg_sq"):
            blocks = self.views(getattr(self, name))
            setattr(self, name, torch.cat([blocks[n][dev_sel].reshape(-1) for n in self.shapes]))
        own_eval = self.eval_tokens is not self.tokens
        for name in ("tokens", "targets", "orders") + (("eval_tokens", "eval_targets") if own_eval else ()):
            setattr(self, name, getattr(self, name)[dev_sel])
        if not own_eval:
            self.eval_tokens, self.eval_targets = self.tokens, self.targets
        self.frozen = {n: v[dev_sel] for n, v in self.frozen.items()}
        self.lr, self.wd = self.lr[sel], self.wd[sel]
        self.index = [self.index[r] for r in rows]
        self.gens = [self.gens[r] for r in rows]
        self._derived()

    @torch.no_grad()
    def adamw_step(self, step: int) -> None:
        """``torch.optim.AdamW``'s single-tensor update (the one it runs on CPU), op for op, on the [M, P] buffers.

        p <- p (1 - lr wd);  m <- lerp(m, g, 1 - b1);  v <- b2 v + (1 - b2) g^2;
        p <- p + (-lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
        With one learning rate for the stack this is ``addcdiv_`` itself; otherwise the same float32 roundings
        with each model's step size broadcast over its row.
        """
        b1, b2 = BETAS
        bc1, bc2_sqrt = 1 - b1**step, (1 - b2**step) ** 0.5
        p, g = self.flat, self.grad
        lr0, wd0, uniform = self.lr0, self.wd0, self.uniform
        if uniform:
            if wd0 != 0:
                p.mul_(1 - lr0 * wd0)
        elif bool((self.wd != 0).any()):
            p.mul_((1 - self.lr * self.wd).to(p.dtype)[self.model_of])
        self.exp_avg.lerp_(g, 1 - b1)
        self.exp_avg_sq.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (self.exp_avg_sq.sqrt() / bc2_sqrt).add_(EPS)
        if uniform:
            p.addcdiv_(self.exp_avg, denom, value=-(lr0 / bc1))
        else:
            p.add_((self.exp_avg * (-(self.lr / bc1)).to(p.dtype)[self.model_of]).div_(denom))


GROUP_ELEMENTS = 2**22  # fused step: models per pass such that models * batch * max(V_out, d_mlp) stays near this


def _fused_gradient(
    stack: _Stack, tokens: torch.Tensor, y: torch.Tensor, rows, V_out: int, embedded: torch.Tensor | None = None
) -> None:
    """The hand-written step (``georecall.train._fused``): each model's gradient of its mean CE over the targeted
    sequences of (tokens [M, b, T], last-position targets y [M, b]), written into ``stack.grad``.

    Models go through in groups of about ``GROUP_ELEMENTS / (b * max(V_out, d_mlp))``: stacking amortises the
    per-operation overhead of small models, while large ones (N = 1024: 4 M logits each) run one at a time so
    that each pass's activations stay in cache.
    """
    params, grads = stack.params(), stack.views(stack.grad)
    M, b = y.shape
    width = max(V_out, params["blocks.0.mlp.W_in"].shape[2])
    group = max(1, min(M, GROUP_ELEMENTS // max(1, b * width)))
    mask = y != IGNORE
    trainable = set(stack.trainable)
    tied = "unembed.W_U" not in params
    need_W_U = "unembed.W_U" in trainable or (tied and "embed.W_E" in trainable)
    uniform = bool(mask.all())
    for lo in range(0, M, group):
        hi = min(M, lo + group)
        P = {n: v[lo:hi] for n, v in params.items()}
        G = {n: v[lo:hi] for n, v in grads.items()}
        sub_rows = rows if group == M else None
        act = _fused.forward(P, tokens[lo:hi], sub_rows, None if embedded is None else embedded[lo:hi])
        if uniform:
            weight = 1.0 / b
        else:
            weight = (mask[lo:hi] / mask[lo:hi].sum(dim=1, keepdim=True).clamp(min=1)).to(act.x.dtype)
        W_U = _fused.unembedding(P, V_out)
        dresid, dW_U = _fused.readout_grad(act.resid_post, W_U, y[lo:hi].clamp(min=0), weight, need_W_U=need_W_U)
        _fused.backward(P, act, dresid, dW_U, trainable, G)


def _check_stack(models: Sequence[Transformer], datas: Sequence[FactSet], configs: Sequence[TrainConfig]) -> None:
    if not models:
        raise ValueError("models: train_batched needs at least one model")
    if len({id(m) for m in models}) != len(models):
        raise ValueError("models must be distinct objects (one model passed twice would be trained as two)")
    if not len(models) == len(datas) == len(configs):
        raise ValueError(f"got {len(models)} models, {len(datas)} data sets, {len(configs)} configs; they must match")
    for i, (m, d, c) in enumerate(zip(models, datas, configs)):
        check_model_and_data(m, d, name=f"datas[{i}]")
        if not isinstance(c, TrainConfig):
            raise ArgumentTypeError(f"configs[{i}] must be a TrainConfig, got {type(c).__name__}")
    shape0 = replace(models[0].config, init_seed=0)
    for i, m in enumerate(models):
        if replace(m.config, init_seed=0) != shape0:
            raise ValueError(f"model {i} has config {m.config}, which differs from model 0's beyond init_seed")
    for i, d in enumerate(datas):
        if d.tokens.shape != datas[0].tokens.shape:
            raise ValueError(
                f"data set {i} has shape {tuple(d.tokens.shape)}, data set 0 {tuple(datas[0].tokens.shape)}"
            )
        if d.last_position_only != datas[0].last_position_only:
            raise ValueError("all data sets must agree on last_position_only")
    for name in SHARED_TRAIN_FIELDS:
        values = {getattr(c, name) for c in configs}
        if len(values) > 1:
            raise ValueError(f"TrainConfig.{name} must be equal across a stack; got {sorted(values)}")


def _check_eval_datas(models: Sequence[Transformer], eval_datas: Sequence[FactSet]) -> None:
    if len(eval_datas) != len(models):
        raise ValueError(f"got {len(models)} models and {len(eval_datas)} eval_datas; they must match")
    for i, (m, d) in enumerate(zip(models, eval_datas)):
        check_model_and_data(m, d, name=f"eval_datas[{i}]")
        if len(d) == 0:
            raise ValueError(f"eval_datas[{i}] is empty: an evaluation needs at least one sequence")
        if d.tokens.shape != eval_datas[0].tokens.shape:
            shapes = f"{tuple(d.tokens.shape)}, eval data set 0 {tuple(eval_datas[0].tokens.shape)}"
            raise ValueError(f"eval data set {i} has shape {shapes}")
        if d.last_position_only != eval_datas[0].last_position_only:
            raise ValueError("all eval_datas must agree on last_position_only")


def train_batched(
    models: Sequence[Transformer],
    datas: FactSet | Sequence[FactSet],
    configs: TrainConfig | Sequence[TrainConfig] = BOOK_RECIPE,
    *,
    progress: bool = False,
    resample: Callable[[int, int], FactSet] | None = None,
    eval_datas: Sequence[FactSet] | None = None,
) -> list[TrainResult]:
    """Train ``models`` (same ``ModelConfig`` up to ``init_seed``) as one stack; returns one ``TrainResult`` each.

    ``datas`` and ``configs`` are one per model, or one shared by all. The configs may differ in ``lr``,
    ``weight_decay``, ``data_seed``, ``target_accuracy`` and ``early_stop``; ``SHARED_TRAIN_FIELDS`` must agree.
    Final weights are copied back into each model, so afterwards every model is what ``train.train`` would have produced
    (to float round-off). ``seconds`` is the wall time of the whole stack, for every model.

    ``resample(i, step)``, if given, returns model i's full training batch for optimisation step ``step``
    (1, 2, ...): fresh samples every step, as in Nichani et al.'s noisy task. ``datas`` are then used for
    evaluation (and early stopping) only, and must have the batches' shape.

    ``eval_datas``, if given (one per model, one shape), replace ``datas`` in every evaluation: the recorded loss and
    accuracy, the early stop at the target and the final ``accuracy`` are theirs. A language model trained on whole
    sentences is judged this way on recall at the answer token (targets there only), not on every next word.
    """
    models = [models] if isinstance(models, Transformer) else list(models)
    datas = [datas] * len(models) if isinstance(datas, FactSet) else list(datas)
    configs = [configs] * len(models) if isinstance(configs, TrainConfig) else list(configs)
    _check_stack(models, datas, configs)
    if eval_datas is not None:
        eval_datas = list(eval_datas)
        _check_eval_datas(models, eval_datas)
    check_bool("progress", progress)
    if resample is not None and not callable(resample):
        raise ArgumentTypeError(f"resample must be callable or None, got {type(resample).__name__}")
    cfg0, mcfg = configs[0], models[0].config
    device = models[0].device
    n, last_only = len(datas[0]), datas[0].last_position_only
    full_batch = n <= cfg0.full_batch_max
    stack = _Stack(models, datas, configs, device, eval_datas)
    evals = datas if eval_datas is None else eval_datas  # what every evaluation scores
    n_eval, eval_last_only = len(evals[0]), evals[0].last_position_only
    results = [TrainResult(accuracy=0.0, loss=float("inf"), steps=0, reached_target=False, seconds=0.0) for _ in models]
    t0 = time.perf_counter()

    fused = all(_fused.supported(m, d) for m, d in zip(models, datas))
    fused_eval = fused if eval_datas is None else all(_fused.supported(m, d) for m, d in zip(models, eval_datas))
    V_out = mcfg.d_vocab_out

    @torch.no_grad()
    def evaluate_and_retire(step: int) -> None:
        """Record loss and accuracy on all data for every active model; retire those that are done."""
        M = len(stack.index)
        chunk = max(1, EVAL_ELEMENTS // (M * V_out))
        total, count, correct = torch.zeros(M, dtype=torch.float64), torch.zeros(M), []
        params = stack.params()
        for start in range(0, n_eval, chunk):
            tok = stack.eval_tokens[:, start : start + chunk]  # [M, c, T]
            tgt = stack.eval_targets[:, start : start + chunk]  # [M, c, T]
            if fused_eval:
                resid = _fused.forward(params, tok).resid_post
                summed, k, right = _fused.readout_eval(resid, _fused.unembedding(params, V_out), tgt[:, :, -1])
            else:
                logits = batched_forward(params, tok, last_only=eval_last_only, d_vocab_out=V_out)
                _, summed, right = _loss_and_correct(logits, tgt)
                k = (tgt[..., -1 if eval_last_only else 0 :] != IGNORE).sum(dim=(1, 2))
            total += summed.double().cpu()
            count += k.float().cpu()
            correct.append(right.cpu())
        acc = torch.cat(correct, dim=1).float().mean(dim=1)  # [M]
        keep = []
        for row, i in enumerate(stack.index):
            res, a, loss = results[i], float(acc[row]), float(total[row] / count[row].clamp(min=1))
            res.history["step"].append(step)
            res.history["loss"].append(loss)
            res.history["accuracy"].append(a)
            res.accuracy, res.loss, res.steps = a, loss, step
            res.failed = non_finite_reason(loss, step)  # a diverged model retires now, marked failed
            reached = configs[i].early_stop and a >= configs[i].target_accuracy
            if reached or step >= cfg0.max_steps or res.failed is not None:
                with torch.no_grad():
                    for name, p in models[i].named_parameters():
                        p.copy_(params[name][row])
                res.reached_target = res.failed is None and a >= configs[i].target_accuracy
                res.seconds = time.perf_counter() - t0
            else:
                keep.append(row)
        if len(keep) < M:
            stack.keep(keep)

    def gradient(tokens: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor | None, at_last: bool) -> None:
        """Each model's gradient of its mean CE on (tokens, targets) [M, b, T], into ``stack.grad``; ``at_last``
        says that the hand-written step applies (every model qualifies and no target sits before the last position)."""
        if at_last:
            embedded = stack.gathered_embeddings() if rows is not None else None  # rows: a fixed full batch
            _fused_gradient(stack, tokens, targets[:, :, -1], rows, V_out, embedded)
            return
        leaf = stack.flat.detach().requires_grad_(True)
        P = stack.params(leaf)
        resid, W_U = batched_resid(P, tokens, last_only=last_only), _fused.unembedding(P, V_out)  # [M, b, Tq, d]
        tgt = targets[..., -resid.shape[2] :]
        if resid.shape[1] * resid.shape[2] * V_out <= FULL_LOGITS:  # per model, so no stack companion changes it
            loss = _loss_and_correct(torch.einsum("mbqd,mdv->mbqv", resid, W_U), tgt, correct=False)[0]
        else:
            loss = BlockedCrossEntropy.apply(resid, W_U, tgt)
        loss.sum().backward()
        stack.grad = leaf.grad

    # fused only where no target sits before the last position (checked once; fresh batches are checked per step)
    fused_targets = fused and bool((stack.targets[:, :, :-1] == IGNORE).all())
    with (
        repro.flush_denormals(),
        tqdm(total=cfg0.max_steps, desc=f"train x{len(models)}", disable=not progress, leave=False) as bar,
    ):
        evaluate_and_retire(0)
        step, cursor = 0, 0
        while stack.index and step < cfg0.max_steps:
            if resample is not None:  # fresh samples for this step, one set per active model
                fresh = [resample(i, step + 1) for i in stack.index]
                tokens = torch.stack([f.tokens for f in fresh]).to(device)  # [M, n, T]
                targets = torch.stack([f.targets for f in fresh]).to(device)  # [M, n, T]
            elif full_batch:
                tokens, targets = stack.tokens, stack.targets  # [M, n, T]
            else:  # one shared cursor: every model reshuffles at the same steps, each with its own generator
                if cursor + cfg0.batch_size > stack.orders.shape[1]:
                    orders = [torch.randperm(n, generator=g) for g in stack.gens]
                    stack.orders, cursor = torch.stack(orders).to(device), 0  # [M, n]
                idx = stack.orders[:, cursor : cursor + cfg0.batch_size]  # [M, b]
                cursor += cfg0.batch_size
                tokens = stack.tokens.gather(1, idx[..., None].expand(-1, -1, stack.tokens.shape[2]))  # [M, b, T]
                targets = stack.targets.gather(1, idx[..., None].expand(-1, -1, stack.targets.shape[2]))  # [M, b, T]
            rows = None
            if full_batch and resample is None and fused:
                if stack.rows is None:
                    stack.rows = _fused.embedding_rows(stack.tokens, stack.params()["embed.W_E"].shape[1])
                rows = stack.rows
            if resample is not None:
                at_last = fused and bool((targets[:, :, :-1] == IGNORE).all())
            else:
                at_last = fused_targets
            gradient(tokens, targets, rows, at_last)
            step += 1
            stack.adamw_step(step)
            bar.update(1)
            if step % cfg0.eval_every == 0 or step == cfg0.max_steps:
                evaluate_and_retire(step)
    for m in models:
        m.eval()
    return results
