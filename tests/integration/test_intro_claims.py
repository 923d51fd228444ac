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


def test_the_sentence_and_layer_results_quoted_in_the_intro_are_the_chapter_7_tables():
    """Chapter 7 as the introduction states it: the d* slopes per depth and Chapter 3's, the best subject-token R^2,
    the smallest recall lost when one block's attention or MLP is mean-ablated, and that the logit lens reads the
    answer only after the top block."""
    from georecall.analyse import layers, sentences

    data = BOOK / "_data"
    th = sentences.sentence_thresholds(pd.read_csv(data / "sentences.csv"))
    fits = sentences.dstar_fits(th).set_index("n_layers")
    ch3 = sentences.dstar_fits(
        analysis.thresholds(pd.read_csv(data / "e1_capacity.csv")), by=["data_format", "freeze_embed"]
    ).iloc[0]
    probes = pd.read_csv(data / "layer_probes.csv")
    best = layers.peak_layers(probes)["best_subject"].max()
    drop = layers.ablation_summary(pd.read_csv(data / "layer_ablation.csv"))["drop"].min()
    intro = _intro()
    slopes = f"by {fits.loc[1, 'slope']:.2f}, {fits.loc[2, 'slope']:.2f} and {fits.loc[4, 'slope']:.2f} coordinates"
    assert slopes in intro and f"(one layer on $[s, r]$: {ch3['slope']:.2f})" in intro, (fits, ch3)
    assert f"held-out $R^2$ at most {best:.2f}" in intro and f"loses at least {100 * drop:.0f}% of the recall" in intro
    lens = layers.probe_summary(probes).query("metric == 'logit_lens' and control == 'trained' and token == 'last'")
    top = lens[lens["layer"] == lens["n_layers"]]
    assert "readable only after the top block" in intro
    assert (top["value"] >= 0.99).all() and (lens[lens["layer"] < lens["n_layers"]]["value"] < 0.5).all()


def test_the_multihop_growth_and_held_out_chains_quoted_in_the_intro_are_the_chapter_6_tables():
    """Chapter 6's growth along N (slopes per doubling of N at R = 2) and held-out chains as the introduction states
    them, and the claim that the no-CoT two-hop d* is still below its per-entity bound at N = 1024."""
    from georecall.analyse import multihop

    th = multihop.multihop_thresholds(pd.read_csv(BOOK / "_data" / "multihop.csv"))
    fits = multihop.growth_fits(th).set_index(["data_format", "n_relations", "hops"])
    nc2, nc1 = fits.loc[("no_cot", 2, 2), "slope"], fits.loc[("no_cot", 2, 1), "slope"]
    cot2 = fits.loc[("cot", 2, 2), "slope"]
    intro = _intro()
    assert f"grows by {nc2:.1f} coordinates per doubling of $N$, against {nc1:.1f} at one hop and {cot2:.1f}" in intro
    last = th.query("data_format == 'no_cot' and n_relations == 2 and hops == 2 and n_subjects == 1024").iloc[0]
    assert last["d_star"] < last["per_entity_bound_d"] and "still below the per-entity bound at $N=1024$" in intro
    ho = pd.read_csv(BOOK / "_data" / "multihop_heldout.csv")
    nc_max = ho[ho.data_format == "no_cot"]["heldout_accuracy"].max()
    assert f"(at most {100 * nc_max:.1f}%)" in intro and nc_max <= 3 * ho["chance"].max()
