"""Exploration for the disjoint-attribute sweep: where trained models reach 99%, and the frozen control's budget.

Two small studies on the disjoint task (S subjects, R relations, D answers each; answers a random function):

- ``learned``: learned embeddings, ``[s, r]`` format, full-batch AdamW (lr 1e-2, at most ``--steps`` steps,
  stop at 0.99 on all facts), seeds stacked with ``batched.train_batched``; d ascends over a grid until every
  seed succeeds at two consecutive d. One row per (S, R, D, d, seed).
- ``frozen``: frozen W_E and W_U (only attention and the MLP train), noisy T = 32 format, minibatches of fresh
  noisy samples every step (``disjoint.noisy_batch``), several heads; success is judged on a held-out noisy
  draw (4 noisy copies of every fact, its own seed) that is never used for stopping. Runs go to the full step
  budget (no early stop), at ``--steps`` and at 2x ``--steps``, so the rows show whether doubling the budget
  changes the outcome. Trainable non-embedding parameters are reported with every row.

    nice -n 10 env OMP_NUM_THREADS=1 PYTHONPATH=lib .venv/bin/python benchmarks/explore_disjoint.py learned \
        --S 128 --R 4 --D 8 16 32 --out /tmp/learned.csv
    ... explore_disjoint.py frozen --S 16 32 64 --R 4 --D 8 --d 16 --m 64 --heads 4 --steps 2048 --out /tmp/frozen.csv
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from georecall import repro
from georecall.model import transformer as models
from georecall.tasks import disjoint as dj
from georecall.theory import disjoint as dt
from georecall.train import batched
from georecall.train import loop as train

D_GRID = (2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32)


def learned_line(S: int, R: int, D: int, *, seeds, steps: int, lr: float, d_start: int = 2) -> list[dict]:
    task = dj.make_disjoint_task(S, R, D, seed=0)
    data = task.single_hop()
    rows, streak = [], 0
    for d in [d for d in D_GRID if d >= d_start]:
        ms = [models.Transformer(models.config_for(data, d, init_seed=s)) for s in seeds]
        cfgs = [
            train.TrainConfig(lr=lr, max_steps=steps, eval_every=128, target_accuracy=0.99, data_seed=s) for s in seeds
        ]
        t0 = time.perf_counter()
        res = batched.train_batched(ms, data, cfgs)
        secs = time.perf_counter() - t0
        for s, r in zip(seeds, res):
            rows.append(
                dict(
                    S=S,
                    R=R,
                    D=D,
                    d=d,
                    d_mlp=4 * d,
                    seed=s,
                    accuracy=r.accuracy,
                    loss=r.loss,
                    steps=r.steps,
                    reached=r.reached_target,
                    seconds_stack=secs,
                    R_log2D=R * (D - 1).bit_length(),
                    construction_d=dt.disjoint_dimension(R, D),
                    bits_per_param=dt.disjoint_bits_per_parameter(S, R, D, d),
                )
            )
            print(rows[-1], flush=True)
        streak = streak + 1 if all(r.reached_target for r in res) else 0
        if streak == 2:
            break
    return rows


def frozen_line(
    S: int, R: int, D: int, *, d: int, m: int, heads: int, seeds, steps: int, lr: float, batch: int, budgets=(1, 2)
) -> list[dict]:
    task = dj.make_disjoint_task(S, R, D, seed=0)
    stop_draw = dj.noisy_sequences(task, copies=1, seed=repro.stream_seed(0, "stop"))  # the trainer's eval set
    heldout = dj.noisy_sequences(task, copies=4, seed=repro.stream_seed(0, "heldout"))  # never seen in training
    rows = []
    for n_steps in [f * steps for f in budgets]:
        ms = [
            models.Transformer(models.config_for(stop_draw, d, n_heads=heads, d_mlp=m, freeze_embed=True, init_seed=s))
            for s in seeds
        ]
        # target 1.0 + eval only at the end: runs use the whole budget; the stop draw plays no role in success
        cfgs = [
            train.TrainConfig(lr=lr, max_steps=n_steps, eval_every=n_steps, target_accuracy=1.0, data_seed=s)
            for s in seeds
        ]
        t0 = time.perf_counter()
        res = batched.train_batched(
            ms,
            stop_draw,
            cfgs,
            resample=lambda i, step: dj.noisy_batch(task, batch, seed=repro.stream_seed(seeds[i], f"train/{step}")),
        )
        secs = time.perf_counter() - t0
        for s, model, r in zip(seeds, ms, res):
            ev = train.evaluate(model, heldout)
            rows.append(
                dict(
                    S=S,
                    R=R,
                    D=D,
                    facts=S * R,
                    d=d,
                    d_mlp=m,
                    heads=heads,
                    steps=n_steps,
                    batch=batch,
                    lr=lr,
                    seed=s,
                    heldout_accuracy=ev.accuracy,
                    heldout_loss=ev.loss,
                    train_draw_accuracy=r.accuracy,
                    params_trainable=model.n_params(trainable_only=True),
                    params_nonembed=model.n_params(include_embeddings=False),
                    seconds_stack=secs,
                )
            )
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study", choices=("learned", "frozen"))
    p.add_argument("--S", type=int, nargs="+", default=[128])
    p.add_argument("--R", type=int, default=4)
    p.add_argument("--D", type=int, nargs="+", default=[8])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--steps", type=int, default=2048)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--d-start", type=int, default=2, help="learned: first d of the grid")
    p.add_argument("--m", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--budgets", type=int, nargs="+", default=[1, 2], help="frozen: multiples of --steps to run")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    repro.reuse_freed_memory()
    torch.set_num_threads(1)
    rows = []
    for S in a.S:
        for D in a.D:
            if a.study == "learned":
                rows += learned_line(S, a.R, D, seeds=a.seeds, steps=a.steps, lr=a.lr, d_start=a.d_start)
            else:
                rows += frozen_line(
                    S,
                    a.R,
                    D,
                    d=a.d,
                    m=a.m,
                    heads=a.heads,
                    seeds=a.seeds,
                    steps=a.steps,
                    lr=a.lr,
                    batch=a.batch,
                    budgets=a.budgets,
                )
    pd.DataFrame(rows).to_csv(a.out, index=False, float_format="%.6g")


if __name__ == "__main__":
    main()
