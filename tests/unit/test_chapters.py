"""Chapter-only helpers: the explorer's snapshot, the small tables, the committed dense accuracy-vs-d table."""

from pathlib import Path

import pytest
import torch

from georecall import repro
from georecall.construct import bijection as constructions
from georecall.construct import views as chapters
from georecall.sweep import tables
from georecall.tasks import bijection as tasks
from georecall.theory import bijection as theory

MARGIN_TOL = 1e-9
TABLE_TOL = 0.005  # committed accuracies vs recomputed ones: BLAS differences may flip a borderline fact or two
BOOK_DATA = Path(__file__).resolve().parents[2] / "book" / "_data"


@pytest.fixture(autouse=True)
def _one_thread():
    with repro.torch_threads(1):
        yield


@pytest.mark.parametrize(("N", "R", "d"), [(256, 2, 32), (256, 8, 96), (1024, 4, 64)])
def test_committed_dense_table_rows_recompute(N, R, d):
    table = tables.load_table("dense_accuracy", BOOK_DATA)
    row = table[(table.N == N) & (table.R == R) & (table.d_model == d)]
    assert len(row) == 1, f"row N={N}, R={R}, d={d} missing from the committed dense_accuracy table"
    fresh = chapters.dense_accuracy_sweep(N, R, [d], max_facts=chapters.DENSE_TABLE_MAX_FACTS)[0]
    assert fresh["n_facts"] == int(row.n_facts.iloc[0])
    assert abs(fresh["accuracy"] - float(row.accuracy.iloc[0])) <= TABLE_TOL, (
        "stale table: rerun `python -m georecall table dense_accuracy`"
    )


def test_committed_dense_table_covers_grid_and_saturates():
    table = tables.load_table("dense_accuracy", BOOK_DATA)
    grid = {(N, R) for N in chapters.DENSE_TABLE_NS for R in chapters.DENSE_TABLE_RS}
    assert {(N, R) for N, R in zip(table.N, table.R)} == grid
    assert table.groupby(["N", "R"]).accuracy.max().min() >= 0.99


def test_tables_for_the_chapter():
    t = chapters.exactness_table([(5, 1), (40, 3)])
    assert (t.accuracy == 1.0).all() and (t.min_margin >= t.two_over_k - MARGIN_TOL).all()
    a, b = tasks.make_task(32, 2, seed=0), tasks.make_task(32, 2, seed=1)
    cmp = chapters.compare_weights(constructions.build_block(a), constructions.build_block(b), n_subjects=32)
    assert not cmp.identical["embed.W_E[subjects]"] and cmp.identical.drop("embed.W_E[subjects]").all()
    summary = chapters.weight_summary(constructions.build_block(a))
    assert summary.loc["blocks.0.attn.W_Q", "nonzero"] == 0 and summary.loc["blocks.0.mlp.b_in", "nonzero"] == 2 * 2 * 5


def test_dense_accuracy_rises_with_d():
    rows = chapters.dense_accuracy_sweep(256, 4, [24, 48, 96, 192, 384], seed=0)
    acc = [r["accuracy"] for r in rows]
    assert all(b >= a for a, b in zip(acc, acc[1:])), f"accuracy not monotone in d: {acc}"
    assert acc[0] < 0.6 and acc[-1] > 0.99, acc


def test_snapshot_scores_all_facts_or_a_sample():
    snap = chapters.snapshot(64, 3, placement="block")
    assert snap.activations.shape == (3, 2 * 3 * 6)
    assert snap.evaluation.accuracy == 1.0 and not snap.sampled
    assert sum(snap.margin_counts) == 64 * 3 and len(snap.margin_edges) == len(snap.margin_counts) + 1
    sampled = chapters.snapshot(256, 4, placement="dense", d_model=200, max_facts=100)
    assert sampled.sampled and sampled.evaluation.n_facts == 100


def test_superposition_parts_sum_to_the_subject_row():
    rec = constructions.block_recipe(16, 3)
    task = tasks.make_task(16, 3, seed=0)
    parts = chapters.superposition_parts(rec, task.perms, 2)
    assert torch.equal(parts.sum(0), constructions.subject_embeddings(rec, task.perms)[2])
    built = chapters.built_param_counts([64, 256], R=2)
    assert (built.nonembedding_params == theory.geometric_nonembedding_param_count(built.N.to_numpy(), 2)).all()


@pytest.mark.parametrize("k", range(1, 49))
def test_margin_edges_put_two_over_k_at_a_bin_centre(k):
    """The exact block-construction margin 2/k is a bin centre, never near an edge (no two-bar artefact)."""
    edges = chapters.margin_edges(k)
    width = edges[1] - edges[0]
    assert edges[0] <= -2 and edges[-1] >= 2
    j = next(i for i in range(len(edges) - 1) if edges[i] <= 2 / k < edges[i + 1])
    assert abs((edges[j] + edges[j + 1]) / 2 - 2 / k) < 1e-9 and width == pytest.approx(1 / (2 * k))


def test_margin_edges_reject_a_bad_k():
    with pytest.raises((ValueError, TypeError), match="k"):
        chapters.margin_edges(0)


def test_snapshot_histogram_has_one_bar_for_the_exact_construction():
    snap = chapters.snapshot(1024, 8, placement="block")
    bars = [c for c in snap.margin_counts if c]
    assert bars == [snap.evaluation.n_facts], f"margins split over {len(bars)} bars: {bars}"
