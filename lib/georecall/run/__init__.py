"""Running sweeps: one stack of points (:mod:`.runner`, with the points of the variants in :mod:`.disjoint` and
:mod:`.multihop`, the probing study's in :mod:`.study` and the cross-set study's in :mod:`.crossset`), the
scheduler that sends stacks of cache misses to an executor (:mod:`.scheduler`), and the executors
(:mod:`.executors`: inline, a local process pool, or Dask). A trained model saved to a file, loaded and scored
against a task (:mod:`.saved`; ``python -m georecall evaluate``). Chapter 6's held-out chains: train on part of the
h-hop queries and score the unseen ones (:mod:`.heldout`).

Everything is loaded on first use, so naming :mod:`.scheduler` imports no torch (the runner and the executors do).
"""

from .._lazy import lazy

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
    "SavedModel": ".saved",
    "save_model": ".saved",
    "load_model": ".saved",
    "evaluate_saved": ".saved",
    "train_held_out": ".heldout",
    "split_chains": ".heldout",
}

__all__ = list(_LAZY)
__getattr__ = lazy(__name__, _LAZY)
