"""Batched (one stack) vs one-by-one (train.train in a loop) training of the same sweep configurations.

Run: ``python benchmarks/bench_batched.py [--models 12] [--steps 256]``. Both ways train identical models
(same tasks, inits, data order, learning rates) for the same number of steps in this one process; the script
prints both wall times, their ratio, and how far the final accuracies of the two ways differ.

Like the sweep workers (``runner.train_group``), the process first calls ``repro.reuse_freed_memory()``, which
applies to both ways; ``--malloc-default`` skips it to show what glibc's default costs.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch

from georecall import repro
from georecall.model import transformer as models
from georecall.tasks import bijection as tasks
from georecall.train import batched
from georecall.train import loop as train

LRS = (3e-3, 1e-2, 3e-2)


def build(N: int, R: int, d: int, n_models: int):
    """n_models configurations of one shape: seeds x learning rates, one task per seed."""
    ms, datas, cfgs = [], [], []
    for i in range(n_models):
        seed, lr = i // len(LRS), LRS[i % len(LRS)]
        task = tasks.make_task(N, R, seed=seed)
        datas.append(task.single_hop())
        ms.append(models.Transformer(models.ModelConfig.for_task(task, d, init_seed=seed)))
        cfgs.append(train.TrainConfig(lr=lr, max_steps=STEPS, eval_every=64, target_accuracy=1.0, data_seed=seed))
    return ms, datas, cfgs


def main() -> None:
    global STEPS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=12)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--shapes", default="64x2x8,128x4x8,256x4x12", help="NxRxd,... (one stack per shape)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's; sweeps use 1 per worker)"
    )
    parser.add_argument("--malloc-default", action="store_true", help="skip repro.reuse_freed_memory()")
    args = parser.parse_args()
    reuse = False if args.malloc_default else repro.reuse_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    STEPS = args.steps
    repro.seed_everything(0)
    rows = []
    for shape in args.shapes.split(","):
        N, R, d = (int(x) for x in shape.split("x"))
        ms, datas, cfgs = build(N, R, d, args.models)
        loop = [copy.deepcopy(m) for m in ms]
        t0 = time.perf_counter()
        ref = [train.train(m, fs, c, progress=False) for m, fs, c in zip(loop, datas, cfgs)]
        t_loop = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = batched.train_batched(ms, datas, cfgs)
        t_stack = time.perf_counter() - t0
        rows.append(
            {
                "shape": f"N={N} R={R} d={d}",
                "models": args.models,
                "steps": args.steps,
                "one_by_one_s": round(t_loop, 2),
                "batched_s": round(t_stack, 2),
                "speedup": round(t_loop / t_stack, 2),
                "max_abs_accuracy_diff": max(abs(a.accuracy - b.accuracy) for a, b in zip(ref, got)),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    total_loop = sum(r["one_by_one_s"] for r in rows)
    total_stack = sum(r["batched_s"] for r in rows)
    print(
        json.dumps(
            {
                "total_one_by_one_s": round(total_loop, 2),
                "total_batched_s": round(total_stack, 2),
                "speedup": round(total_loop / total_stack, 2),
                "torch_threads": torch.get_num_threads(),
                "reuse_freed_memory": reuse,
            }
        )
    )


STEPS = 256

if __name__ == "__main__":
    main()
