"""Benchmark: the block construction at scale, and the construction explorer's latency.

    .venv/bin/python benchmarks/bench_construction.py            # everything (several minutes on 2 cores)
    .venv/bin/python benchmarks/bench_construction.py --quick    # scale part on 1/16 of the facts
    .venv/bin/python benchmarks/bench_construction.py --part 1 --thread-counts 1   # one thread only (busy machine)

Part 1 scores every fact of the block construction at N = 65,536, R = 16 (1,048,576 facts, argmax over all N
attributes) with ``recall.evaluate_recall`` and prints wall time, CPU time and peak memory (``ru_maxrss`` of a
fresh process per variant) next to baselines measured in the same run:

- ``fused``: ``method="fused"``, the library's large-task path (``recall.last_residual`` + the tiled
  ``recall.Readout``), one worker thread per torch thread; every fact;
- ``forward``: ``method="forward"``, ``model.resid_post`` and the zero-row-skipping readout with [c, N] logits per
  chunk (the previous default), on 1/16 of the facts, extrapolated;
- ``unchunked``: one chunk of all facts: refused with ``ValueError`` before allocating;
- ``fused-float64``: the fused path in float64, on a subset, extrapolated;
- ``train.evaluate``: the generic evaluation (cross-entropy, chunks of 8192) in float64, on a subset, extrapolated;
- ``dense readout``: float32 with the model's own forward pass (the full ``resid @ W_U`` product, as training
  computes it), on a subset, extrapolated: what the zero-row skip of ``recall.evaluate_recall`` saves.

Part 2 times the explorer's answer to slider moves at N = 1024, R = 8 (``widgets.construction_view``, i.e. build +
score + figure, and the same through the ipywidgets panel), against the unbudgeted float64 render with torch's
default threads.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time

N_SCALE, R_SCALE = 65_536, 16
N_UI, R_UI = 1024, 8
SUBSET = 16_384  # facts scored by the extrapolated baselines


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def variant(name: str, quick: bool, threads: int) -> dict:
    """Run one scale variant in this (fresh) process and return its measurements."""
    import torch

    from georecall.construct import bijection as constructions
    from georecall.model import recall
    from georecall.tasks import bijection as tasks
    from georecall.train import loop as train

    torch.set_num_threads(threads)
    task = tasks.make_task(N_SCALE, R_SCALE, seed=0)
    n_all = N_SCALE * R_SCALE
    out = dict(variant=name, threads=threads)
    t0, c0 = time.perf_counter(), _cpu()
    if name in ("fused", "forward"):
        model = constructions.build_block(task, dtype=torch.float32)
        out["build_s"] = time.perf_counter() - t0
        step = 16 if (quick or name == "forward") else 1
        facts = torch.arange(0, n_all, step) if step > 1 else None
        ev = recall.evaluate_recall(
            model, task, facts=facts, method=name, **(dict(workers=threads) if name == "fused" else {})
        )
        out.update(
            facts=ev.n_facts,
            accuracy=ev.accuracy,
            min_margin=ev.min_margin,
            chunk=ev.chunk_size,
            eval_s=ev.seconds,
            extrapolated=step > 1,
        )
    elif name == "fused-float64":
        model = constructions.build_block(task, dtype=torch.float64)
        out["build_s"] = time.perf_counter() - t0
        ev = recall.evaluate_recall(
            model, task, facts=torch.arange(0, n_all, n_all // SUBSET), method="fused", workers=threads
        )
        out.update(
            facts=ev.n_facts,
            accuracy=ev.accuracy,
            min_margin=ev.min_margin,
            chunk=ev.chunk_size,
            eval_s=ev.seconds,
            extrapolated=True,
        )
    elif name == "unchunked":
        model = constructions.build_block(task, dtype=torch.float32)
        out["build_s"] = time.perf_counter() - t0
        rss_before = _rss_mib()
        try:
            recall.evaluate_recall(model, task, chunk_size=n_all, method="fused", workers=threads)
            out["error"] = "none (unexpected)"
        except ValueError as err:
            out["error"] = str(err)
        out.update(
            facts=n_all, eval_s=time.perf_counter() - t0 - out["build_s"], rss_growth_mib=_rss_mib() - rss_before
        )
    elif name == "train.evaluate":
        model = constructions.build_block(task, dtype=torch.float64)
        out["build_s"] = time.perf_counter() - t0
        data = task.single_hop().subset(torch.arange(0, n_all, n_all // SUBSET))
        t1 = time.perf_counter()
        ev = train.evaluate(model, data, chunk_size=8192)
        out.update(
            facts=len(data), accuracy=ev.accuracy, chunk=8192, eval_s=time.perf_counter() - t1, extrapolated=True
        )
    elif name == "dense-readout":
        model = constructions.build_block(task, dtype=torch.float32)
        out["build_s"] = time.perf_counter() - t0
        facts = torch.arange(0, n_all, n_all // SUBSET)
        t1 = time.perf_counter()
        with torch.no_grad():  # the model alone: the full resid @ W_U product (no zero-row skip)
            correct, chunk = 0, 256
            for start in range(0, len(facts), chunk):
                i = facts[start : start + chunk]
                s, r = i // R_SCALE, i % R_SCALE
                logits = model(torch.stack([s, N_SCALE + r], 1), last_only=True)[:, 0].detach()
                correct += int((logits.argmax(1) == task.perms[r, s]).sum())
        out.update(
            facts=len(facts),
            accuracy=correct / len(facts),
            chunk=chunk,
            eval_s=time.perf_counter() - t1,
            extrapolated=True,
        )
    else:
        raise ValueError(f"unknown variant {name!r}")
    out["total_cpu_s"] = _cpu() - c0
    out["peak_rss_mib"] = _rss_mib()
    return out


def run_variant(name: str, quick: bool, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--variant", name, "--threads", str(threads)] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        lines = (proc.stderr or f"exit status {proc.returncode}").strip().splitlines() or [
            f"exit status {proc.returncode}"
        ]
        return dict(variant=name, threads=threads, error=lines[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def part1(quick: bool, thread_counts: list[int]) -> None:
    n_all = N_SCALE * R_SCALE
    print(
        f"\n=== Part 1: every fact of the block construction, N={N_SCALE}, R={R_SCALE} ({n_all:,} facts), "
        f"d=288, m=512, argmax over {N_SCALE} attributes ==="
    )
    head = (
        f"{'variant':<17}{'thr':>4}{'facts':>10}{'accuracy':>10}{'min margin':>11}{'chunk':>7}{'eval s':>9}"
        f"{'→ 1M facts s':>14}{'CPU s':>8}{'peak RSS MiB':>14}"
    )
    print(head)
    print("-" * len(head), flush=True)
    top = max(thread_counts)
    plan = [("fused", t) for t in thread_counts] + [("forward", t) for t in thread_counts]
    plan += [("unchunked", top), ("fused-float64", top), ("train.evaluate", top), ("dense-readout", top)]
    rows = []
    for name, threads in plan:
        r = run_variant(name, quick, threads)
        rows.append(r)
        if "facts" not in r:
            print(f"{r['variant']:<17}{r['threads']:>4}  failed: {r.get('error')}", flush=True)
            continue
        scale = n_all / r["facts"] if r.get("extrapolated") or r["facts"] < n_all else 1.0
        full = r["eval_s"] * scale
        acc = f"{r['accuracy']:.4f}" if "accuracy" in r else "-"
        mm = f"{r['min_margin']:.4f}" if "min_margin" in r else "-"
        print(
            f"{r['variant']:<17}{r['threads']:>4}{r['facts']:>10,}{acc:>10}{mm:>11}{r.get('chunk', '-'):>7}"
            f"{r['eval_s']:>9.1f}{full:>14.0f}{r['total_cpu_s']:>8.1f}{r['peak_rss_mib']:>14.0f}",
            flush=True,
        )
        if "error" in r:
            print(
                f"{'':21}refused before allocating (RSS grew {r['rss_growth_mib']:.1f} MiB): {r['error']}", flush=True
            )
    print("('→ 1M facts s' extrapolates subset runs linearly; build times are excluded from 'eval s')")
    for r in rows[: len(thread_counts)]:
        if "build_s" in r:
            print(f"build of the N={N_SCALE}, R={R_SCALE} model ({r['threads']} thread(s)): {r['build_s']:.1f} s")
    from georecall.construct import bijection as constructions

    try:
        constructions.block_recipe(2**24, 64)
    except ValueError as err:
        print(f"too large a build, N=2^24, R=64: ValueError: {err}")


def part2() -> None:
    import torch

    from georecall.construct import views as chapters
    from georecall.explore import bijection as widgets
    from georecall.plot import bijection as plots
    from georecall.plot import construction as plots_construction

    plots.setup()
    print(f"\n=== Part 2: explorer answer to a slider move, N={N_UI}, R={R_UI} ===")
    moves = [
        dict(d=98, k=10, placement="block", codes="sign"),
        dict(d=120, k=10, placement="block", codes="sign"),
        dict(d=64, k=20, placement="dense", codes="gaussian"),
        dict(d=128, k=20, placement="dense", codes="gaussian"),
        dict(d=256, k=20, placement="dense", codes="gaussian"),
        dict(d=512, k=20, placement="dense", codes="gaussian"),
        dict(d=98, k=10, placement="dense", codes="sign"),
        dict(d=300, k=12, placement="block", codes="gaussian"),
    ]
    widgets.construction_view(N_UI, R_UI, **moves[0])  # warm-up (imports, first plotly figure)

    def baseline(d, k, placement, codes):  # unbudgeted: every fact, float64, torch's default threads
        snap = chapters.snapshot(
            N_UI, R_UI, placement=placement, d_model=d, k=k, codes=codes, max_facts=N_UI * R_UI, dtype=torch.float64
        )
        return plots_construction.plot_construction_view(
            snap.activations.tolist(), snap.margin_counts, snap.margin_edges, k=snap.recipe.k, title="baseline"
        )

    head = f"{'slider state':<40}{'render s':>10}{'baseline s':>12}"
    print(head)
    print("-" * len(head))
    fast, slow = [], []
    for m in moves:
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            widgets.construction_view(N_UI, R_UI, **m)
            ts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        baseline(**m)
        b = time.perf_counter() - t0
        fast.append(statistics.median(ts))
        slow.append(b)
        label = f"{m['placement']}/{m['codes']}, d={m['d']}, k={m['k']}"
        print(f"{label:<40}{fast[-1]:>10.3f}{b:>12.3f}")
    print(
        f"median over moves: render {statistics.median(fast):.3f} s (max {max(fast):.3f} s), "
        f"baseline {statistics.median(slow):.3f} s (max {max(slow):.3f} s); target < 0.2 s"
    )

    # The same through the widget: set a slider, which redraws synchronously (display output discarded).
    ts = []
    with contextlib.redirect_stdout(io.StringIO()):
        panel = widgets.construction_explorer()
        controls = {c.description: c for c in panel.children[1].children}
        message = panel.children[2]
        for d in (100, 110, 98, 120, 98):
            t0 = time.perf_counter()
            controls["d"].value = d
            ts.append(time.perf_counter() - t0)
        controls["d"].value = 60  # below R*k + R + k = 98: the widget must say so
        bad = message.value
        controls["d"].value = 98
    print(f"widget slider moves (d): median {statistics.median(ts):.3f} s, max {max(ts):.3f} s")
    print(f"bad combination d=60 shows: {bad.split('</span>')[0].split('&#9888; ')[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="score 1/16 of the facts in part 1")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--part", choices=["1", "2", "all"], default="all")
    parser.add_argument(
        "--thread-counts",
        default="1,2",
        help="torch threads (fused: worker threads) of the scale variants (comma list)",
    )
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(variant(args.variant, args.quick, args.threads)))
        return
    import torch

    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, torch threads by default {torch.get_num_threads()}, "
        f"load average at start {os.getloadavg()[0]:.2f}"
    )
    if args.part in ("1", "all"):
        part1(args.quick, [int(t) for t in args.thread_counts.split(",")])
    if args.part in ("2", "all"):
        part2()
    print(
        f"\nload average at end {os.getloadavg()[0]:.2f} "
        " (timings are wall-clock; other jobs on the machine inflate them)"
    )


if __name__ == "__main__":
    main()
