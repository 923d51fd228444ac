"""Where a sentence-format sweep point spends its time, and how many steps it needs to reach 99% recall (one thread,
as a sweep worker).

For each (L, N, R, d) it builds the point's seeds (``run.sentences.build_point``), trains them as one stack through
``batched.train_batched`` with the recall data as evaluation (``run.sentences.eval_data``, early stop at 99%), then
re-scores the held-out and inverse splits (``run.sentences.scores``), and prints one JSON line: CPU seconds per
stacked step (from a separate short run without early stop), per stack trained, per re-scoring; each seed's steps
and final training recall; the held-out and inverse recalls. ``cpu_s_per_step`` x the steps a probe takes estimates a
sweep's cost (a failing probe trains ``max_steps``). Run under ``nice``:

    PYTHONPATH=lib python benchmarks/profile_sentences.py --L 1 2 4 --NR 32,2 64,4 --d 8 16 --max-steps 2048
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

from georecall import repro
from georecall.run import sentences as run_sentences
from georecall.sweep.sentences import SENTENCE_EVAL_EVERY, SENTENCE_LR, SentenceRunConfig
from georecall.train.batched import train_batched


def _stack(configs):
    built = [run_sentences.build_point(c) for c in configs]
    evals = [run_sentences.eval_data(b[0]) for b in built]
    return built, evals


def profile(L: int, N: int, R: int, d: int, max_steps: int, lr: float, seeds: int = 2, timing_steps: int = 32) -> dict:
    base = SentenceRunConfig(
        n_subjects=N, n_relations=R, n_layers=L, d_model=d, d_mlp=4 * d, lr=lr, max_steps=max_steps,
        eval_every=SENTENCE_EVAL_EVERY,
    )  # fmt: skip
    configs = [replace(base, seed=s) for s in range(seeds)]
    # the cost of one stacked step: a short run without early stop, evaluated only at its two ends
    timing = [replace(c, max_steps=timing_steps, eval_every=timing_steps, early_stop=False) for c in configs]
    built, evals = _stack(timing)
    c0 = time.process_time()
    train_batched([b[2] for b in built], [b[1] for b in built], [b[3] for b in built], eval_datas=evals)
    step_s = (time.process_time() - c0) / timing_steps
    # the run itself: early stop at 99% recall
    built, evals = _stack(configs)
    c0 = time.process_time()
    results = train_batched([b[2] for b in built], [b[1] for b in built], [b[3] for b in built], eval_datas=evals)
    train_s = time.process_time() - c0
    c0 = time.process_time()
    scores = [run_sentences.scores(c, b[0], b[2], r) for c, b, r in zip(configs, built, results)]
    score_s = time.process_time() - c0
    return dict(
        L=L,
        N=N,
        R=R,
        d=d,
        lr=lr,
        n_sentences=len(built[0][1]),
        n_params=built[0][2].n_params(),
        cpu_s_per_step=round(step_s, 5),
        cpu_s_train=round(train_s, 2),
        cpu_s_score=round(score_s, 3),
        steps=[r.steps for r in results],
        recall=[round(r.accuracy, 4) for r in results],
        heldout=[s["heldout_templates_accuracy"] for s in scores],
        inverse=[s["inverse_accuracy"] for s in scores],
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--L", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--NR", nargs="+", default=["32,2"], help="N,R pairs")
    p.add_argument("--d", type=int, nargs="+", default=[8, 16])
    p.add_argument("--max-steps", type=int, default=2048)
    p.add_argument("--lr", type=float, nargs="+", default=[SENTENCE_LR])
    args = p.parse_args()
    with repro.torch_threads(1):
        for L in args.L:
            for nr in args.NR:
                N, R = (int(v) for v in nr.split(","))
                for d in args.d:
                    for lr in args.lr:
                        print(json.dumps(profile(L, N, R, d, args.max_steps, lr)), flush=True)


if __name__ == "__main__":
    main()
