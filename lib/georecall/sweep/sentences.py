"""The sentence-format capacity sweep, declared (no torch at import): its point kind (:class:`SentenceRunConfig`), its
d grid and search lines (:func:`sentence_lines`), and the ``sentences`` preset's lines (:func:`sentence_preset_lines`).

A sentence point trains an L-layer model (``n_layers``) by next-token prediction on every training sentence of
``tasks.sentences.make_sentence_task(N, R, seed, ...)``: each fact (s, r, pi_r(s)) in ``n_templates`` word templates
per relation, and in as many inverse templates for a share ``inverse_share`` of the entities. Training stops, and
the point is judged, on **recall at the answer token** over every training sentence (argmax over the whole vocabulary
at the position before the answer), never on the next-word accuracy of the filler words, which no model can
predict. d* (a line's threshold) is, as in Chapter 3, the smallest grid d at which a majority of seeds reaches
``target_accuracy`` (0.99) while the next smaller probed d fails. Beside the training recall a point records recall
on the templates never trained (``heldout_templates``) and on the facts asked in the untrained direction
(``inverse``), and every weight it has (``n_params``).

**The preset** (:func:`sentence_preset_lines`): one line per (L, N, R) for L in ``SENTENCE_LAYERS`` = {1, 2, 4} and
(N, R) in ``SENTENCE_PAIRS`` = (16, 2), (32, 2), (64, 2), (32, 4), (64, 4) (R log2 N = 8, 10, 12, 20, 24), 15 lines,
2 seeds (a probe needs both), full batch, AdamW at lr ``SENTENCE_LR`` = 1e-2 (one rate), at most
``SENTENCE_MAX_STEPS`` = 2048 steps, recall evaluated every ``SENTENCE_EVAL_EVERY`` = 64 steps, on the grid
``SENTENCE_D_GRID`` (steps of 1.2-1.5x), each line starting at d ~ R log2 N / 1.25 (``sentence_start``).

**Profile** (``benchmarks/profile_sentences.py``, CPU seconds of one worker thread per step of a 2-seed stack, full
evaluation included, while other jobs shared the 2 cores): the cost grows with the training sentences (R
n_templates (N + N/2): 192 at (16, 2) to 1536 at (64, 4)), with d and with L. At (32, 2): 5.9, 7.4, 15 ms at d = 8,
16, 32 for L = 1; 8.3, 10.6, 23 ms for L = 2; 19 ms (d = 12) and 22 ms (d = 16) for L = 4. At (64, 4): 27, 34, 63 ms
at d = 8, 16, 32 for L = 1, 39 (d = 8) and 71 ms (d = 24) for L = 2, 149 (d = 24) and 192 ms (d = 32) for L = 4.
Time goes to probes that fail: they train all 2048 steps (70 s at L = 1, about 250 s at L = 4 for (64, 4)), while a
run above d* stops at 99% recall within 128-832 steps (every profiled success). Steps to 99% at L = 1: (32, 2) d = 16
in 192-320, (64, 4) d = 32 in 448-640 (d = 16 at 2048 steps: 0.89 and 0.97); L = 2: (32, 2) d = 16 in 256, (64, 4)
d = 24 in 384; L = 4: (32, 2) d = 12 in 384-832, (64, 4) d = 24 in 448-640. lr = 1e-2 trained every L without
diverging. One whole line, L = 1 at (32, 2), ran in 25 s on one worker: 4 probes (d = 8, 10 fail at 2048 steps;
16, 12 succeed), d* = 12. Scaling that line by the training sentences, by the step cost at each line's likely d*
and by L (x1.5 at L = 2, x3 at L = 4) gives ~1900 CPU-seconds, ~16 min wall with 2 workers on 2 free cores (the
(64, 4) line at L = 4 ~8-10 min on its own, hence the dearest lines first); at worst (4 probes a line, half failing,
at the largest d) ~3400 s, 28 min.

**Pruning** (to fit ~30 min on 2 cores): one learning rate, not Chapter 3's three (the profiled successes reached 99%
well within the budget, so a second rate would mostly add failing probes' cost); 2 seeds, not 3; N <= 64 (N = 128
at R = 4 has 3072 training sentences: a failing L = 4 probe alone would take ~8 min); a grid coarser than
``configs.D_GRID`` (d* resolved to 20-33%); one template setting (4 training and 2 held-out templates per relation,
2 relation words, 8 fillers, half the entities trained in both directions).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._checks import check_float, check_int
from ..theory import bijection as theory
from .configs import RunConfig
from .search import Line

__all__ = [
    "SENTENCES",
    "SENTENCE_SEQ_LEN",
    "SENTENCE_MAX_TEMPLATES",
    "SENTENCE_MAX_FILLERS",
    "SENTENCE_MAX_LAYERS",
    "SentenceRunConfig",
    "SENTENCE_D_GRID",
    "SENTENCE_LAYERS",
    "SENTENCE_PAIRS",
    "SENTENCE_SEEDS",
    "SENTENCE_LR",
    "SENTENCE_MAX_STEPS",
    "SENTENCE_EVAL_EVERY",
    "sentence_lines",
    "sentence_preset_lines",
    "sentence_smoke_points",
]

SENTENCES = "sentences"  # the data format (tasks.sentences.SENTENCES)
# every sentence padded to the longest a template can be (0-2 fillers, entity/relation with 1-2 fillers between,
# 1-2 fillers, "whose" when inverse, the answer: 2 + 4 + 2 + 1 + 1 = 10 words) less its last word, so that every
# seed's data has one shape and a line's seeds train as one stack; trailing PAD is never attended to (causal)
SENTENCE_SEQ_LEN = 9
SENTENCE_MAX_TEMPLATES = 32  # tasks.sentences.MAX_TEMPLATES (a test keeps the two in step)
SENTENCE_MAX_FILLERS = 16  # len(tasks.sentences.FILLERS)
SENTENCE_MAX_LAYERS = 8  # far beyond what the 2-core sweep trains; a guard against a typo


@dataclass(frozen=True, kw_only=True)
class SentenceRunConfig(RunConfig):
    """One sentence-format point: an ``n_layers``-layer model trained on the sentences of
    ``make_sentence_task(n_subjects, n_relations, seed, n_templates=..., n_heldout=..., n_synonyms=..., n_fillers=...,
    inverse_share=...)`` (the task's knobs are fields here), judged on recall at the answer token of every training
    sentence. ``n_heads`` heads (any divisor of d), d_mlp as given (4 d along a line). ``noisy_copies``, ``seq_len``,
    ``freeze_embed``, ``task``, ``n_answers`` and the probing study's switches (``freeze_unembed``, ``tie_embed``,
    ``init_scale``) are not used (keep their defaults). A distinct type, so its cache keys never meet another kind's.
    """

    data_format: str = SENTENCES
    n_layers: int = 1  # L
    n_templates: int = 4  # training templates per relation (and as many inverse ones)
    n_heldout: int = 2  # forward templates per relation never trained; 0: no heldout_templates score
    n_synonyms: int = 2  # relation words per relation
    n_fillers: int = 8  # filler words shared by every relation
    inverse_share: float = 0.5  # entities whose facts are also trained in the inverse direction; 0: no inverse score
    formats: ClassVar[tuple[str, ...]] = (SENTENCES,)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("n_layers (L)", self.n_layers, 1, SENTENCE_MAX_LAYERS)
        check_int("n_templates", self.n_templates, 1, SENTENCE_MAX_TEMPLATES)
        check_int("n_heldout", self.n_heldout, 0, SENTENCE_MAX_TEMPLATES)
        if self.n_templates + self.n_heldout > SENTENCE_MAX_TEMPLATES:
            raise ValueError(
                f"n_templates + n_heldout must be at most {SENTENCE_MAX_TEMPLATES} per relation, "
                f"got {self.n_templates} + {self.n_heldout}"
            )
        check_int("n_synonyms", self.n_synonyms, 1, 8)
        check_int("n_fillers", self.n_fillers, 2, SENTENCE_MAX_FILLERS)
        if not isinstance(self.inverse_share, float):
            raise ValueError(f"inverse_share must be a float in [0, 1), got {self.inverse_share!r}")
        check_float("inverse_share", self.inverse_share, 0.0, 1.0, hi_open=True)
        if self.inverse_share > 0 and not 1 <= self.n_both <= self.n_subjects - 1:
            raise ValueError(
                f"inverse_share={self.inverse_share} trains round(share * N) = {self.n_both} of N={self.n_subjects} "
                "entities in both directions; it must leave at least one on each side (or be 0.0: no inverse split)"
            )
        if self.freeze_embed or self.task != "bijection" or self.n_answers is not None:
            raise ValueError(
                "sentence points need freeze_embed=False and task='bijection' (frozen embeddings and the disjoint task "
                f"are not studied in sentences); got freeze_embed={self.freeze_embed}, task={self.task!r}"
            )
        if self.freeze_unembed or self.tie_embed or self.init_scale != 1.0:
            raise ValueError(
                "sentence points keep freeze_unembed=False, tie_embed=False and init_scale=1.0 (the probing study's "
                f"switches); got freeze_unembed={self.freeze_unembed}, tie_embed={self.tie_embed}, "
                f"init_scale={self.init_scale}"
            )

    @property
    def n_both(self) -> int:
        """Entities trained in both directions: round(inverse_share * N) (``SentenceConfig.n_both``)."""
        return round(self.inverse_share * self.n_subjects)

    @property
    def n_facts(self) -> int:
        """The N R facts (s, r, pi_r(s)); each is written in several sentences."""
        return self.n_subjects * self.n_relations

    @property
    def n_sequences(self) -> int:
        """Training sentences: R n_templates (N + n_both), forward for every entity, inverse for n_both of them."""
        return self.n_relations * self.n_templates * (self.n_subjects + self.n_both)

    @property
    def T(self) -> int:
        """The padded sentence length the model reads: ``SENTENCE_SEQ_LEN``."""
        return SENTENCE_SEQ_LEN

    @property
    def d_vocab(self) -> int:
        """N entities + R n_synonyms relation words + n_fillers fillers + "whose" + PAD."""
        return self.n_subjects + self.n_relations * self.n_synonyms + self.n_fillers + 2

    @property
    def d_vocab_out(self) -> int:
        """A language model predicts any word: d_vocab."""
        return self.d_vocab

    @property
    def n_params_nonembed(self) -> int:
        """Attention + MLP parameters of the L blocks: L (4 d^2 + 2 d m + m)."""
        return self.n_layers * theory.param_count(self.d_model, self.d_mlp)

    def task_kwargs(self) -> dict:
        """Keywords of ``tasks.sentences.make_sentence_task`` for this point (its task stream is the point's seed)."""
        return dict(
            n_entities=self.n_subjects,
            n_relations=self.n_relations,
            seed=self.seed,
            n_templates=self.n_templates,
            n_heldout=self.n_heldout,
            n_synonyms=self.n_synonyms,
            n_fillers=self.n_fillers,
            inverse_share=self.inverse_share,
        )


# --- the d* lines -------------------------------------------------------------------------------------------------

SENTENCE_D_GRID = (2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128)  # steps of 1.2-1.5x
SENTENCE_LAYERS = (1, 2, 4)
SENTENCE_SEEDS = (0, 1)  # two seeds: a probe succeeds when both reach the target (sweep.majority)
SENTENCE_LR = 1e-2
SENTENCE_MAX_STEPS = 2048
SENTENCE_EVAL_EVERY = 64
SENTENCE_START_BITS = 1.25  # first probe: R log2 N / this (the profile's d* sat near R log2 N, a bit lower for L > 1)
# (N, R) pairs spreading R log2 N over 8 .. 24 (see the module docstring for the profile behind the choice)
SENTENCE_PAIRS = ((16, 2), (32, 2), (64, 2), (32, 4), (64, 4))


def _nearest(grid: Sequence[int], guess: float) -> int:
    """Index of the grid value nearest ``guess`` on a log scale: where a line's search starts."""
    return int(np.argmin([abs(math.log(g / guess)) for g in grid]))


def sentence_start(N: int, R: int, grid: Sequence[int] = SENTENCE_D_GRID) -> int:
    """First d probe: the grid value nearest R log2 N / ``SENTENCE_START_BITS``."""
    return _nearest(grid, max(float(grid[0]), R * math.log2(N) / SENTENCE_START_BITS))


def sentence_lines(
    pairs: Iterable[tuple[int, int]],
    layers: Iterable[int] = SENTENCE_LAYERS,
    *,
    seeds: tuple[int, ...] = SENTENCE_SEEDS,
    lrs: tuple[float, ...] = (),
    grid: tuple[int, ...] = SENTENCE_D_GRID,
    **kw,
) -> tuple[Line, ...]:
    """One d* line per (L, N, R), layer-major, each over ``grid`` with d_mlp = 4 d, starting at
    :func:`sentence_start`; ``kw`` sets the other fields of the base point (the recipe, the task's knobs)."""
    lines = []
    for L in layers:
        for N, R in pairs:
            base = SentenceRunConfig(n_subjects=N, n_relations=R, n_layers=L, d_model=grid[0], d_mlp=4 * grid[0], **kw)
            start = sentence_start(N, R, grid)
            lines.append(Line(base=base, seeds=seeds, axis="d_model", grid=grid, start=start, lrs=lrs))
    return tuple(lines)


def sentence_preset_lines() -> tuple[Line, ...]:
    """The ``sentences`` preset's lines: L in ``SENTENCE_LAYERS`` x (N, R) in ``SENTENCE_PAIRS``, 2 seeds, lr
    ``SENTENCE_LR``, at most ``SENTENCE_MAX_STEPS`` steps, evaluated every ``SENTENCE_EVAL_EVERY``. Dearest first
    (L descending, then the training sentences N R descending), so that the longest lines start first and the
    sweep's wall time stays near its CPU time over the workers."""
    kw = dict(lr=SENTENCE_LR, max_steps=SENTENCE_MAX_STEPS, eval_every=SENTENCE_EVAL_EVERY)
    pairs = sorted(SENTENCE_PAIRS, key=lambda p: (-p[0] * p[1], -p[1]))
    return sentence_lines(pairs, sorted(SENTENCE_LAYERS, reverse=True), **kw)


def sentence_smoke_points() -> tuple[SentenceRunConfig, ...]:
    """CI's sentence points: the first probe (its first stage: every seed at the first rate) of the preset's
    cheapest line, L = 1 at the smallest N R. Every line probes its start first, so these points are rows of the
    committed ``sentences`` table."""
    line = min(sentence_preset_lines(), key=lambda ln: (ln.base.n_layers, ln.base.n_subjects * ln.base.n_relations))
    return tuple(line.stage_configs(line.start, 0))
