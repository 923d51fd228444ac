"""Live explorers of Chapters 4 and 5: train one small model under a chosen recipe, then probe it and transfer.

:func:`probe_view` is the render function (also callable on its own, e.g. to time it); :func:`probe_explorer`
wraps it in :func:`georecall.explore.bijection.explorer`. The static book shows the chapters' precomputed slider
twins.
"""

from __future__ import annotations

from dataclasses import replace

import ipywidgets as W

from .. import repro
from .._checks import check_int
from ..model import transformer as models
from ..plot import probing as plots_probing
from ..probe import summary as probe_summary
from ..probe import transfer
from ..tasks import bijection as tasks
from ..train import loop as train
from .bijection import explorer, int_slider, log2_slider

__all__ = ["RECIPES", "LIVE_METRICS", "probe_view", "probe_explorer", "train_recipe"]

RECIPES = {  # name -> (weight decay, ModelConfig switches)
    "weight decay 0": (0.0, {}),
    "weight decay 0.1": (0.1, {}),
    "tied W_U": (0.1, {"tie_embed": True}),
    "fixed W_U": (0.1, {"freeze_unembed": True}),
    "init x0.5": (0.1, {"init_scale": 0.5}),
}
LIVE_METRICS = {
    "superposition_r2": "superposition R²",
    "decode_accuracy": "decoders",
    "selectivity": "selectivity σ",
    "restricted_accuracy": "restricted acc.",
    "swap_success": "relation swap",
    "t_superposition": "transfer (a)",
    "t_selector_inverse": "transfer (b)",
    "t_trained": "transfer (c)",
}


def train_recipe(N: int, R: int, d: int, recipe: str, *, steps: int = 600, seed: int = 0):
    """(task, trained model, untrained twin) for the live explorer: full-batch AdamW at lr 1e-2 for exactly
    ``steps`` steps (no early stop) under ``recipe`` (a key of :data:`RECIPES`), d_mlp = 4 d."""
    check_int("N", N, 4, 4096)
    check_int("R", R, 1, 16)
    check_int("d", d, 2, 512)
    check_int("steps", steps, 1, 100_000)
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {list(RECIPES)}, got {recipe!r}")
    wd, switches = RECIPES[recipe]
    task = tasks.make_task(N, R, seed=seed)
    cfg = models.ModelConfig.for_task(task, d, init_seed=seed, **switches)
    model = models.Transformer(cfg)
    untrained = models.Transformer(replace(cfg, init_seed=repro.stream_seed(seed, "live-untrained") % 2**31))
    tc = train.TrainConfig(lr=1e-2, weight_decay=wd, max_steps=steps, eval_every=steps, early_stop=False)
    train.train(model, task.single_hop(), tc, progress=False)
    return task, model, untrained


def _measure(model, task, seed: int, transfer_steps: int) -> dict:
    values = probe_summary.probe_all(model, task, seed=seed).asdict()
    if not model.unembed.tied:
        t = transfer.transfer_all(model, task, seed=seed, steps=transfer_steps, eval_every=max(transfer_steps, 1))
        values |= {"t_superposition": t.superposition, "t_selector_inverse": t.selector_inverse, "t_trained": t.trained}
    return {m: values.get(m, float("nan")) for m in LIVE_METRICS}


def probe_view(N: int, R: int, d: int, recipe: str, *, steps: int = 600, transfer_steps: int = 150, seed: int = 0):
    """Train one model (:func:`train_recipe`), run the headline probes and transfer protocols (a), (b), (c) on it
    and on an untrained network of the same shape, and draw both as grouped bars."""
    check_int("transfer_steps", transfer_steps, 1, 100_000)
    with repro.torch_threads(1):
        task, model, untrained = train_recipe(N, R, d, recipe, steps=steps, seed=seed)
        acc = transfer.recall_accuracy(model, task.perms)
        groups = [
            {"name": f"trained ({recipe})", "values": _measure(model, task, seed, transfer_steps)},
            {"name": "untrained, same shape", "values": _measure(untrained, task, seed, transfer_steps)},
        ]
    title = f"N={N}, R={R}, d={d}, {recipe}, {steps} steps: recall {acc:.1%}; chance 1/N = {1 / N:.3f}"
    return plots_probing.plot_probe_bars(groups, list(LIVE_METRICS), LIVE_METRICS, title=title)


def probe_explorer(*, N: int = 64, R: int = 4, d: int = 16, recipe: str = "weight decay 0.1") -> W.VBox:
    """Sliders for N, R and d and a recipe menu: train a small model (a few seconds) and redraw its probes."""
    controls = {
        "N": log2_slider("N", N, 4, 8),
        "R": int_slider("R", R, 1, 8),
        "d": log2_slider("d", d, 2, 6),
        "recipe": W.Dropdown(description="recipe", options=list(RECIPES), value=recipe),
    }
    return explorer(controls, probe_view, title="Train, probe and transfer one small model")
