"""Live explorer of the layers study: train a small model of L layers on fact sentences, then draw its recall per
split and the superposition R^2 of its residual stream per layer. The static book shows the study's precomputed
figures instead.

:func:`layers_view` is the render function (callable on its own, e.g. to time it); :func:`layers_explorer` wraps it in
:func:`georecall.explore.bijection.explorer`.
"""

from __future__ import annotations

from .. import repro
from .._checks import check_int
from ..model.transformer import Transformer, config_for
from ..plot import layers as plots_layers
from ..probe import layers as probe_layers
from ..tasks.sentences import make_sentence_task
from ..train.loop import train
from ..train.recipe import TrainConfig
from .bijection import explorer, int_slider, log2_slider

__all__ = ["LIVE_N", "LIVE_R", "LIVE_STEPS", "SPLIT_LABELS", "layers_view", "layers_explorer"]

LIVE_N, LIVE_R = 32, 2  # small enough to train in a few seconds, enough held-out subjects (7) to score a probe
LIVE_TEMPLATES = 2  # training templates per relation (and 2 held out)
LIVE_STEPS = 200  # full-batch AdamW steps at lr 1e-2: every depth from 1 to 4 at d >= 16 recalls its facts
SPLIT_LABELS = {
    "train": "trained facts",
    "heldout_templates": "unseen templates",
    "inverse": "inverse, never trained",
    "inverse_trained": "inverse, trained",
}


def layers_view(n_layers: int, d_model: int, *, steps: int = LIVE_STEPS, seed: int = 0):
    """Train a model of ``n_layers`` layers and width ``d_model`` (d_mlp = 4 d) on the sentences of N = 32 entities and
    R = 2 relations (2 training and 2 held-out templates per relation, half the entities also asked the inverse way)
    for ``steps`` full-batch AdamW steps, and draw recall per split (argmax at the answer token) above the held-out
    superposition R^2 of x_0 .. x_L at the subject token and the last token before the answer
    (:func:`georecall.probe.layers.probe_vectors`). About 1 to 3 s on one core."""
    check_int("n_layers", n_layers, 1, 8)
    check_int("d_model", d_model, 4, 128)
    check_int("steps", steps, 1, 10_000)
    with repro.torch_threads(1):
        task = make_sentence_task(LIVE_N, LIVE_R, seed=seed, n_templates=LIVE_TEMPLATES, n_heldout=2)
        train_set = task.split("train")
        data = train_set.lm_facts()
        model = Transformer(config_for(data, d_model, n_layers=n_layers, init_seed=seed))
        result = train(model, data, TrainConfig(max_steps=steps, eval_every=steps, early_stop=False), progress=False)
        if result.failed:
            raise ValueError(f"training failed: {result.failed}")
        sets = {
            "train": train_set.subset(~train_set.inverse),
            "heldout_templates": task.split("heldout_templates"),
            "inverse": task.split("inverse"),
            "inverse_trained": train_set.subset(train_set.inverse),
        }
        recall = {SPLIT_LABELS[k]: probe_layers.sentence_recall(model, s) for k, s in sets.items()}
        vectors = probe_layers.residual_vectors(model, task)
        codes = probe_layers.entity_codes(model, LIVE_N)
        r2 = {
            token: [
                probe_layers.probe_vectors(vectors, task.facts.perms, codes, token=token, layer=layer, seed=seed)[
                    "superposition_r2"
                ]
                for layer in range(n_layers + 1)
            ]
            for token in probe_layers.TOKENS
        }
    title = f"L={n_layers}, d={d_model}: N={LIVE_N}, R={LIVE_R}, {steps} steps; chance 1/N = {1 / LIVE_N:.3f}"
    return plots_layers.plot_layers_live(recall, r2, title=title)


def layers_explorer(*, n_layers: int = 2, d_model: int = 16):
    """Sliders for the depth L and the width d: train a small sentence model (a few seconds) and redraw its recall per
    split and superposition R^2 per layer."""
    controls = {
        "n_layers": int_slider("layers L", n_layers, 1, 4),
        "d_model": log2_slider("d", d_model, 3, 5),
    }
    return explorer(controls, layers_view, title="Train a model of L layers on fact sentences, then probe each layer")
