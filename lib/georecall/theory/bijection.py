"""Closed forms: information content, lower bounds on d, construction sizes and parameter counts.

Everything here is arithmetic on (N, R, d, p); nothing samples, trains or imports torch. Every function
accepts Python ints/floats or numpy arrays (broadcast elementwise) and returns a float/int for scalar
input and an ndarray otherwise. Symbols: N subjects (= attributes), R relations, k = ceil(log2 N) code
length, d = d_model, m = d_mlp, p bits per parameter. All of it is the project's reconstruction [recon] of
the bounds and the construction (only the paper's abstract is public), not formulas taken from the paper.

Every parameter count in the package comes from :func:`param_count` (one formula for the one-layer model).

>>> round(information_bits(1024, 8))
70152
>>> code_length(1024), block_dimension(1024, 8), block_width(1024, 8)
(10, 98, 160)
"""

from __future__ import annotations

import math

import numpy as np

from ._arrays import check_int_array as _check_int
from ._arrays import check_positive_array as _check_positive
from ._arrays import lgamma as _lgamma
from ._arrays import scalar_or_array as _out

__all__ = [
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

DEFAULT_BITS_PER_PARAM = 2.0  # ~2 bits/param measured for trained LMs (Allen-Zhu & Li, Physics of LMs 3.3)
BUG_ALARM_BITS = (
    4.0  # >= 99% accuracy at b > 4 bits per N-dependent parameter is treated as a bug (see bits_per_parameter)
)


def information_bits(N, R):
    """H = R * log2(N!) bits: the information in R independent uniform bijections of [N].

    Computed with lgamma, H = R * lgamma(N + 1) / ln 2 (≈ R * N * log2(N / e) for large N).

    >>> round(information_bits(1024, 8)), round(information_bits(4096, 16))
    (70152, 692001)
    >>> information_bits(np.array([2, 4]), 1).round(3).tolist()
    [1.0, 4.585]
    """
    N = _check_int("N (n_subjects)", N, 1)
    R = _check_int("R (n_relations)", R, 0)
    return _out(R * _lgamma(N + 1.0) / math.log(2))


def code_length(N):
    """k = ceil(log2 N), at least 1: the length of the shortest distinct sign codes for N attributes.

    Exact integer arithmetic, k = bit_length(N - 1) (no floating-point log).

    >>> code_length(1024), code_length(1025), code_length(2), code_length(1)
    (10, 11, 1, 1)
    >>> code_length(np.array([3, 4, 5])).tolist()
    [2, 2, 3]
    """
    N = _check_int("N (n_subjects)", N, 1)
    k = np.vectorize(lambda n: max(1, (int(n) - 1).bit_length()), otypes=[np.int64])(N)
    return _out(k)


def gated_dimension(R, k):
    """d = R*k + R + k of every gated-superposition construction with R relations and codes of length k: R subject
    blocks of k coordinates, R gate coordinates and a k-dimensional output block (the block construction at
    k = ceil(log2 N), the disjoint one at k = ceil(log2 D)).

    >>> gated_dimension(4, 8), gated_dimension(4, 0)
    (44, 4)
    """
    return R * k + R + k


def gated_width(R, k):
    """m = 2*R*k: one ReLU pair per (relation, code coordinate) of a gated-superposition construction.

    >>> gated_width(4, 8)
    64
    """
    return 2 * R * k


def block_dimension(N, R):
    """d = R*k + R + k for the exact block construction (gated superposition of sign codes): R subject blocks of
    k coordinates, R gate coordinates and a k-dimensional output block. Attention needs no extra coordinates
    (W_pos = 0).

    >>> block_dimension(256, 4), block_dimension(4096, 16), block_dimension(300, 5)
    (44, 220, 59)
    """
    k = np.asarray(code_length(N))
    R = _check_int("R (n_relations)", R, 1)
    return _out(gated_dimension(R, k))


def block_width(N, R):
    """m = 2*R*k, the MLP width of the block construction: one ReLU pair per (relation, code bit).

    >>> block_width(256, 4), block_width(4096, 16)
    (64, 384)
    """
    k = np.asarray(code_length(N))
    R = _check_int("R (n_relations)", R, 1)
    return _out(gated_width(R, k))


def lower_bound_d(N, R, bits_per_param=DEFAULT_BITS_PER_PARAM, fixed_params=0):
    """Global counting bound, with no assumption on the mechanism:

        p * (2*N*d + P0) >= R*log2(N!)   =>   d >= max(0, (R*log2(N!) - p*P0) / (2*p*N)),

    where the 2*N*d parameters are the subject embeddings and attribute unembeddings (the only tables that
    grow with N) and P0 = ``fixed_params`` counts everything else. For P0 << N*d this is ≈ R*log2(N/e)/(2p).
    Returned as a real number (not rounded up).

    P0 is a constant here. With the default P0 = 0 the N-independent weights are assumed to hold no information,
    which is *not* a bound on the one-layer model: its attention and MLP weights (P0 grows like d^2) can hold
    bits too. :func:`counting_bound_d` counts them and is the bound to compare trained models against.

    >>> round(lower_bound_d(1024, 8), 3)
    17.127
    >>> lower_bound_d(1024, 8, fixed_params=10**6)
    0.0
    """
    N = _check_int("N (n_subjects)", N, 1)
    p = _check_positive("bits_per_param (p)", bits_per_param, 1e-12)
    P0 = _check_positive("fixed_params (P0)", fixed_params, 0)
    H = np.asarray(information_bits(N, R))
    return _out(np.maximum(0.0, (H - p * P0) / (2.0 * p * N)))


def counting_bound_d(N, R, bits_per_param=DEFAULT_BITS_PER_PARAM, *, mlp_ratio=4.0, n_ctx=2, extra_tokens=0):
    """The global counting bound on d for the one-layer model, every weight counted (no assumption on the mechanism):

        p * P(d) >= R*log2(N!),   P(d) = 2*N*d + P0(d),
        P0(d) = 4*d^2 + 2*d*m + m + (R + extra_tokens + n_ctx)*d  with  m = c*d  (c = ``mlp_ratio``)
              = (4 + 2c)*d^2 + (R + extra_tokens + n_ctx + c)*d.

    P(d) is :func:`param_count` with d_vocab = N + R + extra_tokens input rows, N output columns and n_ctx
    positions. It increases in d, so d >= the positive root

        d_min = (-b + sqrt(b^2 + 4*a*H/p)) / (2*a),   a = 4 + 2c,   b = 2N + R + extra_tokens + n_ctx + c.

    It holds for every model of this shape with d_mlp <= c*d whose weights carry at most p bits each (the weights
    a narrower MLP lacks can only raise d_min). Defaults: the book's trained models (d_mlp = 4d, the [s, r]
    format). For P0 << N*d it tends to :func:`lower_bound_d`. Returned as a real number (not rounded up).

    >>> round(counting_bound_d(1024, 8), 2), round(lower_bound_d(1024, 8), 2)
    (15.6, 17.13)
    >>> d = counting_bound_d(64, 8)  # p * (2Nd + P0(d)) = H exactly at the root
    >>> abs(2 * (2 * 64 * d + 12 * d**2 + (8 + 2 + 4) * d) - information_bits(64, 8)) < 1e-6
    True
    """
    N = _check_int("N (n_subjects)", N, 1)
    R = _check_int("R (n_relations)", R, 0)
    p = _check_positive("bits_per_param (p)", bits_per_param, 1e-12)
    c = _check_positive("mlp_ratio (c = d_mlp / d)", mlp_ratio, 0)
    n_ctx = _check_int("n_ctx", n_ctx, 1)
    extra = _check_int("extra_tokens", extra_tokens, 0)
    H = np.asarray(information_bits(N, R))
    a = 4.0 + 2.0 * c
    b = 2.0 * N + R + extra + n_ctx + c
    return _out((-b + np.sqrt(b * b + 4.0 * a * H / p)) / (2.0 * a))


def per_entity_lower_bound_d(N, R, bits_per_param=DEFAULT_BITS_PER_PARAM):
    """Per-entity bound with generic decoders: d >= R*log2(N) / p.

    If every parameter except the subject embeddings is independent of the bijections, the tuple
    (pi_1(x), ..., pi_R(x)), nearly uniform on [N]^R, must be decodable from e_x alone: d*p >= R*log2 N.

    >>> per_entity_lower_bound_d(1024, 8)
    40.0
    """
    N = _check_int("N (n_subjects)", N, 1)
    R = _check_int("R (n_relations)", R, 0)
    p = _check_positive("bits_per_param (p)", bits_per_param, 1e-12)
    return _out(R * np.log2(N) / p)


def param_count(d, m, *, d_vocab=0, d_vocab_out=0, n_ctx=0):
    """Parameters of the one-layer ``models.Transformer`` (one head or several: H * d_head = d):

        d_vocab*d (W_E) + n_ctx*d (W_pos) + 4*d^2 (W_Q, W_K, W_V, W_O) + 2*d*m + m (W_in, W_out, b_in)
        + d*d_vocab_out (W_U).

    With the defaults (no tables) this is the non-embedding count 4*d^2 + 2*d*m + m: the N-independent part
    that both the trained models and the constructions spend on attention and MLP.

    >>> param_count(8, 32)
    800
    >>> param_count(4, 8, d_vocab=10, d_vocab_out=8, n_ctx=2) == 10*4 + 2*4 + 4*16 + 2*4*8 + 8 + 4*8
    True
    """
    d = _check_int("d (d_model)", d, 1)
    m = _check_int("m (d_mlp)", m, 1)
    tables = (
        _check_int("d_vocab", d_vocab, 0) + _check_int("n_ctx", n_ctx, 0) + _check_int("d_vocab_out", d_vocab_out, 0)
    )
    return _out(tables * d + 4 * d * d + 2 * d * m + m)


def block_param_counts(N, R) -> dict:
    """Parameter counts of the block construction as a ``models.Transformer`` with one head, d_head = d,
    d = R*k + R + k and m = 2*R*k, table by table:

    - ``subject_table`` N*d (the only bijection-dependent weights), ``relation_table`` R*d,
    - ``unembedding`` d*N (fixed by the codes, bijection-independent), ``positions`` 2*d (zero),
    - ``attention`` 4*d^2 (W_Q, W_K, W_V, W_O, each d x d), ``mlp`` 2*d*m + m (W_in, b_in, W_out).

    Values are ints for scalar input, arrays otherwise.

    >>> c = block_param_counts(1024, 8)
    >>> c["subject_table"], c["attention"], c["mlp"]
    (100352, 38416, 31520)
    """
    N = _check_int("N (n_subjects)", N, 1)
    d = np.asarray(block_dimension(N, R))
    m = np.asarray(block_width(N, R))
    R = np.asarray(R)
    counts = {
        "subject_table": N * d,
        "relation_table": R * d,
        "unembedding": d * N,
        "positions": 2 * d,
        "attention": 4 * d * d,
        "mlp": 2 * d * m + m,
    }
    return {name: _out(v) for name, v in counts.items()}


def geometric_nonembedding_param_count(N, R):
    """Non-embedding parameters of the block construction, :func:`param_count` (attention 4*d^2 plus MLP
    2*d*m + m) at d = R*k + R + k, m = 2*R*k. This is poly(R log N) and independent of the bijections; it
    equals ``models.Transformer.n_params(include_embeddings=False)`` of the built model.

    >>> geometric_nonembedding_param_count(1024, 8)
    69936
    """
    return param_count(block_dimension(N, R), block_width(N, R))


def geometric_param_count(N, R):
    """Subject table plus the N-independent parts of the block construction:

        N*d + R*d + 4*d^2 + (2*d*m + m),     d = R*k + R + k,  m = 2*R*k,  k = ceil(log2 N).

    The unembedding (d*N, fixed by the codes) and the zero position table are left out: an associative
    memory has N x d input/output tables too, so they do not separate the two regimes. Only the N*d
    subject table grows with N (as N*R*log2 N); the rest is O(R^2 log^2 N).

    >>> geometric_param_count(1024, 8)
    171072
    """
    c = block_param_counts(N, R)
    keys = ("subject_table", "relation_table", "attention", "mlp")
    return _out(sum(np.asarray(c[key]) for key in keys))


def associative_param_count(N, R, bits_per_param=DEFAULT_BITS_PER_PARAM):
    """Non-embedding parameters an associative memory needs to store the same facts: H / p = R*log2(N!)/p.

    Choice: with frozen (random) embeddings the N*R facts must live in the attention and MLP weights, so at
    p bits per parameter these need at least R*log2(N!)/p ≈ N*R*log2(N/e)/p parameters. This is the
    information-theoretic floor of that regime (Nichani et al. reach it up to constants and log factors);
    we use the floor, not a fitted constant, so the comparison favours the associative memory.

    >>> round(associative_param_count(1024, 8))
    35076
    """
    p = _check_positive("bits_per_param (p)", bits_per_param, 1e-12)
    return _out(np.asarray(information_bits(N, R)) / p)


def bits_per_parameter(N, R, d):
    """b = R*log2(N!) / (2*N*d): bits per N-dependent parameter (the "bug alarm").

    Trained LMs store about 2-3.6 bits per parameter; a run claiming >= 99% accuracy at
    b > ``BUG_ALARM_BITS`` (= 4) is treated as a bug until explained. For N = 1024, R = 8 that is d <= 8.

    >>> round(bits_per_parameter(1024, 8, 8), 2), round(bits_per_parameter(1024, 8, 9), 2)
    (4.28, 3.81)
    """
    N = _check_int("N (n_subjects)", N, 1)
    d = _check_positive("d (d_model)", d, 1e-12)
    return _out(np.asarray(information_bits(N, R)) / (2.0 * N * d))


def memory_budget(N, R, bits_per_param=DEFAULT_BITS_PER_PARAM) -> dict:
    """Tidy columns (numpy arrays, one entry per N) comparing what the facts hold with what each regime spends:

    - ``information_bits`` H = R log2(N!);
    - ``associative_params`` H / p (:func:`associative_param_count`);
    - ``geometric_nonembedding_params`` 4 d^2 + 2 d m + m and ``geometric_subject_table`` N d of the block
      construction (d = R k + R + k, m = 2 R k), and ``geometric_params`` (:func:`geometric_param_count`);
    - ``lower_bound_d``: the global counting bound with every weight of the one-layer model counted
      (:func:`counting_bound_d`, d_mlp = 4d, the [s, r] format); ``per_entity_lower_bound_d`` (generic decoders),
      both at p bits/param; ``block_d``, ``block_m``.

    Use as ``pandas.DataFrame(memory_budget(2 ** np.arange(4, 21), R))``.

    >>> b = memory_budget([1024], 8)
    >>> int(b["block_d"][0]), round(float(b["information_bits"][0]))
    (98, 70152)
    """
    N = np.atleast_1d(_check_int("N (n_subjects)", N, 1))
    R_arr = np.broadcast_to(_check_int("R (n_relations)", R, 1), N.shape)
    counts = block_param_counts(N, R_arr)
    return {
        "N": N,
        "R": np.array(R_arr),
        "bits_per_param": np.full(N.shape, float(bits_per_param)),
        "information_bits": np.atleast_1d(information_bits(N, R_arr)),
        "associative_params": np.atleast_1d(associative_param_count(N, R_arr, bits_per_param)),
        "geometric_nonembedding_params": np.atleast_1d(geometric_nonembedding_param_count(N, R_arr)),
        "geometric_subject_table": np.atleast_1d(counts["subject_table"]),
        "geometric_params": np.atleast_1d(geometric_param_count(N, R_arr)),
        "lower_bound_d": np.atleast_1d(counting_bound_d(N, R_arr, bits_per_param)),
        "per_entity_lower_bound_d": np.atleast_1d(per_entity_lower_bound_d(N, R_arr, bits_per_param)),
        "block_d": np.atleast_1d(block_dimension(N, R_arr)),
        "block_m": np.atleast_1d(block_width(N, R_arr)),
    }
