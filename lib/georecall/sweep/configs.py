"""Sweeps, declared: run configs, experiments and presets' containers (no torch at import); the threshold search's
lines and bookkeeping are :mod:`georecall.sweep.search`.

A sweep point is a :class:`RunConfig` (task size, model shape, recipe, seed, device); its fields hash to its
cache key (:mod:`georecall.sweep.cache`). Points that differ only in ``seed``/``lr`` share a shape and train together
as one stack (:meth:`RunConfig.group_key`). The named presets are in :mod:`georecall.sweep.presets`; running them is
:mod:`georecall.run.runner`'s job; reading the resulting tables is :mod:`georecall.analyse.bijection`'s. The
command line is ``python -m georecall sweep PRESET`` (``python -m georecall.sweep.configs PRESET`` is kept as an alias).

Two kinds of experiment:

- **grid**: a fixed list of points: :class:`RunConfig` (train, record accuracy) or
  ``sweep.probing.ProbePoint`` (train or build a model, then probe it: the probing study's tables).
- **threshold lines** (:class:`georecall.sweep.search.Line`): along an ordered grid of one axis (``d_model`` or
  ``n_subjects``), find where the majority of seeds stops/starts reaching ``target_accuracy``. The walk
  starts at a theory-informed grid index, steps (galloping) until the boundary is bracketed, then bisects; it
  trains only the points it needs, and each probe depends only on earlier results, so a rerun probes exactly
  the same points.

d* (E1) is the smallest d on the grid at which a majority (2 of 3) of seeds reaches >= 0.99 while the next
smaller grid value fails; the frozen control's capacity (E2) is the largest N whose N*R facts a majority
memorises at >= 0.99 while the next larger N fails.

A line may try several learning rates at each probe (``search.Line.lrs``): a seed then succeeds when *any* of the
rates reaches the target (the best of the rates, so a threshold is not raised by one fixed rate that happens
to be slow at that shape). The rates are tried in turn, each only for the seeds still failing and only while
the probe's verdict is open (:meth:`georecall.sweep.search.Line.probe_verdict`); the verdict equals that of training
every rate for every seed, because a seed that has succeeded stays a success and a probe that has its majority keeps it.

Multi-hop points (:class:`MultiHopConfig`) are run configs with ``hops`` h and the ``no_cot`` or ``cot`` sequence
format of ``georecall.model.multihop``; they search d* through the same lines and bookkeeping.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from typing import ClassVar

from .._checks import check_bool, check_choice, check_int, check_seed
from ..theory import bijection as theory
from ..theory import multihop as multihop_theory
from ..theory.multihop import COT, NO_COT  # multi-hop formats: answer at the last position, or every entity generated
from ..train.recipe import BOOK_RECIPE, TrainConfig
from . import cache as cache_mod

__all__ = [
    "RunConfig",
    "MultiHopConfig",
    "Experiment",
    "Preset",
    "D_GRID",
    "N_GRID_FROZEN",
    "FORMATS",
    "MULTIHOP_FORMATS",
    "NO_COT",
    "COT",
    "TASKS",
    "DEVICES",
    "MAJORITY",
    "majority",
    "E1_LRS",
]

FORMATS = ("single_hop", "noisy")
MULTIHOP_FORMATS = (NO_COT, COT)
TASKS = ("bijection", "disjoint")  # shared attributes (tasks.make_task) or disjoint sets (disjoint.make_disjoint_task)
DEVICES = ("cpu", "cuda")
# d grid for E1: every integer from 1 to 12 (R = 1, 2 thresholds sit at 2..6; d = 1 so that none is censored at the
# grid's bottom), then steps of ~15%; the line search bisects it, so a fine grid costs a probe more, not a denser sweep
D_GRID = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 18, 20, 23, 26, 30, 34, 39, 45, 52, 60, 69, 80, 92, 106, 128)
# N grid for the frozen capacity search (steps of ~12-25%)
N_GRID_FROZEN = (
    4,
    5,
    6,
    7,
    8,
    10,
    12,
    14,
    16,
    20,
    24,
    28,
    32,
    40,
    48,
    56,
    64,
    80,
    96,
    112,
    128,
    160,
    192,
    224,
    256,
    320,
    384,
    448,
    512,
    640,
    768,
    896,
    1024,
    1280,
    1536,
    1792,
    2048,
)
MAJORITY = 0.5  # a probe succeeds when more than this share of its seeds reaches the target
E1_LRS = (1e-2, 3e-2, 3e-3)  # rates tried in turn at each d* probe: the book's rate first, then its neighbours


def majority(n_ok, n_seeds):
    """The one success rule of a probe, used by the search and every analysis: more than ``MAJORITY`` of its seeds
    reach the target, ``n_ok > MAJORITY * n_seeds`` (2 of 3, 2 of 2). Elementwise on arrays and pandas columns.

    >>> majority(2, 3), majority(1, 2), majority(2, 2)
    (True, False, True)
    """
    return n_ok > MAJORITY * n_seeds


# --- configs ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """One sweep point: task, model shape, training recipe, seed and device. Hashes to its cache key."""

    n_subjects: int = 64  # N; = attributes
    n_relations: int = 2  # R
    d_model: int = 16  # d: the swept width
    d_mlp: int = 64  # m; E1 uses 4*d
    n_heads: int = 1  # one head routes single-hop
    freeze_embed: bool = False  # True: W_E and W_U stay random (the associative-memory control, E2)
    freeze_unembed: bool = False  # True: only W_U stays random (fixed attribute codes; probing study)
    tie_embed: bool = False  # True: W_U = W_E[:N]^T (probing study)
    init_scale: float = 1.0  # initial weights' standard deviations times this (probing study)
    data_format: str = "single_hop"  # "single_hop" ([s, r]) or "noisy" (T = 32 with noise tokens and EOS)
    seq_len: int = 32  # noisy format only: sequence length T
    noisy_copies: int = (
        8  # noisy format only: noisy copies of every fact in each fresh training batch and in the eval set
    )
    # the training recipe: train.BOOK_RECIPE unless a preset says otherwise (see train_config)
    lr: float = BOOK_RECIPE.lr
    weight_decay: float = BOOK_RECIPE.weight_decay
    max_steps: int = BOOK_RECIPE.max_steps
    eval_every: int = BOOK_RECIPE.eval_every
    batch_size: int = BOOK_RECIPE.batch_size
    full_batch_max: int = BOOK_RECIPE.full_batch_max  # full batch while N*R (x copies) <= this
    target_accuracy: float = BOOK_RECIPE.target_accuracy  # capacity runs stop at >= 0.99 on all facts
    early_stop: bool = BOOK_RECIPE.early_stop  # False: train all max_steps (the probing study's fixed budgets)
    seed: int = 0  # one integer for the task, init, data-order (and noise) streams, which stay independent
    device: str = "cpu"  # "cpu" or "cuda"; part of the key (results differ in round-off)
    # the disjoint-attribute task: relation r answers from its own D classes (n_answers = D; None for "bijection").
    # Its noisy format trains on fresh minibatches of batch_size uniform facts (disjoint.noisy_batch) and is judged
    # on a held-out draw (heldout_accuracy, never used for stopping); noisy_copies sizes the stopping draw.
    task: str = "bijection"
    n_answers: int | None = None

    formats: ClassVar[tuple[str, ...]] = FORMATS  # the data formats this kind of point accepts (not a field)

    def __post_init__(self) -> None:
        check_int("n_subjects (N)", self.n_subjects, 2, 2**24)
        check_int("n_relations (R)", self.n_relations, 1, 4096)
        check_int("d_model (d)", self.d_model, 1, 2**16)
        check_int("d_mlp", self.d_mlp, 1, 2**18)
        check_int("n_heads", self.n_heads, 1, 1024)
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads must divide d_model; got d_model={self.d_model}, n_heads={self.n_heads}")
        check_bool("freeze_embed", self.freeze_embed)
        check_choice("data_format", self.data_format, self.formats)
        check_int("seq_len", self.seq_len, 3, 4096)
        check_int("noisy_copies", self.noisy_copies, 1, 1024)
        if not (isinstance(self.lr, float) and 0 < self.lr <= 1):
            raise ValueError(f"lr must be a float in (0, 1], got {self.lr!r}")
        if not (isinstance(self.weight_decay, float) and 0 <= self.weight_decay < 1):
            raise ValueError(f"weight_decay must be a float in [0, 1), got {self.weight_decay!r}")
        check_int("max_steps", self.max_steps, 1, 2**24)
        check_int("eval_every", self.eval_every, 1, 2**24)
        check_int("batch_size", self.batch_size, 1, 2**24)
        check_int("full_batch_max", self.full_batch_max, 1, 2**28)
        if not (isinstance(self.target_accuracy, float) and 0 < self.target_accuracy <= 1):
            raise ValueError(f"target_accuracy must be a float in (0, 1], got {self.target_accuracy!r}")
        for name in ("freeze_unembed", "tie_embed", "early_stop"):
            check_bool(name, getattr(self, name))
        if self.tie_embed and (self.freeze_unembed or self.freeze_embed):
            raise ValueError("tie_embed cannot be combined with freeze_embed or freeze_unembed")
        if not (isinstance(self.init_scale, float) and 0 < self.init_scale <= 100):
            raise ValueError(f"init_scale must be a float in (0, 100], got {self.init_scale!r}")
        check_seed("seed", self.seed)
        check_choice("device", self.device, DEVICES)
        check_choice("task", self.task, TASKS)
        if self.task == "disjoint":
            check_int("n_answers (D)", self.n_answers, 1, 2**20)
            if self.n_relations * self.n_answers < 2:
                raise ValueError("n_relations (R) * n_answers (D) must be >= 2 for the disjoint task (two classes)")
        elif self.n_answers is not None:
            raise ValueError(f"n_answers (D) is for task='disjoint' only; got n_answers={self.n_answers!r}")

    # derived sizes
    @property
    def n_facts(self) -> int:
        """N * R facts."""
        return self.n_subjects * self.n_relations

    @property
    def n_sequences(self) -> int:
        """Training sequences: N*R, times ``noisy_copies`` in the noisy format."""
        return self.n_facts * (self.noisy_copies if self.data_format == "noisy" else 1)

    @property
    def T(self) -> int:
        return self.seq_len if self.data_format == "noisy" else 2

    @property
    def d_vocab(self) -> int:
        extra = (self.n_subjects + self.n_relations) + 1 if self.data_format == "noisy" else 0  # noise tokens + EOS
        return self.n_subjects + self.n_relations + extra

    @property
    def d_vocab_out(self) -> int:
        """Output classes: N shared attributes, or R*D disjoint ones."""
        return self.n_relations * self.n_answers if self.task == "disjoint" else self.n_subjects

    @property
    def judged_on(self) -> str:
        """The table column that decides success: ``heldout_accuracy`` for the disjoint noisy format (a draw
        never used for stopping), else ``accuracy`` (all facts; the draw the run stopped on in the noisy case)."""
        return "heldout_accuracy" if (self.task == "disjoint" and self.data_format == "noisy") else "accuracy"

    @property
    def n_params_nonembed(self) -> int:
        """Attention + MLP parameters (``theory.param_count``): the N-independent, trainable part in both regimes."""
        return theory.param_count(self.d_model, self.d_mlp)

    def train_config(self) -> TrainConfig:
        """The point's training recipe, with the data-order stream drawn from the point's seed."""
        return TrainConfig(
            lr=self.lr,
            weight_decay=self.weight_decay,
            max_steps=self.max_steps,
            full_batch_max=self.full_batch_max,
            batch_size=self.batch_size,
            eval_every=self.eval_every,
            target_accuracy=self.target_accuracy,
            data_seed=self.seed,
            early_stop=self.early_stop,
        )

    def model_kwargs(self) -> dict:
        """Keywords of ``models.ModelConfig.for_task`` for this point's model (its init stream is the point's seed)."""
        return dict(
            d_model=self.d_model,
            d_mlp=self.d_mlp,
            n_heads=self.n_heads,
            freeze_embed=self.freeze_embed,
            freeze_unembed=self.freeze_unembed,
            tie_embed=self.tie_embed,
            init_scale=self.init_scale,
            init_seed=self.seed,
        )

    def key(self) -> str:
        """The cache key (sha256 of canonical JSON with ``CACHE_VERSION``)."""
        return cache_mod.config_key(self)

    def group_key(self) -> tuple:
        """Points with equal group keys share a shape and recipe and train as one stack (seed, lr may differ)."""
        d = dataclasses.asdict(self)
        for k in ("seed", "lr", "weight_decay", "target_accuracy"):
            d.pop(k)
        return tuple(sorted(d.items()))

    def with_axis(self, axis: str, value: int) -> "RunConfig":
        """This config moved along a search axis: ``d_model`` (with d_mlp = 4*d) or ``n_subjects``."""
        if axis == "d_model":
            return replace(self, d_model=value, d_mlp=4 * value)
        if axis == "n_subjects":
            return replace(self, n_subjects=value)
        raise ValueError(f"axis must be 'd_model' or 'n_subjects', got {axis!r}")


@dataclass(frozen=True, kw_only=True)
class MultiHopConfig(RunConfig):
    """One multi-hop sweep point: all N R^h h-hop queries (x, r_1, ..., r_h) of ``make_task(N, R, seed)``.

    ``data_format``: ``no_cot`` ([x, N+r_1, ..., N+r_h], the answer y_h at the last position, ``n_heads`` = h: one
    head per hop, as the path-superposition construction) or ``cot`` ([x, N+r_1, y_1, ..., N+r_h], every y_i the
    target at r_i's position, trained with teacher forcing and scored by autoregressive decoding; ``n_heads`` = 1).
    At h = 1 both formats are the single-hop [s, r] task. ``noisy_copies``, ``seq_len``, ``freeze_embed``, ``task``,
    ``n_answers`` and the probing study's model switches (``freeze_unembed``, ``tie_embed``, ``init_scale``) are not
    used (keep their defaults). A distinct type, so its cache keys never meet a single-hop point's.
    """

    hops: int = 2  # h
    data_format: str = NO_COT
    formats: ClassVar[tuple[str, ...]] = MULTIHOP_FORMATS

    def __post_init__(self) -> None:
        super().__post_init__()
        multihop_theory.check_hops(self.hops)
        heads = self.hops if self.data_format == NO_COT else 1
        if self.n_heads != heads:
            raise ValueError(
                f"n_heads must be {heads} for data_format={self.data_format!r} at hops={self.hops} "
                f"(no_cot: one head per hop; cot: one head), got {self.n_heads}"
            )
        if self.freeze_embed or self.task != "bijection":
            raise ValueError(
                "multi-hop points need freeze_embed=False and task='bijection' (frozen embeddings and the disjoint "
                f"task are not studied with multiple hops); got freeze_embed={self.freeze_embed}, task={self.task!r}"
            )
        if self.freeze_unembed or self.tie_embed or self.init_scale != 1.0:
            raise ValueError(
                "multi-hop points keep freeze_unembed=False, tie_embed=False and init_scale=1.0 (the probing study's "
                f"switches); got freeze_unembed={self.freeze_unembed}, tie_embed={self.tie_embed}, "
                f"init_scale={self.init_scale}"
            )

    @property
    def n_facts(self) -> int:
        """N R^h queries (one target sequence each)."""
        return self.n_subjects * self.n_relations**self.hops

    @property
    def n_sequences(self) -> int:
        return self.n_facts

    @property
    def T(self) -> int:
        """Sequence length of the training data: h + 1 without CoT, 2h with CoT (teacher forcing drops y_h)."""
        return self.hops + 1 if self.data_format == NO_COT else 2 * self.hops

    @property
    def d_vocab(self) -> int:
        return self.n_subjects + self.n_relations


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """A named table: a fixed grid of points and/or threshold lines."""

    name: str
    description: str
    points: tuple = ()  # RunConfig, or sweep.probing.ProbePoint (one kind per experiment)
    lines: tuple = ()  # search.Line

    def __post_init__(self) -> None:
        kinds = {type(p) for p in self.points}
        if len(kinds) > 1:
            raise TypeError(
                f"experiment {self.name!r}: points must be of one kind (RunConfig, ProbePoint, CrossSetPoint, "
                "HeldOutChains or LayersPoint)"
            )
        if self.lines and (self.probing or self.crossset or self.heldout or self.layers):
            raise ValueError(
                f"experiment {self.name!r}: threshold lines cannot be mixed with probing, cross-set, held-out or "
                "layers points"
            )

    @property
    def crossset(self) -> bool:
        """True when the points are ``sweep.crossset.CrossSetPoint`` (recognised by their ``parameterization``)."""
        return bool(self.points) and hasattr(self.points[0], "parameterization")

    @property
    def heldout(self) -> bool:
        """True when the points are ``sweep.multihop.HeldOutChains`` (recognised by their ``train_fraction``)."""
        return bool(self.points) and hasattr(self.points[0], "train_fraction")

    @property
    def layers(self) -> bool:
        """True when the points are ``sweep.layers.LayersPoint`` (recognised by their ``study`` marker)."""
        return bool(self.points) and getattr(self.points[0], "study", None) == "layers"

    @property
    def probing(self) -> bool:
        """True when the points are ``sweep.probing.ProbePoint`` (a RunConfig in ``run``; the study's tables)."""
        return bool(self.points) and isinstance(getattr(self.points[0], "run", None), RunConfig)


@dataclass(frozen=True, kw_only=True)
class Preset:
    name: str
    description: str
    experiments: tuple[Experiment, ...]

    def with_device(self, device: str) -> "Preset":
        def move(c):
            if hasattr(c, "run"):  # a probing point
                return replace(c, run=replace(c.run, device=device))
            if hasattr(c, "parameterization"):  # a cross-set point: its trainer runs on the CPU wherever the rest goes
                return c
            return replace(c, device=device)

        exps = tuple(
            replace(
                e,
                points=tuple(move(c) for c in e.points),
                lines=tuple(replace(line, base=move(line.base)) for line in e.lines),
            )
            for e in self.experiments
        )
        return replace(self, experiments=exps)
