"""Reading the committed tables, torch-free: thresholds, capacities, fits and growth (:mod:`.bijection`), and one
module per study (:mod:`.multihop`, :mod:`.disjoint`, :mod:`.probing`, :mod:`.crossset`, :mod:`.layers`,
:mod:`.sentences`). The tables are loaded with :func:`load_table` / :func:`load_tables` (from
:mod:`georecall.sweep.tables`); :func:`multihop_grid` is the d grid the multi-hop lines searched (from
:mod:`georecall.sweep.presets`).
"""

from ..sweep.presets import multihop_grid
from ..sweep.tables import BOOK_SWEEP_TABLES, CROSSSET_TABLES, PROBING_TABLES, load_table, load_tables
from . import crossset, disjoint, layers, multihop, probing, sentences
from .bijection import (
    GROWTH_FORMS,
    FitResult,
    accuracy_curves,
    best_over_rates,
    bits_table,
    describe_growth,
    dstar_growth,
    fit_line,
    fit_power_law,
    frozen_capacity,
    learned_reach,
    rate_effect,
    seed_summary,
    side_by_side,
    thresholds,
)

__all__ = [
    "crossset",
    "disjoint",
    "layers",
    "multihop",
    "probing",
    "sentences",
    "thresholds",
    "frozen_capacity",
    "accuracy_curves",
    "seed_summary",
    "dstar_growth",
    "describe_growth",
    "GROWTH_FORMS",
    "best_over_rates",
    "rate_effect",
    "fit_line",
    "fit_power_law",
    "FitResult",
    "learned_reach",
    "side_by_side",
    "bits_table",
    "load_table",
    "load_tables",
    "BOOK_SWEEP_TABLES",
    "PROBING_TABLES",
    "CROSSSET_TABLES",
    "multihop_grid",
]
