"""Fact sets: the random-bijection task (:mod:`.bijection`) and disjoint attribute sets (:mod:`.disjoint`), with their
sequence formats, and the bijection facts written as word-level sentences (:mod:`.sentences`).
"""

from . import disjoint, sentences
from .bijection import (
    IGNORE,
    MAX_RELATIONS,
    MAX_SUBJECTS,
    NOISY,
    SINGLE_HOP,
    BijectionTask,
    FactSet,
    TaskConfig,
    check_tokens,
    make_task,
    noisy_sequences,
    noisy_vocab,
)
from .disjoint import MAX_CLASSES, NOISY_SEQ_LEN, DisjointConfig, DisjointTask, make_disjoint_task, noisy_batch
from .sentences import SENTENCES, SentenceConfig, SentenceSet, SentenceTask, make_sentence_task

__all__ = [
    "disjoint",
    "sentences",
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
    "noisy_vocab",
    "noisy_sequences",
    "DisjointConfig",
    "DisjointTask",
    "make_disjoint_task",
    "noisy_batch",
    "NOISY_SEQ_LEN",
    "MAX_CLASSES",
    "SENTENCES",
    "SentenceConfig",
    "SentenceSet",
    "SentenceTask",
    "make_sentence_task",
]
