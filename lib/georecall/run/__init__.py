"""Running sweeps: one stack of points (:mod:`.runner`, with the points of the variants in :mod:`.disjoint` and
:mod:`.multihop`, and the probing study's in :mod:`.study`), the scheduler that sends stacks of cache misses to an
executor (:mod:`.scheduler`), and the executors (:mod:`.executors`: inline, a local process pool, or Dask).

Everything is loaded on first use: :mod:`.scheduler` and :mod:`.executors` import no torch, the runner does.
"""

import importlib

_LAZY = {  # name -> the module that defines it (imported on first use)
    "run": ".runner",
    "run_experiments": ".runner",
    "make_table": ".runner",
    "check_memory": ".runner",
    "train_group": ".runner",
    "Scheduler": ".scheduler",
    "groups": ".scheduler",
    "InlineExecutor": ".executors",
    "make_executor": ".executors",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
