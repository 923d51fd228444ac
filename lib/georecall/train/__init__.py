"""Training: the recipe (:mod:`.recipe`, torch-free), one model-agnostic loop (:mod:`.loop`), many same-shape models at
once (:mod:`.batched`, with the stacked L-block forward of :mod:`.stacked`), the fused one-layer answer-position step
both use (:mod:`._fused`), and one network across K fact sets (:mod:`.crossset`).

The recipe is imported at once; everything that needs torch is loaded on first use, so the torch-free stages above
(``sweep``, ``analyse``) can name a :class:`TrainConfig` without importing torch.
"""

from .._lazy import lazy
from .recipe import BOOK_RECIPE, TrainConfig, TrainResult, non_finite_reason

_LAZY = {  # name -> the module that defines it (imported on first use: it imports torch)
    "train": ".loop",
    "fit": ".loop",
    "evaluate": ".loop",
    "Evaluation": ".loop",
    "loss_and_correct": ".loop",
    "train_batched": ".batched",
    "CrossSetResult": ".crossset",
    "crossset_loss": ".crossset",
    "train_crossset": ".crossset",
}

__all__ = ["TrainConfig", "TrainResult", "BOOK_RECIPE", "non_finite_reason", *_LAZY]
__getattr__ = lazy(__name__, _LAZY)
