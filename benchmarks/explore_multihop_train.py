"""Exploration (not a preset): how much training do one-layer models need for 2-hop recall, without and with CoT?

One row per (format, R, d, lr): the ordinary ``train.train`` loop (AdamW, full batch, constant lr, early stop at 99%)
on every chain of ``make_task(N, R, seed)``. No-CoT: ``multihop.no_cot_facts`` with n_heads = h. CoT: teacher forcing
on ``multihop.cot_facts`` (n_heads = 1), then autoregressive decoding (``multihop.evaluate_multihop(fmt="cot")``)
scores the final answer. Run on one thread under ``nice``:

    PYTHONPATH=lib python benchmarks/explore_multihop_train.py --fmt no_cot --R 2 --d 8 16 32 --lr 0.003 0.01
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from georecall import repro
from georecall.model import multihop
from georecall.model.transformer import ModelConfig, Transformer
from georecall.tasks import bijection as tasks
from georecall.theory.multihop import COT, NO_COT
from georecall.train import loop as train


def run(fmt: str, N: int, R: int, h: int, d: int, lr: float, max_steps: int, seed: int) -> dict:
    task = tasks.make_task(N, R, seed=seed)
    data = multihop.no_cot_facts(task, h) if fmt == NO_COT else multihop.cot_facts(task, h)
    heads = h if fmt == NO_COT else 1
    model = Transformer(ModelConfig.for_task(data, d, n_heads=heads, init_seed=seed))
    cfg = train.TrainConfig(lr=lr, max_steps=max_steps, target_accuracy=0.99, eval_every=128, data_seed=seed)
    t0, c0 = time.perf_counter(), time.process_time()
    res = train.train(model, data, cfg, progress=False)
    row = dict(
        fmt=fmt,
        N=N,
        R=R,
        h=h,
        d=d,
        heads=heads,
        lr=lr,
        seed=seed,
        n_seq=len(data),
        steps=res.steps,
        train_acc=round(res.accuracy, 4),
        loss=round(res.loss, 4),
        reached=res.reached_target,
    )
    if fmt == COT:
        ev = multihop.evaluate_multihop(model.double(), task, h, fmt=COT)
        row.update(gen_acc=round(ev.accuracy, 4), step_acc=tuple(round(a, 4) for a in ev.step_accuracy))
    row["seconds"] = round(time.perf_counter() - t0, 1)
    row["cpu_seconds"] = round(time.process_time() - c0, 1)  # this process's CPU time (the machine is shared)
    return row


def batched_step_cost(fmt: str, N: int, R: int, h: int, d: int, n_models: int, steps: int) -> dict:
    """CPU seconds per optimisation step of ``n_models`` stacked models (``batched.train_batched``, no early stop):
    the unit for a sweep's cost estimate."""
    from georecall.train.batched import train_batched

    task = tasks.make_task(N, R, seed=0)
    data = multihop.no_cot_facts(task, h) if fmt == NO_COT else multihop.cot_facts(task, h)
    cfg = ModelConfig.for_task(data, d, n_heads=h if fmt == NO_COT else 1)
    models = [Transformer(dataclasses.replace(cfg, init_seed=s)) for s in range(n_models)]
    tc = train.TrainConfig(lr=0.01, max_steps=steps, eval_every=steps, target_accuracy=1.0)
    c0 = time.process_time()
    train_batched(models, data, tc)
    cpu = time.process_time() - c0
    return dict(
        fmt=fmt,
        N=N,
        R=R,
        h=h,
        d=d,
        n_seq=len(data),
        models=n_models,
        steps=steps,
        cpu_s_per_step=round(cpu / steps, 4),
        cpu_s_per_model_step=round(cpu / steps / n_models, 4),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fmt", choices=[NO_COT, COT], required=True)
    ap.add_argument("--N", type=int, default=64)
    ap.add_argument("--R", type=int, nargs="+", default=[2])
    ap.add_argument("--h", type=int, default=2)
    ap.add_argument("--d", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--lr", type=float, nargs="+", default=[0.01])
    ap.add_argument("--steps", type=int, default=4096)
    ap.add_argument("--seed", type=int, nargs="+", default=[0])
    ap.add_argument("--timing", type=int, default=0, help="only time this many batched steps of 3 stacked models")
    args = ap.parse_args()
    with repro.torch_threads(1):
        if args.timing:
            for R in args.R:
                for d in args.d:
                    print(batched_step_cost(args.fmt, args.N, R, args.h, d, 3, args.timing), flush=True)
            return
        for R in args.R:
            for d in args.d:
                for lr in args.lr:
                    for seed in args.seed:
                        print(run(args.fmt, args.N, R, args.h, d, lr, args.steps, seed), flush=True)


if __name__ == "__main__":
    main()
