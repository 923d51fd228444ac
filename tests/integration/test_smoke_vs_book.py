"""The `smoke` preset's points agree with the committed `book`, `probing`, `crossset` and `sentences` tables where they
overlap; its small multi-hop lines (`multihop_smoke`, a pipeline check smaller than any committed line) are checked on
their own.

Every smoke line is also a book line (same base config, seeds, grid and start), so the smoke run re-trains a
subset of the committed points. On the machine that produced the tables the agreement is exact. On another CPU the
kernels round differently, and a run that has not memorised its facts is chaotic: on one 2-core AMD EPYC machine 49
of the 80 shared single-hop points moved: by up to 0.31 in accuracy where a run stayed below the 99% target, by less
than 0.01 where it reached it, and one run flipped (0.969 against 0.996), with every d* unchanged. So the test
holds each point to what the book reads from it: a run that memorises agrees within ``ACC_TOL``, a verdict
(reached the target or not) may differ only for a run within ``NEAR_TARGET`` of the target on both machines, and
every line's d* is the same (``test_smoke_thresholds_match_book``).
Set ``GEORECALL_SMOKE_TABLES`` to a folder written by ``python -m georecall sweep smoke --out DIR``
to reuse CI's smoke run; otherwise the test runs the preset itself (about a minute on 2 cores).
"""

import os
from pathlib import Path

import pandas as pd
import pytest

from georecall.analyse import bijection as analysis
from georecall.analyse import multihop as multihop_analysis
from georecall.run import runner
from georecall.sweep import tables
from georecall.train.recipe import TrainConfig

BOOK_DATA = Path(__file__).resolve().parents[2] / "book" / "_data"
ACC_TOL = 0.02  # accuracy; ~1-2 facts of the smallest smoke tasks (64 x 1 = 64 facts)
TARGET = TrainConfig().target_accuracy  # the book recipe's 99%
NEAR_TARGET = 0.05  # a run this close to the target may land on either side of it on another CPU
KEY = ["data_format", "freeze_embed", "n_subjects", "n_relations", "d_model", "d_mlp", "lr", "max_steps", "seed"]
KEY_DISJOINT = ["n_answers", "n_heads", "batch_size"]  # the disjoint tables' extra identifying columns
MIN_OVERLAP = 20  # the smoke preset shares at least this many points with the book tables

pytestmark = pytest.mark.slow  # trains the smoke preset unless GEORECALL_SMOKE_TABLES is set; `make test` runs it


@pytest.fixture(scope="module")
def smoke_tables(tmp_path_factory):
    given = os.environ.get("GEORECALL_SMOKE_TABLES")
    if given:
        return tables.load_tables(given)
    tmp = tmp_path_factory.mktemp("smoke")
    tables.write_tables(runner.run("smoke", workers=2, cache=tmp / "cache", progress=False), tmp / "out")
    return tables.load_tables(tmp / "out")


@pytest.fixture(scope="module")
def book_tables():
    if not BOOK_DATA.exists():
        pytest.fail(
            f"committed tables missing in {BOOK_DATA}; run `python -m georecall sweep PRESET --out book/_data` "
            "for PRESET in book, disjoint and probing"
        )
    return tables.load_tables(BOOK_DATA, names=[n for n in tables.SWEEP_TABLES if n not in OWN_FIXTURE])


OWN_FIXTURE = {"sentences"}  # loaded by the one test that reads it, which names the command that writes it if missing


@pytest.fixture(scope="module")
def committed_sentences():
    if not (BOOK_DATA / "sentences.csv").exists():
        pytest.fail(f"committed table missing: run `python -m georecall sweep sentences --out {BOOK_DATA}`")
    return tables.load_table("sentences", BOOK_DATA)


SMOKE_ONLY = {"multihop_smoke"}  # CI's small multi-hop lines, smaller than any committed line: checked on their own


def test_smoke_points_match_book_points(smoke_tables, book_tables):
    total = 0
    for name, smoke in smoke_tables.items():
        if name in SMOKE_ONLY:
            continue
        assert name in book_tables or name in OWN_FIXTURE, f"smoke table {name} has no committed book counterpart"
        if name in tables.PROBING_TABLES or name in tables.CROSSSET_TABLES or name in tables.LAYERS_TABLES:
            continue  # compared by test_smoke_{probing,crossset}_points_match_book_points, test_smoke_layers_point_...
        if name == "multihop_heldout":
            continue  # compared by test_smoke_heldout_points_match_book_points
        if name in OWN_FIXTURE:
            continue  # compared by test_smoke_sentence_points_match_the_committed_rows
        key = KEY + [c for c in KEY_DISJOINT if c in smoke.columns]
        both = smoke.merge(book_tables[name], on=key, suffixes=("_smoke", "_book"))
        total += len(both)
        memorised = both[both["reached_target_smoke"] & both["reached_target_book"]]
        diff = (memorised["accuracy_smoke"] - memorised["accuracy_book"]).abs()
        assert diff.max() <= ACC_TOL, f"{name}: accuracy differs by {diff.max():.4f} at\n{memorised.loc[diff.idxmax()]}"
        flipped = both[both["reached_target_smoke"] != both["reached_target_book"]]
        far = flipped[flipped[["accuracy_smoke", "accuracy_book"]].min(axis=1) < TARGET - NEAR_TARGET]
        assert far.empty, (
            f"{name}: the verdict differs for runs far from the target:\n"
            f"{far[key + ['accuracy_smoke', 'accuracy_book']]}"
        )
    assert total >= MIN_OVERLAP, f"only {total} overlapping points; the smoke lines should be book lines"


def test_smoke_thresholds_match_book(smoke_tables, book_tables):
    smoke_th = analysis.thresholds(smoke_tables["e1_capacity"])
    book_th = analysis.thresholds(book_tables["e1_capacity"])
    both = smoke_th.merge(
        book_th, on=["data_format", "freeze_embed", "n_relations", "n_subjects"], suffixes=("_s", "_b")
    )
    assert len(both) == len(smoke_th)
    pd.testing.assert_series_equal(both["d_star_s"], both["d_star_b"], check_names=False)


PROBE_KEYS = {"probing": [], "transfer": ["protocol", "step"]}
PROBE_TOL = {"accuracy": ACC_TOL, "superposition_r2": 0.02}  # the metrics compared, with their tolerance


def test_smoke_probing_points_match_book_points(smoke_tables, book_tables):
    """The smoke preset re-runs two points of the probing study (the construction and one trained model)."""
    for name, extra in PROBE_KEYS.items():
        smoke, book = smoke_tables[name], book_tables[name]
        both = smoke.merge(book, on=[*tables.POINT_COLUMNS, *extra], suffixes=("_smoke", "_book"))
        assert len(both) == len(smoke) > 0, f"{name}: smoke rows missing from the committed table"
        for col, tol in PROBE_TOL.items():
            if f"{col}_smoke" in both:
                diff = (both[f"{col}_smoke"] - both[f"{col}_book"]).abs()
                assert diff.max() <= tol, f"{name}.{col} differs by {diff.max():.4f} at\n{both.loc[diff.idxmax()]}"


CROSS_TOL = {"train_accuracy": ACC_TOL, "zs_encoder": 0.05, "zs_lookup": ACC_TOL}  # zero-shot: a non-memorised score


def test_smoke_crossset_points_match_book_points(smoke_tables, book_tables):
    """The smoke preset re-trains three points of the cross-set study; each matches its committed row (training
    accuracy within 0.02; zero-shot accuracy, a score the training does not optimise, within 0.05 across CPUs), and
    the zero-shot verdict (>= 99%) agrees wherever either run is more than 0.05 from it."""
    smoke, book = smoke_tables["crossset"], book_tables["crossset"]
    both = smoke.merge(book, on=list(tables.CROSSSET_POINT_COLUMNS), suffixes=("_smoke", "_book"))
    assert len(both) == len(smoke) == 3, "smoke rows missing from the committed crossset table"
    for col, tol in CROSS_TOL.items():
        diff = (both[f"{col}_smoke"] - both[f"{col}_book"]).abs()
        assert diff.max() <= tol, f"crossset.{col} differs by {diff.max():.4f} at\n{both.loc[diff.idxmax()]}"
    s, b = both["zs_encoder_smoke"], both["zs_encoder_book"]
    flipped = both[(s >= TARGET) != (b >= TARGET)]
    assert (flipped[["zs_encoder_smoke", "zs_encoder_book"]].min(axis=1) >= TARGET - NEAR_TARGET).all()


LAYERS_TOL = {  # the trained model's probes across CPUs
    "superposition_r2": 0.1,
    "decoder_accuracy": 0.16,  # four of 26 held-out answers (13 subjects x 2 relations)
    "logit_lens": ACC_TOL,  # nothing fitted: the model's own readout
}


def test_smoke_layers_point_matches_book_rows(smoke_tables, book_tables):
    """The smoke preset re-trains the L = 1, seed 0 point of the layers study: its recall per split matches the
    committed row within 0.02 (recall of the trained facts: the verdict >= 99% too), the probes of the trained model
    within ``LAYERS_TOL`` (held-out scores of a model trained to round-off differences across CPUs) and the recall
    under each mean-ablation within 0.05."""
    keys = list(tables.LAYERS_POINT_COLUMNS)
    both = smoke_tables["layers"].merge(book_tables["layers"], on=keys, suffixes=("_smoke", "_book"))
    assert len(both) == len(smoke_tables["layers"]) == 1, "the smoke row is missing from the committed layers table"
    for col in ("recall_train", "recall_heldout_templates", "recall_inverse", "recall_inverse_trained"):
        diff = (both[f"{col}_smoke"] - both[f"{col}_book"]).abs().max()
        assert diff <= ACC_TOL, f"layers.{col} differs by {diff:.4f}"
    assert ((both["recall_train_smoke"] >= TARGET) == (both["recall_train_book"] >= TARGET)).all()
    extra = ["control", "token", "layer", "metric"]
    probes = smoke_tables["layer_probes"].merge(book_tables["layer_probes"], on=keys + extra, suffixes=("_s", "_b"))
    assert len(probes) == len(smoke_tables["layer_probes"]) > 0
    assert (probes["value_s"].isna() == probes["value_b"].isna()).all(), "a probe is defined on one run only"
    for metric, tol in LAYERS_TOL.items():
        p = probes[(probes["metric"] == metric) & (probes["control"] == "trained")].dropna(subset=["value_s"])
        diff = (p["value_s"] - p["value_b"]).abs()
        assert diff.max() <= tol, f"layer_probes {metric} differs by {diff.max():.4f} at\n{p.loc[diff.idxmax()]}"
    ab = smoke_tables["layer_ablation"].merge(
        book_tables["layer_ablation"], on=keys + ["layer", "component"], suffixes=("_s", "_b")
    )
    assert len(ab) == len(smoke_tables["layer_ablation"]) > 0
    assert (ab["recall_s"] - ab["recall_b"]).abs().max() <= 0.05


def test_multihop_smoke_lines_ran_and_are_consistent(smoke_tables):
    """The smoke run's multi-hop lines: every (format, h) line is there, decoding never scores below teacher forcing
    (a query right at every step under teacher forcing decodes the true chain), and the last decoded step is the
    final answer."""
    mh = smoke_tables["multihop_smoke"]
    assert {(f, h) for f, h in zip(mh["data_format"], mh["hops"])} == {("no_cot", 1), ("no_cot", 2), ("cot", 2)}
    assert ((mh["accuracy"] - mh["train_accuracy"]) * mh["n_facts"] > -0.5).all()  # in questions (float32 mean)
    steps = multihop_analysis.step_accuracies(mh)
    n_steps = [h if f == "cot" else 1 for f, h in zip(mh["data_format"], mh["hops"])]  # no CoT: one generated token
    last = [row[f"step_{n}"] for n, (_, row) in zip(n_steps, steps.iterrows())]
    assert list(mh["accuracy"]) == last
    assert len(multihop_analysis.multihop_thresholds(mh)) == 4  # h = 1 filed under both formats


def test_smoke_heldout_points_match_book_points(smoke_tables, book_tables):
    """The smoke preset re-trains two held-out-chains points (one per format); each matches its committed row: the
    accuracy on the training queries, on the unseen ones and on the single hops within 0.02, the split the same."""
    smoke, book = smoke_tables["multihop_heldout"], book_tables["multihop_heldout"]
    both = smoke.merge(book, on=list(tables.HELDOUT_POINT_COLUMNS), suffixes=("_smoke", "_book"))
    assert len(both) == len(smoke) == 2, "smoke rows missing from the committed multihop_heldout table"
    assert (both["n_heldout_smoke"] == both["n_heldout_book"]).all() and (
        both["n_train_smoke"] == both["n_train_book"]
    ).all()
    for col in ("train_accuracy", "heldout_accuracy", "single_hop_accuracy"):
        diff = (both[f"{col}_smoke"] - both[f"{col}_book"]).abs()
        assert diff.max() <= ACC_TOL, (
            f"multihop_heldout.{col} differs by {diff.max():.4f} at\n{both.loc[diff.idxmax()]}"
        )


SENTENCE_KEY = list(tables.SENTENCE_COLUMNS[: tables.SENTENCE_COLUMNS.index("n_facts")])  # a point's identity
SENTENCE_TOL = {"accuracy": ACC_TOL, "heldout_templates_accuracy": 0.05, "inverse_accuracy": 0.05}


def test_smoke_sentence_points_match_the_committed_rows(smoke_tables, committed_sentences):
    """The smoke preset re-trains the first probe of the cheapest sentence line (L = 1); each point matches its
    committed row: the same parameter count, the same verdict unless both runs are within ``NEAR_TARGET`` of the
    target, and where both memorised (a run that did not is chaotic across CPUs) training recall within ``ACC_TOL`` and
    the held-out and inverse recalls (scores the training does not optimise) within 0.05."""
    smoke = smoke_tables["sentences"]
    both = smoke.merge(committed_sentences, on=SENTENCE_KEY, suffixes=("_smoke", "_book"))
    assert len(both) == len(smoke) > 0, "smoke rows missing from the committed sentences table"
    assert (both["n_params_smoke"] == both["n_params_book"]).all()
    memorised = both[both["reached_target_smoke"] & both["reached_target_book"]]
    for col, tol in SENTENCE_TOL.items():
        diff = (memorised[f"{col}_smoke"] - memorised[f"{col}_book"]).abs()
        assert not (diff > tol).any(), f"sentences.{col} differs by {diff.max():.4f}"
    flipped = both[both["reached_target_smoke"] != both["reached_target_book"]]
    assert (flipped[["accuracy_smoke", "accuracy_book"]].min(axis=1) >= TARGET - NEAR_TARGET).all()
