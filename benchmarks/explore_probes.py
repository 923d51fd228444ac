"""Exploration: train small single-hop models under a few recipes, then run every probe and transfer protocol.

Usage: python benchmarks/explore_probes.py --N 256 --R 4 --d 8 16 --wd 0 0.1 --steps 4000 [--out rows.jsonl]
Each run trains with AdamW at a constant learning rate for exactly ``--steps`` full-batch steps (no early stop, so
it keeps training past 100%), then records accuracy, the probe summary and the transfer accuracies as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from georecall import repro
from georecall.construct import bijection as constructions
from georecall.model import transformer as models
from georecall.probe import summary as probe_summary
from georecall.probe import transfer
from georecall.tasks import bijection as tasks


def train_fixed(model, task, *, steps: int, lr: float, wd: float) -> float:
    """Full-batch AdamW for exactly ``steps`` steps; returns the accuracy at the first step where it reached 0.99."""
    data = task.single_hop()
    tokens, target = data.tokens, data.targets[:, -1]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=wd)
    first = -1
    model.train()
    for step in range(1, steps + 1):
        logits = model(tokens, last_only=True)[:, -1]
        loss = F.cross_entropy(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if first < 0 and step % 64 == 0 and float((logits.argmax(-1) == target).double().mean()) >= 0.99:
            first = step
    model.eval()
    return first


def run(N, R, d, wd, steps, lr, seed, tied, transfer_steps, where, d_mlp=None, construction=False):
    task = tasks.make_task(N, R, seed=seed)
    t0 = time.perf_counter()
    if construction:
        model, reached = constructions.build_block(task), 0
        d = model.config.d_model
    else:
        cfg = models.ModelConfig.for_task(task, d, d_mlp=d_mlp, init_seed=seed, tie_embed=tied)
        model = models.Transformer(cfg)
        reached = train_fixed(model, task, steps=steps, lr=lr, wd=wd)
    t_train = time.perf_counter() - t0
    row = dict(
        N=N,
        R=R,
        d=d,
        m=model.config.d_mlp,
        wd=wd,
        lr=lr,
        steps=steps,
        seed=seed,
        tied=tied,
        construction=construction,
        step_99=reached,
        t_train=round(t_train, 1),
    )
    row.update({f"p_{k}": v for k, v in probe_summary.probe_all(model, task, seed=seed).asdict().items()})
    if not tied:
        tr = transfer.transfer_all(model, task, seed=seed, steps=transfer_steps, eval_every=max(transfer_steps // 4, 1))
        row.update({f"t_{k}": v for k, v in tr.asdict().items() if not k.endswith("curve") and k != "trained_steps"})
        row["t_trained_curve"] = list(tr.trained_curve)
        row["t_random_network_curve"] = list(tr.random_network_curve)
        new = transfer.new_bijections(N, R, seed=seed)
        E = transfer.reinit_selector_inverse(model, task, new, seed=seed, site="resid_post")
        row["t_selector_inverse_resid_post"] = transfer.recall_accuracy(transfer.with_subject_embeddings(model, E), new)
        if where:
            row.update(
                {
                    f"w_{k}": v
                    for k, v in transfer.where_facts_live(model, task, steps=transfer_steps, seed=seed).items()
                }
            )
    row["t_total"] = round(time.perf_counter() - t0, 1)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--N", type=int, default=256)
    ap.add_argument("--R", type=int, default=4)
    ap.add_argument("--d", type=int, nargs="+", default=[16])
    ap.add_argument("--d-mlp", type=int, default=None)
    ap.add_argument("--wd", type=float, nargs="+", default=[0.0])
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tied", action="store_true")
    ap.add_argument("--construction", action="store_true")
    ap.add_argument("--transfer-steps", type=int, default=1000)
    ap.add_argument("--where", action="store_true")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    repro.seed_everything(a.seed)
    torch.set_num_threads(1)
    for d in a.d:
        for wd in a.wd:
            row = run(
                a.N, a.R, d, wd, a.steps, a.lr, a.seed, a.tied, a.transfer_steps, a.where, a.d_mlp, a.construction
            )
            line = json.dumps(row)
            print(line, flush=True)
            if a.out:
                with open(a.out, "a") as f:
                    f.write(line + "\n")


if __name__ == "__main__":
    main()
