"""Where does zero-shot transfer appear? Train across K fact sets (georecall.train.crossset, evaluated by
georecall.probe.crossset) and print one row per cell.

Run niced, one thread, one process (every seed explicit; same arguments, same numbers):

    nice -n 15 python benchmarks/explore_crossset.py --N 64 --R 4 --K 1 4 16 inf \
        --param free encoded encoded_residual free_penalty --d 6 12 24 34 --steps 1500

The committed tables benchmarks/data/crossset_explore_n64.csv and _n256.csv came from (seed 0, --csv FILE):

    --N 64 --R 4 --d 12 24 6 --K 1 4 16 inf --steps 1500
    --N 256 --R 4 --steps 2000 --d 16 32 --K inf 16 --param encoded     (then --d 8 44, same K and param)
    --N 256 --R 4 --steps 2000 --d 32 --K 64 --param encoded
    --N 256 --R 4 --steps 2000 --d 32 --K 16 --param free free_penalty encoded_residual
    --N 256 --R 4 --steps 2000 --d 32 --K 1 4
    and in _n256_more.csv: --N 256 --R 4 --d 16 --K inf --param encoded --steps 6000 (lr 1e-2; again with
    --eval-every 500 and with --lr 0.003), --N 256 --R 4 --d 32 --K 64 inf --param encoded --steps 2000 --seeds 1

Columns: training accuracy (mean and worst set; K = inf: fresh draws from the training stream), zero-shot accuracy on
one fresh draw through the learned encoder (free tables: their joint superposition fit) and by Chapter 5's protocols
(a) superposition, (b) selector inverse, lookup, (d) random rows, (c) / (c') when --protocol-steps > 0, the untrained
cross-set model through its own encoder, and wall time. ``--speed`` only times steps/s at N=256, R=4, d=32, K=16.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time

import torch

from georecall.construct import bijection as constructions
from georecall.model.crossset import PARAMETERIZATIONS, CrossSetConfig
from georecall.model.transformer import Transformer
from georecall.probe import storage as probes
from georecall.probe import transfer
from georecall.probe.crossset import set_model, zero_shot
from georecall.probe.summary import probe_all
from georecall.train.crossset import train_crossset

COLUMNS = (
    "N", "R", "d", "K", "param", "seed", "steps", "train", "train_min", "encoder", "a_superposition",
    "b_selector_inverse", "lookup", "d_random", "c_trained", "c_prime_random_net", "untrained_encoder",
    "fit_r2", "seconds", "steps_per_s",
)  # fmt: skip


def _k(text: str) -> int | float:
    return math.inf if text in ("inf", "∞") else int(text)


def run_cell(N, R, d, K, param, *, steps, seed, lr, sets_per_step, protocol_steps, penalty, eval_every=0) -> dict:
    cfg = CrossSetConfig(
        n_subjects=N,
        n_relations=R,
        d_model=d,
        n_sets=K,
        parameterization=param,
        steps=steps,
        lr=lr,
        sets_per_step=sets_per_step,
        eval_every=eval_every or max(steps, 1),
        seed=seed,
        init_seed=seed,
        data_seed=seed,
        penalty=penalty,
    )
    t0 = time.perf_counter()
    res = train_crossset(cfg)
    z = zero_shot(res, seed=1000 + seed, protocol_steps=protocol_steps)
    if eval_every:
        curve = ", ".join(f"{s}: {a:.3f}" for s, a in zip(res.history["step"], res.history["accuracy"]))
        print(f"training accuracy by step: {curve}", flush=True)
    return {
        "N": N, "R": R, "d": d, "K": "inf" if K == math.inf else K, "param": param, "seed": seed, "steps": steps,
        "train": res.train_accuracy, "train_min": res.min_set_accuracy, "encoder": z["encoder"],
        "a_superposition": z["superposition"], "b_selector_inverse": z["selector_inverse"], "lookup": z["lookup"],
        "d_random": z["random"], "c_trained": z["trained"], "c_prime_random_net": z["random_network"],
        "untrained_encoder": z["untrained_encoder"], "fit_r2": z["encoder_fit_r2"],
        "seconds": time.perf_counter() - t0, "steps_per_s": res.steps_per_second,
    }  # fmt: skip


def fmt(row: dict) -> str:
    out = []
    for c in COLUMNS:
        v = row[c]
        out.append(
            f"{v:.3f}"
            if isinstance(v, float) and c not in ("seconds", "steps_per_s")
            else f"{v:.1f}"
            if isinstance(v, float)
            else str(v)
        )
    return " | ".join(out)


def speed(steps: int = 60) -> None:
    for param in PARAMETERIZATIONS:
        cfg = CrossSetConfig(
            n_subjects=256, n_relations=4, d_model=32, n_sets=16, parameterization=param, steps=steps, eval_every=steps
        )
        res = train_crossset(cfg)
        print(f"speed N=256 R=4 d=32 K=16 {param}: {res.steps_per_second:.2f} steps/s (16 sets x 1024 facts a step)")


PROBE_KEYS = (
    "accuracy", "superposition_r2", "selectivity", "selectivity_random_net", "selectivity_tau", "var_relation",
    "linear_branch_r2", "restricted_accuracy", "gate_ablation_accuracy", "swap_success", "unit_ablation_selectivity",
    "unembed_facts",
)  # fmt: skip


def probe(a) -> None:
    """Chapter 4's gate probes on a cross-set model (set 0) beside the block construction and an untrained network
    on set 0's facts, and a single-set model with free embeddings on its own set; then (c): fresh subject rows
    trained through the frozen network for a new draw, their accuracy and held-out superposition R^2, against (c')."""
    K = _k(a.K[0])
    rows = {}
    common = dict(n_subjects=a.N, n_relations=a.R, d_model=a.d[0], steps=a.steps, lr=a.lr, seed=a.seeds[0])
    cross = train_crossset(CrossSetConfig(**common, n_sets=K, parameterization=a.param[0], init_seed=a.seeds[0]))
    net, perms = set_model(cross, 0)
    single = train_crossset(CrossSetConfig(**common, n_sets=1, parameterization="free", init_seed=a.seeds[0]))
    rows[f"cross-set K={a.K[0]} {a.param[0]}"] = probe_all(net, perms)
    rows["block construction"] = probe_all(constructions.build_block(perms), perms)
    single_net, single_perms = set_model(single, 0)
    rows["single set, free"] = probe_all(single_net, single_perms)
    rows["untrained"] = probe_all(Transformer(net.config), perms)
    print("model | " + " | ".join(PROBE_KEYS))
    for name, summ in rows.items():
        print(name + " | " + " | ".join(f"{getattr(summ, k):.3f}" for k in PROBE_KEYS), flush=True)
    new = transfer.new_bijections(a.N, a.R, seed=1000 + a.seeds[0])
    for name, base in (("cross-set network", net), ("single-set network", single_net)):
        c = transfer.train_subject_embeddings(
            base, new, steps=a.protocol_steps, lr=1e-2, seed=a.seeds[0], eval_every=10**9
        )
        r2 = probes.superposition(c["model"], new, seed=a.seeds[0])["r2_heldout"]
        print(f"(c) {name}: {a.protocol_steps} steps, accuracy {c['final']:.3f}, held-out superposition R2 {r2:.3f}")
    rn = transfer.random_network(net, a.seeds[0])
    c = transfer.train_subject_embeddings(rn, new, steps=a.protocol_steps, lr=1e-2, seed=a.seeds[0], eval_every=10**9)
    print(f"(c') untrained network: accuracy {c['final']:.3f}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--N", type=int, default=64)
    p.add_argument("--R", type=int, default=4)
    p.add_argument("--K", nargs="+", default=["1", "4", "16", "inf"])
    p.add_argument("--param", nargs="+", default=list(PARAMETERIZATIONS), choices=PARAMETERIZATIONS)
    p.add_argument("--d", nargs="+", type=int, default=[6, 12, 24, 34])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--sets-per-step", type=int, default=16)
    p.add_argument("--protocol-steps", type=int, default=0)
    p.add_argument("--penalty", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=0, help="print the training-accuracy curve at this interval")
    p.add_argument("--csv", default=None, help="append rows to this CSV file")
    p.add_argument("--speed", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--probe", action="store_true", help="gate probes and (c) for the first K, param, d")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.speed:
        speed()
        return
    if a.probe:
        probe(a)
        return
    print(" | ".join(COLUMNS), flush=True)
    for seed in a.seeds:
        for d in a.d:
            for K in map(_k, a.K):
                for param in a.param:
                    if K == math.inf and param != "encoded":
                        continue  # a fresh set has no table to learn
                    row = run_cell(
                        a.N, a.R, d, K, param, steps=a.steps, seed=seed, lr=a.lr, sets_per_step=a.sets_per_step,
                        protocol_steps=a.protocol_steps, penalty=a.penalty, eval_every=a.eval_every,
                    )  # fmt: skip
                    print(fmt(row), flush=True)
                    if a.csv:
                        with open(a.csv, "a", newline="") as f:
                            w = csv.DictWriter(f, fieldnames=COLUMNS)
                            if f.tell() == 0:
                                w.writeheader()
                            w.writerow(row)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
