"""The layers study's points (issue "Beyond one layer"): :class:`LayersPoint`, the ``layers`` grid and its ``smoke``
subset [recon].

A point is one model of L layers trained by next-token prediction on fact sentences
(:mod:`georecall.tasks.sentences`), then probed layer by layer, mean-ablated block by block and counted in bits per
parameter (:mod:`georecall.run.layers`, :mod:`georecall.probe.layers`). No torch at import.

The grid: L in {1, 2, 4} at N = 64 entities, R = 2 relations (4 training and 2 held-out templates per relation, half
the entities also trained in the inverse direction), d = 32 (d_mlp = 4 d: sixteen times Chapter 3's d* = 2 of the
``[s, r]`` format at this N and R, so every depth memorises its facts), 500 full-batch AdamW steps at lr 1e-2 (in
profiling every depth recalled all of its trained forward facts after 500 steps on both seeds), 2 seeds. The smoke
subset is the cheapest committed point: L = 1, seed 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .._checks import ArgumentTypeError, check_choice, check_float, check_int, check_seed
from . import cache as cache_mod
from .configs import DEVICES

__all__ = [
    "STUDY",
    "LayersPoint",
    "LAYERS_N",
    "LAYERS_R",
    "LAYERS_D",
    "LAYERS_L",
    "LAYERS_STEPS",
    "LAYERS_SEEDS",
    "layers_points",
    "layers_smoke_points",
    "check_point",
    "is_layers_point",
]

STUDY = "layers"  # the value of LayersPoint.study: tells the runner a point's kind from its JSON alone


@dataclass(frozen=True, kw_only=True)
class LayersPoint:
    """One sentence-trained model of ``n_layers`` layers and its measurements: the sentence task (N entities, R
    relations, templates, inverse share; all drawn from ``seed``), the model (d, d_mlp = 4 d, one head; init seed
    ``seed``) and the recipe (full-batch AdamW, constant ``lr``, exactly ``steps`` steps: the next-token loss over
    whole sentences has a floor where filler words are unpredictable, so no early stop; data seed ``seed``). The
    probes' subject split, random network and shuffled labels are seeded by ``seed`` too."""

    n_entities: int = 64
    n_relations: int = 2
    n_layers: int = 1
    d_model: int = 32
    n_templates: int = 4
    n_heldout: int = 2
    inverse_share: float = 0.5
    steps: int = 500
    lr: float = 1e-2
    seed: int = 0
    device: str = "cpu"
    study: str = STUDY  # not a parameter: marks the point as this study's in the cache and the executors

    def __post_init__(self) -> None:
        check_int("n_entities (N)", self.n_entities, 8, 4096)  # the probes hold out a fifth of the subjects
        check_int("n_relations (R)", self.n_relations, 1, 64)
        check_int("n_layers (L)", self.n_layers, 1, 16)
        check_int("d_model (d)", self.d_model, 1, 1024)
        check_int("n_templates", self.n_templates, 1, 32)
        check_int("n_heldout", self.n_heldout, 1, 32)  # the held-out-template recall is part of every row
        check_float("inverse_share", self.inverse_share, 0.0, 1.0, lo_open=True, hi_open=True)
        check_int("steps", self.steps, 1, 2**20)
        check_float("lr", self.lr, 0.0, lo_open=True)
        check_seed("seed", self.seed)
        check_choice("device", self.device, DEVICES)
        if self.study != STUDY:
            raise ValueError(f"study must be {STUDY!r} (it marks the point's kind), got {self.study!r}")

    def sentence_kwargs(self) -> dict:
        """The keyword arguments of ``tasks.sentences.make_sentence_task`` for this point."""
        return dict(
            n_entities=self.n_entities,
            n_relations=self.n_relations,
            seed=self.seed,
            n_templates=self.n_templates,
            n_heldout=self.n_heldout,
            inverse_share=self.inverse_share,
        )

    def key(self) -> str:
        """The cache key (sha256 of canonical JSON with ``CACHE_VERSION``)."""
        return cache_mod.config_key(self)

    def group_key(self) -> tuple:
        """Every point is its own unit of work."""
        return (STUDY, self.key())

    def asdict(self) -> dict:
        return asdict(self)

    def memory_bytes(self) -> int:
        """A rough upper estimate of training memory: float32 logits of every training sentence's T positions over
        the vocabulary with log-softmax and gradients (16 n T V bytes), activations (4 x 8 n T L (d + 4 d)) and the
        weights with gradients and AdamW moments (16 P); n <= N R T_r (1 + share), T <= 10, V ~ N + 4 R + 18."""
        N, R, L, d = self.n_entities, self.n_relations, self.n_layers, self.d_model
        n, T, V = 2 * N * R * self.n_templates, 10, N + 8 * R + 18
        P = 2 * V * d + L * 12 * d * d
        return 16 * n * T * V + 32 * n * T * L * 5 * d + 16 * P


LAYERS_N, LAYERS_R, LAYERS_D = 64, 2, 32
LAYERS_L = (1, 2, 4)
LAYERS_STEPS = 500
LAYERS_SEEDS = (0, 1)


def layers_points() -> tuple[LayersPoint, ...]:
    """The layers grid (module docstring): L in ``LAYERS_L`` x seeds, depth-major."""
    return tuple(
        LayersPoint(n_entities=LAYERS_N, n_relations=LAYERS_R, n_layers=L, d_model=LAYERS_D, steps=LAYERS_STEPS, seed=s)
        for L in LAYERS_L
        for s in LAYERS_SEEDS
    )


def layers_smoke_points() -> tuple[LayersPoint, ...]:
    """CI's subset: the committed L = 1, seed 0 point (seconds), retrained and compared with its committed rows."""
    return tuple(p for p in layers_points() if p.n_layers == 1 and p.seed == 0)


def is_layers_point(obj) -> bool:
    """Whether ``obj`` (a point or its ``asdict()``) is a :class:`LayersPoint`.

    >>> is_layers_point(LayersPoint().asdict()), is_layers_point({"n_subjects": 64})
    (True, False)
    """
    study = obj.get("study") if isinstance(obj, dict) else getattr(obj, "study", None)
    return study == STUDY


def check_point(obj) -> LayersPoint:
    """A :class:`LayersPoint` from itself or its ``asdict()``."""
    if isinstance(obj, LayersPoint):
        return obj
    if isinstance(obj, dict):
        return LayersPoint(**obj)
    raise ArgumentTypeError(f"a layers point must be a LayersPoint or its asdict(), got {type(obj).__name__}")
