"""The book's figures: each takes arrays or data frames and returns a ``go.Figure`` (imports no trainer). Shared
encodings and Chapter 1 here (:mod:`.bijection`), the render style (:mod:`.style`), tables for readers
(:mod:`.tablefmt`), and one module per chapter or study: :mod:`.construction`, :mod:`.capacity`, :mod:`.probing`,
:mod:`.crossset`, :mod:`.multihop`, :mod:`.multihop_growth`, :mod:`.disjoint`, :mod:`.layers`, :mod:`.sentences`.
"""

from ..plot.style import BLUE, GREEN, GREY, LIGHT_GREY, ORANGE, PALETTE, PURPLE, SKY
from . import (
    capacity,
    construction,
    crossset,
    disjoint,
    layers,
    multihop,
    multihop_growth,
    probing,
    sentences,
    style,
    tablefmt,
)
from .bijection import (
    SliderStep,
    color_for_R,
    memory_budget_traces,
    plot_bijections,
    plot_memory_budget,
    plot_memory_budget_at,
    plot_training_by_d,
    plot_training_history,
    setup,
    slider_figure,
    style_key,
    training_traces,
)
from .tablefmt import Col, format_value, show

__all__ = [
    "capacity",
    "construction",
    "crossset",
    "disjoint",
    "layers",
    "multihop",
    "multihop_growth",
    "probing",
    "sentences",
    "style",
    "tablefmt",
    "setup",
    "color_for_R",
    "SliderStep",
    "slider_figure",
    "plot_training_history",
    "training_traces",
    "plot_bijections",
    "memory_budget_traces",
    "plot_memory_budget",
    "plot_memory_budget_at",
    "plot_training_by_d",
    "style_key",
    "Col",
    "show",
    "format_value",
    "BLUE",
    "GREEN",
    "GREY",
    "LIGHT_GREY",
    "ORANGE",
    "PURPLE",
    "SKY",
    "PALETTE",
]
