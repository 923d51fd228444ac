"""The random-bijection task and its sequence formats.

A task has N subjects, R relations and one shared attribute set of size N. Relation r is a bijection
pi_r drawn uniformly from the symmetric group S_N, independently per relation, from an explicit seed.
A *fact* is a triple (s, r, pi_r(s)); the task holds N*R facts and R*log2(N!) bits.

Token layout (shared by every format): tokens 0..N-1 are entities (subjects, which double as
attributes), tokens N..N+R-1 are relations. The output head has N classes (the attributes).

Formats are built as :class:`FactSet` objects: a ``tokens`` tensor of shape [n, T] and a ``targets``
tensor of the same shape holding the class expected at each position, or ``IGNORE`` where no loss is
taken. Single-hop facts are ``[s, N+r] -> [IGNORE, pi_r(s)]``; later chapters add multi-hop and
chain-of-thought formats on the same container.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import pandas as pd
import torch

from .. import repro
from .._checks import ArgumentTypeError, check_int, check_seed

__all__ = [
    "IGNORE",
    "SINGLE_HOP",
    "NOISY",
    "MAX_SUBJECTS",
    "MAX_RELATIONS",
    "TaskConfig",
    "FactSet",
    "BijectionTask",
    "make_task",
    "check_tokens",
]

SINGLE_HOP, NOISY = "single_hop", "noisy"  # format tags of the [s, r] and noisy T = 32 fact sets
IGNORE = -1  # target value for positions that carry no loss
MAX_SUBJECTS = 2**24  # beyond this a [R, N] int64 table alone is GBs; nothing in the book needs more
MAX_RELATIONS = 4096


def check_tokens(name: str, tokens, d_vocab: int, *, max_len: int | None = None) -> None:
    """Raise unless ``tokens`` is an integer (not bool) tensor of shape [B, T], 1 <= T <= ``max_len``, whose ids
    all lie in [0, d_vocab): negative ids would silently index from the end of the embedding table."""
    if not isinstance(tokens, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be a torch.Tensor of token ids, got {type(tokens).__name__}")
    if tokens.dtype == torch.bool or tokens.dtype.is_floating_point or tokens.dtype.is_complex:
        raise ArgumentTypeError(f"{name} must be an integer tensor (torch.long), got dtype {tokens.dtype}")
    if tokens.ndim != 2 or tokens.shape[1] < 1 or (max_len is not None and tokens.shape[1] > max_len):
        limit = "" if max_len is None else f" <= n_ctx={max_len}"
        raise ValueError(f"{name} must have shape [B, T] with 1 <= T{limit}, got {tuple(tokens.shape)}")
    if tokens.numel():
        lo, hi = int(tokens.min()), int(tokens.max())
        if lo < 0 or hi >= d_vocab:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name} must be ids in [0, {d_vocab - 1}] (d_vocab={d_vocab}), got {bad}")


@dataclass(frozen=True, kw_only=True)
class TaskConfig:
    """Size and seed of a random-bijection task."""

    n_subjects: int = 64  # N: subjects = attributes; 64 keeps the default task CPU-instant
    n_relations: int = 4  # R: independent bijections sharing one attribute set
    seed: int = 0  # task stream: draws the bijections, independent of init and data order

    def __post_init__(self) -> None:
        check_int("n_subjects (N)", self.n_subjects, 2, MAX_SUBJECTS)
        check_int("n_relations (R)", self.n_relations, 1, MAX_RELATIONS)
        check_seed("seed", self.seed)

    @property
    def N(self) -> int:
        return self.n_subjects

    @property
    def R(self) -> int:
        return self.n_relations

    @property
    def n_facts(self) -> int:
        """N * R single-hop facts."""
        return self.n_subjects * self.n_relations

    @property
    def d_vocab(self) -> int:
        """Input vocabulary: N entity tokens followed by R relation tokens."""
        return self.n_subjects + self.n_relations

    @property
    def d_vocab_out(self) -> int:
        """Output classes: the N attributes."""
        return self.n_subjects


@dataclass(frozen=True)
class FactSet:
    """Sequences with per-position targets: ``tokens`` [n, T], ``targets`` [n, T] (``IGNORE`` = no loss)."""

    tokens: torch.Tensor
    targets: torch.Tensor
    d_vocab: int  # input tokens a model must embed
    d_vocab_out: int  # classes a model must output
    data_format: str | None = None  # "single_hop", "noisy", ...: a model built for one format refuses another

    def __post_init__(self) -> None:
        """Token ids must lie in [0, d_vocab) and targets in [0, d_vocab_out) or be ``IGNORE``."""
        check_int("d_vocab", self.d_vocab, 1)
        check_int("d_vocab_out", self.d_vocab_out, 1)
        check_tokens("tokens", self.tokens, self.d_vocab)
        if not isinstance(self.targets, torch.Tensor) or self.targets.dtype not in (torch.int64, torch.int32):
            got = self.targets.dtype if isinstance(self.targets, torch.Tensor) else type(self.targets).__name__
            raise ArgumentTypeError(f"targets must be an integer tensor (torch.long), got {got}")
        if self.tokens.shape != self.targets.shape:
            raise ValueError(
                "tokens and targets must both be [n, T]; "
                f"got {tuple(self.tokens.shape)} and {tuple(self.targets.shape)}"
            )
        bad = (self.targets < IGNORE) | (self.targets >= self.d_vocab_out)
        if bool(bad.any()):
            raise ValueError(
                f"targets must be classes in [0, {self.d_vocab_out - 1}] (d_vocab_out={self.d_vocab_out}) or "
                f"IGNORE={IGNORE}, got {int(self.targets[bad][0])}"
            )
        if self.data_format is not None and not (isinstance(self.data_format, str) and self.data_format):
            raise ArgumentTypeError(f"data_format must be a non-empty str or None, got {self.data_format!r}")

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @property
    def seq_len(self) -> int:
        return self.tokens.shape[1]

    @property
    def last_position_only(self) -> bool:
        """True when only the final position carries a target (lets models skip the other positions)."""
        return bool((self.targets[:, :-1] == IGNORE).all())

    def subset(self, index: torch.Tensor) -> "FactSet":
        return FactSet(self.tokens[index], self.targets[index], self.d_vocab, self.d_vocab_out, self.data_format)

    def to(self, device: str | torch.device) -> "FactSet":
        return FactSet(
            self.tokens.to(device), self.targets.to(device), self.d_vocab, self.d_vocab_out, self.data_format
        )


class BijectionTask:
    """R uniformly random bijections pi_r: [N] -> [N], drawn from ``config.seed``.

    >>> task = BijectionTask(TaskConfig(n_subjects=5, n_relations=2, seed=0))
    >>> sorted(task.perms[0].tolist()) == list(range(5))
    True
    >>> s, r = 3, 1
    >>> task.answer(torch.tensor([s]), torch.tensor([r])).item() == task.perms[r, s].item()
    True
    """

    def __init__(self, config: TaskConfig):
        if not isinstance(config, TaskConfig):
            raise ArgumentTypeError(f"config must be a TaskConfig, got {type(config).__name__}")
        self.config = config
        g = repro.generator(config.seed, "task")
        # perms[r, s] = pi_r(s); one independent uniform permutation per relation
        self.perms = torch.stack([torch.randperm(config.N, generator=g) for _ in range(config.R)])

    def __repr__(self) -> str:
        c = self.config
        return f"BijectionTask(N={c.N}, R={c.R}, seed={c.seed})"

    @property
    def N(self) -> int:
        return self.config.N

    @property
    def R(self) -> int:
        return self.config.R

    @cached_property
    def inverse_perms(self) -> torch.Tensor:
        """inverse_perms[r, a] = pi_r^{-1}(a)."""
        inv = torch.empty_like(self.perms)
        inv.scatter_(1, self.perms, torch.arange(self.N).expand(self.R, -1).contiguous())
        return inv

    def _check_relations(self, relations, name: str = "relation", n: int | None = None) -> None:
        n, label = (self.R, "R") if n is None else (n, "N")
        rel = torch.as_tensor(relations)
        if rel.numel() and (rel.dtype == torch.bool or rel.dtype.is_floating_point or rel.dtype.is_complex):
            raise ArgumentTypeError(f"{name} must be integer ids, got dtype {rel.dtype}")
        if rel.numel() and (int(rel.min()) < 0 or int(rel.max()) >= n):
            bad = int(rel.min()) if int(rel.min()) < 0 else int(rel.max())
            raise ValueError(f"{name} must be in [0, {n - 1}] ({label}={n}), got {bad}")

    def answer(self, subjects: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        """pi_r(s), elementwise."""
        self._check_relations(relations)
        self._check_relations(subjects, "subject", self.N)
        return self.perms[relations, subjects]

    def compose(self, path: tuple[int, ...] | list[int]) -> torch.Tensor:
        """The permutation pi_p = pi_{r_h} o ... o pi_{r_1} of a path p = (r_1, ..., r_h), as a length-N table."""
        self._check_relations(list(path))
        out = torch.arange(self.N)
        for r in path:
            out = self.perms[r][out]
        return out

    def facts(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """All N*R facts as (subjects, relations, answers), subject-major: fact i = (i // R, i % R)."""
        subjects = torch.arange(self.N).repeat_interleave(self.R)
        relations = torch.arange(self.R).repeat(self.N)
        return subjects, relations, self.perms[relations, subjects]

    def single_hop(self) -> FactSet:
        """Every fact in the ``[s, N+r]`` format, target pi_r(s) at the last position."""
        subjects, relations, answers = self.facts()
        tokens = torch.stack([subjects, self.N + relations], dim=1)  # [N*R, 2]
        targets = torch.stack([torch.full_like(answers, IGNORE), answers], dim=1)  # [N*R, 2]
        return FactSet(
            tokens, targets, d_vocab=self.config.d_vocab, d_vocab_out=self.config.d_vocab_out, data_format=SINGLE_HOP
        )

    def fact_table(self, n_subjects: int = 8):
        """The first ``n_subjects`` rows of the fact table as a pandas DataFrame (subjects x relations)."""
        n = min(n_subjects, self.N)
        return pd.DataFrame(
            self.perms[:, :n].T.numpy(),
            index=pd.Index([f"s{s}" for s in range(n)], name="subject"),
            columns=[f"r{r}" for r in range(self.R)],
        )

    @property
    def information_bits(self) -> float:
        """R * log2(N!), the information content of R independent uniform bijections."""
        return self.R * math.lgamma(self.N + 1) / math.log(2)


def make_task(n_subjects: int, n_relations: int, seed: int = 0) -> BijectionTask:
    """Shorthand for ``BijectionTask(TaskConfig(n_subjects=..., n_relations=..., seed=...))``."""
    return BijectionTask(TaskConfig(n_subjects=n_subjects, n_relations=n_relations, seed=seed))


# --- noisy T = 32 format (the frozen-embedding control E2) -----------------------------------------------------


def noisy_vocab(task: BijectionTask, n_noise: int) -> tuple[int, int]:
    """Token ids of the noisy format: noise tokens ``N+R .. N+R+n_noise-1`` and EOS ``N+R+n_noise``; returns
    ``(first_noise_token, eos_token)``. The input vocabulary is then ``N + R + n_noise + 1``."""
    return task.N + task.R, task.N + task.R + n_noise


def _two_smallest(u: torch.Tensor) -> torch.Tensor:
    """``u.argsort(dim=1)[:, :2]`` for u [n, k], k >= 2: the positions of each row's smallest and second-smallest
    entries, by two ``argmin`` passes instead of a sort. Rows where either of the two shares its value with
    another entry (possible with float32 draws) are sorted by ``argsort`` itself, so the result is the same as
    sorting every row, ties included."""
    rows = torch.arange(u.shape[0])
    first = u.argmin(dim=1)
    rest = u.clone()
    rest[rows, first] = math.inf
    second = rest.argmin(dim=1)
    out = torch.stack([first, second], dim=1)
    v2 = u[rows, second]
    tied = ((u <= v2[:, None]).sum(dim=1) != 2) | (u[rows, first] == v2)  # the two smallest are not strictly ordered
    if bool(tied.any()):
        out[tied] = u[tied].argsort(dim=1)[:, :2]
    return out


def noisy_sequences(
    task: BijectionTask, *, seq_len: int = 32, n_noise: int | None = None, copies: int = 1, seed: int = 0
) -> FactSet:
    """Every fact in the noisy format of Nichani, Lee & Bietti (2024, arXiv:2412.06538), ``copies`` times.

    A sequence has ``seq_len`` tokens: uniform noise tokens everywhere, the subject ``s`` and the relation
    token ``N+r`` at two random distinct positions among the first ``seq_len - 1`` (either order), and EOS
    at the last position, where the target pi_r(s) sits. ``n_noise`` noise tokens (default N + R, their
    "S + R noise tokens") extend the vocabulary, then one EOS: ``d_vocab = N + R + n_noise + 1``, and the
    output head keeps N classes. Sequence ``c * N*R + i`` is copy c of fact i (``task.facts()`` order).

    [recon] Answers are our bijections pi_r, not Nichani et al.'s random functions into D answers per
    relation with disjoint answer sets: the control compares the two regimes on the *same* facts.
    Noise, positions and order come from ``repro.generator(seed, "noisy")``.

    >>> fs = noisy_sequences(make_task(8, 2, seed=0), seq_len=6, copies=2, seed=1)
    >>> fs.tokens.shape, fs.d_vocab, fs.d_vocab_out, bool((fs.tokens[:, -1] == 8 + 2 + 10).all())
    (torch.Size([32, 6]), 21, 8, True)
    """
    if not isinstance(task, BijectionTask):
        raise ArgumentTypeError(f"task must be a BijectionTask, got {type(task).__name__}")
    check_seed("seed", seed)
    N, R = task.N, task.R
    n_noise = N + R if n_noise is None else n_noise
    check_int("seq_len", seq_len, 3, 4096)
    check_int("n_noise", n_noise, 1, MAX_SUBJECTS)
    check_int("copies", copies, 1, 1024)
    first_noise, eos = noisy_vocab(task, n_noise)
    subjects, relations, answers = task.facts()  # [N*R] each
    n = copies * N * R
    g = repro.generator(seed, "noisy")
    tokens = first_noise + torch.randint(n_noise, (n, seq_len), generator=g)  # [n, T] noise everywhere
    slots = _two_smallest(torch.rand(n, seq_len - 1, generator=g))  # [n, 2] distinct positions < T-1
    rows = torch.arange(n)
    tokens[rows, slots[:, 0]] = subjects.repeat(copies)
    tokens[rows, slots[:, 1]] = N + relations.repeat(copies)
    tokens[:, -1] = eos
    targets = torch.full((n, seq_len), IGNORE, dtype=torch.long)  # [n, T]
    targets[:, -1] = answers.repeat(copies)
    return FactSet(tokens, targets, d_vocab=N + R + n_noise + 1, d_vocab_out=N, data_format=NOISY)
