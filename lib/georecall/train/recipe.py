"""The training recipe: :class:`TrainConfig` and the book's :data:`BOOK_RECIPE`.

Kept free of torch so that the declarative sweep configs (:mod:`georecall.sweep.configs`) take their defaults from
the same recipe the trainer runs; ``georecall.train.loop`` re-exports both names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._checks import check_bool, check_float, check_int, check_seed

__all__ = ["TrainConfig", "TrainResult", "BOOK_RECIPE", "non_finite_reason"]


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """A training recipe. The defaults are the book's recipe, :data:`BOOK_RECIPE` [recon]: AdamW at a constant
    lr = 1e-2 (Chapter 3's d* searches also try 3e-2 and 3e-3 per seed, best of three), no weight decay, full batch,
    at most 2048 steps (cut down from 2^14 to fit a 2-core CPU, so a threshold reads "within 2048 steps"), a
    full evaluation every 128 steps, stop at 99% of the facts."""

    lr: float = 1e-2  # constant
    weight_decay: float = 0.0  # 1e-4 is an ablation
    max_steps: int = 2048  # the book's budget; the paper-scale sweeps use 2^14
    full_batch_max: int = 2**14  # full batch while the data has at most this many sequences
    batch_size: int = 1024  # shuffled minibatches beyond full_batch_max
    eval_every: int = 128  # steps between full evaluations (and early-stop checks)
    target_accuracy: float = 0.99  # stop once reached (capacity runs); 1.0 trains until every fact is right
    data_seed: int = 0  # data stream: batch order, independent of task and init
    early_stop: bool = True  # False: train all max_steps, past the target (the probing study's fixed budgets)

    def __post_init__(self) -> None:
        check_float("lr", self.lr, 0.0, lo_open=True)  # finite: lr = inf or nan would train to NaN weights
        check_float("weight_decay", self.weight_decay, 0.0)
        for name in ("max_steps", "full_batch_max", "batch_size", "eval_every"):
            check_int(name, getattr(self, name), 1)
        check_float("target_accuracy", self.target_accuracy, 0.0, 1.0, lo_open=True)
        check_seed("data_seed", self.data_seed)
        check_bool("early_stop", self.early_stop)


BOOK_RECIPE = TrainConfig()  # the one recipe of the sweeps, the explorers and the chapters (derive others with replace)


@dataclass
class TrainResult:
    """What one training run returns (``train.train``, one per model from ``batched.train_batched``)."""

    accuracy: float  # final accuracy on all the data
    loss: float  # final loss
    steps: int  # optimisation steps taken
    reached_target: bool
    seconds: float
    history: dict[str, list[float]] = field(default_factory=lambda: {"step": [], "loss": [], "accuracy": []})
    failed: str | None = None  # why training stopped without a usable model (the loss became NaN or inf), else None


def non_finite_reason(loss: float, step: int) -> str | None:
    """The failure recorded when the loss at ``step`` is NaN or infinite (diverged training), else None."""
    if loss == loss and abs(loss) != float("inf"):
        return None
    return f"loss became {loss} at step {step} (diverged: lower lr or check the data)"
