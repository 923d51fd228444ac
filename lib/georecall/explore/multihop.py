"""Chapter 6's live explorer: sliders for N, R, h and d over the two multi-hop constructions [recon].

Each change redraws the dimension-against-hops view for (N, R) with the chosen d, says how many hops fit in d
without CoT (by the construction and by the per-entity bound) and whether the CoT construction fits, and builds
both constructions at (N, R, h) and scores every query through the model (small sizes only, so a redraw stays
fast). The static book shows :func:`sizes_twin_steps` through ``georecall.plot.multihop.plot_sizes_slider`` instead.
"""

from __future__ import annotations

import ipywidgets as W

from .. import repro
from .._checks import check_int
from ..construct import multihop as multihop_constructions
from ..model import multihop
from ..plot import multihop as multihop_plots
from ..tasks import bijection as tasks
from ..theory import multihop as multihop_theory
from .bijection import explorer, int_slider, log2_slider

__all__ = ["LIVE_MAX_QUERIES", "LIVE_MAX_D", "multihop_view", "multihop_explorer", "sizes_twin_steps"]

LIVE_MAX_QUERIES = 4096  # the explorer builds and scores a construction only up to this many queries N R^h ...
LIVE_MAX_D = 256  # ... and this width, so a redraw takes about a second
H_SHOWN = 4  # hops drawn on the x-axis


def _fit_text(N: int, R: int, h: int, d: int) -> str:
    hops = multihop_theory.max_hops(d, N, R)
    bound = multihop_theory.max_hops(d, N, R, kind="bound")
    cot_d = multihop_theory.cot_dimension(N, R, h)
    cot = f"CoT fits every h (needs d = {cot_d})" if cot_d <= d else f"CoT needs d = {cot_d}"
    return f"at d = {d}: without CoT up to h = {hops} (construction), h ≤ {bound} (bound); {cot}"


def _build_text(N: int, R: int, h: int) -> str:
    nq = multihop_theory.query_count(N, R, h)
    d_nc = multihop_theory.no_cot_dimension(N, R, h)
    if nq > LIVE_MAX_QUERIES or d_nc > LIVE_MAX_D:
        return f"builds skipped above {LIVE_MAX_QUERIES} queries or d = {LIVE_MAX_D} (here {nq} queries, d = {d_nc})"
    task = tasks.make_task(N, R, seed=0)
    parts = []
    with repro.torch_threads(1):
        for fmt, build in (
            (multihop_theory.NO_COT, multihop_constructions.build_no_cot),
            (multihop_theory.COT, multihop_constructions.build_cot),
        ):
            model = build(task, h)
            ev = multihop.evaluate_multihop(model, task, h, fmt=fmt)
            parts.append(f"{multihop_plots.FORMAT_NAMES[fmt]}: d = {model.config.d_model}, accuracy {ev.accuracy:.1%}")
    return f"built at h = {h} ({nq} queries): " + "; ".join(parts)


def multihop_view(N: int, R: int, h: int, d: int):
    """The explorer's figure for one setting (also what a latency check would time); ``ValueError`` on bad input."""
    check_int("N (n_subjects)", N, 2, 2**20)
    check_int("R (n_relations)", R, 1, 16)
    check_int("h (hops)", h, 1, H_SHOWN)
    check_int("d (d_model)", d, 1, 2**16)
    dims = multihop_theory.dimension_table(N, [R], range(1, H_SHOWN + 1))
    title = f"N = {N}, R = {R}: {_fit_text(N, R, h, d)}<br>{_build_text(N, R, h)}"
    return multihop_plots.plot_sizes(dims, d, h, title=title)


def multihop_explorer(*, N: int = 64, R: int = 2, h: int = 2, d: int = 64) -> W.VBox:
    """Sliders for N, R, h and d over :func:`multihop_view`."""
    controls = {
        "N": log2_slider("N", N, 2, 12),
        "R": int_slider("R", R, 1, 6),
        "h": int_slider("h", h, 1, H_SHOWN),
        "d": log2_slider("d", d, 3, 10),
    }
    return explorer(controls, multihop_view, title="Multi-hop constructions: size against hops, and a build")


def sizes_twin_steps(N: int, Rs, d: int) -> list[tuple[str, object, str]]:
    """The static twin's steps: (label, dimension table, title) for each R at fixed N and d (no builds)."""
    return [
        (
            str(R),
            multihop_theory.dimension_table(N, [R], range(1, H_SHOWN + 1)),
            f"N = {N}, R = {R}: {_fit_text(N, R, 1, d)}",
        )
        for R in Rs
    ]
