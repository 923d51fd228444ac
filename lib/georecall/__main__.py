"""The command line of georecall: run a sweep preset, or regenerate a committed table.

    python -m georecall sweep PRESET [--out DIR] [--cache-dir DIR | --no-cache] [--device cuda] [--dask ADDRESS] ...
    python -m georecall table NAME [NAME ...] --out DIR [--cache-dir DIR | --no-cache] ...

``python -m georecall --help`` lists the presets and the tables. Both commands print a one-line JSON summary.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

from . import cache as cache_mod
from . import presets, repro, runner, sweeps, tables

__all__ = ["main"]


def _epilog() -> str:
    sweep_lines = "\n".join(f"  {name:8s} {presets.preset(name).description}" for name in presets.PRESETS)
    table_lines = "\n".join(f"  {t.name:15s} {t.description}" for t in tables.TABLES.values())
    return f"presets (sweep PRESET):\n{sweep_lines}\n\ntables (table NAME):\n{table_lines}"


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache-dir", default=None, help=f"cache root (default: ${cache_mod.ENV_VAR} or ~/.cache/georecall)"
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--device", default="cpu", choices=sweeps.DEVICES, help="where models train (cuda needs a GPU)")
    p.add_argument("--dask", default=None, metavar="ADDRESS", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")
    p.add_argument(
        "--workers", type=int, default=None, help="local worker processes (default: CPU count; 1 with --device cuda)"
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
        "preset", choices=list(presets.PRESETS), help="smoke (CI), book and multihop (committed tables), paper (large)"
    )
    sweep.add_argument("--out", default=None, help="folder for the CSV tables (default: sweep-results/PRESET)")
    sweep.add_argument("--only", nargs="+", default=None, help="run only these experiments of the preset")
    _add_run_options(sweep)
    table = sub.add_parser(
        "table",
        help="regenerate committed tables (e.g. into the book's _data folder)",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    table.add_argument("names", nargs="+", choices=list(tables.TABLES), metavar="NAME", help="registered table(s)")
    table.add_argument("--out", required=True, help="folder to write <NAME>.csv into (the book reads book/_data)")
    _add_run_options(table)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process arguments), run the command, print a JSON summary; returns 0."""
    args = _parser().parse_args(argv)
    if args.device == "cuda":
        repro.default_device("cuda")  # fails fast without CUDA
        if args.workers is None and not args.dask:
            args.workers = 1  # one process drives the GPU; stacks already batch the models
    repro.seed_everything(0)
    t0 = time.perf_counter()
    run = dict(
        device=args.device,
        workers=args.workers,
        dask=args.dask,
        cache=args.cache_dir,
        use_cache=not args.no_cache,
        progress=not args.quiet,
    )
    if args.command == "sweep":
        results = runner.run(args.preset, only=args.only, **run)
        paths = tables.write_tables(results, args.out or Path("sweep-results") / args.preset)
        summary = {"preset": args.preset, "points": sum(len(t) for t in results.values())}
    else:
        paths = [tables.write_table(name, runner.make_table(name, **run), args.out) for name in args.names]
        summary = {"tables": args.names}
    summary.update(wall_seconds=round(time.perf_counter() - t0, 1), written=[str(p) for p in paths])
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
