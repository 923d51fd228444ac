"""The hand-built constructions: exact recall in float64, gating, generic selector, errors before allocation."""

import pytest
import torch

from georecall import constructions, models, repro, tasks, theory, train

MARGIN_TOL = 1e-9  # float64 rounding allowed below the 2/k margin
EXACT_GRID = [(2, 1), (5, 1), (7, 3), (64, 1), (100, 4), (256, 4), (300, 5), (1000, 8), (1024, 8)]
F64 = torch.float64


@pytest.fixture(autouse=True)
def _one_thread():
    """Small workloads: one thread avoids thread-pool stalls on a busy 2-core runner (see repro.torch_threads)."""
    with repro.torch_threads(1):
        yield


@pytest.fixture(scope="module")
def block_300_5():
    task = tasks.make_task(300, 5, seed=1)
    return task, constructions.build_block(task)


def _all_tokens(task):
    return task.single_hop().tokens


@pytest.mark.parametrize(("N", "R"), EXACT_GRID)
def test_block_construction_is_exact(N, R):
    task = tasks.make_task(N, R, seed=N + R)
    model = constructions.build_block(task)
    k = theory.code_length(N)
    assert model.config.d_model == theory.block_dimension(N, R) == R * k + R + k
    assert model.config.d_mlp == theory.block_width(N, R) == 2 * R * k
    assert model.dtype == F64
    ev = constructions.evaluate_recall(model, task)
    assert ev.n_facts == N * R
    assert ev.accuracy == 1.0, f"{N * R - ev.n_correct} facts wrong at N={N}, R={R}"
    assert ev.min_margin >= 2 / k - MARGIN_TOL, f"margin {ev.min_margin} below 2/k = {2 / k}: gate leak or code clash?"
    # the same through the training code's evaluation (FactSet, cross-entropy path)
    assert train.evaluate(model, task.single_hop()).accuracy == 1.0


@pytest.mark.parametrize("k", [9, 12])
def test_longer_codes_stay_exact(k):
    task = tasks.make_task(300, 3, seed=2)
    ev = constructions.evaluate_recall(constructions.build_block(task, k=k), task)
    assert ev.accuracy == 1.0 and ev.min_margin >= 2 / k - MARGIN_TOL


def test_gaussian_codes_in_blocks_are_exact():
    task = tasks.make_task(128, 3, seed=4)
    model = constructions.build_block(task, k=24, codes=constructions.GAUSSIAN)
    assert constructions.evaluate_recall(model, task).accuracy == 1.0


def test_float32_block_is_exact_when_k_is_16():
    """k = 16: every weight and activation is a dyadic rational (1/sqrt(k) = 1/4), so float32 is exact too."""
    task = tasks.make_task(60_000, 1, seed=0)
    assert theory.code_length(60_000) == 16
    model = constructions.build_block(task, dtype=torch.float32)
    ev = constructions.evaluate_recall(model, task, facts=torch.arange(0, 60_000, 97))
    assert ev.accuracy == 1.0 and ev.min_margin == 2 / 16


def test_sign_codes_distinct_unit_norm_and_separated():
    for N, k in [(5, 3), (16, 4), (300, 9), (300, 11)]:
        u = constructions.sign_codes(N, k)
        assert u.shape == (N, k)
        assert torch.allclose(u.norm(dim=1), torch.ones(N, dtype=F64))
        gram = u @ u.T
        off = gram - 2 * torch.eye(N, dtype=F64)
        assert off.max() <= 1 - 2 / k + MARGIN_TOL, "two codes closer than Hamming distance 1"


def test_attention_routes_subject_into_query_position(block_300_5):
    task, model = block_300_5
    tokens = _all_tokens(task)
    _, cache = model.run_with_cache(tokens, ["blocks.0.attn.hook_pattern", "blocks.0.hook_resid_mid"], last_only=True)
    pattern = cache["blocks.0.attn.hook_pattern"][:, 0, 0]  # [n, 2]
    assert torch.equal(pattern, torch.full_like(pattern, 0.5)), "W_Q = W_K = 0 must give uniform attention"
    expected = model.W_E[tokens[:, 0]] + model.W_E[tokens[:, 1]]  # e_s + v_r
    assert torch.equal(cache["blocks.0.hook_resid_mid"][:, 0], expected)
    assert torch.count_nonzero(model.W_pos) == 0


@pytest.mark.parametrize("kind", ["block", "dense"])
def test_closed_gates_contribute_exactly_zero(kind):
    task = tasks.make_task(200, 4, seed=5)
    if kind == "block":
        model = constructions.build_block(task)
    else:
        model = constructions.build_dense(task, d_model=120, seed=3)
    m, R = model.config.d_mlp, task.R
    two_k = m // R
    acts = constructions.hidden_activations(model, task, torch.arange(task.N))  # [N, R, m]
    unit_rel = torch.arange(m) // two_k  # [m] relation block of each unit
    closed = unit_rel[None, None, :] != torch.arange(R)[None, :, None]  # [1, R, m]
    assert torch.count_nonzero(acts * closed) == 0, "a closed gate leaked: B below the largest cross-talk?"
    gm = constructions.gate_matrix(model, task, torch.arange(task.N))
    assert torch.count_nonzero(gm - torch.diag(torch.diagonal(gm))) == 0
    assert (torch.diagonal(gm) > 0).all(), "an open gate is silent"


def test_mlp_output_is_the_selected_code(block_300_5):
    task, model = block_300_5
    tokens = _all_tokens(task)
    _, cache = model.run_with_cache(tokens, ["blocks.0.hook_mlp_out"], last_only=True)
    subjects, relations, answers = task.facts()
    k = theory.code_length(task.N)
    codes = constructions.sign_codes(task.N, k)
    out = cache["blocks.0.hook_mlp_out"][:, 0]  # [n, d]
    assert torch.equal(out[:, -k:], codes[answers]), "MLP(e_s + v_r) must be P_O u_{pi_r(s)}"
    assert torch.count_nonzero(out[:, :-k]) == 0


@pytest.mark.parametrize("kind", ["block", "dense"])
def test_non_embedding_weights_do_not_depend_on_bijections(kind):
    """A7's generic selector: only the subject rows of W_E change with the bijections."""
    N, R = 97, 3
    a, b = tasks.make_task(N, R, seed=10), tasks.make_task(N, R, seed=11)
    assert not torch.equal(a.perms, b.perms)
    if kind == "block":
        ma, mb = constructions.build_block(a), constructions.build_block(b)
    else:
        ma, mb = (constructions.build_dense(t, d_model=64, seed=7) for t in (a, b))
    pa, pb = dict(ma.named_parameters()), dict(mb.named_parameters())
    assert pa.keys() == pb.keys()
    for name in pa:
        if name == "embed.W_E":
            assert torch.equal(pa[name][N:], pb[name][N:]), "relation rows depend on the bijections"
            assert not torch.equal(pa[name][:N], pb[name][:N])
        else:
            assert torch.equal(pa[name], pb[name]), f"{name} depends on the bijections"


def test_relabelling_subjects_relabels_answers():
    task = tasks.make_task(50, 3, seed=0)
    sigma = torch.randperm(50, generator=torch.Generator().manual_seed(1))
    relabelled = task.perms[:, sigma]  # pi'_r(s) = pi_r(sigma(s))
    m1, m2 = constructions.build_block(task), constructions.build_block(relabelled)
    assert torch.equal(m2.W_E[:50], m1.W_E[sigma])
    tokens = _all_tokens(task)
    moved = tokens.clone()
    moved[:, 0] = sigma[tokens[:, 0]]
    assert torch.equal(m2(tokens, last_only=True), m1(moved, last_only=True))


def test_param_counts_match_theory(block_300_5):
    task, model = block_300_5
    assert model.n_params(include_embeddings=False) == theory.geometric_nonembedding_param_count(task.N, task.R)


def test_dense_accuracy_rises_with_d():
    rows = constructions.dense_accuracy_sweep(256, 4, [24, 48, 96, 192, 384], seed=0)
    acc = [r["accuracy"] for r in rows]
    assert all(b >= a for a, b in zip(acc, acc[1:])), f"accuracy not monotone in d: {acc}"
    assert acc[0] < 0.6 and acc[-1] > 0.99, acc


def test_dense_matches_science_reference_table():
    """science §4.3 (N=512, R=8, k=24, B=10): its d column is d_s, the subject-space dimension (d = d_s + R + k)."""
    task = tasks.make_task(512, 8, seed=0)
    reference = {32: 0.12, 128: 0.68, 384: 0.996}
    for d_s, acc in reference.items():
        rec = constructions.dense_recipe(512, 8, d_model=d_s + 8 + 24, k=24, gate=10.0, seed=0)
        got = constructions.evaluate_recall(constructions.build(rec, task.perms), task).accuracy
        assert abs(got - acc) < 0.03, f"d_s={d_s}: {got:.3f} vs reference {acc}"


def test_safe_gate_block_is_max_code_entry():
    rec = constructions.block_recipe(300, 5)
    assert constructions.safe_gate(rec.codes, rec.placements) == pytest.approx(rec.gate, rel=1e-12)


def test_evaluate_on_factset_and_subsets_agree(block_300_5):
    task, model = block_300_5
    full = constructions.evaluate_recall(model, task, return_margins=True)
    fs = constructions.evaluate_recall(model, task.single_hop(), chunk_size=77, return_margins=True)
    # BLAS blocking depends on the chunk size, so agreement is up to float64 rounding
    assert torch.allclose(full.margins, fs.margins, rtol=0, atol=MARGIN_TOL)
    idx = torch.tensor([0, 5, 1499])
    sub = constructions.evaluate_recall(model, task, facts=idx, return_margins=True)
    assert torch.allclose(sub.margins, full.margins[idx], rtol=0, atol=MARGIN_TOL)


def test_evaluation_counts_a_wrong_model(block_300_5):
    task, model = block_300_5
    broken = constructions.build_block(task.perms[:, torch.roll(torch.arange(task.N), 1)])
    ev = constructions.evaluate_recall(broken, task)
    assert ev.accuracy < 0.05 and ev.min_margin < 0


def test_unembed_zero_row_skip_is_exact_and_tracks_changes(block_300_5):
    """models.Unembed skips all-zero rows of W_U under no_grad; the logits must equal the dense product."""
    task, model = block_300_5
    tokens = _all_tokens(task)[:200]
    with torch.no_grad():
        fast = model(tokens, last_only=True)
    dense = model(tokens, last_only=True).detach()  # grad enabled: the plain resid @ W_U path
    assert torch.equal(fast, dense)
    with torch.no_grad():
        model.unembed.W_U[0, 3] = 1.0  # a subject coordinate now reaches the readout
        changed = model(tokens, last_only=True)
        model.unembed.W_U[0, 3] = 0.0
    assert not torch.equal(changed, fast), "stale cached support after an in-place change of W_U"


@pytest.mark.parametrize(("call", "match"), [
    (lambda: constructions.sign_codes(9, 3), "k"),
    (lambda: constructions.build_block(tasks.make_task(20, 2).perms, k=4), "k"),
    (lambda: constructions.build_dense(tasks.make_task(20, 2), d_model=12), "d_model"),
    (lambda: constructions.block_recipe(2**24, 64), "max_bytes"),
    (lambda: constructions.dense_recipe(64, 2, d_model=64, codes="ternary"), "codes"),
    (lambda: constructions.block_recipe(64, 0), "R"),
])
def test_bad_requests_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_too_large_evaluation_fails_before_allocating(block_300_5):
    task, model = block_300_5
    with pytest.raises(ValueError, match="max_bytes"):
        constructions.evaluate_recall(model, task, max_bytes=1000)
    with pytest.raises(ValueError, match="chunk_size"):
        constructions.evaluate_recall(model, task, max_bytes=10**6, chunk_size=10**6)


def test_huge_build_is_refused_quickly():
    """N = 2^24, R = 64 would need ~100 GiB: the estimate must refuse it without allocating."""
    import time

    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="GiB"):
        constructions.block_recipe(2**24, 64)
    assert time.perf_counter() - t0 < 1.0
    assert constructions.model_bytes(2**24, 64, 1600, 3072) > constructions.DEFAULT_MAX_BYTES


# --- the committed table, the explorer and the chapter's figures ------------------------------------------------

TABLE_TOL = 0.005  # committed accuracies vs recomputed ones: BLAS differences may flip a borderline fact or two
REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("N", "R", "d"), [(256, 2, 32), (256, 8, 96), (1024, 4, 64)])
def test_committed_dense_table_rows_recompute(N, R, d):
    import pandas as pd

    table = pd.read_csv(REPO / constructions.DENSE_TABLE_PATH)
    row = table[(table.N == N) & (table.R == R) & (table.d_model == d)]
    assert len(row) == 1, f"row N={N}, R={R}, d={d} missing from {constructions.DENSE_TABLE_PATH}"
    fresh = constructions.dense_accuracy_sweep(N, R, [d], max_facts=constructions.DENSE_TABLE_MAX_FACTS)[0]
    assert fresh["n_facts"] == int(row.n_facts.iloc[0])
    assert abs(fresh["accuracy"] - float(row.accuracy.iloc[0])) <= TABLE_TOL, "stale table: rerun the dense-table command"


def test_committed_dense_table_covers_grid_and_saturates():
    import pandas as pd

    table = pd.read_csv(REPO / constructions.DENSE_TABLE_PATH)
    assert {(N, R) for N, R in zip(table.N, table.R)} == {(N, R) for N in constructions.DENSE_TABLE_NS
                                                          for R in constructions.DENSE_TABLE_RS}
    assert table.groupby(["N", "R"]).accuracy.max().min() >= 0.99


def test_snapshot_and_explorer_view():
    from georecall import widgets

    snap = constructions.snapshot(64, 3, placement="block")
    assert snap.activations.shape == (3, 2 * 3 * 6)
    assert snap.evaluation.accuracy == 1.0 and not snap.sampled
    assert sum(snap.margin_counts) == 64 * 3 and len(snap.margin_edges) == len(snap.margin_counts) + 1
    fig = widgets.construction_view(64, 3, 40, 6, "dense", "gaussian")
    assert len(fig.data) == 2 and "accuracy" in fig.layout.title.text
    sampled = constructions.snapshot(256, 4, placement="dense", d_model=200, max_facts=100)
    assert sampled.sampled and sampled.evaluation.n_facts == 100


@pytest.mark.parametrize(("args", "match"), [
    ((64, 3, 20, 6, "block", "sign"), "below what the block construction needs"),
    ((128, 2, 40, 6, "block", "sign"), "fewer than N = 128"),
    ((64, 3, 9, 6, "dense", "gaussian"), "too small for the dense construction"),
])
def test_explorer_bad_combinations_raise_clear_messages(args, match):
    from georecall import widgets

    with pytest.raises(ValueError, match=match):
        widgets.construction_view(*args)


def test_explorer_widget_shows_message_for_bad_slider():
    from georecall import widgets

    panel = widgets.construction_explorer(N=64, R=2, d=20, k=6)
    controls = {c.description: c for c in panel.children[1].children}
    assert panel.children[2].value == ""
    controls["d"].value = 10  # < R*k + R + k = 20
    assert "below what the block construction needs" in panel.children[2].value
    controls["d"].value = 24  # padded blocks: fine again
    assert panel.children[2].value == ""


def test_construction_twin_is_a_slider_figure():
    from georecall import widgets

    fig = widgets.construction_twin(64, 2, [16, 40])
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 2 and len(fig.data) == 4
    assert all("title" not in s.args[1] and "title.text" in s.args[1] for s in steps)
    assert steps[0].args[1]["title.text"] != steps[1].args[1]["title.text"]


def test_chapter_plots_return_figures():
    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go

    from georecall import plots

    rec = constructions.block_recipe(16, 3)
    task = tasks.make_task(16, 3, seed=0)
    parts = constructions.superposition_parts(rec, task.perms, 2)
    assert torch.equal(parts.sum(0), constructions.subject_embeddings(rec, task.perms)[2])
    figs = [
        plots.plot_codes(rec.codes.tolist()),
        plots.plot_superposition(parts.tolist(), parts.sum(0).tolist(), row_labels=["a", "b", "c", "sum"], title="t", block=4),
    ]
    dense = pd.DataFrame(constructions.dense_accuracy_sweep(64, 2, [24, 48]))
    bounds = pd.DataFrame(theory.memory_budget([64], 2))
    fig = plots.plot_dense_accuracy(dense, bounds)
    assert fig.layout.xaxis.type == "log" and len(fig.layout.sliders[0].steps) == 1
    budget = pd.DataFrame(theory.memory_budget(2 ** np.arange(6, 12), 2))
    built = constructions.built_param_counts([64, 256], R=2)
    figs += [fig, plots.plot_parameter_comparison(budget, built)]
    assert all(isinstance(f, go.Figure) for f in figs)
    assert (built.nonembedding_params == theory.geometric_nonembedding_param_count(built.N.to_numpy(), 2)).all()


def test_tables_for_the_chapter():
    t = constructions.exactness_table([(5, 1), (40, 3)])
    assert (t.accuracy == 1.0).all() and (t.min_margin >= t.two_over_k - MARGIN_TOL).all()
    a, b = tasks.make_task(32, 2, seed=0), tasks.make_task(32, 2, seed=1)
    cmp = constructions.compare_weights(constructions.build_block(a), constructions.build_block(b), n_subjects=32)
    assert not cmp.identical["embed.W_E[subjects]"] and cmp.identical.drop("embed.W_E[subjects]").all()
    summary = constructions.weight_summary(constructions.build_block(a))
    assert summary.loc["blocks.0.attn.W_Q", "nonzero"] == 0 and summary.loc["blocks.0.mlp.b_in", "nonzero"] == 2 * 2 * 5


def test_torch_threads_restores():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with repro.torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError
    assert torch.get_num_threads() == before


def test_fused_evaluation_equals_the_forward_pass(block_300_5):
    """method='fused' (per-token tables + tiled readout, threads) must give the forward pass's margins."""
    task, model = block_300_5
    forward = constructions.evaluate_recall(model, task, return_margins=True)
    for workers in (1, 2):
        fused = constructions.evaluate_recall(model, task, method="fused", workers=workers, chunk_size=97,
                                              return_margins=True)
        # summation order differs from the forward pass's BLAS call: equal up to float64 rounding
        assert torch.allclose(fused.margins, forward.margins, rtol=0, atol=MARGIN_TOL)
        assert fused.n_correct == forward.n_correct == len(forward.margins)


def test_fused_evaluation_of_a_trained_like_model_and_a_fact_subset():
    task = tasks.make_task(40, 3, seed=2)
    model = models.Transformer(models.ModelConfig.for_task(task, 12, init_seed=4)).double()
    idx = torch.tensor([0, 7, 8, 119, 50])
    forward = constructions.evaluate_recall(model, task, facts=idx, return_margins=True)
    fused = constructions.evaluate_recall(model, task.single_hop(), facts=idx, method="fused", workers=2,
                                          chunk_size=2, return_margins=True)
    assert torch.allclose(fused.margins, forward.margins, rtol=0, atol=1e-12)
    assert fused.n_correct == forward.n_correct


def test_evaluation_method_and_workers_are_checked(block_300_5):
    task, model = block_300_5
    with pytest.raises(ValueError, match="method"):
        constructions.evaluate_recall(model, task, method="tiled")
    with pytest.raises(ValueError, match="workers"):
        constructions.evaluate_recall(model, task, workers=2)
    with pytest.raises(ValueError, match="workers"):
        constructions.evaluate_recall(model, task, method="fused", workers=0)
    with pytest.raises(ValueError, match="max_bytes"):
        constructions.evaluate_recall(model, task, method="fused", max_bytes=1000)


@pytest.mark.parametrize("k", range(1, 49))
def test_margin_edges_put_two_over_k_at_a_bin_centre(k):
    """The exact block-construction margin 2/k is a bin centre, never near an edge (no two-bar artefact)."""
    edges = constructions.margin_edges(k)
    width = edges[1] - edges[0]
    assert edges[0] <= -2 and edges[-1] >= 2
    j = next(i for i in range(len(edges) - 1) if edges[i] <= 2 / k < edges[i + 1])
    assert abs((edges[j] + edges[j + 1]) / 2 - 2 / k) < 1e-9 and width == pytest.approx(1 / (2 * k))


def test_snapshot_histogram_has_one_bar_for_the_exact_construction():
    snap = constructions.snapshot(1024, 8, placement="block")
    bars = [c for c in snap.margin_counts if c]
    assert bars == [snap.evaluation.n_facts], f"margins split over {len(bars)} bars: {bars}"
