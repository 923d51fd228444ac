"""h-hop recall: formats, decoding, both constructions exact in float64, their relation to the single-hop block
construction, the closed forms, and clear errors on bad input."""

import math

import pytest
import torch

from georecall import repro
from georecall.construct import bijection as constructions
from georecall.construct import multihop as mc
from georecall.model import multihop as mh
from georecall.model import recall
from georecall.tasks import bijection as tasks
from georecall.theory import multihop as mt
from georecall.train import loop as train

MARGIN_TOL = 1e-9  # float64 rounding (and the e^-40 attention leak) allowed below the 2/k margin
SIZES = [(16, 2), (64, 3), (100, 2)]  # 100: N not a power of two (unused sign codes)
HOPS = [1, 2, 3]


@pytest.fixture(autouse=True)
def _one_thread():
    with repro.torch_threads(1):
        yield


# --- formats ----------------------------------------------------------------------------------------------------


def test_paths_and_queries_enumerate_every_chain_once():
    P = mh.paths(3, 2)
    assert P.tolist()[:4] == [[0, 0], [0, 1], [0, 2], [1, 0]], "paths must be lexicographic, r_1 most significant"
    task = tasks.make_task(5, 3, seed=0)
    x, p = mh.queries(task, 2)
    assert len(x) == mt.query_count(5, 3, 2) == 45
    pairs = {(int(a), tuple(b)) for a, b in zip(x, p.tolist())}
    assert len(pairs) == 45
    xi, pi = mh.queries(task, 2, [7, 44])
    assert xi.tolist() == [0, 4] and pi.tolist() == [[2, 1], [2, 2]]


def test_chain_composes_relations_in_the_written_order():
    task = tasks.make_task(32, 3, seed=4)
    x, p = mh.queries(task, 3)
    ys = mh.chain(task, x, p)
    for i in range(0, len(x), 37):
        path = tuple(p[i].tolist())
        assert ys[i, -1] == task.compose(path)[x[i]], "y_h must be pi_{r_h}(...pi_{r_1}(x))"
        assert ys[i, 0] == task.perms[path[0], x[i]]


def test_no_cot_and_cot_formats():
    task = tasks.make_task(8, 2, seed=1)
    nc = mh.no_cot_facts(task, 2)
    assert nc.tokens.shape == (32, 3) and nc.last_position_only
    x, p = mh.queries(task, 2)
    assert torch.equal(nc.tokens[:, 1:], 8 + p) and torch.equal(nc.targets[:, -1], mh.chain(task, x, p)[:, -1])
    seq = mh.cot_sequences(task, x, p)  # [n, 5]
    assert seq.shape == (32, 5)
    xs, ps, ys = mh.parse_cot(task, seq, 2)
    assert torch.equal(xs, x) and torch.equal(ps, p) and torch.equal(ys, mh.chain(task, x, p))
    tf = mh.cot_facts(task, 2)  # teacher forcing: drop y_h, targets at relation positions
    assert torch.equal(tf.tokens, seq[:, :-1])
    assert torch.equal(tf.targets[:, 1::2], ys) and bool((tf.targets[:, 0::2] == tasks.IGNORE).all())
    assert not tf.last_position_only


# --- constructions: exactness --------------------------------------------------------------------------------------


@pytest.mark.parametrize("h", HOPS)
@pytest.mark.parametrize(("N", "R"), SIZES)
def test_no_cot_construction_is_exact(N, R, h):
    task = tasks.make_task(N, R, seed=N + R + h)
    model = mc.build_no_cot(task, h)
    k = mt.code_length(N)
    cfg = model.config
    assert (cfg.d_model, cfg.d_mlp, cfg.n_heads, cfg.n_ctx) == (
        mt.no_cot_dimension(N, R, h),
        mt.no_cot_width(N, R, h),
        h,
        h + 1,
    ), "built size differs from the closed form"
    ev = mh.evaluate_multihop(model, task, h)
    assert ev.n_queries == N * R**h
    assert ev.accuracy == 1.0, f"{ev.n_queries - ev.n_correct} of {ev.n_queries} chains wrong at N={N}, R={R}, h={h}"
    assert ev.min_margin >= 2 / k - MARGIN_TOL, f"margin {ev.min_margin} below 2/k: a closed AND gate leaks?"


def test_no_cot_construction_is_exact_at_n256_r4_h3():
    """All 16,384 three-hop chains, d = 534, m = 1024, through the per-token-table forward (same function)."""
    task = tasks.make_task(256, 4, seed=0)
    model = mc.build_no_cot(task, 3)
    assert model.dtype == torch.float64 and model.config.d_model == mt.no_cot_dimension(256, 4, 3) == 534
    ev = mh.evaluate_multihop(model, task, 3, method="tables", max_bytes=2**29)
    assert ev.n_queries == 16384 and ev.bytes_per_chunk <= 2**29
    assert ev.accuracy == 1.0 and ev.min_margin >= 2 / 8 - MARGIN_TOL
    # the table method is the forward pass: same logits on a slice of chains
    x, p = mh.queries(task, 3, torch.arange(0, 16384, 41))
    tokens = mh.no_cot_tokens(task, x, p)
    with torch.no_grad():
        a = model(tokens, last_only=True)[:, 0]
        b = model.unembed(recall.last_residual(model, tokens))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("h", HOPS)
@pytest.mark.parametrize(("N", "R"), SIZES + [(256, 4)])
def test_cot_construction_is_exact_when_decoding_its_own_tokens(N, R, h):
    task = tasks.make_task(N, R, seed=N + R + h)
    model = mc.build_cot(task, h)
    ev = mh.evaluate_multihop(model, task, h, fmt=mt.COT)
    k = mt.code_length(N)
    assert ev.step_accuracy == (1.0,) * h, f"per-step accuracy {ev.step_accuracy} at N={N}, R={R}, h={h}"
    assert min(ev.step_min_margin) >= 2 / k - MARGIN_TOL, "previous-token attention leaks into the selector?"
    # teacher forcing through the ordinary trainer's evaluation scores every step at once
    assert train.evaluate(model, mh.cot_facts(task, h)).accuracy == 1.0


def test_no_cot_gate_is_an_and_over_hops():
    """At the last position only the 2k units of the queried path fire (the gate picture)."""
    N, R, h = 16, 2, 3
    task = tasks.make_task(N, R, seed=2)
    model = mc.build_no_cot(task, h)
    k = mt.code_length(N)
    x, p = mh.queries(task, h)
    _, cache = model.run_with_cache(mh.no_cot_tokens(task, x, p), ["blocks.0.mlp.hook_post"], last_only=True)
    acts = cache["blocks.0.mlp.hook_post"][:, 0].reshape(len(x), R**h, 2 * k)  # [n, path, 2k]
    q = (p * R ** torch.arange(h - 1, -1, -1)).sum(1)  # path index of each query
    on = acts[torch.arange(len(x)), q]  # [n, 2k]
    codes = constructions.sign_codes(N, k)[mh.chain(task, x, p)[:, -1]]  # u of the answer
    torch.testing.assert_close(on[:, :k] - on[:, k:], codes, rtol=0, atol=1e-12)
    acts[torch.arange(len(x)), q] = 0
    assert float(acts.max()) < 1e-12, "a unit of a non-matching path fired: the AND gate lets a partial match through"
    G = mh.path_gate_matrix(model, task, h, range(N))  # [R^h, R^h]
    assert bool((G.diagonal() > 0).all()) and float((G - torch.diag(G.diagonal())).abs().max()) < 1e-12


# --- CoT: dimension, and h = 1 against the single-hop construction --------------------------------------------------


def test_cot_dimension_does_not_grow_with_h():
    task = tasks.make_task(64, 3, seed=0)
    models = {h: mc.build_cot(task, h) for h in (1, 2, 3, 5)}
    for h, m in models.items():
        assert (m.config.d_model, m.config.d_mlp, m.config.n_heads) == (
            models[1].config.d_model,
            models[1].config.d_mlp,
            1,
        )
        assert m.config.n_ctx == 2 * h
        assert m.config.d_model == mt.cot_dimension(64, 3, h) == 3 * 6 + 3 + 6 + 2
        for name in ("W_E", "W_in", "W_out", "W_U"):  # the facts and the selector are the same weights for every h
            assert torch.equal(getattr(m, name), getattr(models[1], name)), name
    no_cot = [mt.no_cot_dimension(64, 3, h) for h in (1, 2, 3)]
    assert no_cot[0] < no_cot[1] < no_cot[2]


def test_h1_no_cot_is_the_block_construction():
    task = tasks.make_task(100, 4, seed=5)
    a, b = mc.build_no_cot(task, 1), constructions.build_block(task)
    assert a.config == b.config
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    for name, value in pa.items():
        if name != "blocks.0.attn.W_O":
            assert torch.equal(value, pb[name]), f"{name} differs from the single-hop block construction"

    def ov(m):
        return m.blocks[0].attn.W_V[0] @ m.blocks[0].attn.W_O[0]

    assert torch.equal(ov(a), ov(b)), "the OV circuit must be 2 Pi_S in both"
    ea, eb = mh.evaluate_multihop(a, task, 1), recall.evaluate_recall(b, task)
    assert ea.accuracy == eb.accuracy == 1.0 and ea.min_margin == eb.min_margin


def test_h1_cot_computes_the_block_constructions_logits():
    task = tasks.make_task(100, 4, seed=5)
    cot, block = mc.build_cot(task, 1), constructions.build_block(task)
    tokens = task.single_hop().tokens
    with torch.no_grad():
        la, lb = cot(tokens, last_only=True), block(tokens, last_only=True)
    torch.testing.assert_close(la, lb, rtol=0, atol=1e-12)
    assert cot.config.d_model == block.config.d_model + 2


# --- theory ---------------------------------------------------------------------------------------------------------


def test_theory_is_monotone_and_bounds_the_constructions():
    for N in (16, 256, 1000):
        for R in (1, 2, 3, 5):
            d_prev = 0
            for h in range(1, 7):
                d = mt.no_cot_dimension(N, R, h)
                assert d > d_prev, f"no-CoT d not increasing in h at N={N}, R={R}, h={h}"
                d_prev = d
                assert mt.no_cot_dimension(N, R + 1, h) > d
                assert mt.cot_dimension(N, R, h) == mt.cot_dimension(N, R, 1) < mt.cot_dimension(N, R + 1, h)
                for fmt in mt.FORMATS:  # the constructions store >= 1 bit per coordinate
                    assert mt.dimension(N, R, h, fmt) >= mt.per_entity_lower_bound_d(N, R, h, fmt, bits_per_param=1)
                assert mt.global_lower_bound_d(N, R, h) == mt.global_lower_bound_d(N, R, 1)
                if h > 1 and R > 1:
                    assert mt.per_entity_bits(N, R, h, mt.NO_COT) > mt.per_entity_bits(N, R, h - 1, mt.NO_COT)
    assert mt.no_cot_dimension(256, 4, 1) == mt.cot_dimension(256, 4) - 2 == 44  # the block construction's d


def test_tradeoff_frontier():
    N = 256
    for d in (44, 100, 300, 1000):
        for h in (1, 2, 3):
            R = mt.max_relations(d, N, h, mt.NO_COT)
            assert R == 0 or mt.no_cot_dimension(N, R, h) <= d
            assert mt.no_cot_dimension(N, R + 1, h) > d
            assert mt.max_relations(d, N, h, mt.NO_COT, kind="bound", bits_per_param=1) >= R
            assert mt.max_relations(d, N, h, mt.COT) == mt.max_relations(d, N, 1, mt.COT)  # CoT: the same for every h
        for R in (2, 4):
            h = mt.max_hops(d, N, R)
            assert (h == 0 or mt.no_cot_dimension(N, R, h) <= d) and mt.no_cot_dimension(N, R, h + 1) > d
    assert [mt.max_relations(300, N, h, mt.NO_COT) for h in (1, 2, 3)] == sorted(
        [mt.max_relations(300, N, h, mt.NO_COT) for h in (1, 2, 3)], reverse=True
    )
    cost = mt.sequence_cost(3, mt.COT)
    assert (cost["seq_len"], cost["n_ctx"], cost["forward_passes"]) == (7, 6, 3)
    table = mt.dimension_table(N, [2, 3], [1, 2, 3])
    assert len(table) == 12 and set(table["format"]) == set(mt.FORMATS)


# --- errors ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("h", [0, -1, mt.MAX_HOPS + 1, 1.5])
def test_bad_hops(h):
    task = tasks.make_task(8, 2, seed=0)
    for call in (
        lambda: mh.no_cot_facts(task, h),
        lambda: mh.cot_facts(task, h),
        lambda: mc.build_cot(task, h),
        lambda: mt.no_cot_dimension(8, 2, h),
        lambda: mh.paths(2, h),
    ):
        with pytest.raises(ValueError, match=rf"h \(hops\) must be an int in \[1, {mt.MAX_HOPS}\]"):
            call()


def test_unknown_relation_or_entity_in_a_query():
    task = tasks.make_task(8, 2, seed=0)
    with pytest.raises(ValueError, match=r"paths: every relation must be in \[0, 1\] \(R=2\), got unknown relation 2"):
        mh.chain(task, [0], [[0, 2]])
    with pytest.raises(ValueError, match=r"paths: .* got unknown relation -1"):
        mh.no_cot_tokens(task, [0], [[-1, 0]])
    with pytest.raises(ValueError, match=r"subjects must be entities in \[0, 7\]"):
        mh.cot_sequences(task, [8], [[0, 1]])
    with pytest.raises(ValueError, match=r"index must be in \[0, 31\]"):
        mh.queries(task, 2, [32])


def test_cot_sequence_of_the_wrong_length_or_kind():
    task = tasks.make_task(8, 2, seed=0)
    seq = mh.cot_sequences(task, [1, 2], [[0, 1], [1, 1]])  # [2, 5]
    with pytest.raises(ValueError, match=r"sequences must be \[n, 2h \+ 1\] = \[n, 7\] for h=3 hops.*got length 5"):
        mh.parse_cot(task, seq, 3)
    with pytest.raises(ValueError, match=r"relation tokens in \[8, 9\]"):
        mh.parse_cot(task, torch.cat([seq[:, :1], seq[:, :1], seq[:, 2:]], dim=1), 2)


def test_model_context_too_short_for_h():
    task = tasks.make_task(8, 2, seed=0)
    no_cot, cot = mc.build_no_cot(task, 2), mc.build_cot(task, 2)
    with pytest.raises(
        ValueError, match=r"n_ctx=3 is too short for h=3 hops in the no_cot format.*n_ctx >= 4.*h in \[1, 2\]"
    ):
        mh.evaluate_multihop(no_cot, task, 3)
    with pytest.raises(ValueError, match=r"n_ctx=4 is too short for h=3 hops in the cot format.*n_ctx >= 6"):
        mh.generate(cot, task, [0], [[0, 1, 1]])


def test_other_bad_arguments():
    task = tasks.make_task(8, 2, seed=0)
    model = mc.build_no_cot(task, 2)
    with pytest.raises(ValueError, match="fmt"):
        mh.evaluate_multihop(model, task, 2, fmt="scratchpad")
    with pytest.raises(ValueError, match="method"):
        mh.evaluate_multihop(model, task, 2, method="fast")
    with pytest.raises(ValueError, match="chunk_size=10000"):
        mh.evaluate_multihop(model, task, 2, chunk_size=10_000, max_bytes=2**20)
    with pytest.raises(ValueError, match="max_bytes"):
        mc.build_no_cot(tasks.make_task(256, 4, seed=0), 3, max_bytes=2**20)
    with pytest.raises(ValueError, match="beta"):
        mc.build_cot(task, 2, beta=math.inf)
    with pytest.raises(ValueError, match="kind"):
        mt.max_relations(64, 8, 2, mt.NO_COT, kind="guess")
