"""Training speed side by side in one process: a naive one-model loop, ``georecall.train.loop.train`` one by one, and
``batched.train_batched``, on the same models, data, seeds and AdamW recipe.

    PYTHONPATH=lib .venv/bin/python benchmarks/bench_training.py [--threads 1 2] [--repeats 3] [--shapes ...]

The naive loop is written here: a plain ``nn.Module`` of the same one-layer architecture (the answer position's
query, every position's keys and values, MLP and unembedding at the answer position only, as the library
computes it), ``torch.optim.AdamW``, full batch, one model at a time. Only the tasks and the initial weights
come from the library, so all three paths start from identical weights and take the same number of steps
(evaluation only at step 0 and at the end, so no path stops early). Shapes:

- ``small``  N=128, R=2, d=8: 9 models, 256 steps;   ``middle`` N=256, R=4, d=16: 6 models, 256 steps;
- ``large``  N=1024, R=4, d=32: 3 models, 64 steps;
- ``noisy``  the frozen-embedding noisy format, N=256, R=4, d=16, d_mlp=64, T=32, one head, batch 1024:
  4 models, 64 steps, once on a fixed batch (the step alone) and once drawing fresh sequences every step as the
  sweeps do (step + sampling); reported per model-step.

For each shape and thread count: min and median wall time over ``--repeats``, the ratios naive / one-by-one
and naive / batched, the largest final-accuracy difference between paths, and for ``large`` the achieved
GFLOP/s (3 x the forward's matmul flops per step, the usual forward + backward count) next to torch's own
matmul throughput at the unembedding's skinny shape [B, d] @ [d, N], measured in the same run. Each fixed-batch
shape also prints its essential work (``essential_seconds``): the readout's and the MLP's products and the softmax,
timed alone; naive / essential is the most a step assembled from these kernels could gain over the naive loop. The
small, middle and large shapes then print where one batched run spends its time (``stage_seconds``: forward,
readout, backward, AdamW, the rest) next to the run time the target ratio allows. The machine is shared: compare
ratios from one run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from georecall import repro
from georecall.model import transformer as models
from georecall.tasks import bijection as tasks
from georecall.train import _fused, batched
from georecall.train import loop as train

LRS = (3e-3, 1e-2, 3e-2)
SHAPES = {  # name: (N, R, d, d_mlp, models, steps, noisy)
    "small": (128, 2, 8, 32, 9, 256, False),
    "middle": (256, 4, 16, 64, 6, 256, False),
    "large": (1024, 4, 32, 128, 3, 64, False),
    "noisy": (256, 4, 16, 64, 4, 64, True),
}
NOISY_T = 32


class Naive(nn.Module):
    """The one-layer transformer written plainly (no hooks, no stacking), answer-position readout."""

    def __init__(self, state: dict[str, torch.Tensor], frozen: set[str]):
        super().__init__()
        self.names = list(state)
        for name, value in state.items():
            p = nn.Parameter(value.detach().clone(), requires_grad=name not in frozen)
            setattr(self, name.replace(".", "_"), p)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        T = tokens.shape[1]
        x = self.embed_W_E[tokens] + self.pos_embed_W_pos[:T]  # [B, T, d]
        W_Q, W_K, W_V, W_O = (
            self.blocks_0_attn_W_Q,
            self.blocks_0_attn_W_K,
            self.blocks_0_attn_W_V,
            self.blocks_0_attn_W_O,
        )
        q = torch.einsum("bd,hde->bhe", x[:, -1], W_Q)  # [B, H, dh]
        k = torch.einsum("btd,hde->bhte", x, W_K)  # [B, H, T, dh]
        v = torch.einsum("btd,hde->bhte", x, W_V)
        pattern = (torch.einsum("bhe,bhte->bht", q, k) / W_Q.shape[-1] ** 0.5).softmax(dim=-1)
        z = torch.einsum("bht,bhte->bhe", pattern, v)
        mid = x[:, -1] + torch.einsum("bhe,hed->bd", z, W_O)  # [B, d]
        post = mid + torch.relu(mid @ self.blocks_0_mlp_W_in + self.blocks_0_mlp_b_in) @ self.blocks_0_mlp_W_out
        return post @ self.unembed_W_U  # [B, N]


def naive_train(model: Naive, data: tasks.FactSet, lr: float, steps: int, resample=None) -> float:
    """Full-batch AdamW for ``steps`` steps; returns the final accuracy on ``data``."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    for step in range(1, steps + 1):
        batch = data if resample is None else resample(step)
        loss = F.cross_entropy(model(batch.tokens), batch.targets[:, -1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float((model(data.tokens).argmax(-1) == data.targets[:, -1]).float().mean())


def build(shape: str, fresh: bool):
    """Models, evaluation data, configs and (for fresh noisy batches) a resample function per model."""
    N, R, d, m, n_models, steps, noisy = SHAPES[shape]
    ms, datas, cfgs, samplers = [], [], [], []
    for i in range(n_models):
        seed, lr = i // len(LRS), LRS[i % len(LRS)]
        task = tasks.make_task(N, R, seed=seed)
        if noisy:
            data = tasks.noisy_sequences(task, seq_len=NOISY_T, seed=repro.stream_seed(seed, "eval"))
            samplers.append(
                (
                    lambda step, task=task, seed=seed: tasks.noisy_sequences(
                        task, seq_len=NOISY_T, seed=seed * 10**6 + step
                    )
                )
                if fresh
                else None
            )
        else:
            data, _ = task.single_hop(), samplers.append(None)
        datas.append(data)
        mcfg = models.ModelConfig.for_task(data, d, d_mlp=m, init_seed=seed, freeze_embed=noisy)
        ms.append(models.Transformer(mcfg))
        cfgs.append(train.TrainConfig(lr=lr, max_steps=steps, eval_every=steps, target_accuracy=1.0, data_seed=seed))
    return ms, datas, cfgs, samplers


def run_paths(shape: str, fresh: bool) -> dict[str, tuple[float, list[float]]]:
    """Seconds and final accuracies of each path for one shape."""
    ms, datas, cfgs, samplers = build(shape, fresh)
    out = {}
    naive = [Naive(dict(m.named_parameters()), {n for n, p in m.named_parameters() if not p.requires_grad}) for m in ms]
    t0 = time.perf_counter()
    acc = [naive_train(nm, fs, c.lr, c.max_steps, s) for nm, fs, c, s in zip(naive, datas, cfgs, samplers)]
    out["naive"] = (time.perf_counter() - t0, acc)
    if not fresh:  # train.train has no resample hook; the noisy fresh-sample row compares naive and batched
        loop = [copy.deepcopy(m) for m in ms]
        t0 = time.perf_counter()
        acc = [train.train(m, fs, c, progress=False).accuracy for m, fs, c in zip(loop, datas, cfgs)]
        out["one_by_one"] = (time.perf_counter() - t0, acc)
    resample = (lambda i, step: samplers[i](step)) if fresh else None
    t0 = time.perf_counter()
    acc = [r.accuracy for r in batched.train_batched(ms, datas, cfgs, resample=resample)]
    out["batched"] = (time.perf_counter() - t0, acc)
    return out


def forward_flops(shape: str) -> float:
    """Matmul flops of one forward pass of one model on its full batch (answer-position readout)."""
    N, R, d, m, _, _, noisy = SHAPES[shape]
    B, T = N * R, NOISY_T if noisy else 2
    per_seq = 2 * d * d * (1 + 2 * T + 1) + 4 * T * d + 4 * d * m + 2 * d * N  # q, k and v, O; QK and PV; MLP; W_U
    return B * per_seq


def _best(fn, repeats: int = 20) -> float:
    """The shortest of ``repeats`` timed calls of ``fn``, after one untimed warm-up call (seconds)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def essential_seconds(shape: str) -> float:
    """The work every step of this shape must do, timed alone with torch's kernels on warm random data, for all
    models at once and summed over the steps: the readout (logits z = h W_U, their softmax, dW_U = h^T G and
    dh = G W_U^T, in the row blocks the library's step uses, ``_fused._row_blocks``) and the MLP's six products
    (forward in and out; dW_out, d pre, dW_in, d resid_mid). Attention, embeddings, the optimizer, evaluation and
    every elementwise pass besides the softmax are left out. naive / essential is the most a step assembled from
    these kernels could gain over the naive loop; essential / batched is the share of our step they take.
    """
    N, R, d, m, n_models, steps, noisy = SHAPES[shape]
    B, M = N * R, n_models
    h, W, z = torch.randn(M, B, d), torch.randn(M, d, N), torch.randn(M, B, N)
    a, W_in, W_out = torch.randn(M, B, m), torch.randn(M, d, m), torch.randn(M, m, d)
    blocks = _fused._row_blocks(M, B, N, _fused.BLOCK_ELEMENTS)

    def blocked(op):
        return lambda: [op(i, j) for i, j in blocks]

    parts = [
        blocked(lambda i, j: torch.bmm(h[:, i:j], W)),
        blocked(lambda i, j: z[:, i:j].softmax(dim=-1)),
        blocked(lambda i, j: torch.bmm(h[:, i:j].transpose(1, 2), z[:, i:j])),
        blocked(lambda i, j: torch.bmm(z[:, i:j], W.transpose(1, 2))),
        lambda: torch.bmm(h, W_in),
        lambda: torch.bmm(a, W_out),
        lambda: torch.bmm(a.transpose(1, 2), h),
        lambda: torch.bmm(h, W_out.transpose(1, 2)),
        lambda: torch.bmm(h.transpose(1, 2), a),
        lambda: torch.bmm(a, W_in.transpose(1, 2)),
    ]
    return steps * sum(_best(f) for f in parts)


STAGES = (  # (label, owner, attribute): the parts of a batched run timed by ``stage_seconds``
    ("forward", _fused, "forward"),
    ("readout", _fused, "readout_grad"),
    ("backward", _fused, "backward"),
    ("AdamW", batched._Stack, "adamw_step"),
)
TARGETS = {"small": 5.0, "middle": 5.0, "large": 2.0}  # naive / batched asked for, per shape


def stage_seconds(shape: str) -> tuple[float, dict[str, float]]:
    """One more batched run of this shape with a timer around each of ``STAGES``: (total seconds, label -> seconds).

    This is the profile inside the step, where each kernel runs among the others (the essential work above times
    them alone, on warm data). The readout is the logit products, the softmax and the two gradient products; the
    backward holds the MLP's four backward products, the attention's and the embedding's; the forward also counts
    the two evaluations' forward passes. What the stages leave (the evaluations' readout, batching, Python between
    stages) is the total minus their sum.
    """
    ms, datas, cfgs, _ = build(shape, False)
    spent = dict.fromkeys((label for label, _, _ in STAGES), 0.0)
    originals = [(owner, attr, getattr(owner, attr)) for _, owner, attr in STAGES]

    def timed(label, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - t0

        return wrapper

    try:
        for (label, owner, attr), (_, _, fn) in zip(STAGES, originals):
            setattr(owner, attr, timed(label, fn))
        t0 = time.perf_counter()
        batched.train_batched(ms, datas, cfgs)
        total = time.perf_counter() - t0
    finally:
        for owner, attr, fn in originals:
            setattr(owner, attr, fn)
    return total, spent


def matmul_gflops(B: int, d: int, V: int, repeats: int = 20) -> float:
    """torch's throughput at the unembedding's skinny shape, [B, d] @ [d, V]."""
    a, b = torch.randn(B, d), torch.randn(d, V)
    out = torch.empty(B, V)
    return 2 * B * d * V / _best(lambda: torch.mm(a, b, out=out), repeats) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    args = parser.parse_args()
    repro.reuse_freed_memory()
    print(f"torch {torch.__version__}; eval at step 0 and at the end only; times are wall seconds (min / median)")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for shape in args.shapes:
            N, R, d, m, n_models, steps, noisy = SHAPES[shape]
            for fresh in (False, True) if noisy else (False,):
                runs = [run_paths(shape, fresh) for _ in range(args.repeats)]
                label = f"{shape}{' fresh' if fresh else ''} N={N} R={R} d={d} x{n_models} models x{steps} steps"
                times = {k: [r[k][0] for r in runs] for k in runs[0]}
                accs = {k: runs[0][k][1] for k in runs[0]}
                med = {k: statistics.median(v) for k, v in times.items()}
                parts = [f"{k} {min(v):.2f}/{med[k]:.2f}s" for k, v in times.items()]
                ratios = [f"naive/{k} {med['naive'] / med[k]:.2f}x" for k in med if k != "naive"]
                diff = max(abs(a - b) for k in accs for a, b in zip(accs[k], accs["naive"]))
                print(
                    f"[{threads} thr] {label}: "
                    + ", ".join(parts)
                    + " | "
                    + ", ".join(ratios)
                    + f" | max |acc diff| {diff:.4f} (acc {min(accs['naive']):.3f}..{max(accs['naive']):.3f})",
                    flush=True,
                )
                if not fresh:
                    need = essential_seconds(shape)
                    print(
                        f"    essential work (readout and MLP products + softmax, timed alone): {need:.2f}s -> "
                        f"naive / essential {med['naive'] / need:.2f}x; they take {need / med['batched']:.0%} of the "
                        "batched step",
                        flush=True,
                    )
                if shape in TARGETS:
                    total, spent = stage_seconds(shape)
                    budget = med["naive"] / TARGETS[shape]
                    print(
                        "    inside one more batched run: "
                        + ", ".join(f"{k} {v:.2f}s" for k, v in spent.items())
                        + f", rest {total - sum(spent.values()):.2f}s of {total:.2f}s; {TARGETS[shape]:g}x needs the "
                        f"run within naive / {TARGETS[shape]:g} = {budget:.2f}s, and readout + backward take "
                        f"{spent['readout'] + spent['backward']:.2f}s",
                        flush=True,
                    )
                if noisy:
                    per = {k: 1e3 * min(v) / (n_models * steps) for k, v in times.items()}
                    print(
                        "    per model-step (min): " + ", ".join(f"{k} {v:.2f} ms" for k, v in per.items()), flush=True
                    )
                if shape == "large":
                    flops = 3 * forward_flops(shape) * n_models * steps
                    mm = matmul_gflops(N * R, d, N)
                    got = flops / min(times["batched"]) / 1e9
                    print(
                        f"    batched {got:.1f} GFLOP/s (incl. 2 evaluations)"
                        f" vs torch mm at [{N * R}, {d}] @ [{d}, {N}]: "
                        f"{mm:.1f} GFLOP/s -> {got / mm:.0%}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
