"""The appendix's live explorer: the disjoint construction for any (S, R, D), scored through the model.

Built with :func:`georecall.explore.bijection.explorer` (controls, a message line for bad combinations, an output
area); the static book shows its precomputed slider twin, :func:`georecall.plot.disjoint.plot_margin_slider`.
"""

from __future__ import annotations

import ipywidgets as W

from .. import repro
from ..construct.disjoint import construction_margins
from ..plot import disjoint as disjoint_plots
from .bijection import explorer, int_slider, log2_slider

__all__ = ["margin_view", "construction_explorer"]


def margin_view(S: int, R: int, D: int):
    """Build the construction for a random (S, R, D) task, score all S*R facts and draw their margins."""
    with repro.torch_threads(1):  # a redraw is small work: one thread answers fastest
        out = construction_margins(S, R, D)
    rec = out["recipe"]
    title = (
        f"S={S}, R={R}, D={D}: k={rec.k}, d={rec.d_model}, m={rec.d_mlp}; accuracy {out['accuracy']:.1%} on "
        f"{out['n_facts']} facts, min margin {out['min_margin']:.3f} (2/max(k,1) = {rec.min_margin:.3f})"
    )
    return disjoint_plots.plot_margins(out["counts"], out["edges"], min_margin=rec.min_margin, title=title)


def construction_explorer(*, S: int = 256, R: int = 4, D: int = 8) -> W.VBox:
    """Sliders for S, R and D: every change rebuilds the construction and redraws the margins of every fact."""
    controls = {"S": log2_slider("S", S, 2, 12), "R": int_slider("R", R, 1, 16), "D": int_slider("D", D, 1, 64)}
    return explorer(controls, margin_view, title="The disjoint construction, scored through the model")
