"""Closed forms of georecall.theory.bijection: known values, monotonicity, vectorisation, validation, doctests."""

import doctest
import math

import numpy as np
import pytest

from georecall.model import transformer as models
from georecall.theory import bijection as theory

BITS_TOL = 0.5  # known bit counts are quoted rounded to the nearest bit
REL_TOL = 1e-12


def test_doctests():
    result = doctest.testmod(theory, raise_on_error=False, verbose=False)
    assert result.attempted > 10, "theory docstrings lost their examples"
    assert result.failed == 0, f"{result.failed} doctest(s) failed in georecall.theory.bijection"


@pytest.mark.parametrize(("N", "R", "bits"), [(1024, 8, 70_152), (4096, 16, 692_001), (2, 1, 1), (1, 5, 0)])
def test_information_bits_known_values(N, R, bits):
    assert abs(theory.information_bits(N, R) - bits) <= BITS_TOL


@pytest.mark.parametrize("N", [2, 3, 10, 257])
def test_information_bits_matches_factorial(N):
    exact = math.log2(math.factorial(N))
    assert math.isclose(theory.information_bits(N, 3), 3 * exact, rel_tol=REL_TOL)


@pytest.mark.parametrize(("N", "k"), [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (1024, 10), (1025, 11), (65536, 16)])
def test_code_length(N, k):
    assert theory.code_length(N) == k
    assert 2**k >= N, "k sign bits must give N distinct codes"
    assert k == 1 or 2 ** (k - 1) < N, "k is not the shortest code length"


@pytest.mark.parametrize(
    ("N", "R", "d", "m"), [(256, 4, 44, 64), (1024, 8, 98, 160), (4096, 16, 220, 384), (300, 5, 59, 90)]
)
def test_block_sizes_match_reference_table(N, R, d, m):
    assert theory.block_dimension(N, R) == d
    assert theory.block_width(N, R) == m


def test_vectorised_matches_scalar():
    Ns = np.array([64, 100, 1024, 5000])
    np.testing.assert_array_equal(theory.code_length(Ns), [theory.code_length(int(n)) for n in Ns])
    for fn in (
        theory.information_bits,
        theory.block_dimension,
        theory.lower_bound_d,
        theory.per_entity_lower_bound_d,
        theory.geometric_param_count,
        theory.associative_param_count,
    ):
        vec = fn(Ns, 4)
        assert isinstance(vec, np.ndarray) and vec.shape == Ns.shape, fn.__name__
        np.testing.assert_allclose(vec, [fn(int(n), 4) for n in Ns], rtol=REL_TOL, err_msg=fn.__name__)
    np.testing.assert_allclose(
        theory.bits_per_parameter(1024, 8, np.array([8, 16])),
        [theory.bits_per_parameter(1024, 8, 8), theory.bits_per_parameter(1024, 8, 16)],
    )


@pytest.mark.parametrize(
    "fn",
    [
        theory.information_bits,
        theory.lower_bound_d,
        theory.per_entity_lower_bound_d,
        theory.block_dimension,
        theory.geometric_param_count,
        theory.associative_param_count,
    ],
)
def test_monotone_in_N_and_R(fn):
    Ns = 2 ** np.arange(2, 17)
    by_N = fn(Ns, 4)
    assert np.all(np.diff(by_N) >= 0), f"{fn.__name__} decreases in N"
    by_R = fn(1024, np.arange(1, 17))
    assert np.all(np.diff(by_R) > 0), f"{fn.__name__} does not increase in R"


def test_lower_bound_below_construction_and_asymptotics():
    for N in [256, 4096, 65536]:
        for R in [1, 4, 16]:
            lb = theory.lower_bound_d(N, R)
            assert lb < theory.block_dimension(N, R), "the construction would beat the counting bound"
            assert theory.per_entity_lower_bound_d(N, R) < theory.block_dimension(N, R)
            approx = R * math.log2(N / math.e) / (2 * theory.DEFAULT_BITS_PER_PARAM)
            assert lb == pytest.approx(approx, rel=0.05), "bound should approach R log2(N/e) / (2p)"


def test_lower_bound_fixed_params_lowers_and_clips():
    assert theory.lower_bound_d(1024, 8, fixed_params=1000) < theory.lower_bound_d(1024, 8)
    assert theory.lower_bound_d(1024, 8, fixed_params=10**9) == 0.0


@pytest.mark.parametrize(
    ("N", "R", "p", "c", "n_ctx", "extra"),
    [(64, 8, 2.0, 4, 2, 0), (1024, 4, 3.6, 4, 2, 0), (128, 4, 2.0, 2, 32, 133), (4096, 16, 1.0, 4, 2, 0)],
)
def test_counting_bound_counts_every_weight_of_the_model(N, R, p, c, n_ctx, extra):
    """At integer d the model's own parameter count decides the bound: p * n_params(d) < H just below d_min and
    >= H from ceil(d_min) on, with d_mlp = c * d and N + R + extra input tokens."""
    d_min = theory.counting_bound_d(N, R, p, mlp_ratio=c, n_ctx=n_ctx, extra_tokens=extra)
    H = theory.information_bits(N, R)

    def params(d):
        cfg = models.ModelConfig(d_vocab=N + R + extra, d_vocab_out=N, n_ctx=n_ctx, d_model=d, d_mlp=c * d)
        return models.Transformer(cfg).n_params()

    hi = math.ceil(d_min)
    assert p * params(hi) >= H
    if hi > 1:
        assert p * params(hi - 1) < H
    assert d_min <= theory.lower_bound_d(N, R, p), "counting the N-independent weights can only lower the bound"


def test_counting_bound_approaches_the_table_only_bound_for_large_N():
    for R in (1, 8):
        ratio = theory.counting_bound_d(2**20, R) / theory.lower_bound_d(2**20, R)
        assert 0.99 < ratio <= 1.0, ratio
    assert theory.counting_bound_d(64, 8) < 0.7 * theory.lower_bound_d(64, 8), "at small N the d^2 weights matter"
    vec = theory.counting_bound_d(np.array([64, 1024]), 8)
    np.testing.assert_allclose(vec, [theory.counting_bound_d(64, 8), theory.counting_bound_d(1024, 8)], rtol=REL_TOL)


def test_bug_alarm_threshold_at_N1024_R8():
    """At N=1024, R=8 the alarm (b > 4) fires exactly for d <= 8."""
    assert theory.bits_per_parameter(1024, 8, 8) > theory.BUG_ALARM_BITS
    assert theory.bits_per_parameter(1024, 8, 9) < theory.BUG_ALARM_BITS


def test_param_counts_consistent():
    c = theory.block_param_counts(4096, 16)
    d, m = theory.block_dimension(4096, 16), theory.block_width(4096, 16)
    assert c["attention"] == 4 * d * d and c["mlp"] == 2 * d * m + m
    assert theory.geometric_nonembedding_param_count(4096, 16) == c["attention"] + c["mlp"]
    assert (
        theory.geometric_param_count(4096, 16) == c["subject_table"] + c["relation_table"] + c["attention"] + c["mlp"]
    )
    # non-embedding part is N-independent up to k: equal for N within one power of two
    assert theory.geometric_nonembedding_param_count(3000, 4) == theory.geometric_nonembedding_param_count(4096, 4)


def test_associative_grows_faster_than_geometric_nonembedding():
    Ns = 2 ** np.arange(8, 21)
    ratio = theory.associative_param_count(Ns, 8) / theory.geometric_nonembedding_param_count(Ns, 8)
    assert np.all(np.diff(ratio) > 0)
    assert ratio[-1] > 1000 * ratio[0], "associative/geometric ratio should grow roughly like N / log^2 N"


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: theory.information_bits(0, 2), "N (n_subjects)"),
        (lambda: theory.code_length(2.5), "N (n_subjects)"),
        (lambda: theory.block_dimension(16, 0), "R (n_relations)"),
        (lambda: theory.lower_bound_d(16, 2, bits_per_param=0), "bits_per_param"),
        (lambda: theory.lower_bound_d(16, 2, fixed_params=-1), "fixed_params"),
        (lambda: theory.counting_bound_d(16, 2, bits_per_param=-1), "bits_per_param"),
        (lambda: theory.counting_bound_d(16, 2, mlp_ratio=-0.5), "mlp_ratio"),
        (lambda: theory.counting_bound_d(16, 2, n_ctx=0), "n_ctx"),
        (lambda: theory.counting_bound_d(16, 2, extra_tokens=1.5), "extra_tokens"),
        (lambda: theory.bits_per_parameter(16, 2, 0), "d (d_model)"),
        (lambda: theory.information_bits("16", 2), "N (n_subjects)"),
    ],
)
def test_bad_input_names_parameter(call, name):
    with pytest.raises(ValueError, match=name.split(" ")[0]):
        call()


def test_memory_budget_columns_agree_with_the_scalar_functions():
    import pandas as pd

    Ns = 2 ** np.arange(4, 21)
    table = pd.DataFrame(theory.memory_budget(Ns, 8, bits_per_param=3.0))
    assert len(table) == len(Ns) and (table.R == 8).all()
    row = table[table.N == 1024].iloc[0]
    assert row.information_bits == pytest.approx(theory.information_bits(1024, 8))
    assert row.associative_params == pytest.approx(theory.associative_param_count(1024, 8, 3.0))
    assert row.geometric_nonembedding_params == theory.geometric_nonembedding_param_count(1024, 8)
    assert row.geometric_subject_table == 1024 * theory.block_dimension(1024, 8)
    assert row.lower_bound_d == pytest.approx(theory.counting_bound_d(1024, 8, 3.0))
    assert row.block_d == 98 and row.block_m == 160
    assert (table.lower_bound_d <= table.per_entity_lower_bound_d).all()
    assert (table.per_entity_lower_bound_d <= table.block_d).all()


@pytest.mark.parametrize(
    ("d_vocab", "d_out", "n_ctx", "d", "m", "heads"), [(10, 8, 2, 4, 8, 1), (70, 64, 32, 16, 64, 4)]
)
def test_param_count_is_the_models_count(d_vocab, d_out, n_ctx, d, m, heads):
    cfg = models.ModelConfig(d_vocab=d_vocab, d_vocab_out=d_out, n_ctx=n_ctx, d_model=d, n_heads=heads, d_mlp=m)
    model = models.Transformer(cfg)
    assert theory.param_count(d, m, d_vocab=d_vocab, d_vocab_out=d_out, n_ctx=n_ctx) == model.n_params()
    assert theory.param_count(d, m) == model.n_params(include_embeddings=False)
    assert theory.param_count(np.array([d, 2 * d]), m).tolist() == [
        theory.param_count(d, m),
        theory.param_count(2 * d, m),
    ]
    with pytest.raises(ValueError, match="d_mlp"):
        theory.param_count(d, 0)
