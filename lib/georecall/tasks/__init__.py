"""Fact sets: the random-bijection task (:mod:`.bijection`) and disjoint attribute sets (:mod:`.disjoint`), with their
sequence formats.
"""

from . import disjoint
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

__all__ = [
    "disjoint",
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
]
