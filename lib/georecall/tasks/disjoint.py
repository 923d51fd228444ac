"""Disjoint attribute sets: each relation answers from its own block of D attributes [recon].

The setting of Nichani, Lee & Bietti (ICLR 2025, arXiv 2412.06538): S subjects, R relations, and relation r
maps every subject to one of D answers *of its own*. Answer a of relation r is output class r*D + a, so the
output head has R*D classes and the attribute sets of different relations are disjoint. The fact table
``answers[r, s] = a_r(s)`` in [0, D) is either

- a **random function** (default): a_r(s) ~ Uniform[D] independently for every (subject, relation), holding
  H = R * S * log2(D) bits; or
- a **bijection** (``bijective=True``, needs D = S): a_r is a uniform permutation of [S], independently per
  relation, holding H = R * log2(S!) bits. These permutations are drawn exactly as ``tasks.BijectionTask``
  draws its pi_r, so ``DisjointTask(S, R, D=S, bijective=True, seed)`` has the same table as
  ``tasks.make_task(S, R, seed)``; only the output classes differ (R*S disjoint ones instead of S shared ones).

Token layout: tokens 0..S-1 are subjects, S..S+R-1 relations (as in ``tasks``). Two sequence formats, both
``tasks.FactSet`` objects that ``train.train``, ``train.evaluate`` and ``batched.train_batched`` accept:

- ``[s, S + r]`` with target r*D + a_r(s) at the last position (:meth:`DisjointTask.single_hop`);
- the noisy format of Nichani et al. (:func:`noisy_sequences`, :func:`noisy_batch`): T tokens (T = 32),
  noise everywhere, subject and relation at two random distinct positions among the first T - 1 (either
  order), EOS last, where the target sits. Noise tokens S+R .. S+R+n_noise-1 (default n_noise = S + R), EOS
  S+R+n_noise. A new seed gives new noise, so a trainer's ``resample(step)`` hook gets fresh sequences.

``georecall.model.transformer.config_for`` sizes a ``ModelConfig`` for either format, with several attention
heads (``n_heads`` must divide d_model; it is checked with a message naming the allowed values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import repro
from .._checks import check_int
from .bijection import IGNORE, MAX_RELATIONS, MAX_SUBJECTS, NOISY, SINGLE_HOP, FactSet

__all__ = [
    "DisjointConfig",
    "DisjointTask",
    "make_disjoint_task",
    "noisy_vocab",
    "noisy_sequences",
    "noisy_batch",
    "NOISY_SEQ_LEN",
    "MAX_CLASSES",
]

NOISY_SEQ_LEN = 32  # Nichani et al.'s sequence length T
MAX_CLASSES = 2**26  # R*D output classes; a [d, R*D] unembedding beyond this is GBs at any useful d


@dataclass(frozen=True, kw_only=True)
class DisjointConfig:
    """Size and seed of a disjoint-attribute task: S subjects, R relations, D answers per relation."""

    n_subjects: int = 128  # S; small enough that every CPU experiment on it takes seconds
    n_relations: int = 4  # R: relations, each with its own D answers
    n_answers: int = 8  # D: answers per relation (Nichani et al.'s sweeps use D = 8)
    bijective: bool = False  # False: a random function [S] -> [D] per relation; True: a permutation (needs D = S)
    seed: int = 0  # task stream: draws the answers, independent of init and data order

    def __post_init__(self) -> None:
        check_int("n_subjects (S)", self.n_subjects, 2, MAX_SUBJECTS)
        check_int("n_relations (R)", self.n_relations, 1, MAX_RELATIONS)
        if not isinstance(self.bijective, bool):
            raise TypeError(f"bijective must be a bool, got {type(self.bijective).__name__}")
        if self.bijective and self.n_answers != self.n_subjects:
            raise ValueError(
                f"n_answers (D) must equal n_subjects (S) = {self.n_subjects} when bijective=True "
                f"(a bijection [S] -> [D] needs D = S), got D = {self.n_answers!r}"
            )
        check_int("n_answers (D)", self.n_answers, 1, MAX_CLASSES)
        if self.n_relations * self.n_answers < 2:
            raise ValueError(
                "n_relations (R) * n_answers (D) output classes must be >= 2; R = 1 with D = 1 has a single answer "
                "and nothing to learn"
            )
        if self.n_relations * self.n_answers > MAX_CLASSES:
            raise ValueError(
                f"n_relations (R) * n_answers (D) output classes must be <= {MAX_CLASSES}, got "
                f"{self.n_relations} * {self.n_answers}"
            )
        check_int("seed", self.seed, 0, 2**63 - 1)

    @property
    def S(self) -> int:
        return self.n_subjects

    @property
    def R(self) -> int:
        return self.n_relations

    @property
    def D(self) -> int:
        return self.n_answers

    @property
    def n_facts(self) -> int:
        """S * R facts, one per (subject, relation)."""
        return self.n_subjects * self.n_relations

    @property
    def d_vocab(self) -> int:
        """Input vocabulary of the ``[s, r]`` format: S subject tokens followed by R relation tokens."""
        return self.n_subjects + self.n_relations

    @property
    def d_vocab_out(self) -> int:
        """Output classes: R disjoint blocks of D answers, class r*D + a."""
        return self.n_relations * self.n_answers

    @property
    def information_bits(self) -> float:
        """R * S * log2(D) for a random function; R * log2(S!) for bijections."""
        if self.bijective:
            return self.n_relations * math.lgamma(self.n_subjects + 1) / math.log(2)
        return self.n_relations * self.n_subjects * math.log2(self.n_answers)


class DisjointTask:
    """The fact table ``answers[r, s] = a_r(s)`` in [0, D), [R, S] int64, drawn from ``config.seed``.

    >>> task = DisjointTask(DisjointConfig(n_subjects=6, n_relations=2, n_answers=3, seed=0))
    >>> task.answers.shape, bool(task.answers.max() < 3)
    (torch.Size([2, 6]), True)
    >>> fs = task.single_hop()
    >>> s, r = 4, 1
    >>> fs.tokens[s * 2 + r].tolist(), fs.targets[s * 2 + r, -1].item() == r * 3 + task.answers[r, s].item()
    ([4, 7], True)
    """

    def __init__(self, config: DisjointConfig):
        if not isinstance(config, DisjointConfig):
            raise TypeError(f"config must be a DisjointConfig, got {type(config).__name__}")
        self.config = config
        g = repro.generator(config.seed, "task")
        S, R, D = config.S, config.R, config.D
        if config.bijective:  # the same draws as tasks.BijectionTask: one randperm per relation, in order
            self.answers = torch.stack([torch.randperm(S, generator=g) for _ in range(R)])  # [R, S]
        else:
            self.answers = torch.randint(D, (R, S), generator=g)  # [R, S] i.i.d. uniform on [D]

    def __repr__(self) -> str:
        c = self.config
        kind = "bijective" if c.bijective else "random function"
        return f"DisjointTask(S={c.S}, R={c.R}, D={c.D}, {kind}, seed={c.seed})"

    @property
    def S(self) -> int:
        return self.config.S

    @property
    def R(self) -> int:
        return self.config.R

    @property
    def D(self) -> int:
        return self.config.D

    @property
    def information_bits(self) -> float:
        return self.config.information_bits

    def _check(self, subjects: torch.Tensor, relations: torch.Tensor) -> None:
        for name, x, hi in (("subject", subjects, self.S), ("relation", relations, self.R)):
            if x.dtype.is_floating_point or x.dtype == torch.bool:
                raise TypeError(f"{name} indices must be an integer tensor, got {x.dtype}")
            if x.numel() and (int(x.min()) < 0 or int(x.max()) >= hi):
                bad = int(x.min()) if int(x.min()) < 0 else int(x.max())
                raise ValueError(f"{name} must be in [0, {hi - 1}], got {bad}")

    def answer(self, subjects: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        """a_r(s) in [0, D), elementwise."""
        subjects, relations = torch.as_tensor(subjects), torch.as_tensor(relations)
        self._check(subjects, relations)
        return self.answers[relations, subjects]

    def target_class(self, subjects: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        """Output class r*D + a_r(s) of fact (s, r), elementwise."""
        relations = torch.as_tensor(relations)
        return relations * self.D + self.answer(subjects, relations)

    def facts(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """All S*R facts as (subjects, relations, target classes), subject-major: fact i = (i // R, i % R)."""
        subjects = torch.arange(self.S).repeat_interleave(self.R)  # [S*R]
        relations = torch.arange(self.R).repeat(self.S)  # [S*R]
        return subjects, relations, relations * self.D + self.answers[relations, subjects]

    def single_hop(self) -> FactSet:
        """Every fact as ``[s, S + r] -> [IGNORE, r*D + a_r(s)]``; d_vocab = S + R, d_vocab_out = R*D."""
        subjects, relations, classes = self.facts()
        tokens = torch.stack([subjects, self.S + relations], dim=1)  # [S*R, 2]
        targets = torch.stack([torch.full_like(classes, IGNORE), classes], dim=1)  # [S*R, 2]
        return FactSet(
            tokens, targets, d_vocab=self.config.d_vocab, d_vocab_out=self.config.d_vocab_out, data_format=SINGLE_HOP
        )

    def fact_table(self, n_subjects: int = 8):
        """The first ``n_subjects`` rows of the table as a DataFrame (subjects x relations, answers in [0, D))."""
        import pandas as pd  # late: pandas only for this display helper

        check_int("n_subjects", n_subjects, 1)
        n = min(n_subjects, self.S)
        return pd.DataFrame(
            self.answers[:, :n].T.numpy(),
            index=pd.Index([f"s{s}" for s in range(n)], name="subject"),
            columns=[f"r{r}" for r in range(self.R)],
        )


def make_disjoint_task(
    n_subjects: int, n_relations: int, n_answers: int, *, bijective: bool = False, seed: int = 0
) -> DisjointTask:
    """Shorthand for ``DisjointTask(DisjointConfig(...))``."""
    return DisjointTask(
        DisjointConfig(
            n_subjects=n_subjects, n_relations=n_relations, n_answers=n_answers, bijective=bijective, seed=seed
        )
    )


# --- the noisy format ----------------------------------------------------------------------------------------


def noisy_vocab(task: DisjointTask, n_noise: int | None = None) -> tuple[int, int, int]:
    """``(first_noise_token, eos_token, d_vocab)`` of the noisy format: noise tokens S+R .. S+R+n_noise-1, then
    EOS = S+R+n_noise, so d_vocab = S + R + n_noise + 1. ``n_noise`` defaults to S + R (Nichani et al.)."""
    if not isinstance(task, DisjointTask):
        raise TypeError(f"task must be a DisjointTask, got {type(task).__name__}")
    n_noise = task.S + task.R if n_noise is None else n_noise
    check_int("n_noise", n_noise, 1, MAX_SUBJECTS)
    first = task.S + task.R
    return first, first + n_noise, first + n_noise + 1


def _noisy(
    task: DisjointTask,
    subjects: torch.Tensor,
    relations: torch.Tensor,
    *,
    seq_len: int,
    n_noise: int | None,
    g: torch.Generator,
) -> FactSet:
    """Noisy sequences for the given facts (vectorised: one draw of noise, one of positions, for all rows)."""
    check_int("seq_len (T)", seq_len, 3, 4096)
    first, eos, d_vocab = noisy_vocab(task, n_noise)
    n = subjects.numel()
    tokens = first + torch.randint(eos - first, (n, seq_len), generator=g)  # [n, T] noise everywhere
    slots = torch.rand(n, seq_len - 1, generator=g).argsort(dim=1)[:, :2]  # [n, 2] distinct positions < T-1
    rows = torch.arange(n)
    tokens[rows, slots[:, 0]] = subjects
    tokens[rows, slots[:, 1]] = task.S + relations
    tokens[:, -1] = eos
    targets = torch.full((n, seq_len), IGNORE, dtype=torch.long)  # [n, T]
    targets[:, -1] = relations * task.D + task.answers[relations, subjects]
    return FactSet(tokens, targets, d_vocab=d_vocab, d_vocab_out=task.config.d_vocab_out, data_format=NOISY)


def noisy_sequences(
    task: DisjointTask, *, seq_len: int = NOISY_SEQ_LEN, n_noise: int | None = None, copies: int = 1, seed: int = 0
) -> FactSet:
    """Every fact in the noisy format, ``copies`` times: sequence ``c * S*R + i`` is copy c of fact i
    (``task.facts()`` order), each with its own noise and positions from ``repro.generator(seed, "noisy")``.

    Use it for a fixed evaluation draw (and a second seed for a held-out draw never used for stopping).

    >>> task = make_disjoint_task(8, 2, 4, seed=0)
    >>> fs = noisy_sequences(task, seq_len=6, copies=2, seed=1)
    >>> fs.tokens.shape, fs.d_vocab, fs.d_vocab_out, bool((fs.tokens[:, -1] == 8 + 2 + 10).all())
    (torch.Size([32, 6]), 21, 8, True)
    """
    check_int("copies", copies, 1, 1024)
    subjects, relations, _ = task.facts()
    g = repro.generator(seed, "noisy")
    return _noisy(task, subjects.repeat(copies), relations.repeat(copies), seq_len=seq_len, n_noise=n_noise, g=g)


def noisy_batch(
    task: DisjointTask, batch_size: int, *, seq_len: int = NOISY_SEQ_LEN, n_noise: int | None = None, seed: int = 0
) -> FactSet:
    """A minibatch of ``batch_size`` fresh noisy sequences of facts drawn uniformly (with replacement) from all
    S*R facts, from ``repro.generator(seed, "noisy-batch")``: Nichani et al.'s training batches. A trainer's
    ``resample(step)`` passes a new seed per step, e.g. ``repro.stream_seed(seed, f"train/{step}")``.
    """
    check_int("batch_size", batch_size, 1, 2**24)
    g = repro.generator(seed, "noisy-batch")
    fact = torch.randint(task.S * task.R, (batch_size,), generator=g)  # [b] fact indices, subject-major
    return _noisy(task, fact // task.R, fact % task.R, seq_len=seq_len, n_noise=n_noise, g=g)
