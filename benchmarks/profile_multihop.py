"""Where a multi-hop sweep point spends its time and memory, a few steps only (seconds, one thread, as a worker).

For each (format, N, R, h, d) it times the pieces of one sweep stack (``run.multihop.build_point`` per seed, then
``batched.train_batched`` on 3 stacked seeds with evaluation only at the end, then ``run.multihop.scores``, i.e.
``evaluate_multihop`` on all N R^h queries) and prints one JSON line: CPU seconds per stacked step, per full
evaluation inside the trainer, per re-scoring after training, whether the fused step applies, the evaluation's
chunk size and bytes per chunk, and the largest per-step tensor (the logits, [M, B, positions, N] float32).
Multiply ``cpu_s_per_step`` by the steps a probe takes to estimate a sweep's cost. Run under ``nice``:

    PYTHONPATH=lib python benchmarks/profile_multihop.py --N 256 1024 --h 2 --d 8 16 --steps 16
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from dataclasses import replace

from georecall import repro
from georecall.run import multihop as run_multihop
from georecall.sweep.configs import COT, NO_COT, MultiHopConfig
from georecall.train import _fused
from georecall.train.batched import train_batched


def profile(fmt: str, N: int, R: int, h: int, d: int, steps: int, seeds: int = 3) -> dict:
    heads = h if fmt == NO_COT else 1
    d = heads * max(1, round(d / heads))
    base = MultiHopConfig(
        n_subjects=N, n_relations=R, hops=h, data_format=fmt, n_heads=heads, d_model=d, d_mlp=4 * d, lr=3e-3
    )
    configs = [replace(base, seed=s, max_steps=steps, eval_every=steps, target_accuracy=1.0) for s in range(seeds)]
    c0 = time.process_time()  # CPU time of this process: less inflated than wall time on a shared machine
    built = [run_multihop.build_point(c) for c in configs]
    build_s = time.process_time() - c0
    models, datas, tcs = [b[2] for b in built], [b[1] for b in built], [b[3] for b in built]
    fused = _fused.supported(models[0], datas[0])
    # evaluation alone: a 1-step run evaluates at step 0 and at step 1 (two full evaluations, one step)
    one = [replace(t, max_steps=1, eval_every=1) for t in tcs]
    c0 = time.process_time()
    train_batched([run_multihop.build_point(c)[2] for c in configs], datas, one, progress=False)
    eval_pair_s = time.process_time() - c0
    c0 = time.process_time()
    results = train_batched(models, datas, tcs, progress=False)
    train_s = time.process_time() - c0
    step_s = max(train_s - eval_pair_s, 0.0) / max(steps - 1, 1)  # the run's two evaluations are in eval_pair_s
    c0 = time.process_time()
    ev = run_multihop.multihop.evaluate_multihop(models[0], built[0][0], h, fmt=fmt)
    score_s = time.process_time() - c0
    n = len(datas[0])
    positions = h if fmt == COT else 1
    return dict(
        fmt=fmt,
        N=N,
        R=R,
        h=h,
        d=d,
        heads=heads,
        queries=n,
        models=seeds,
        fused=fused,
        build_s=round(build_s, 3),
        cpu_s_per_step=round(step_s, 4),
        cpu_s_per_train_eval=round(eval_pair_s / 2, 4),
        cpu_s_score_one_model=round(score_s, 4),
        eval_chunk=ev.chunk_size,
        eval_chunks=-(-n // ev.chunk_size),
        eval_mib_per_chunk=round(ev.bytes_per_chunk / 2**20, 1),
        logits_mib_per_step=round(4 * seeds * n * positions * N / 2**20, 1),
        accuracy_after=round(results[0].accuracy, 4),
        max_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fmt", nargs="+", choices=[NO_COT, COT], default=[NO_COT, COT])
    ap.add_argument("--N", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--R", type=int, nargs="+", default=[2])
    ap.add_argument("--h", type=int, nargs="+", default=[2])
    ap.add_argument("--d", type=int, nargs="+", default=[8, 16])
    ap.add_argument("--steps", type=int, default=16)
    args = ap.parse_args()
    repro.reuse_freed_memory()  # as the sweep workers do
    with repro.torch_threads(1), repro.flush_denormals():
        for fmt in args.fmt:
            for N in args.N:
                for R in args.R:
                    for h in args.h:
                        for d in args.d:
                            print(json.dumps(profile(fmt, N, R, h, d, args.steps)), flush=True)


if __name__ == "__main__":
    main()
