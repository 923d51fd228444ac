"""Closed forms for h-hop recall: construction sizes, counting bounds and the capacity-depth tradeoff [recon].

Everything here is integer or float arithmetic on (N, R, h, d, p); nothing samples, builds or imports torch. It is
the project's reconstruction of the paper's multi-hop claim (Ravfogel, Yehudai, Bruna & Bietti 2026,
arXiv 2605.12426, whose abstract states constructions with and without chain-of-thought, a "capacity-depth
tradeoff" and a "matching information-theoretic lower bound", but not the formulas). Symbols: N entities (subjects
= attributes), R relations, h hops, k = ceil(log2 N), d = d_model, m = d_mlp, p bits per parameter.

"Depth" here means the number of hops h one query chains, answered by a *one-layer* model: in one forward pass
without chain-of-thought (CoT), or in h generated tokens with CoT. (Other readings, depth as layers or as CoT steps,
are not built.)

Sizes of the two constructions (``georecall.construct.multihop``, tested to match):

    no CoT   d = pad_h(R^h k + h R + k + (h - 1)),  m = 2 R^h k,  h heads,  n_ctx = h + 1,  one forward pass
    CoT      d = R k + R + k + 2  (any h),          m = 2 R k,    1 head,   n_ctx = 2 h,    h forward passes

where pad_h rounds up to a multiple of h (the model splits d into h heads of d/h). At h = 1 both reduce to the
single-hop block construction's R k + R + k (no CoT exactly; CoT plus two positional coordinates).

Counting bounds (per entity, generic decoders: every parameter except the entity embeddings is independent of the
bijections, so e_x alone must determine every answer the format asks of x in one pass):

    no CoT   d p >= R^h log2 N     (the R^h path answers (pi_p(x))_p, nearly independent and uniform when R^h << N)
    CoT      d p >= R   log2 N     (each step re-reads an entity and needs only its own R answers)

Caveat: global counting cannot give R^h, because the whole task holds R log2(N!) bits for every h
(:func:`global_lower_bound_d`); the R^h bound needs the generic-decoder restriction. When R^h is not small
against N the path answers collide and R^h log2 N overstates their entropy.

>>> no_cot_dimension(256, 3, 1), no_cot_dimension(256, 3, 2), no_cot_dimension(256, 3, 3)
(35, 88, 237)
>>> [cot_dimension(256, 3, h) for h in (1, 2, 3)]
[37, 37, 37]
"""

from __future__ import annotations

import math

from .._checks import check_int
from . import bijection as theory

__all__ = [
    "MAX_HOPS",
    "NO_COT",
    "COT",
    "FORMATS",
    "check_hops",
    "check_format",
    "code_length",
    "path_count",
    "query_count",
    "no_cot_dimension",
    "no_cot_width",
    "cot_dimension",
    "cot_width",
    "dimension",
    "width",
    "sequence_cost",
    "per_entity_bits",
    "per_entity_lower_bound_d",
    "global_lower_bound_d",
    "max_relations",
    "max_hops",
    "dimension_table",
]

MAX_HOPS = 16  # R^h path blocks: beyond a handful of hops the no-CoT construction is astronomically large anyway
NO_COT, COT = "no_cot", "cot"  # the one spelling of the two formats (tables, configs, plots)
FORMATS = (NO_COT, COT)
DEFAULT_BITS_PER_PARAM = 2.0  # ~2 bits/param measured for trained LMs (Allen-Zhu & Li, Physics of LMs 3.3)
_MAX_R = 4096  # as tasks.MAX_RELATIONS


def check_hops(h) -> int:
    """``h`` if it is an int in [1, MAX_HOPS], else ``ValueError`` naming ``h (hops)`` and the range."""
    return check_int("h (hops)", h, 1, MAX_HOPS)


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"fmt (format) must be one of {FORMATS}, got {fmt!r}")
    return fmt


def code_length(N: int) -> int:
    """k = ceil(log2 N), at least 1 (:func:`georecall.theory.bijection.code_length` for one N >= 2, as a Python int)."""
    check_int("N (n_subjects)", N, 2)
    return int(theory.code_length(N))


def path_count(R: int, h: int) -> int:
    """R^h relation paths (r_1, ..., r_h)."""
    check_int("R (n_relations)", R, 1, _MAX_R)
    return R ** check_hops(h)


def query_count(N: int, R: int, h: int) -> int:
    """N R^h h-hop queries (x, r_1, ..., r_h).

    >>> query_count(256, 4, 3)
    16384
    """
    check_int("N (n_subjects)", N, 2)
    return N * path_count(R, h)


def no_cot_dimension(N: int, R: int, h: int) -> int:
    """d of the path-superposition construction: R^h subject blocks of k coordinates, h gate blocks of R, an
    output block of k and h - 1 positional coordinates, rounded up to a multiple of h (h heads of d/h each):

        d = h * ceil((R^h k + h R + k + h - 1) / h).

    h = 1 gives the block construction's R k + R + k.
    """
    k, P = code_length(N), path_count(R, h)
    raw = P * k + h * R + k + (h - 1)
    return h * -(-raw // h)


def no_cot_width(N: int, R: int, h: int) -> int:
    """m = 2 R^h k: one ReLU pair per (path, code coordinate)."""
    return 2 * path_count(R, h) * code_length(N)


def cot_dimension(N: int, R: int, h: int = 1) -> int:
    """d = R k + R + k + 2 for the chain-of-thought construction, for every h: the single-hop block layout plus two
    positional coordinates (positions on a circle) for previous-token attention. ``h`` is validated, then unused.
    """
    check_hops(h)
    check_int("R (n_relations)", R, 1, _MAX_R)
    k = code_length(N)
    return theory.gated_dimension(R, k) + 2


def cot_width(N: int, R: int, h: int = 1) -> int:
    """m = 2 R k for every h (the single-hop selector, applied once per generated token)."""
    check_hops(h)
    check_int("R (n_relations)", R, 1, _MAX_R)
    return 2 * R * code_length(N)


def dimension(N: int, R: int, h: int, fmt: str) -> int:
    """:func:`no_cot_dimension` or :func:`cot_dimension` by ``fmt``."""
    return no_cot_dimension(N, R, h) if check_format(fmt) == NO_COT else cot_dimension(N, R, h)


def width(N: int, R: int, h: int, fmt: str) -> int:
    """:func:`no_cot_width` or :func:`cot_width` by ``fmt``."""
    return no_cot_width(N, R, h) if check_format(fmt) == NO_COT else cot_width(N, R, h)


def sequence_cost(h: int, fmt: str) -> dict:
    """What a query costs in tokens and passes: ``seq_len`` of the written sequence, ``n_ctx`` the model must hold
    (the input of the last forward pass), ``forward_passes`` (serial steps), ``generated_tokens``, ``heads``.

        no CoT: [x, r_1..r_h]            seq_len h + 1,  n_ctx h + 1,  1 pass,   1 generated token,  h heads
        CoT:    [x, r_1, y_1, .., r_h, y_h]  seq_len 2h + 1, n_ctx 2h,  h passes,  h generated tokens, 1 head

    >>> sequence_cost(3, "cot")["forward_passes"], sequence_cost(3, "no_cot")["seq_len"]
    (3, 4)
    """
    check_hops(h)
    if check_format(fmt) == NO_COT:
        return dict(seq_len=h + 1, n_ctx=h + 1, forward_passes=1, generated_tokens=1, heads=h)
    return dict(seq_len=2 * h + 1, n_ctx=2 * h, forward_passes=h, generated_tokens=h, heads=1)


def per_entity_bits(N: int, R: int, h: int, fmt: str) -> float:
    """Bits one entity embedding must carry in the generic-decoder reading: R^h log2 N without CoT (all path
    answers from one pass), R log2 N with CoT (its own single-hop answers), for every h.

    >>> per_entity_bits(256, 3, 2, "no_cot"), per_entity_bits(256, 3, 2, "cot")
    (72.0, 24.0)
    """
    check_int("N (n_subjects)", N, 2)
    n_paths = path_count(R, h)  # validates R and h
    return (n_paths if check_format(fmt) == NO_COT else R) * math.log2(N)


def per_entity_lower_bound_d(N: int, R: int, h: int, fmt: str, bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> float:
    """d >= per_entity_bits / p (a real number, not rounded)."""
    if not (isinstance(bits_per_param, (int, float)) and math.isfinite(bits_per_param) and bits_per_param > 0):
        raise ValueError(f"bits_per_param (p) must be a finite number > 0, got {bits_per_param!r}")
    return per_entity_bits(N, R, h, fmt) / bits_per_param


def global_lower_bound_d(N: int, R: int, h: int, bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> float:
    """The mechanism-free counting bound, the same for every h and format: the h-hop answers are functions of the
    R bijections, so the task holds R log2(N!) bits whatever h is, and p (2 N d) >= R log2(N!) gives

        d >= R log2(N!) / (2 p N)   (the N-dependent tables W_E and W_U; other parameters neglected).

    >>> round(global_lower_bound_d(1024, 8, 1), 3) == round(global_lower_bound_d(1024, 8, 3), 3)
    True
    """
    check_hops(h)
    check_int("N (n_subjects)", N, 2)
    check_int("R (n_relations)", R, 1, _MAX_R)
    if not (isinstance(bits_per_param, (int, float)) and math.isfinite(bits_per_param) and bits_per_param > 0):
        raise ValueError(f"bits_per_param (p) must be a finite number > 0, got {bits_per_param!r}")
    return R * math.lgamma(N + 1) / math.log(2) / (2 * bits_per_param * N)


def _largest(fits, lo: int, hi: int) -> int:
    """Largest x in [lo, hi] with fits(x), for fits monotone decreasing in x; lo - 1 when none."""
    if not fits(lo):
        return lo - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


def max_relations(
    d: int, N: int, h: int, fmt: str, *, kind: str = "construction", bits_per_param: float = DEFAULT_BITS_PER_PARAM
) -> int:
    """The tradeoff at fixed d: the most relations R (0 if none, at most 4096) that h-hop recall over N entities
    supports, by the construction's size (``kind="construction"``) or by the per-entity bound (``kind="bound"``):

        no CoT: R^h k + h R + k + h - 1 <= d (padded)   or   R^h log2 N <= p d   =>  R ~ (p d / log2 N)^(1/h)
        CoT:    R k + R + k + 2 <= d                     or   R log2 N <= p d     (the same for every h)

    >>> [max_relations(128, 256, h, "no_cot") for h in (1, 2, 3)], max_relations(128, 256, 3, "cot")
    ([13, 3, 2], 13)
    """
    check_int("d (d_model)", d, 1)
    check_format(fmt)
    if kind == "construction":
        return _largest(lambda R: dimension(N, R, h, fmt) <= d, 1, _MAX_R)
    if kind == "bound":
        return _largest(lambda R: per_entity_lower_bound_d(N, R, h, fmt, bits_per_param) <= d, 1, _MAX_R)
    raise ValueError(f"kind must be 'construction' or 'bound', got {kind!r}")


def max_hops(
    d: int, N: int, R: int, *, kind: str = "construction", bits_per_param: float = DEFAULT_BITS_PER_PARAM
) -> int:
    """The most hops h (0 if none) one forward pass *without* CoT supports at dimension d, by the construction
    (``kind="construction"``) or the per-entity bound (``kind="bound"``), h ~ log(p d / log2 N) / log R.
    The search stops at MAX_HOPS, so MAX_HOPS reads "at least MAX_HOPS" (R = 1 with the bound never runs out).
    With CoT the answer is "every h" as soon as :func:`cot_dimension` <= d; the price is h serial passes.

    >>> max_hops(128, 256, 2), max_hops(128, 256, 4), max_hops(128, 256, 4, kind="bound")
    (3, 1, 2)
    """
    check_int("d (d_model)", d, 1)
    check_int("R (n_relations)", R, 1, _MAX_R)
    if kind == "construction":
        return _largest(lambda h: no_cot_dimension(N, R, h) <= d, 1, MAX_HOPS)
    if kind == "bound":
        return _largest(lambda h: per_entity_lower_bound_d(N, R, h, NO_COT, bits_per_param) <= d, 1, MAX_HOPS)
    raise ValueError(f"kind must be 'construction' or 'bound', got {kind!r}")


def dimension_table(N: int, Rs, hs, *, bits_per_param: float = DEFAULT_BITS_PER_PARAM):
    """Tidy DataFrame, one row per (R, h, format): construction d and m, heads, n_ctx, forward passes, the
    per-entity bound on d and the global (h-independent) bound. The data behind a dimension-against-hops figure."""
    import pandas as pd  # late: keeps this module free of pandas at import

    rows = []
    for R in Rs:
        for h in hs:
            for fmt in FORMATS:
                cost = sequence_cost(h, fmt)
                rows.append(
                    dict(
                        N=N,
                        R=R,
                        h=h,
                        format=fmt,
                        d=dimension(N, R, h, fmt),
                        m=width(N, R, h, fmt),
                        heads=cost["heads"],
                        n_ctx=cost["n_ctx"],
                        forward_passes=cost["forward_passes"],
                        per_entity_bound_d=per_entity_lower_bound_d(N, R, h, fmt, bits_per_param),
                        global_bound_d=global_lower_bound_d(N, R, h, bits_per_param),
                    )
                )
    return pd.DataFrame(rows)
