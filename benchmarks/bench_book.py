"""Wall time of executing each chapter notebook of the book, as a table.

Each notebook listed in ``book/_toc.yml`` is executed top to bottom with nbclient in a fresh ``python3`` kernel of
the *current* environment, from ``book/`` as working directory (as the Jupyter Book build does), at the scale given
by ``BOOK_SCALE`` (default ``smoke``). Nothing is written back to the notebooks.

Usage (from the repository root, after ``make setup``)::

    .venv/bin/python benchmarks/bench_book.py                       # every chapter, BOOK_SCALE=smoke
    .venv/bin/python benchmarks/bench_book.py --scale full          # sets BOOK_SCALE=full for the kernels
    .venv/bin/python benchmarks/bench_book.py learned-capacity      # only the named chapters
    .venv/bin/python benchmarks/bench_book.py --build               # also time one clean `jupyter-book build`
    .venv/bin/python benchmarks/bench_book.py --cells               # also list the 5 slowest cells per chapter

Kernel start-up (about 1-1.5 s) and cell execution are reported separately; the total also includes the kernel's
shut-down. Exit status is 1 if any notebook fails (its error is printed in the table).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
sys.path.insert(0, str(REPO / "tests"))  # tests/book_toc.py: the one _toc.yml reader
from book_toc import toc_files  # noqa: E402


def toc_notebooks() -> list[str]:
    """The chapter notebooks of ``book/_toc.yml``, in order (the same reader as the tests)."""
    return [p for p in toc_files(BOOK) if (BOOK / f"{p}.ipynb").is_file()]


def run_notebook(name: str, timeout: int) -> dict:
    nb = nbformat.read(BOOK / f"{name}.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}})
    cell_times: list[tuple[float, int, str]] = []
    result = {"name": name, "cells": sum(c.cell_type == "code" for c in nb.cells), "error": ""}
    t0 = time.perf_counter()
    try:
        with client.setup_kernel():
            result["startup"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                tc = time.perf_counter()
                client.execute_cell(cell, index)
                first_line = (cell.source.strip().splitlines() or [""])[0]
                cell_times.append((time.perf_counter() - tc, index, first_line[:60]))
            result["execute"] = time.perf_counter() - t1
    except Exception as exc:  # CellExecutionError, timeouts, dead kernels: report and go on
        result.setdefault("startup", float("nan"))
        result["execute"] = time.perf_counter() - t0 - result["startup"]
        result["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:80] if str(exc) else ''}"
    result["total"] = time.perf_counter() - t0
    result["slowest"] = sorted(cell_times, reverse=True)[:5]
    return result


def time_build() -> tuple[float, int]:
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or "jupyter-book"
    shutil.rmtree(BOOK / "_build", ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.run([jb, "build", str(BOOK), "-n", "-W", "--keep-going"], cwd=REPO, capture_output=True)
    return time.perf_counter() - t0, proc.returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter names from _toc.yml (default: all notebooks)")
    parser.add_argument("--scale", default=os.environ.get("BOOK_SCALE", "smoke"), help="BOOK_SCALE (default smoke)")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds (as _config.yml)")
    parser.add_argument("--build", action="store_true", help="also time a clean jupyter-book build (removes _build)")
    parser.add_argument("--cells", action="store_true", help="also print the slowest cells of each chapter")
    args = parser.parse_args(argv)

    os.environ["BOOK_SCALE"] = args.scale  # inherited by the kernels
    names = args.chapters or toc_notebooks()
    unknown = [n for n in names if not (BOOK / f"{n}.ipynb").is_file()]
    if unknown:
        parser.error(f"no notebook book/<name>.ipynb for: {unknown}")

    print(f"BOOK_SCALE={args.scale}  python={sys.executable}  cores={os.cpu_count()}")
    header = f"{'chapter':<32} {'code cells':>10} {'start s':>9} {'cells s':>9} {'total s':>9}  status"
    print(header)
    print("-" * len(header))
    results = []
    for name in names:
        r = run_notebook(name, args.timeout)
        results.append(r)
        print(
            f"{name:<32} {r['cells']:>10} {r['startup']:>9.2f} {r['execute']:>9.2f} {r['total']:>9.2f}"
            f"  {r['error'] or 'ok'}",
            flush=True,
        )
    print("-" * len(header))
    print(f"{'all chapters':<32} {'':>10} {'':>9} {'':>9} {sum(r['total'] for r in results):>9.2f}")

    if args.cells:
        for r in results:
            print(f"\n{r['name']}: slowest cells")
            for seconds, index, first_line in r["slowest"]:
                print(f"  {seconds:8.2f} s  cell {index:>3}  {first_line}")

    if args.build:
        seconds, rc = time_build()
        print(f"\nclean `jupyter-book build book -n -W --keep-going`: {seconds:.1f} s, rc {rc}")

    return 1 if any(r["error"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
