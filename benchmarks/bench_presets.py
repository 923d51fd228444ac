"""Wall time of sweep presets from an empty cache: ``python benchmarks/bench_presets.py [smoke book ...]``.

Each preset runs as ``python -m georecall sweep PRESET`` in a subprocess with a fresh temporary cache and
output folder (so nothing is loaded), with the default local process pool; the script prints one JSON line
per preset with its wall time and number of points. ``book`` takes ~24 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def time_preset(name: str, workers: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "georecall",
            "sweep",
            name,
            "--quiet",
            "--cache-dir",
            f"{tmp}/cache",
            "--out",
            f"{tmp}/out",
        ]
        if workers:
            cmd += ["--workers", str(workers)]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "preset": name,
        "wall_s": round(wall, 1),
        "points": summary["points"],
        "cpus": os.cpu_count(),
        "workers": workers or os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("presets", nargs="*", default=["smoke"])
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    for name in args.presets:
        print(json.dumps(time_preset(name, args.workers)), flush=True)


if __name__ == "__main__":
    main()
