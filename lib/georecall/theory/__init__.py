"""Closed forms, torch-free: information content, lower bounds on d, construction sizes and parameter counts.

The shared-attribute (bijection) task's forms are exported here; the variants are modules: :mod:`.multihop` (h-hop
recall with and without chain-of-thought) and :mod:`.disjoint` (disjoint attribute sets).
"""

from . import disjoint, multihop
from .bijection import (
    BUG_ALARM_BITS,
    DEFAULT_BITS_PER_PARAM,
    associative_param_count,
    bits_per_parameter,
    block_dimension,
    block_param_counts,
    block_width,
    code_length,
    counting_bound_d,
    gated_dimension,
    gated_width,
    geometric_nonembedding_param_count,
    geometric_param_count,
    information_bits,
    lower_bound_d,
    memory_budget,
    param_count,
    per_entity_lower_bound_d,
)

__all__ = [
    "disjoint",
    "multihop",
    "information_bits",
    "code_length",
    "gated_dimension",
    "gated_width",
    "block_dimension",
    "block_width",
    "lower_bound_d",
    "counting_bound_d",
    "per_entity_lower_bound_d",
    "param_count",
    "block_param_counts",
    "geometric_param_count",
    "geometric_nonembedding_param_count",
    "associative_param_count",
    "bits_per_parameter",
    "memory_budget",
    "DEFAULT_BITS_PER_PARAM",
    "BUG_ALARM_BITS",
]
