"""Facts written as sentences: a word-level language-model task over the random-bijection facts [recon].

The facts are a :class:`~georecall.tasks.bijection.BijectionTask`'s: N entities, R bijections pi_r, the fact
(s, r, pi_r(s)). Each relation is written with ``n_synonyms`` relation words and templates (paraphrases): word
sequences with one slot for the entity that is given and the answer as the last word,

    forward   [filler*] (s [filler+] rel | rel [filler+] s) [filler+] a        asks a = pi_r(s)
    inverse   [filler*] (a [filler+] rel | rel [filler+] a) [filler+] whose s  asks s = pi_r^{-1}(a)

with 0-2 prefix fillers and 1-2 fillers between the parts, drawn from ``repro.generator(seed, "templates")``. Every
word is one token, and so is every entity: tokens 0..N-1 are the entities (subjects and answers share them, as in
the ``[s, r]`` format), then the R ``n_synonyms`` relation words (relation r's j-th is N + r S + j), the
``n_fillers`` filler words, the direction word ``whose`` (only in inverse sentences) and PAD:
d_vocab = N + R S + F + 2. The relation is read from words: fillers are shared by all relations.

A sentence w_0 .. w_{n-1} is padded with PAD to the longest template's length; the model reads w[:-1] and is
trained on next-token prediction over the whole sentence (right padding, so causal attention never sees PAD
before a word; PAD targets are ``IGNORE``):

    loss = mean over sentences and positions t < n - 1 of -log p(w_{t+1} | w_0 .. w_t)

Recall is scored at the answer: a sentence counts as recalled when the argmax over the whole vocabulary at the
position before the answer is the answer token. Splits (:meth:`SentenceTask.split`):

- ``train``: every fact (s, r) in every training template; and, for the subjects of a ``inverse_share`` share of
  the entities (``both_directions``, from ``repro.generator(seed, "directions")``), their facts in every inverse
  template too;
- ``heldout_templates``: every fact in ``n_heldout`` templates per relation never used in training (new
  arrangements of seen words: does recall survive rewording?);
- ``inverse``: the facts of the other subjects asked in the inverse direction, which is trained for the
  ``both_directions`` subjects only (does a fact learned one way answer the other way?). Absent when
  ``inverse_share`` is 0 (no inverse sentences at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from .. import repro
from .._checks import ArgumentTypeError, check_float, check_int, check_seed
from .bijection import IGNORE, BijectionTask, FactSet, TaskConfig

__all__ = [
    "SENTENCES",
    "SPLITS",
    "FILLERS",
    "MAX_TEMPLATES",
    "SentenceConfig",
    "SentenceSet",
    "SentenceTask",
    "make_sentence_task",
]

SENTENCES = "sentences"  # the format tag of every split: one model reads them all
TRAIN, HELDOUT, INVERSE = "train", "heldout_templates", "inverse"
SPLITS = (TRAIN, HELDOUT, INVERSE)
FILLERS = ("the", "of", "is", "was", "a", "known", "as", "called", "by", "for", "in", "that", "its", "has", "to", "one")
DIRECTION_WORD = "whose"
MAX_TEMPLATES = 32  # per relation and direction, training and held-out together
MAX_ENTITIES = 2**16
MAX_RELATIONS = 256
KNOWN, ANSWER = -1, -2  # slots of a template: the entity given, and the answer (always last)
_MAX_TRIES = 1000  # draws per template before the template counts are declared impossible


@dataclass(frozen=True, kw_only=True)
class SentenceConfig:
    """Sizes and seed of a sentence task. ``seed`` draws the bijections (``"task"`` stream, so the facts are those
    of ``make_task(n_entities, n_relations, seed)``), the templates and the both-direction subjects."""

    n_entities: int = 16  # N: entities, one token each; subjects and answers
    n_relations: int = 2  # R
    n_templates: int = 4  # training templates per relation (forward; as many inverse ones)
    n_heldout: int = 2  # forward templates per relation never used in training
    n_synonyms: int = 2  # relation words per relation
    n_fillers: int = 8  # filler words shared by all relations (the first n of FILLERS)
    inverse_share: float = 0.5  # share of entities whose facts are also trained in the inverse direction; 0: none
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("n_entities (N)", self.n_entities, 2, MAX_ENTITIES)
        check_int("n_relations (R)", self.n_relations, 1, MAX_RELATIONS)
        check_int("n_templates", self.n_templates, 1, MAX_TEMPLATES)
        check_int("n_heldout", self.n_heldout, 0, MAX_TEMPLATES)
        if self.n_templates + self.n_heldout > MAX_TEMPLATES:
            raise ValueError(
                f"n_templates + n_heldout must be at most {MAX_TEMPLATES} per relation, "
                f"got {self.n_templates} + {self.n_heldout}"
            )
        check_int("n_synonyms", self.n_synonyms, 1, 8)
        check_int("n_fillers", self.n_fillers, 2, len(FILLERS))
        check_float("inverse_share", self.inverse_share, 0.0, 1.0, hi_open=True)
        if self.inverse_share > 0 and not 1 <= self.n_both <= self.n_entities - 1:
            raise ValueError(
                f"inverse_share={self.inverse_share} trains round(share * N) = {self.n_both} of N={self.n_entities} "
                "entities in both directions; it must leave at least one on each side (or be 0: no inverse split)"
            )
        check_seed("seed", self.seed)

    @property
    def n_both(self) -> int:
        """Entities whose facts are trained in both directions: round(inverse_share * N)."""
        return round(self.inverse_share * self.n_entities)

    @property
    def d_vocab(self) -> int:
        """N entities + R S relation words + F fillers + the direction word + PAD."""
        return self.n_entities + self.n_relations * self.n_synonyms + self.n_fillers + 2


@dataclass(frozen=True)
class SentenceSet:
    """Padded sentences [n, T + 1] of one split, each with its fact, template and direction.

    The entity a sentence gives (s forward, a = pi_r(s) inverse) sits at ``known_at``, the answer (its last word)
    at ``lengths - 1``; the model reads the answer off the position before it, :attr:`query_at` = ``lengths - 2``
    (the probes' "last token before the answer")."""

    words: torch.Tensor  # [n, T + 1] token ids, PAD after the answer
    lengths: torch.Tensor  # [n]
    subjects: torch.Tensor  # [n] s of the fact (s, r, pi_r(s))
    relations: torch.Tensor  # [n]
    templates: torch.Tensor  # [n] the template's index within its relation and direction
    inverse: torch.Tensor  # [n] bool: asked in the inverse direction
    answers: torch.Tensor  # [n] pi_r(s) forward, s inverse
    known_at: torch.Tensor  # [n] position of the given entity (the subject, forward)
    d_vocab: int
    pad: int

    def __len__(self) -> int:
        return self.words.shape[0]

    @property
    def query_at(self) -> torch.Tensor:
        """[n] the position whose next-token prediction is the answer: lengths - 2."""
        return self.lengths - 2

    def lm_facts(self) -> FactSet:
        """The language-model data: tokens w[:-1], targets w[1:] with ``IGNORE`` on padding [n, T]."""
        targets = self.words[:, 1:].clone()
        targets[targets == self.pad] = IGNORE
        return FactSet(self.words[:, :-1], targets, self.d_vocab, self.d_vocab, data_format=SENTENCES)

    def recall_facts(self) -> FactSet:
        """The same tokens with one target, the answer, at the position before it: ``train.evaluate`` on this
        set gives the share of sentences recalled (argmax over the whole vocabulary)."""
        targets = torch.full_like(self.words[:, 1:], IGNORE)
        targets[torch.arange(len(self)), self.query_at] = self.answers
        return FactSet(self.words[:, :-1], targets, self.d_vocab, self.d_vocab, data_format=SENTENCES)

    def per_fact(self, correct: torch.Tensor, N: int, R: int) -> torch.Tensor:
        """The share of each fact's sentences in ``correct`` [n] (bool), as [N, R]; NaN for a fact not asked."""
        if not isinstance(correct, torch.Tensor) or correct.shape != (len(self),):
            raise ValueError(f"correct must be a tensor of shape [{len(self)}], one entry per sentence")
        fact = self.subjects * R + self.relations
        hits = torch.zeros(N * R, dtype=torch.float64).index_add_(0, fact, correct.double())
        count = torch.zeros(N * R, dtype=torch.float64).index_add_(0, fact, torch.ones(len(self), dtype=torch.float64))
        return (hits / count).reshape(N, R)  # 0 / 0 = NaN where a fact is not asked

    def subset(self, index) -> "SentenceSet":
        i = torch.as_tensor(index)
        cols = (self.words, self.lengths, self.subjects, self.relations, self.templates, self.inverse, self.answers)
        cols += (self.known_at,)
        return SentenceSet(*(c[i] for c in cols), d_vocab=self.d_vocab, pad=self.pad)


class SentenceTask:
    """The facts of ``config`` in words: vocabulary, templates and the three splits.

    >>> t = SentenceTask(SentenceConfig(n_entities=4, n_relations=2, n_templates=2, n_heldout=1, seed=0))
    >>> t.d_vocab, len(t.split("train")), len(t.split("heldout_templates")), len(t.split("inverse"))
    (18, 24, 8, 8)
    >>> s = t.split("train")  # sentence 0: subject 0, relation 0, training template 0
    >>> t.decode(s.words[0, : s.lengths[0]])[-1] == t.words[int(t.facts.perms[0, 0])]
    True
    """

    def __init__(self, config: SentenceConfig):
        if not isinstance(config, SentenceConfig):
            raise ArgumentTypeError(f"config must be a SentenceConfig, got {type(config).__name__}")
        self.config = c = config
        self.facts = BijectionTask(TaskConfig(n_subjects=c.n_entities, n_relations=c.n_relations, seed=c.seed))
        self.first_filler = c.n_entities + c.n_relations * c.n_synonyms
        self.direction_word = self.first_filler + c.n_fillers
        self.pad = self.direction_word + 1
        g = repro.generator(c.seed, "templates")
        per_relation = c.n_templates + c.n_heldout
        self.forward_templates: list[list[tuple[int, ...]]] = []  # [R][n_templates + n_heldout], training ones first
        self.inverse_templates: list[list[tuple[int, ...]]] = []  # [R][n_templates] (empty when inverse_share = 0)
        for r in range(c.n_relations):
            self.forward_templates.append(self._draw(g, r, per_relation, inverse=False))
        for r in range(c.n_relations):
            self.inverse_templates.append(self._draw(g, r, c.n_templates, inverse=True) if c.n_both else [])
        order = torch.randperm(c.n_entities, generator=repro.generator(c.seed, "directions"))
        self.both_directions = order[: c.n_both].sort().values  # subjects trained in both directions
        every = [t for ts in self.forward_templates + self.inverse_templates for t in ts]
        self.seq_len = max(len(t) for t in every) - 1  # the model's context: every sentence but its last word

    def __repr__(self) -> str:
        c = self.config
        return (
            f"SentenceTask(N={c.n_entities}, R={c.n_relations}, templates={c.n_templates}+{c.n_heldout}, "
            f"inverse_share={c.inverse_share}, seed={c.seed})"
        )

    @property
    def d_vocab(self) -> int:
        return self.config.d_vocab

    @cached_property
    def words(self) -> tuple[str, ...]:
        """The vocabulary, token id -> word: e0 .., r0a (relation 0's first synonym) .., fillers, whose, <pad>."""
        c = self.config
        rel = [f"r{r}{'abcdefgh'[j]}" for r in range(c.n_relations) for j in range(c.n_synonyms)]
        return (*(f"e{i}" for i in range(c.n_entities)), *rel, *FILLERS[: c.n_fillers], DIRECTION_WORD, "<pad>")

    def decode(self, tokens) -> list[str]:
        """The words of a sequence of token ids."""
        return [self.words[int(t)] for t in tokens]

    def _draw(self, g: torch.Generator, r: int, count: int, *, inverse: bool) -> list[tuple[int, ...]]:
        """``count`` distinct templates of relation r (token ids, ``KNOWN`` and ``ANSWER`` slots), by rejection."""
        c = self.config

        def ints(lo: int, hi: int) -> int:  # uniform in [lo, hi]
            return int(torch.randint(lo, hi + 1, (1,), generator=g))

        def fillers(lo: int, hi: int) -> list[int]:
            return [self.first_filler + ints(0, c.n_fillers - 1) for _ in range(ints(lo, hi))]

        out: list[tuple[int, ...]] = []
        for _ in range(_MAX_TRIES * count):
            if len(out) == count:
                break
            rel = c.n_entities + r * c.n_synonyms + ints(0, c.n_synonyms - 1)
            core = [KNOWN, *fillers(1, 2), rel] if ints(0, 1) else [rel, *fillers(1, 2), KNOWN]
            tail = [self.direction_word] if inverse else []
            template = (*fillers(0, 2), *core, *fillers(1, 2), *tail, ANSWER)
            if template not in out:
                out.append(template)
        if len(out) < count:
            raise ValueError(
                f"cannot draw {count} distinct templates for relation {r} from n_fillers={c.n_fillers} fillers and "
                f"n_synonyms={c.n_synonyms} words; lower n_templates/n_heldout or raise n_fillers"
            )
        return out

    def _fill(self, template: tuple[int, ...], subjects: torch.Tensor, r: int, index: int, inverse: bool):
        """The sentences of ``template`` for the facts (subjects, r), as a list of SentenceSet columns."""
        n, width = len(subjects), self.seq_len + 1
        image = self.facts.perms[r, subjects]
        known, answer = (image, subjects) if inverse else (subjects, image)
        words = torch.full((n, width), self.pad, dtype=torch.long)
        for pos, slot in enumerate(template):
            words[:, pos] = known if slot == KNOWN else answer if slot == ANSWER else slot
        full = torch.full((n,), 1, dtype=torch.long)
        at = full * template.index(KNOWN)
        return [words, full * len(template), subjects, full * r, full * index, full.bool() & inverse, answer, at]

    def split(self, name: str) -> SentenceSet:
        """The sentences of split ``name`` (one of ``SPLITS``), template-major within each relation."""
        c = self.config
        if name not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {name!r}")
        if name == INVERSE and not c.n_both:
            raise ValueError("this task has no inverse split: inverse_share=0 (set it in (0, 1) to add one)")
        everyone = torch.arange(c.n_entities)
        parts = []  # (template, subjects, r, index, inverse)
        for r in range(c.n_relations):
            forward = self.forward_templates[r]
            if name == TRAIN:
                parts += [(t, everyone, r, k, False) for k, t in enumerate(forward[: c.n_templates])]
                parts += [(t, self.both_directions, r, k, True) for k, t in enumerate(self.inverse_templates[r])]
            elif name == HELDOUT:
                parts += [(t, everyone, r, k, False) for k, t in enumerate(forward[c.n_templates :])]
            else:
                others = everyone[~torch.isin(everyone, self.both_directions)]
                parts += [(t, others, r, k, True) for k, t in enumerate(self.inverse_templates[r])]
        if not parts:
            raise ValueError(f"split {name!r} is empty (n_heldout=0 asks no held-out template)")
        columns = [self._fill(*p) for p in parts]
        return SentenceSet(*(torch.cat(col) for col in zip(*columns)), d_vocab=self.d_vocab, pad=self.pad)


def make_sentence_task(n_entities: int, n_relations: int, seed: int = 0, **kwargs) -> SentenceTask:
    """Shorthand for ``SentenceTask(SentenceConfig(n_entities=..., n_relations=..., seed=..., **kwargs))``."""
    return SentenceTask(SentenceConfig(n_entities=n_entities, n_relations=n_relations, seed=seed, **kwargs))
