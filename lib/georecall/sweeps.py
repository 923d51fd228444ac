"""Sweeps: run configs, named presets, the d* and capacity searches, and the tidy tables the chapters read.

A sweep point is a :class:`RunConfig` (task size, model shape, recipe, seed, device). Points that differ
only in ``seed``/``lr`` share a shape and are trained together as one stack by
:func:`georecall.batched.train_batched`; each point is stored on its own in the content-addressed cache
(:mod:`georecall.cache`), so an interrupted sweep resumes where it stopped. Work goes through any
``concurrent.futures.Executor``: inline (one process), a local process pool (the default), or a Dask
``distributed`` client (``client.get_executor()``), so the same sweep runs on a laptop or a cluster.

Two kinds of experiment:

- **grid**: a fixed list of points.
- **threshold lines**: along an ordered grid of one axis (``d_model`` or ``n_subjects``), find where the
  majority of seeds stops/starts reaching ``target_accuracy``. The walk starts at a theory-informed grid
  index, steps (galloping) until the boundary is bracketed, then bisects; it trains only the points it
  needs, and each probe depends only on earlier results, so a rerun probes exactly the same points.

d* (E1) is the smallest d on the grid at which a majority (2 of 3) of seeds reaches >= 0.99 while the next
smaller grid value fails; the frozen control's capacity (E2) is the largest N whose N*R facts a majority
memorises at >= 0.99 while the next larger N fails. The CLI is ``python -m georecall.sweeps PRESET``.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import functools
import json
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import cache as cache_mod
from . import repro, theory
from ._checks import check_int

__all__ = [
    "RunConfig",
    "Line",
    "Experiment",
    "Preset",
    "PRESETS",
    "D_GRID",
    "N_GRID_FROZEN",
    "SCALES",
    "scale",
    "preset",
    "run_point",
    "run_or_load",
    "run_experiment",
    "run",
    "make_executor",
    "InlineExecutor",
    "estimate_memory_bytes",
    "check_memory",
    "available_memory_bytes",
    "write_tables",
    "load_tables",
    "TABLE_COLUMNS",
    "BOOK_TABLES",
    "thresholds",
    "frozen_capacity",
    "fit_line",
    "FitResult",
    "accuracy_curves",
    "lr_summary",
    "dstar_growth",
    "describe_growth",
    "fit_power_law",
    "learned_reach",
    "side_by_side",
    "bits_table",
    "bits_stored",
    "train_inspect",
]

FORMATS = ("single_hop", "noisy")
DEVICES = ("cpu", "cuda")
SCALES = ("smoke", "full")
# d grid for E1: every integer to 12 (R = 1, 2 thresholds sit at 2..6), then steps of ~15%; the line search
# bisects it, so a fine grid costs a couple of probes more, not a denser sweep
D_GRID = (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 18, 20, 23, 26, 30, 34, 39, 45, 52, 60, 69, 80, 92, 106, 128)
# N grid for the frozen capacity search (steps of ~12-25%)
N_GRID_FROZEN = (4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256,
                 320, 384, 448, 512, 640, 768, 896, 1024, 1280, 1536, 1792, 2048)
BOOK_TABLES = ("e1_capacity", "e1_lr_check", "e2_frozen", "e2_learned")  # book/_data/<name>.csv, from the book preset
MAJORITY = 0.5  # a probe succeeds when more than this share of its seeds reaches the target
MEMORY_HEADROOM = 0.8  # a grid may plan for at most this share of the available memory


# --- configs ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """One sweep point: task, model shape, training recipe, seed and device. Hashes to its cache key."""

    n_subjects: int = 64  # N; = attributes
    n_relations: int = 2  # R
    d_model: int = 16  # d: the swept width
    d_mlp: int = 64  # m; E1 uses 4*d (science §3)
    n_heads: int = 1  # one head routes single-hop
    freeze_embed: bool = False  # True: W_E and W_U stay random (the associative-memory control, E2)
    data_format: str = "single_hop"  # "single_hop" ([s, r]) or "noisy" (T = 32 with noise tokens and EOS)
    seq_len: int = 32  # noisy format only: sequence length T
    noisy_copies: int = 8  # noisy format only: noisy copies of every fact in each fresh training batch and in the eval set
    lr: float = 1e-2  # AdamW, constant; validated against 3e-3 in the book (see README.sweeps.md)
    weight_decay: float = 0.0  # science §3 default
    max_steps: int = 2048  # reduced from 2^14 to fit a 2-core CPU budget; d* is "within 2048 steps"
    eval_every: int = 128  # science §3
    batch_size: int = 1024  # minibatch size beyond full_batch_max
    full_batch_max: int = 2**14  # full batch while N*R (x copies) <= 2^14 (science §3)
    target_accuracy: float = 0.99  # capacity runs stop at >= 0.99 on all facts
    seed: int = 0  # one integer for the task, init, data-order (and noise) streams, which stay independent
    device: str = "cpu"  # "cpu" or "cuda"; part of the key (results differ in round-off)

    def __post_init__(self) -> None:
        check_int("n_subjects (N)", self.n_subjects, 2, 2**24)
        check_int("n_relations (R)", self.n_relations, 1, 4096)
        check_int("d_model (d)", self.d_model, 1, 2**16)
        check_int("d_mlp", self.d_mlp, 1, 2**18)
        check_int("n_heads", self.n_heads, 1, 1024)
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads must divide d_model; got d_model={self.d_model}, n_heads={self.n_heads}")
        if self.data_format not in FORMATS:
            raise ValueError(f"data_format must be one of {FORMATS}, got {self.data_format!r}")
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
        check_int("seed", self.seed, 0, 2**62)
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")

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
    def n_params_nonembed(self) -> int:
        """Attention + MLP parameters, 4*d^2 + 2*d*m + m: the N-independent, trainable part in both regimes."""
        d, m = self.d_model, self.d_mlp
        return 4 * d * d + 2 * d * m + m

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
class Line:
    """A threshold search along ``axis`` over ``grid`` for one base config and several seeds.

    ``success_increases``: True when success becomes likelier up the grid (d*), False when it becomes
    rarer (capacity in N). ``start`` is the grid index probed first.
    """

    base: RunConfig
    seeds: tuple[int, ...] = (0, 1, 2)
    axis: str = "d_model"
    grid: tuple[int, ...] = D_GRID
    start: int = 0
    success_increases: bool = True

    def __post_init__(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and non-empty, got {self.seeds}")
        if list(self.grid) != sorted(set(self.grid)) or not self.grid:
            raise ValueError(f"grid must be strictly increasing and non-empty, got {self.grid}")
        if not 0 <= self.start < len(self.grid):
            raise ValueError(f"start must be a grid index in [0, {len(self.grid) - 1}], got {self.start}")
        for v in self.grid:
            self.base.with_axis(self.axis, v)  # validates every grid value (negative sizes fail here)

    def configs_at(self, index: int) -> list[RunConfig]:
        c = self.base.with_axis(self.axis, self.grid[index])
        return [replace(c, seed=s) for s in self.seeds]


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """A named table: a fixed grid of points and/or threshold lines."""

    name: str
    description: str
    points: tuple[RunConfig, ...] = ()
    lines: tuple[Line, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Preset:
    name: str
    description: str
    experiments: tuple[Experiment, ...]

    def with_device(self, device: str) -> "Preset":
        def move(c: RunConfig) -> RunConfig:
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


# --- presets --------------------------------------------------------------------------------------------------------


def _d_start(N: int, R: int, grid: Sequence[int] = D_GRID) -> int:
    """First d probe: the grid value nearest the counting bound at p = 1.5 bits/param (theory.lower_bound_d),
    where pilot runs put d*; only a prior that saves probes, the search moves away from it as needed."""
    guess = max(2.0, float(theory.lower_bound_d(N, R, bits_per_param=1.5)))
    return int(np.argmin([abs(math.log(g / guess)) for g in grid]))


def _n_start(d: int, m: int, R: int, grid: Sequence[int] = N_GRID_FROZEN, facts_per_param: float = 0.12) -> int:
    """First N probe for the frozen capacity: N*R ~ facts_per_param * P (a prior; the search corrects it)."""
    P = 4 * d * d + 2 * d * m + m
    guess = max(grid[0], facts_per_param * P / R)
    return int(np.argmin([abs(math.log(g / guess)) for g in grid]))


def _e1_lines(Ns: Iterable[int], Rs: Iterable[int], *, skip=(), seeds=(0, 1, 2), **kw) -> tuple[Line, ...]:
    lines = []
    for R in Rs:
        for N in Ns:
            if (N, R) in skip:
                continue
            base = RunConfig(n_subjects=N, n_relations=R, d_model=D_GRID[0], d_mlp=4 * D_GRID[0], **kw)
            lines.append(Line(base=base, seeds=seeds, axis="d_model", grid=D_GRID, start=_d_start(N, R)))
    return tuple(lines)


def _e2_lines(shapes, *, R: int, data_format: str, freeze: bool = True, seeds=(0, 1), prior: float = 0.12, **kw) -> tuple[Line, ...]:
    lines = []
    for d, m in shapes:
        base = RunConfig(
            n_subjects=N_GRID_FROZEN[0], n_relations=R, d_model=d, d_mlp=m, freeze_embed=freeze, data_format=data_format, **kw
        )
        lines.append(
            Line(base=base, seeds=seeds, axis="n_subjects", grid=N_GRID_FROZEN, start=_n_start(d, m, R, facts_per_param=prior),
                 success_increases=False)
        )
    return tuple(lines)


E2_R = 4  # relations in the frozen control (facts = 4 N)
E2_SHAPES_BOOK = ((8, 32), (16, 16), (16, 64), (32, 32), (16, 256), (32, 128))  # P = 800 ... 12416
E2_SHAPES_NOISY = ((8, 32), (16, 16), (16, 64))
NOISY_COPIES_BOOK = 1  # one fresh noisy copy of every fact per step (T = 32 makes each step ~30x dearer than [s, r])
LR_CHECK_LRS = (3e-3, 1e-2, 3e-2)


def _lr_check_points(Ns=(64, 128), Rs=(4, 8), seeds=(0, 1, 2)) -> tuple[RunConfig, ...]:
    """The learning-rate validation grid: accuracy of each lr at d = the E1 starting guess, 3 seeds."""
    pts = []
    for N in Ns:
        for R in Rs:
            d = D_GRID[_d_start(N, R)]
            for lr in LR_CHECK_LRS:
                for s in seeds:
                    pts.append(RunConfig(n_subjects=N, n_relations=R, d_model=d, d_mlp=4 * d, lr=lr, seed=s))
    return tuple(pts)


def _side_by_side_points(seeds=(0, 1)) -> tuple[RunConfig, ...]:
    """Learned embeddings at the frozen control's shapes: [s, r] at (8, 32) and (16, 64), noisy at (16, 64)."""
    pts = []
    for (d, m), fmt, Ns in (
        ((8, 32), "single_hop", (64, 128, 256, 512)),
        ((16, 64), "single_hop", (64, 128, 256, 512)),
        ((16, 64), "noisy", (16, 32, 64, 128)),
    ):
        copies = NOISY_COPIES_BOOK if fmt == "noisy" else RunConfig().noisy_copies
        for N in Ns:
            for s in seeds:
                pts.append(
                    RunConfig(n_subjects=N, n_relations=E2_R, d_model=d, d_mlp=m, data_format=fmt, noisy_copies=copies, seed=s)
                )
    return tuple(pts)


def _smoke() -> Preset:
    return Preset(
        name="smoke",
        description="CI: E1 lines for N in {64, 128}, R in {1, 2, 4}; one frozen E2 line; a few minutes on 2 cores",
        experiments=(
            Experiment(name="e1_capacity", description="d* search (learned embeddings)", lines=_e1_lines((64, 128), (1, 2, 4))),
            Experiment(
                name="e2_frozen",
                description="frozen-embedding capacity search",
                lines=_e2_lines(((8, 32),), R=E2_R, data_format="single_hop"),
            ),
        ),
    )


def _book() -> Preset:
    return Preset(
        name="book",
        description="the committed tables of learned-capacity: E1 N in 64..1024, R in {1, 2, 4, 8}; E2 frozen vs learned",
        experiments=(
            Experiment(
                name="e1_capacity",
                description="d* search (learned embeddings), 3 seeds",
                # N^2 R sets the cost of a step: N = 1024 at R = 8 and N >= 2048 are left to the paper preset
                lines=_e1_lines((64, 128, 256, 512, 1024), (1, 2, 4, 8), skip={(1024, 8)}),
            ),
            Experiment(
                name="e2_frozen",
                description="frozen-embedding capacity search, [s, r] and noisy T = 32 formats, 2 seeds",
                lines=_e2_lines(E2_SHAPES_BOOK, R=E2_R, data_format="single_hop")
                + _e2_lines(E2_SHAPES_NOISY, R=E2_R, data_format="noisy", noisy_copies=NOISY_COPIES_BOOK, prior=0.02),
            ),
            Experiment(
                name="e2_learned",
                description="side by side: learned embeddings at the frozen control's (d, d_mlp) along N, 2 seeds",
                points=_side_by_side_points(),
            ),
            Experiment(name="e1_lr_check", description="lr in {3e-3, 1e-2, 3e-2} at the E1 start d", points=_lr_check_points()),
        ),
    )


def _paper() -> Preset:
    return Preset(
        name="paper",
        description="science.md's full grids: E1 N in 2^8..2^13, R in {1..16}, 2^14 steps; E2 d in {16, 32, 64}; GPU advised",
        experiments=(
            Experiment(
                name="e1_capacity",
                description="d* search, full grid",
                lines=_e1_lines((256, 512, 1024, 2048, 4096, 8192), (1, 2, 4, 8, 16), max_steps=2**14),
            ),
            Experiment(
                name="e2_frozen",
                description="frozen capacity, d in {16, 32, 64}, d_mlp in {d/4 .. 4d}",
                lines=_e2_lines(
                    [(d, m) for d in (16, 32, 64) for m in (d // 4, d // 2, d, 2 * d, 4 * d)],
                    R=E2_R,
                    data_format="single_hop",
                    max_steps=2**14,
                )
                + _e2_lines([(d, 4 * d) for d in (16, 32, 64)], R=E2_R, data_format="noisy", max_steps=2**14),
            ),
            Experiment(
                name="e2_learned",
                description="learned embeddings on the same capacity search",
                lines=_e2_lines([(d, 4 * d) for d in (16, 32, 64)], R=E2_R, data_format="single_hop", freeze=False, max_steps=2**14),
            ),
        ),
    )


PRESETS: dict[str, Callable[[], Preset]] = {"smoke": _smoke, "book": _book, "paper": _paper}


def preset(name: str, *, device: str = "cpu") -> Preset:
    """The named preset (``smoke``, ``book``, ``paper``), moved to ``device``."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]().with_device(device)


def scale() -> str:
    """``BOOK_SCALE`` (``smoke`` or ``full``; default ``smoke``), read once per call site."""
    value = os.environ.get("BOOK_SCALE", "smoke")
    if value not in SCALES:
        raise ValueError(f"BOOK_SCALE must be one of {SCALES}, got {value!r}")
    return value


# --- memory ---------------------------------------------------------------------------------------------------------


def estimate_memory_bytes(configs: Sequence[RunConfig]) -> int:
    """A rough upper estimate of the memory one stack of ``configs`` (one shape) needs while training.

    Per model: float32 logits with log-softmax and their gradients (4 * B * V_out), activations
    (~8 * B * T * (d + m)), data (2 int64 tensors of n * T), and weights with gradient and AdamW moments
    (4 * parameters). B is the full data (or ``batch_size`` beyond ``full_batch_max``), and evaluation chunks
    are bounded by ``batched.EVAL_ELEMENTS``.
    """
    from .batched import EVAL_ELEMENTS

    c = configs[0]
    M = len(configs)
    n = c.n_sequences
    B = n if n <= c.full_batch_max else c.batch_size
    q = 1  # the query position only (last_only)
    params = c.d_vocab * c.d_model + c.T * c.d_model + c.n_params_nonembed + c.d_model * c.n_subjects
    per_model = 4 * (4 * B * q * c.n_subjects + 8 * B * c.T * (c.d_model + c.d_mlp) + 4 * params) + 16 * n * c.T
    return int(M * per_model + 3 * 4 * EVAL_ELEMENTS)


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo, else total physical memory."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(groups: Sequence[Sequence[RunConfig]], workers: int, *, available: int | None = None) -> None:
    """Fail fast (``ValueError``) if the ``workers`` largest stacks would not fit in memory together."""
    if not groups:
        return
    available = available_memory_bytes() if available is None else available
    sizes = sorted((estimate_memory_bytes(g) for g in groups), reverse=True)
    need = sum(sizes[: max(1, workers)])
    if need > MEMORY_HEADROOM * available:
        biggest = max(groups, key=estimate_memory_bytes)[0]
        raise ValueError(
            f"this grid needs about {need / 2**30:.1f} GiB ({max(1, workers)} worker(s); largest stack "
            f"N={biggest.n_subjects}, R={biggest.n_relations}, d={biggest.d_model}, {len(groups[0])} model(s)), "
            f"more than {MEMORY_HEADROOM:.0%} of the {available / 2**30:.1f} GiB available; "
            "reduce N, R, d, the number of seeds, or --workers"
        )


# --- running points -------------------------------------------------------------------------------------------------


def _build(config: RunConfig):
    """Task, training data, model and TrainConfig of one point (all from the point's seed)."""
    from . import models, tasks, train

    task = tasks.make_task(config.n_subjects, config.n_relations, seed=config.seed)
    if config.data_format == "noisy":  # fresh noise every step (Nichani et al.); accuracy on a fixed fresh draw
        noisy = functools.partial(tasks.noisy_sequences, task, seq_len=config.seq_len, copies=config.noisy_copies)
        data = noisy(seed=repro.stream_seed(config.seed, "noisy-eval"))

        def resample(step: int):
            return noisy(seed=repro.stream_seed(config.seed, f"noisy-train/{step}"))

    else:
        data, resample = task.single_hop(), None
    mcfg = models.ModelConfig.for_task(
        data, config.d_model, d_mlp=config.d_mlp, n_heads=config.n_heads, freeze_embed=config.freeze_embed, init_seed=config.seed
    )
    model = models.Transformer(mcfg).to(repro.default_device(config.device))
    tcfg = train.TrainConfig(
        lr=config.lr,
        weight_decay=config.weight_decay,
        max_steps=config.max_steps,
        full_batch_max=config.full_batch_max,
        batch_size=config.batch_size,
        eval_every=config.eval_every,
        target_accuracy=config.target_accuracy,
        data_seed=config.seed,
    )
    return task, data, model, tcfg, resample


def _heldout_accuracy(config: RunConfig, task, model) -> float | None:
    """Noisy format: accuracy on another fresh noisy copy of every fact (a second, independent draw); else None."""
    if config.data_format != "noisy":
        return None
    from . import tasks, train

    fresh = tasks.noisy_sequences(task, seq_len=config.seq_len, copies=1, seed=repro.stream_seed(config.seed, "heldout"))
    return train.evaluate(model, fresh).accuracy


def _pack(config: RunConfig, task, model, result) -> dict:
    scalars = {
        "accuracy": result.accuracy,
        "loss": result.loss,
        "steps": result.steps,
        "reached_target": bool(result.reached_target),
        "seconds": result.seconds,
        "n_params": model.n_params(),
        "n_params_trainable": model.n_params(trainable_only=True),
        "n_params_nonembed": model.n_params(include_embeddings=False),
        "heldout_accuracy": _heldout_accuracy(config, task, model),
    }
    arrays = {f"history_{k}": np.asarray(v, dtype=np.float64) for k, v in result.history.items()}
    return {"scalars": scalars, "arrays": arrays}


def train_group(config_dicts: Sequence[dict], threads: int | None = 1) -> list[dict]:
    """Train one stack of same-shape points (the unit of work sent to an executor); JSON-able in and out.

    ``threads`` pins torch's intra-op threads for the duration (1 by default: results then do not depend
    on the worker's core count, and a stack's results do not depend on which other models share it).
    """
    from .batched import train_batched

    configs = [RunConfig(**c) for c in config_dicts]
    keys = {c.group_key() for c in configs}
    if len(keys) != 1:
        raise ValueError("train_group needs points of one shape (equal group_key)")
    repro.reuse_freed_memory()  # per-step tensors are reused, not re-faulted from the kernel (see its docstring)
    with repro.torch_threads(threads) if threads is not None else contextlib.nullcontext():
        built = [_build(c) for c in configs]
        noisy = configs[0].data_format == "noisy"
        resample = (lambda i, step: built[i][4](step)) if noisy else None
        results = train_batched([b[2] for b in built], [b[1] for b in built], [b[3] for b in built], resample=resample)
        return [_pack(c, b[0], b[2], r) for c, b, r in zip(configs, built, results)]


def run_point(config: RunConfig) -> cache_mod.Artifact:
    """Train one point (alone) and return its artifact: scalars (accuracy, loss, steps, ...) and histories."""
    out = train_group([dataclasses.asdict(config)])[0]
    return cache_mod.Artifact(scalars=out["scalars"], arrays=out["arrays"])


def run_or_load(config: RunConfig, *, cache: cache_mod.Cache | str | None = None) -> cache_mod.Artifact:
    """``cache.run_or_load`` for one point."""
    return cache_mod.run_or_load(config, run_point, cache=cache)


class InlineExecutor(cf.Executor):
    """An ``Executor`` that runs each call immediately in this process (no pool, no pickling)."""

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as err:  # delivered through the future, as a pool would
            fut.set_exception(err)
        return fut


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


@contextlib.contextmanager
def make_executor(workers: int | None = None, dask: str | None = None):
    """Yield an Executor: a Dask client's executor if ``dask`` (a scheduler address) is given, else a spawn
    process pool of ``workers`` processes (default: CPU count), or :class:`InlineExecutor` for ``workers=1``."""
    if dask:
        from distributed import Client

        client = Client(dask)
        try:
            yield client.get_executor()
        finally:
            client.close()
        return
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        yield InlineExecutor()
        return
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --- the scheduler --------------------------------------------------------------------------------------------------


@dataclass
class _LineState:
    line: Line
    results: dict[int, bool] = field(default_factory=dict)  # grid index -> majority success
    step: int = 1
    done: bool = False

    def next_index(self, last: int) -> int | None:
        """Next grid index to probe after ``last``, or None once the boundary is bracketed (or off the grid).

        Internally "good" means success when success_increases (we look for the lowest good index) and
        failure otherwise (the lowest failing N); both reduce to: find the lowest index that is good.
        """
        good = {i: (ok if self.line.success_increases else not ok) for i, ok in self.results.items()}
        lo = max((i for i, g in good.items() if not g), default=-1)  # highest known bad
        hi = min((i for i, g in good.items() if g), default=len(self.line.grid))  # lowest known good
        if hi - lo <= 1:
            return None
        if lo == -1 or hi == len(self.line.grid):  # not bracketed yet: gallop away from the last probe
            direction = -1 if good[last] else 1
            nxt = last + direction * self.step
            self.step *= 2
            nxt = min(max(nxt, lo + 1), hi - 1)
            return nxt
        return (lo + hi) // 2


class _Scheduler:
    """Feeds an executor with stacks (cache misses only), stores results, and advances threshold lines."""

    def __init__(self, executor: cf.Executor, store: cache_mod.Cache | None, progress: bool, recompute: bool):
        self.executor, self.store, self.recompute = executor, store, recompute
        self.rows: dict[str, dict] = {}  # key -> row
        self.futures: dict[cf.Future, tuple] = {}
        from tqdm.auto import tqdm

        self.bar = tqdm(desc="sweep points", unit="pt", disable=not progress)

    def _lookup(self, c: RunConfig) -> dict | None:
        if self.store is None or self.recompute:
            return None
        art = self.store.load(c)
        return None if art is None else {"scalars": art.scalars, "arrays": art.arrays}

    def request(self, configs: Sequence[RunConfig], tag) -> bool:
        """Ask for ``configs`` (one stack); returns True if all were already available (cache or earlier)."""
        missing, new = [], [c for c in configs if c.key() not in self.rows]
        self.bar.total = (self.bar.total or 0) + len(new)
        for c in new:
            hit = self._lookup(c)
            if hit is not None:
                self.rows[c.key()] = hit
                self.bar.update(1)
            else:
                missing.append(c)
        if not missing:
            return True
        self.bar.refresh()
        for group in _groups(missing):
            fut = self.executor.submit(train_group, [dataclasses.asdict(c) for c in group])
            self.futures[fut] = (group, tag)
        return False

    def wait_one(self) -> list:
        """Block until at least one stack finishes; store it; return the tags of finished stacks."""
        done, _ = cf.wait(list(self.futures), return_when=cf.FIRST_COMPLETED)
        tags = []
        for fut in done:
            group, tag = self.futures.pop(fut)
            outs = fut.result()
            for c, out in zip(group, outs):
                self.rows[c.key()] = out
                if self.store is not None:
                    self.store.store(c, cache_mod.Artifact(scalars=out["scalars"], arrays=out["arrays"]))
            self.bar.update(len(group))
            tags.append(tag)
        return tags

    def close(self) -> None:
        self.bar.close()


def _groups(configs: Sequence[RunConfig]) -> list[list[RunConfig]]:
    by_key: dict[tuple, list[RunConfig]] = {}
    for c in configs:
        by_key.setdefault(c.group_key(), []).append(c)
    return list(by_key.values())


def _majority(rows: Sequence[dict], target: float) -> bool:
    ok = [r["scalars"]["accuracy"] >= target for r in rows]
    return sum(ok) > MAJORITY * len(ok)


def run_experiments(
    experiments: Sequence[Experiment],
    *,
    executor: cf.Executor | None = None,
    cache: cache_mod.Cache | str | None = None,
    use_cache: bool = True,
    progress: bool = True,
    recompute: bool = False,
    workers_for_memory: int = 1,
) -> dict[str, pd.DataFrame]:
    """Run every experiment (points and threshold lines) through one executor; return a table per experiment."""
    executor = executor or InlineExecutor()
    store = (cache if isinstance(cache, cache_mod.Cache) else cache_mod.Cache(cache)) if use_cache else None
    # fail fast: every stack that could be trained must fit (lines: their whole grid)
    stacks = [g for e in experiments for g in _groups(list(e.points))]
    stacks += [line.configs_at(i) for e in experiments for line in e.lines for i in range(len(line.grid))]
    check_memory(stacks, workers_for_memory)
    sched = _Scheduler(executor, store, progress, recompute)
    states = {(ei, li): _LineState(line) for ei, e in enumerate(experiments) for li, line in enumerate(e.lines)}
    probes: dict[tuple, list[int]] = {k: [] for k in states}
    try:
        for ei, e in enumerate(experiments):
            for group in _groups(list(e.points)):
                sched.request(group, ("points", ei))
        pending = []  # line probes whose points are available right away (cache hits)

        def probe(k, index) -> None:
            probes[k].append(index)
            line = states[k].line
            if sched.request(line.configs_at(index), ("line", k, index)):
                pending.append(("line", k, index))

        for k, st in states.items():
            probe(k, st.line.start)
        while pending or sched.futures:
            tags = [pending.pop()] if pending else sched.wait_one()
            for tag in tags:
                if tag[0] != "line":
                    continue
                _, k, index = tag
                st = states[k]
                rows = [sched.rows[c.key()] for c in st.line.configs_at(index)]
                st.results[index] = _majority(rows, st.line.base.target_accuracy)
                nxt = st.next_index(index)
                if nxt is None:
                    st.done = True
                else:
                    probe(k, nxt)
    finally:
        sched.close()
    tables = {}
    for ei, e in enumerate(experiments):
        configs = list(e.points)
        for li, line in enumerate(e.lines):
            for index in sorted(set(probes[(ei, li)])):
                configs += line.configs_at(index)
        tables[e.name] = _table(configs, sched.rows)
    return tables


TABLE_COLUMNS = (
    "n_subjects",
    "n_relations",
    "d_model",
    "d_mlp",
    "freeze_embed",
    "data_format",
    "lr",
    "max_steps",
    "seed",
    "device",
    "n_facts",
    "n_params",
    "n_params_trainable",
    "n_params_nonembed",
    "accuracy",
    "loss",
    "steps",
    "reached_target",
    "heldout_accuracy",
)


def _table(configs: Sequence[RunConfig], rows: dict[str, dict]) -> pd.DataFrame:
    """One row per point, deterministic columns only (no wall times), sorted; ``seconds`` kept separately."""
    records = []
    seen = set()
    for c in configs:
        if c.key() in seen:
            continue
        seen.add(c.key())
        s = rows[c.key()]["scalars"]
        rec = {**dataclasses.asdict(c), "n_facts": c.n_facts, **s}
        records.append(rec)
    df = pd.DataFrame.from_records(records, columns=list(TABLE_COLUMNS) + ["seconds"])
    df["heldout_accuracy"] = df["heldout_accuracy"].astype(float)
    keys = ["data_format", "freeze_embed", "n_relations", "n_subjects", "d_model", "d_mlp", "lr", "seed"]
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def run_experiment(experiment: Experiment, **kwargs) -> pd.DataFrame:
    """Run one experiment; see :func:`run_experiments`."""
    return run_experiments([experiment], **kwargs)[experiment.name]


def run(
    name: str,
    *,
    device: str = "cpu",
    workers: int | None = None,
    dask: str | None = None,
    cache: cache_mod.Cache | str | None = None,
    use_cache: bool = True,
    progress: bool = True,
    only: Sequence[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Run the preset ``name`` and return its tables (``{experiment name: DataFrame}``).

    ``workers``: local processes (default: CPU count; 1 runs inline); ``dask``: a scheduler address, which
    replaces the local pool by the cluster.
    """
    p = preset(name, device=device)
    exps = [e for e in p.experiments if only is None or e.name in only]
    if only is not None and len(exps) != len(set(only)):
        raise ValueError(f"unknown experiment(s) in {list(only)}; preset {name!r} has {[e.name for e in p.experiments]}")
    with make_executor(workers, dask) as ex:
        n_workers = 1 if dask else (workers or os.cpu_count() or 1)
        return run_experiments(
            exps, executor=ex, cache=cache, use_cache=use_cache, progress=progress, workers_for_memory=n_workers
        )


# --- tables ---------------------------------------------------------------------------------------------------------


def write_tables(tables: dict[str, pd.DataFrame], out_dir: str | os.PathLike) -> list[Path]:
    """Write each table as ``<out_dir>/<name>.csv`` (deterministic columns only, no timings)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tables.items():
        path = out / f"{name}.csv"
        tmp = path.with_suffix(".csv.tmp")
        df[list(TABLE_COLUMNS)].to_csv(tmp, index=False, float_format="%.9g")
        os.replace(tmp, path)
        paths.append(path)
    return paths


def load_tables(data_dir: str | os.PathLike = "_data", names: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """Read committed tables ``<data_dir>/<name>.csv`` (default: every CSV there)."""
    d = Path(data_dir)
    files = sorted(d.glob("*.csv")) if names is None else [d / f"{n}.csv" for n in names]
    if not files:
        raise FileNotFoundError(f"no tables in {d.resolve()}; produce them with `python -m georecall.sweeps book --out {d}`")
    return {f.stem: pd.read_csv(f) for f in files}


# --- analysis -------------------------------------------------------------------------------------------------------


def _success_by_probe(df: pd.DataFrame, line_cols: Sequence[str], axis: str, target: float) -> pd.DataFrame:
    g = df.assign(ok=df["accuracy"] >= target).groupby([*line_cols, axis], as_index=False)
    out = g.agg(n_seeds=("seed", "count"), n_ok=("ok", "sum"), accuracy_mean=("accuracy", "mean"), accuracy_min=("accuracy", "min"))
    out["success"] = out["n_ok"] > MAJORITY * out["n_seeds"]
    return out


def _boundaries(probes: pd.DataFrame, line_cols: Sequence[str], axis: str, *, largest: bool):
    """Per line of ``probes``, yield ``(key, value, censored)``: the boundary of majority success along ``axis``.

    ``largest=False`` (d*): the smallest successful value; censored "below" when that is the smallest probe,
    "above" (value = largest probe) when none succeeded. ``largest=True`` (capacity): the largest successful
    value; censored "above" when that is the largest probe, "below" (value = smallest probe) when none succeeded.
    """
    for key, g in probes.groupby(list(line_cols), sort=True):
        lo, hi = int(g[axis].min()), int(g[axis].max())
        ok = g.loc[g["success"], axis]
        if ok.empty:
            yield key, (lo if largest else hi), ("below" if largest else "above")
        else:
            value = int(ok.max() if largest else ok.min())
            yield key, value, (("above" if largest else "below") if value == (hi if largest else lo) else "")


def thresholds(df: pd.DataFrame, *, target: float = 0.99) -> pd.DataFrame:
    """d* per (format, freeze, N, R): the smallest probed d at which a majority of seeds reach ``target``.
    ``censored`` is "below" when the smallest probed d already succeeds (d* <= that d), "above" when no
    probed d succeeds; d* is then the boundary value and must be read as a bound."""
    line_cols = ["data_format", "freeze_embed", "n_relations", "n_subjects"]
    probes = _success_by_probe(df, line_cols, "d_model", target)
    rows = []
    for key, d_star, censored in _boundaries(probes, line_cols, "d_model", largest=False):
        N, R = int(key[3]), int(key[2])
        rows.append(
            {
                **dict(zip(line_cols, key)),
                "d_star": d_star,
                "censored": censored,
                "R_log2_N": R * math.log2(N),
                "R_k": R * int(theory.code_length(N)),
                "block_d": int(theory.block_dimension(N, R)),
                "lower_bound_d_p2": float(theory.lower_bound_d(N, R, bits_per_param=2.0)),
                "bits_per_param_at_d_star": float(theory.bits_per_parameter(N, R, d_star)),
            }
        )
    return pd.DataFrame(rows)


def frozen_capacity(df: pd.DataFrame, *, target: float = 0.99) -> pd.DataFrame:
    """Capacity per (format, freeze, d, d_mlp): the largest probed N at which a majority of seeds reach
    ``target``, as facts = N*R, with P = non-embedding (attention + MLP) parameters. ``censored``:
    "above" when every probed N succeeded (capacity >= that), "below" when none did."""
    line_cols = ["data_format", "freeze_embed", "d_model", "d_mlp", "n_relations"]
    probes = _success_by_probe(df, line_cols, "n_subjects", target)
    rows = []
    for key, N_cap, censored in _boundaries(probes, line_cols, "n_subjects", largest=True):
        rec = dict(zip(line_cols, key))
        d, m, R = int(rec["d_model"]), int(rec["d_mlp"]), int(rec["n_relations"])
        P = 4 * d * d + 2 * d * m + m
        rows.append(
            {
                **rec,
                "params_nonembed": P,
                "capacity_N": N_cap,
                "capacity_facts": N_cap * R,
                "censored": censored,
                "bits_stored": float(theory.information_bits(N_cap, R)),
                "bits_per_param": float(theory.information_bits(N_cap, R)) / P,
            }
        )
    return pd.DataFrame(rows)


def accuracy_curves(df: pd.DataFrame, *, target: float = 0.99) -> pd.DataFrame:
    """Accuracy against d per (format, freeze, N, R), aggregated over seeds: mean, min, max, n_ok of n_seeds."""
    cols = ["data_format", "freeze_embed", "n_subjects", "n_relations", "d_model"]
    g = df.assign(ok=df["accuracy"] >= target).groupby(cols, as_index=False)
    return g.agg(
        accuracy_mean=("accuracy", "mean"), accuracy_min=("accuracy", "min"), accuracy_max=("accuracy", "max"),
        n_ok=("ok", "sum"), n_seeds=("seed", "count"),
    )


def dstar_growth(th: pd.DataFrame) -> pd.DataFrame:
    """Per R: d* at the smallest and largest N against the growth of log2 N and of N; the exponent a of a power-law
    fit d* ~ N^a (log growth gives a ~ 1/ln N ~ 0.2 here, sqrt(N) gives 0.5, linear 1); and the R^2 of straight-line
    fits of d* on log2 N, on sqrt(N) and on N. ``grid_step_at_max`` is the gap between d*(N_max) and the grid value
    below it (the resolution of the measurement)."""
    rows = []
    for R, g in th.sort_values("n_subjects").groupby("n_relations"):
        if len(g) < 3:
            continue
        lo, hi = g.iloc[0], g.iloc[-1]
        d_hi = int(hi["d_star"])
        below = [v for v in D_GRID if v < d_hi]
        N, d = g["n_subjects"].to_numpy(float), g["d_star"].to_numpy(float)
        rows.append({
            "R": int(R), "N_min": int(lo["n_subjects"]), "N_max": int(hi["n_subjects"]),
            "d_min": int(lo["d_star"]), "d_max": d_hi, "d_ratio": d_hi / int(lo["d_star"]),
            "log2N_ratio": math.log2(hi["n_subjects"]) / math.log2(lo["n_subjects"]),
            "N_ratio": int(hi["n_subjects"]) / int(lo["n_subjects"]),
            "exponent": fit_power_law(N, d).slope,
            "r2_log2N": fit_line(np.log2(N), d).r2, "r2_sqrtN": fit_line(np.sqrt(N), d).r2, "r2_N": fit_line(N, d).r2,
            "grid_step_at_max": d_hi - (below[-1] if below else d_hi),
            "censored": ",".join(sorted({c for c in g["censored"] if c})) or "",
        })
    return pd.DataFrame(rows)


def describe_growth(growth: pd.DataFrame) -> str:
    """One sentence comparing d* growth with log2 N and N growth (for the chapter's caption)."""
    return (
        f"From N = {growth['N_min'].min()} to {growth['N_max'].max()}, d* grows by a factor "
        f"{growth['d_ratio'].min():.2f}–{growth['d_ratio'].max():.2f} across R, while log₂N grows "
        f"{growth['log2N_ratio'].max():.2f}× and N grows {growth['N_ratio'].max():.0f}×."
    )


def fit_power_law(x, y) -> "FitResult":
    """Least squares of log y on log x: ``slope`` is the exponent a in y ~ x^a."""
    return fit_line(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)))


def lr_summary(df: pd.DataFrame, *, target: float = 0.99) -> pd.DataFrame:
    """The learning-rate check: per (N, R, d) one row, one column per lr holding "n_ok/n_seeds (mean accuracy)"."""
    g = df.assign(ok=df["accuracy"] >= target).groupby(["n_subjects", "n_relations", "d_model", "lr"], as_index=False)
    t = g.agg(n_ok=("ok", "sum"), n=("seed", "count"), acc=("accuracy", "mean"))
    t["cell"] = [f"{a}/{b} ({c:.3f})" for a, b, c in zip(t["n_ok"], t["n"], t["acc"])]
    wide = t.pivot(index=["n_subjects", "n_relations", "d_model"], columns="lr", values="cell")
    wide.columns = [f"lr={c:g}" for c in wide.columns]
    return wide.reset_index().rename(columns={"n_subjects": "N", "n_relations": "R", "d_model": "d"})


def learned_reach(df: pd.DataFrame, *, target: float = 0.99) -> pd.DataFrame:
    """For fixed-shape rows along N (the side-by-side grid): per (format, freeze, d, d_mlp, R) the largest N at
    which a majority of seeds reaches ``target``, as facts, with P = attention + MLP parameters. A lower bound on
    capacity when every tested N passes (``all_pass``)."""
    cols = ["data_format", "freeze_embed", "d_model", "d_mlp", "n_relations"]
    probes = _success_by_probe(df, cols, "n_subjects", target)
    rows = []
    for key, g in probes.groupby(cols):
        rec = dict(zip(cols, key))
        ok = g[g["success"]]
        N = int(ok["n_subjects"].max()) if len(ok) else 0
        d, m = int(rec["d_model"]), int(rec["d_mlp"])
        rows.append({**rec, "params_nonembed": 4 * d * d + 2 * d * m + m, "N_max_pass": N,
                     "facts_memorised": N * int(rec["n_relations"]), "all_pass": bool(g["success"].all())})
    return pd.DataFrame(rows)


def side_by_side(frozen: pd.DataFrame, learned: pd.DataFrame, shapes: Sequence[tuple[int, int, str]]) -> pd.DataFrame:
    """Mean accuracy against N for frozen and learned embeddings at each (d, d_mlp, format) in ``shapes``, with a
    label per curve (the input of ``plots.plot_side_by_side``)."""
    out = []
    for regime, df in (("frozen", frozen), ("learned", learned)):
        for d, m, fmt in shapes:
            sub = df[(df["d_model"] == d) & (df["d_mlp"] == m) & (df["data_format"] == fmt)]
            if sub.empty:
                continue
            g = sub.groupby("n_subjects", as_index=False).agg(accuracy_mean=("accuracy", "mean"))
            fmt_label = "[s, r]" if fmt == "single_hop" else "noisy T=32"
            out.append(g.assign(regime=regime, label=f"{regime}, d={d}, m={m}, {fmt_label}"))
    return pd.concat(out, ignore_index=True)


def bits_table(th: pd.DataFrame, cap: pd.DataFrame) -> pd.DataFrame:
    """Bits stored at >= 99% per parameter: learned models at d* (bits / all parameters, and bits / the 2·N·d
    embedding weights) and frozen models at capacity (bits / trainable attention + MLP parameters)."""
    rows = []
    for _, r in th[th["censored"] == ""].iterrows():
        N, R, d = int(r["n_subjects"]), int(r["n_relations"]), int(r["d_star"])
        bits = float(theory.information_bits(N, R))
        P_all = (N + R) * d + 2 * d + 4 * d * d + 2 * d * 4 * d + 4 * d + d * N  # W_E, W_pos, attn, MLP, W_U
        rows.append({"regime": "learned", "label": f"learned N={N} R={R} d*={d}", "n_subjects": N, "n_relations": R,
                     "bits": bits, "params": P_all, "bits_per_param": bits / P_all, "params_counted": "all parameters",
                     "bits_per_embedding_param": bits / (2 * N * d)})
    for _, r in cap[cap["censored"] == ""].iterrows():
        rows.append({"regime": "frozen", "label": f"frozen d={r['d_model']} m={r['d_mlp']} {r['data_format']}",
                     "n_subjects": int(r["capacity_N"]), "n_relations": int(r["n_relations"]), "bits": r["bits_stored"],
                     "params": int(r["params_nonembed"]), "bits_per_param": r["bits_per_param"],
                     "params_counted": "trainable attention + MLP", "bits_per_embedding_param": float("nan")})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class FitResult:
    """y = slope * x + intercept (or through the origin), with standard errors and R^2."""

    slope: float
    slope_se: float
    intercept: float
    intercept_se: float
    r2: float
    n: int


def fit_line(x, y, *, through_origin: bool = False) -> FitResult:
    """Ordinary least squares y ~ slope*x (+ intercept); standard errors from the residual variance.

    >>> f = fit_line([1, 2, 3, 4], [2.0, 4.1, 5.9, 8.0])
    >>> round(f.slope, 2), f.n
    (1.98, 4)
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.size < (2 if through_origin else 3):
        raise ValueError(f"fit_line needs matching x and y with at least {2 if through_origin else 3} points, got {x.size}")
    X = x[:, None] if through_origin else np.stack([x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    dof = max(1, x.size - X.shape[1])
    cov = (resid @ resid / dof) * np.linalg.inv(X.T @ X)
    tss = ((y - (0 if through_origin else y.mean())) ** 2).sum()
    r2 = 1 - (resid @ resid) / tss if tss > 0 else 1.0
    se = np.sqrt(np.diag(cov))
    if through_origin:
        return FitResult(float(coef[0]), float(se[0]), 0.0, 0.0, float(r2), int(x.size))
    return FitResult(float(coef[0]), float(se[0]), float(coef[1]), float(se[1]), float(r2), int(x.size))


def bits_stored(N, R) -> float:
    """R * log2(N!) bits, the content of N*R facts at 100% (theory.information_bits)."""
    return float(theory.information_bits(N, R))


# --- live inspection ------------------------------------------------------------------------------------------------


def train_inspect(
    N: int, R: int, d: int, *, freeze_embed: bool = False, max_steps: int = 512, eval_every: int = 16, seed: int = 0
):
    """Train one tiny single-hop model (for the chapter's live widget) and return its ``TrainResult``.

    Sized for seconds on a CPU; refuses N*R > 4096 so the widget never stalls a kernel.
    """
    if N * R > 4096:
        raise ValueError(f"the live inspector trains at most 4096 facts; N*R = {N * R}")
    c = RunConfig(n_subjects=N, n_relations=R, d_model=d, d_mlp=4 * d, freeze_embed=freeze_embed, max_steps=max_steps, eval_every=eval_every, seed=seed)
    from . import train

    with repro.torch_threads(1):  # tiny models: one thread is fastest and avoids oversubscribing a busy machine
        task, data, model, tcfg, _ = _build(c)
        return train.train(model, data, tcfg, progress=False)


# --- command line ---------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m georecall.sweeps PRESET [--out DIR] [--device cuda] [--dask tcp://host:8786] ...``"""
    import argparse

    from georecall import sweeps as lib  # module-qualified functions, so process pools and Dask can pickle them

    parser = argparse.ArgumentParser(prog="python -m georecall.sweeps", description=__doc__.split("\n")[0])
    parser.add_argument("preset", choices=sorted(lib.PRESETS), help="smoke (CI, minutes), book (committed tables), paper (large)")
    parser.add_argument("--out", default=None, help="folder for the CSV tables (default: sweep-results/PRESET)")
    parser.add_argument("--cache-dir", default=None, help=f"cache root (default: ${cache_mod.ENV_VAR} or ~/.cache/georecall)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument("--device", default="cpu", choices=DEVICES, help="where models train (cuda needs a GPU)")
    parser.add_argument("--dask", default=None, metavar="ADDRESS", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")
    parser.add_argument("--workers", type=int, default=None, help="local worker processes (default: CPU count; 1 with --device cuda)")
    parser.add_argument("--only", nargs="+", default=None, help="run only these experiments of the preset")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.device == "cuda":
        repro.default_device("cuda")  # fails fast without CUDA
        if args.workers is None and not args.dask:
            args.workers = 1  # one process drives the GPU; stacks already batch the models
    repro.seed_everything(0)
    t0 = time.perf_counter()
    tables = lib.run(
        args.preset,
        device=args.device,
        workers=args.workers,
        dask=args.dask,
        cache=args.cache_dir,
        use_cache=not args.no_cache,
        progress=not args.quiet,
        only=args.only,
    )
    paths = lib.write_tables(tables, args.out or Path("sweep-results") / args.preset)
    summary = {
        "preset": args.preset,
        "points": sum(len(t) for t in tables.values()),
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "tables": [str(p) for p in paths],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
