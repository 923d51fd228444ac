"""The command line of georecall: run a sweep preset, regenerate a committed table, or score a saved model.

    python -m georecall sweep PRESET [--out DIR] [--cache-dir DIR | --no-cache] [--device cuda] [--dask ADDRESS] ...
    python -m georecall table NAME [NAME ...] --out DIR [--cache-dir DIR | --no-cache] ...
    python -m georecall evaluate MODEL [--n-subjects N --n-relations R] [--seed S] [--probe] [--max-bytes B]

``python -m georecall --help`` lists the presets and the tables. Every command prints a one-line JSON summary.
``evaluate`` reads a model file written by ``georecall.run.save_model`` (``torch.load(weights_only=True)``: nothing
is unpickled) and scores it on the task (N, R, seed) given, else the one the file records.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import repro
from ._checks import MAX_WORKERS, check_writable_dir
from .model.recall import DEFAULT_MAX_BYTES
from .run import runner
from .run.executors import check_dask_address
from .run.saved import evaluate_saved
from .sweep import cache as cache_mod
from .sweep import configs as sweeps
from .sweep import presets, tables

__all__ = ["main"]


@functools.cache  # the presets' descriptions do not change within a process
def _epilog() -> str:
    sweep_lines = "\n".join(f"  {name:8s} {presets.preset(name).description}" for name in presets.PRESETS)
    table_lines = "\n".join(f"  {t.name:15s} {t.description}" for t in tables.TABLES.values())
    return f"presets (sweep PRESET):\n{sweep_lines}\n\ntables (table NAME):\n{table_lines}"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def _workers(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be an integer in [1, {MAX_WORKERS}], got {value}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _non_empty_path(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty (an empty path would mean the current folder)")
    return text


def _dask_address(text: str) -> str:
    try:
        return check_dask_address(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("dask ")) from None


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache-dir",
        default=None,
        type=_non_empty_path,
        help=f"cache root (default: ${cache_mod.ENV_VAR} or ~/.cache/georecall); read-only folders are only read",
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--device", default="cpu", choices=sweeps.DEVICES, help="where models train (cuda needs a GPU)")
    p.add_argument(
        "--dask",
        default=None,
        type=_dask_address,
        metavar="ADDRESS",
        help="a trusted Dask scheduler address, e.g. tcp://10.0.0.5:8786 (results come back unpickled)",
    )
    p.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help="local worker processes (default: CPU count; 1 with --device cuda)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m georecall",
        description=__doc__.split("\n")[0],
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sweep = sub.add_parser(
        "sweep",
        help="run a sweep preset and write one CSV per experiment",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument(
        "preset",
        choices=list(presets.PRESETS),
        help="smoke (CI); book, disjoint, probing, crossset, layers, multihop (committed tables); paper (large)",
    )
    sweep.add_argument(
        "--out", default=None, type=_non_empty_path, help="folder for the CSV tables (default: sweep-results/PRESET)"
    )
    sweep.add_argument("--only", nargs="+", default=None, help="run only these experiments of the preset")
    _add_run_options(sweep)
    table = sub.add_parser(
        "table",
        help="regenerate committed tables (e.g. into the book's _data folder)",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    table.add_argument("names", nargs="+", choices=list(tables.TABLES), metavar="NAME", help="registered table(s)")
    table.add_argument(
        "--out", required=True, type=_non_empty_path, help="folder to write <NAME>.csv into (the book reads book/_data)"
    )
    _add_run_options(table)
    evaluate = sub.add_parser(
        "evaluate",
        help="score a saved model (georecall.run.save_model) on a task; with --probe, every probe's headline number",
    )
    evaluate.add_argument("model", type=_non_empty_path, help="a model file written by georecall.run.save_model")
    evaluate.add_argument("--n-subjects", type=_int, default=None, help="N (default: the task the file records)")
    evaluate.add_argument("--n-relations", type=_int, default=None, help="R (default: the task the file records)")
    evaluate.add_argument("--seed", type=_int, default=None, help="the task's seed (default: recorded, else 0)")
    evaluate.add_argument("--probe", action="store_true", help="also run every probe (probe.probe_all)")
    evaluate.add_argument(
        "--max-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_BYTES,
        help=f"memory budget of the evaluation and the probes, checked before any work (default {DEFAULT_MAX_BYTES})",
    )
    return parser


def _reported(parser: argparse.ArgumentParser, work, *, first_line: bool = False) -> int:
    """Run ``work()`` (it returns the summary dict) and print the summary with its wall time as one JSON line; a
    ValueError or OSError is one ``error:`` line (its first line only with ``first_line``), exit 2 (set
    ``GEORECALL_TRACEBACK`` for the traceback); Ctrl-C is one ``interrupted`` line, exit 130."""
    t0 = time.perf_counter()
    try:
        summary = work()
    except (ValueError, OSError) as err:
        if os.environ.get("GEORECALL_TRACEBACK"):
            raise
        text = (str(err).splitlines()[0] if str(err) else type(err).__name__) if first_line else str(err)
        print(f"{parser.prog}: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    print(json.dumps({**summary, "wall_seconds": round(time.perf_counter() - t0, 1)}))
    return 0


def _evaluate(parser: argparse.ArgumentParser, args) -> int:
    """``evaluate``: load, check (file, finite weights, model-task fit, memory budget), score; one line either way."""
    options = dict(n_subjects=args.n_subjects, n_relations=args.n_relations, seed=args.seed, probe=args.probe)
    return _reported(parser, lambda: evaluate_saved(args.model, **options, max_bytes=args.max_bytes), first_line=True)


def _check_before_work(parser: argparse.ArgumentParser, args) -> cache_mod.Cache | None:
    """Every check that needs no training, so a mistake costs seconds, not a sweep: experiment names, the device,
    the output folder (a probe write) and the cache folder (writable, else read-only with a note)."""
    if args.command == "sweep" and args.only is not None:
        names = [e.name for e in presets.preset(args.preset).experiments]
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"argument --only: unknown experiment(s) {unknown}; preset {args.preset!r} has {names}")
    if args.device == "cuda":
        try:
            repro.default_device("cuda")
        except ValueError:
            parser.error("argument --device: cuda was requested but CUDA is not available on this machine; use cpu")
        if args.workers is None and not args.dask:
            args.workers = 1  # one process drives the GPU; stacks already batch the models
    args.out = args.out or str(Path("sweep-results") / args.preset)
    try:
        check_writable_dir("--out", args.out)
    except ValueError as err:
        parser.error(f"argument {err}")
    if args.no_cache:
        return None
    store = cache_mod.Cache(args.cache_dir)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        if not store.prepare():
            print(
                f"{parser.prog}: note: the cache folder {store.root} is not writable; existing entries are read, "
                "new results will not be cached",
                file=sys.stderr,
            )
    return store


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process arguments), run the command, print a JSON summary; returns 0.

    Ordinary mistakes (a bad option, an unknown experiment, no CUDA, an output folder that cannot be written, an
    unreachable Dask scheduler, a grid too large for memory; for ``evaluate`` a model file that is missing, not a
    regular file or not a model, a diverged model, a task that does not fit it, a probe above the memory budget)
    end with one line on stderr and exit status 2, and no traceback (set ``GEORECALL_TRACEBACK=1`` to see one).
    A warning (e.g. a damaged cache entry, recomputed) is one line too: ``python -m georecall: warning: ...``."""
    parser = _parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():  # restores the default display on the way out (main() may be called in-process)
        if not os.environ.get("GEORECALL_TRACEBACK"):
            warnings.showwarning = _one_line_warning(parser.prog)
        return _main(parser, args)


def _one_line_warning(prog: str):
    """A ``warnings.showwarning`` that prints ``<prog>: warning: <message>`` on one line (no source location)."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = " ".join(str(message).split())
        print(f"{prog}: warning: {text}", file=sys.stderr if file is None else file)

    return show


def _main(parser: argparse.ArgumentParser, args) -> int:
    if args.command == "evaluate":
        repro.seed_everything(0)
        return _evaluate(parser, args)
    if args.command == "table":
        args.preset = None
    store = _check_before_work(parser, args)
    repro.seed_everything(0)
    run = dict(
        device=args.device,
        workers=args.workers,
        dask=args.dask,
        cache=store,
        use_cache=store is not None,
        progress=not args.quiet,
    )

    def work() -> dict:
        if args.command == "sweep":
            results = runner.run(args.preset, only=args.only, **run)
            paths = tables.write_tables(results, args.out)
            per_point = [t for name, t in results.items() if name not in tables.NOT_ONE_ROW_PER_POINT]
            summary = {"preset": args.preset, "points": sum(len(t) for t in per_point)}
        else:
            paths = [tables.write_table(name, runner.make_table(name, **run), args.out) for name in args.names]
            summary = {"tables": args.names}
        return summary | {"written": [str(p) for p in paths]}

    return _reported(parser, work)


if __name__ == "__main__":
    raise SystemExit(main())
