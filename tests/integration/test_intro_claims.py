"""The introduction's key-results table quotes numbers measured in Chapter 3; they must match the committed tables
(the chapter itself glues them from the tables, the introduction is plain Markdown)."""

from pathlib import Path

import pandas as pd

from georecall.analyse import bijection as analysis
from georecall.analyse import crossset

BOOK = Path(__file__).resolve().parents[2] / "book"


def _intro() -> str:
    return (BOOK / "intro.md").read_text()


def test_the_trained_threshold_law_quoted_in_the_intro_is_the_chapter_3_fit():
    th = analysis.thresholds(pd.read_csv(BOOK / "_data" / "e1_capacity.csv"))
    fit = analysis.fit_line(th["R_log2_N"], th["d_star"])
    intro = _intro()
    assert f"d^* \\approx {fit.slope:.2f}\\,R\\log_2 N + {fit.intercept:.0f}" in intro, (fit.slope, fit.intercept)
    assert f"about {1 / fit.slope:.1f} times fewer coordinates per bit" in intro, 1 / fit.slope
    assert "below the per-entity bound" in intro and (th["d_star"] < th["per_entity_bound_d"]).all()


def test_the_frozen_facts_per_parameter_quoted_in_the_intro_is_the_chapter_3_fit():
    cap = analysis.frozen_capacity(pd.read_csv(BOOK / "_data" / "e2_frozen.csv"))
    flat = cap[(cap["data_format"] == "single_hop") & (cap["censored"] == "")]
    fpp = analysis.fit_line(flat["params_nonembed"], flat["capacity_facts"], through_origin=True)
    assert f"about {fpp.slope:.2f} facts per attention + MLP parameter" in _intro(), fpp.slope


def test_the_crossset_transfer_quoted_in_the_intro_is_the_chapter_5_table():
    """Chapter 5's cross-set result as the introduction states it: the smallest K (and, at it, the smallest d) at
    which every seed transfers at least 99% zero-shot, every larger K transferring too, and only encoded networks."""
    cs = crossset.summarise(pd.read_csv(BOOK / "_data" / "crossset.csv")).query("n_subjects == 256")
    reach = cs[cs["zs_encoder_min"] >= 0.99]
    assert len(reach) and (reach["parameterization"] == "encoded").all()
    first = reach.sort_values(["n_sets", "d_model"]).iloc[0]
    K, d = int(first["n_sets"]), int(first["d_model"])
    larger = cs[(cs["parameterization"] == "encoded") & (cs["n_sets"] >= K)]["n_sets"].unique()
    assert set(larger) <= set(reach["n_sets"]), "a larger K never transfers"
    intro = _intro()
    assert f"$K \\ge {K}$ fact sets" in intro and f"from $d = {d}$ at $N=256$" in intro, (K, d)
    assert (
        "below 99% for every network with free embedding tables ($K \\le 64$)" in intro
        and cs.query("parameterization == 'free'")["n_sets"].max() == 64
    )
