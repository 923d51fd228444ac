"""Wall time of one training run to 100% accuracy: N=1024, R=4, d=32 (4,096 facts, full-batch AdamW, lr 1e-2).

Side by side in one run, each variant repeated ``--repeats`` times (median reported):
- ``last-only``: the library's path (attention query, MLP and unembedding only at the answer position);
- ``all-positions``: baseline computing logits at both positions;
and both under 1 and 2 torch threads.

    .venv/bin/python benchmarks/bench_train.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from georecall.model import transformer as models
from georecall.tasks import bijection as tasks
from georecall.train import loop as train


class AllPositions(models.Transformer):
    """Baseline: ignore ``last_only`` and compute logits at every position."""

    def forward(self, tokens, *, last_only=False):
        return super().forward(tokens, last_only=False)


def run(model_cls, threads: int) -> tuple[float, int, float]:
    torch.set_num_threads(threads)
    task = tasks.make_task(1024, 4, seed=0)
    model = model_cls(models.ModelConfig.for_task(task, 32))
    t0 = time.perf_counter()
    result = train.train(
        model, task.single_hop(), train.TrainConfig(max_steps=2**14, target_accuracy=1.0), progress=False
    )
    return time.perf_counter() - t0, result.steps, result.accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, N=1024 R=4 d=32 d_mlp=128, full batch, lr=1e-2, eval every 128 steps")
    print(f"{'variant':<16}{'threads':>8}{'median s':>10}{'steps':>7}{'accuracy':>10}")
    for threads in (1, 2):
        for name, cls in (("last-only", models.Transformer), ("all-positions", AllPositions)):
            times, steps, acc = [], 0, 0.0
            for _ in range(args.repeats):
                seconds, steps, acc = run(cls, threads)
                times.append(seconds)
            print(f"{name:<16}{threads:>8}{statistics.median(times):>10.2f}{steps:>7}{acc:>10.3f}")


if __name__ == "__main__":
    main()
