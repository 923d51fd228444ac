"""Analysis of sweep tables: majority rule, censoring, capacities, fits, growth, the learning-rate summary."""

import numpy as np
import pandas as pd
import pytest

from georecall.analyse import bijection as analysis
from georecall.theory import bijection as theory

SLOPE_TOL = 1e-9


def _table(rows):
    defaults = dict(data_format="single_hop", freeze_embed=False)
    return pd.DataFrame([{**defaults, **r} for r in rows])


def test_thresholds_majority_rule_and_censoring():
    rows = []
    for d, accs in {4: (0.5, 0.995, 0.6), 6: (0.99, 0.995, 0.2), 8: (1.0, 1.0, 1.0)}.items():
        rows += [dict(n_subjects=64, n_relations=2, d_model=d, seed=s, accuracy=a) for s, a in enumerate(accs)]
    rows += [dict(n_subjects=128, n_relations=2, d_model=3, seed=s, accuracy=1.0) for s in range(3)]
    th = analysis.thresholds(_table(rows)).set_index("n_subjects")
    assert th.loc[64, "d_star"] == 6 and th.loc[64, "censored"] == ""
    assert th.loc[128, "d_star"] == 3 and th.loc[128, "censored"] == "below"


def test_frozen_capacity_takes_largest_passing_N():
    rows = []
    for N, acc in {16: 1.0, 24: 0.995, 32: 0.9}.items():
        rows += [
            dict(n_subjects=N, n_relations=4, d_model=8, d_mlp=32, seed=s, accuracy=acc, freeze_embed=True)
            for s in range(2)
        ]
    cap = analysis.frozen_capacity(_table(rows))
    assert cap["capacity_N"].tolist() == [24] and cap["capacity_facts"].tolist() == [96]
    assert cap["params_nonembed"].tolist() == [4 * 64 + 2 * 8 * 32 + 32]


def test_fit_line_recovers_slope():
    x = np.arange(1.0, 9.0)
    f = analysis.fit_line(x, 0.3 * x + 2.0)
    assert abs(f.slope - 0.3) < SLOPE_TOL and abs(f.intercept - 2.0) < SLOPE_TOL and f.r2 == pytest.approx(1.0)
    g = analysis.fit_line(x, 0.5 * x, through_origin=True)
    assert abs(g.slope - 0.5) < SLOPE_TOL and g.intercept == 0.0
    with pytest.raises(ValueError, match="at least"):
        analysis.fit_line([1.0], [2.0])


def test_dstar_growth_and_exponent():
    th = pd.DataFrame(
        {"n_relations": [2] * 4, "n_subjects": [64, 128, 256, 512], "d_star": [6, 7, 8, 9], "censored": [""] * 4}
    )
    g = analysis.dstar_growth(th).iloc[0]
    assert (g["d_min"], g["d_max"], g["N_ratio"]) == (6, 9, 8.0)
    assert g["r2_log2N"] == pytest.approx(1.0), "d* exactly linear in log2 N"
    assert g["exponent"] < 0.25 and g["r2_log2N"] > g["r2_N"]


def test_accuracy_curves_aggregate_seeds():
    rows = [dict(n_subjects=64, n_relations=2, d_model=4, seed=s, accuracy=a) for s, a in enumerate((0.98, 1.0, 0.995))]
    c = analysis.accuracy_curves(_table(rows)).iloc[0]
    assert (c["n_ok"], c["n_seeds"]) == (2, 3) and c["accuracy_min"] == 0.98


def test_bits_table_counts_every_parameter_of_the_learned_model():
    th = pd.DataFrame({"n_subjects": [64], "n_relations": [2], "d_star": [6], "censored": [""]})
    cap = pd.DataFrame(
        columns=[
            "d_model",
            "d_mlp",
            "data_format",
            "capacity_N",
            "n_relations",
            "bits_stored",
            "params_nonembed",
            "bits_per_param",
            "censored",
        ]
    )
    row = analysis.bits_table(th, cap).iloc[0]
    d, m, N, R = 6, 24, 64, 2
    assert row["params"] == (N + R) * d + 2 * d + 4 * d * d + 2 * d * m + m + d * N
    assert row["bits_per_embedding_param"] == pytest.approx(row["bits"] / (2 * N * d))


def test_best_over_rates_takes_each_seeds_best_rate():
    rows = [
        dict(n_subjects=64, n_relations=2, d_model=4, seed=0, lr=1e-2, accuracy=0.95, steps=2048),
        dict(n_subjects=64, n_relations=2, d_model=4, seed=0, lr=3e-2, accuracy=0.995, steps=900),
        dict(n_subjects=64, n_relations=2, d_model=4, seed=0, lr=3e-3, accuracy=1.0, steps=1500),
        dict(n_subjects=64, n_relations=2, d_model=4, seed=1, lr=1e-2, accuracy=0.97, steps=2048),
        dict(n_subjects=64, n_relations=2, d_model=4, seed=1, lr=3e-2, accuracy=0.98, steps=2048),
    ]
    b = analysis.best_over_rates(_table(rows)).set_index("seed")
    assert b.loc[0, "accuracy"] == 1.0 and b.loc[0, "n_rates"] == 3
    assert b.loc[0, "best_lr"] == 3e-2 and b.loc[0, "steps"] == 900, "the first rate in the sweep's order that passes"
    assert b.loc[1, "best_lr"] == 3e-2 and b.loc[1, "accuracy"] == 0.98, "none passes: the most accurate"
    with pytest.raises(ValueError, match="accuracy"):
        analysis.best_over_rates(pd.DataFrame({"seed": [0]}))


def test_thresholds_count_a_seed_that_passes_at_any_rate():
    rows = []
    for d, by_seed in {4: ((0.5, 0.6), (0.5, 0.6), (0.9, 0.9)), 5: ((0.5, 0.995), (1.0, None), (0.7, 0.8))}.items():
        for s, accs in enumerate(by_seed):
            rows += [
                dict(n_subjects=64, n_relations=2, d_model=d, seed=s, lr=lr, accuracy=a)
                for lr, a in zip((1e-2, 3e-2), accs)
                if a is not None
            ]
    table = _table(rows)
    th = analysis.thresholds(table)
    assert th["d_star"].tolist() == [5], "seed 0 passes at 3e-2 and seed 1 at 1e-2: 2 of 3 at d = 5"
    assert analysis.thresholds(table[table["lr"] == 1e-2])["censored"].tolist() == ["above"], "1e-2 alone: 1 of 3"
    eff = analysis.rate_effect(table, th).iloc[0]
    assert (eff["first_lr"], eff["n_ok_first"], eff["first_alone"], eff["n_ok_best"], eff["rescued"]) == (
        1e-2,
        1,
        False,
        2,
        "3e-2: 1 seed",
    )


def test_threshold_columns_bounds_and_bits():
    rows = [
        dict(n_subjects=1024, n_relations=4, d_model=d, seed=s, accuracy=float(d >= 9))
        for d in (8, 9)
        for s in (0, 1, 2)
    ]
    t = analysis.thresholds(_table(rows)).iloc[0]
    assert t["d_star"] == 9 and t["per_entity_bound_d"] == pytest.approx(20.0), "R log2 N / p = 40 / 2"
    assert t["counting_bound_d"] < theory.lower_bound_d(1024, 4), "counting the N-independent weights lowers it"
    P = (1024 + 4) * 9 + 2 * 9 + 4 * 81 + 2 * 9 * 36 + 36 + 9 * 1024
    assert t["bits_per_param_all"] == pytest.approx(theory.information_bits(1024, 4) / P)
    assert t["bits_per_subject_coord"] == pytest.approx(40 / 9)


def test_dstar_growth_names_the_best_fitting_law():
    Ns = np.array([64, 128, 256, 512, 1024])
    th = pd.DataFrame(
        {
            "n_relations": [1] * 5 + [2] * 5,
            "n_subjects": list(Ns) * 2,
            "d_star": list(2 * np.log2(Ns)) + list(np.round(np.sqrt(Ns))),
            "censored": [""] * 10,
        }
    )
    g = analysis.dstar_growth(th).set_index("R")
    assert g.loc[1, "best_form"] == "log₂N" and g.loc[2, "best_form"] == "√N"
    text = analysis.describe_growth(g.reset_index())
    assert "R = 1: N = 64…1024" in text and "best fit √N" in text
