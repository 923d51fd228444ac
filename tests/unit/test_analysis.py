"""Analysis of sweep tables: majority rule, censoring, capacities, fits, growth, the learning-rate summary."""

import numpy as np
import pandas as pd
import pytest

from georecall import analysis

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


def test_lr_summary_one_column_per_lr():
    rows = [
        dict(n_subjects=64, n_relations=2, d_model=4, seed=s, lr=lr, accuracy=1.0)
        for s in (0, 1)
        for lr in (3e-3, 1e-2)
    ]
    t = analysis.lr_summary(pd.DataFrame(rows))
    assert list(t.columns) == ["N", "R", "d", "lr=0.003", "lr=0.01"] and t.iloc[0]["lr=0.01"] == "2/2 (1.000)"


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
