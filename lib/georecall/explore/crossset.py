"""Live explorer of the cross-set study (Chapter 5): train one small network across K fact sets, then score it on
its own sets and zero-shot on a fresh draw. The static book shows the chapter's precomputed phase diagram instead.

:func:`crossset_view` is the render function (callable on its own, e.g. to time it); :func:`crossset_explorer` wraps
it in :func:`georecall.explore.bijection.explorer`.
"""

from __future__ import annotations

import math

import ipywidgets as W

from .. import repro
from .._checks import check_choice, check_int
from ..model.crossset import PARAMETERIZATIONS, CrossSetConfig
from ..plot import probing as plots_probing
from ..probe.crossset import zero_shot
from ..train.crossset import train_crossset
from .bijection import explorer, int_slider, log2_slider

__all__ = ["K_OPTIONS", "LIVE_BARS", "crossset_view", "crossset_explorer"]

K_OPTIONS = {"1": 1, "4": 4, "16": 16, "64": 64, "∞ (fresh sets every step)": math.inf}
LIVE_BARS = {
    "train": "own sets",
    "encoder": "zero-shot: encoder",
    "superposition": "(a) superposition map",
    "selector_inverse": "(b) selector inverse",
    "lookup": "lookup baseline",
    "random": "(d) random rows",
    "untrained_encoder": "untrained network",
}


def crossset_view(
    N: int, R: int, d: int, K: str, parameterization: str, *, steps: int = 400, sets_per_step: int = 8, seed: int = 0
):
    """Train a :class:`~georecall.model.crossset.CrossSetModel` (N, R, d, K = ``K_OPTIONS[K]``, AdamW lr 1e-2,
    ``sets_per_step`` sets a step for ``steps`` steps: a tenth of the study's set-steps, so a redraw takes seconds) and
    draw its training accuracy beside its zero-shot accuracy on a fresh draw and the controls
    (:func:`georecall.probe.crossset.zero_shot`)."""
    check_int("N", N, 4, 1024)
    check_int("R", R, 1, 16)
    check_int("d", d, 2, 256)
    check_int("steps", steps, 1, 100_000)
    check_int("sets_per_step", sets_per_step, 1, 64)
    check_choice("K", K, tuple(K_OPTIONS))
    check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    n_sets = K_OPTIONS[K]
    if math.isinf(n_sets) and parameterization != "encoded":
        raise ValueError("K = ∞ draws fresh sets every step, which have no tables: it needs parameterization 'encoded'")
    with repro.torch_threads(1):
        cfg = CrossSetConfig(
            n_subjects=N, n_relations=R, d_model=d, n_sets=n_sets, parameterization=parameterization, steps=steps,
            sets_per_step=sets_per_step, eval_every=steps, seed=seed, init_seed=seed, data_seed=seed,
        )  # fmt: skip
        res = train_crossset(cfg)
        z = zero_shot(res, seed=1000 + seed)
    values = {"train": res.train_accuracy, **z}
    title = (
        f"N={N}, R={R}, d={d}, K={K.split()[0]}, {parameterization}, {steps} steps of {sets_per_step} sets; "
        f"chance 1/N = {1 / N:.3f}"
    )
    group = {"name": "this network", "values": {k: values[k] for k in LIVE_BARS}}
    return plots_probing.plot_probe_bars(
        [group], list(LIVE_BARS), LIVE_BARS, title=title, y_title="accuracy (share of the N·R facts)"
    )


def crossset_explorer(*, N: int = 64, R: int = 4, d: int = 16, K: str = "16", parameterization: str = "encoded"):
    """Sliders for N, R and d, menus for K and the parameterization: train a small cross-set network (a few seconds)
    and redraw its training and zero-shot accuracy."""
    controls = {
        "N": log2_slider("N", N, 5, 8),
        "R": int_slider("R", R, 1, 8),
        "d": log2_slider("d", d, 2, 6),
        "K": W.Dropdown(description="K", options=list(K_OPTIONS), value=K),
        "parameterization": W.Dropdown(
            description="embeddings", options=list(PARAMETERIZATIONS), value=parameterization
        ),
    }
    return explorer(controls, crossset_view, title="Train across K fact sets, then transfer zero-shot")
