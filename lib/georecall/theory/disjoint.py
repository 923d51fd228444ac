"""Closed forms for disjoint attribute sets: code length, construction size, information and counting bounds [recon].

S subjects, R relations, D answers per relation (output classes R*D; see ``georecall.tasks.disjoint``). Arithmetic
only: no torch, no sampling. Every function takes Python numbers or numpy arrays (broadcast elementwise)
and returns a Python scalar for scalar input, an ndarray otherwise. These are the project's reconstruction,
not formulas taken from the paper.

>>> disjoint_code_length(8), disjoint_dimension(4, 8), disjoint_width(4, 8)
(3, 19, 24)
>>> disjoint_information_bits(128, 4, 8)
1536.0
"""

from __future__ import annotations

import math

import numpy as np

from ._arrays import check_int_array as _check_int
from ._arrays import check_positive_array as _check_positive
from ._arrays import lgamma as _lgamma
from ._arrays import scalar_or_array as _out
from .bijection import DEFAULT_BITS_PER_PARAM, gated_dimension, gated_width

__all__ = [
    "disjoint_code_length",
    "disjoint_dimension",
    "disjoint_width",
    "disjoint_built_width",
    "disjoint_min_margin",
    "disjoint_nonembedding_param_count",
    "disjoint_information_bits",
    "disjoint_lower_bound_d",
    "disjoint_per_entity_lower_bound_d",
    "disjoint_bits_per_parameter",
]


def disjoint_code_length(D):
    """k = ceil(log2 D), the shortest distinct sign codes for D answers; k = 0 at D = 1.

    Exact integer arithmetic, k = bit_length(D - 1). With one answer per relation there is nothing to encode:
    the relation alone fixes the answer, so no code coordinate is needed (k = 0).

    >>> disjoint_code_length(1), disjoint_code_length(2), disjoint_code_length(5), disjoint_code_length(8)
    (0, 1, 3, 3)
    """
    D = _check_int("D (n_answers)", D, 1)
    return _out(np.vectorize(lambda n: (int(n) - 1).bit_length(), otypes=[np.int64])(D))


def disjoint_dimension(R, D):
    """d = R*k + R + k with k = ceil(log2 D): R subject blocks of k coordinates, R gate coordinates (which also
    tag the relation for the unembedding) and a k-dimensional output block. O(R log D), independent of S.

    >>> disjoint_dimension(4, 1), disjoint_dimension(4, 2), disjoint_dimension(4, 32)
    (4, 9, 29)
    """
    k = np.asarray(disjoint_code_length(D))
    R = _check_int("R (n_relations)", R, 1)
    return _out(gated_dimension(R, k))


def disjoint_width(R, D):
    """m = 2*R*k ReLU units: one pair per (relation, code coordinate); 0 at D = 1.

    >>> disjoint_width(4, 8), disjoint_width(3, 1)
    (24, 0)
    """
    k = np.asarray(disjoint_code_length(D))
    R = _check_int("R (n_relations)", R, 1)
    return _out(gated_width(R, k))


def disjoint_built_width(R, D):
    """d_mlp of the built model: max(1, 2*R*k). A ``models.ModelConfig`` needs d_mlp >= 1, so at D = 1 the model
    carries one all-zero unit.

    >>> disjoint_built_width(3, 1), disjoint_built_width(3, 4)
    (1, 12)
    """
    return _out(np.maximum(1, np.asarray(disjoint_width(R, D))))


def disjoint_min_margin(D):
    """The construction's minimum logit margin, 2 / max(k, 1): 2/k within a relation (sign codes at Hamming
    distance >= 1) and the relation-tag weight lambda = 2 / max(k, 1) against every other relation's answers.

    >>> disjoint_min_margin(8), disjoint_min_margin(1), disjoint_min_margin(2)
    (0.6666666666666666, 2.0, 2.0)
    """
    k = np.asarray(disjoint_code_length(D))
    return _out(2.0 / np.maximum(k, 1))


def disjoint_nonembedding_param_count(R, D):
    """Attention plus MLP parameters of the built construction, 4 d^2 + 2 d m + m with d = R k + R + k and
    m = max(1, 2 R k): poly(R log D), independent of S and of the fact table.

    >>> disjoint_nonembedding_param_count(4, 8)
    2380
    """
    d = np.asarray(disjoint_dimension(R, D))
    m = np.asarray(disjoint_built_width(R, D))
    return _out(4 * d * d + 2 * d * m + m)


def disjoint_information_bits(S, R, D, bijective=False):
    """H = R * S * log2(D) bits for independent uniform answers (a random function per relation), or
    H = R * log2(S!) when every relation is a bijection (D = S).

    >>> disjoint_information_bits(4, 2, 4), round(disjoint_information_bits(4, 2, 4, bijective=True), 3)
    (16.0, 9.17)
    """
    S = _check_int("S (n_subjects)", S, 1)
    R = _check_int("R (n_relations)", R, 0)
    D = _check_int("D (n_answers)", D, 1)
    if bijective:
        if np.any(D != S):
            raise ValueError(f"bijective needs D (n_answers) = S (n_subjects), got S={S!r}, D={D!r}")
        return _out(R * _lgamma(S + 1.0) / math.log(2))
    return _out(R * S * np.log2(D))


def disjoint_lower_bound_d(S, R, D, bits_per_param=DEFAULT_BITS_PER_PARAM, fixed_params=0, bijective=False):
    """Global counting bound, no assumption on the mechanism. Only two tables grow with S or D: the subject
    embeddings (S*d) and the unembedding (R*D*d); P0 = ``fixed_params`` counts everything else. At p bits per
    parameter,

        p * ((S + R*D) * d + P0) >= H   =>   d >= max(0, (H - p*P0) / (p * (S + R*D))),

    which for a random function and R*D << S is about R*log2(D)/p. Returned as a real number.

    >>> round(disjoint_lower_bound_d(1024, 4, 8), 3)
    5.818
    """
    p = _check_positive("bits_per_param (p)", bits_per_param, 1e-12)
    P0 = _check_positive("fixed_params (P0)", fixed_params, 0)
    H = np.asarray(disjoint_information_bits(S, R, D, bijective))
    tables = np.asarray(S) + np.asarray(R) * np.asarray(D)
    return _out(np.maximum(0.0, (H - p * P0) / (p * tables)))


def disjoint_per_entity_lower_bound_d(R, D, bits_per_param=DEFAULT_BITS_PER_PARAM):
    """Per-entity bound with generic decoders: if every parameter except the subject embeddings is independent
    of the fact table, the tuple (a_1(s), ..., a_R(s)), uniform on [D]^R for a random function, must be decodable
    from e_s alone, so d * p >= R * log2(D). (For bijections, D = S and the tuple is nearly uniform on [S]^R.)

    >>> disjoint_per_entity_lower_bound_d(4, 8)
    6.0
    """
    R = _check_int("R (n_relations)", R, 0)
    D = _check_int("D (n_answers)", D, 1)
    p = _check_positive("bits_per_param (p)", bits_per_param, 1e-12)
    return _out(R * np.log2(D) / p)


def disjoint_bits_per_parameter(S, R, D, d, bijective=False):
    """b = H / ((S + R*D) * d): bits per parameter of the two tables that grow with S or D (the bug alarm: a
    trained model at >= 99% accuracy with b above ~4 is a bug until explained).

    >>> disjoint_bits_per_parameter(128, 4, 8, 3)
    3.2
    """
    d = _check_positive("d (d_model)", d, 1e-12)
    H = np.asarray(disjoint_information_bits(S, R, D, bijective))
    return _out(H / ((np.asarray(S) + np.asarray(R) * np.asarray(D)) * d))
