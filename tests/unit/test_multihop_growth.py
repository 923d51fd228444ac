"""The growth law of multi-hop d* along N: the least-squares slope in log2 N with its standard error, and the
comparison of slopes across h (no CoT against the R^h paths prediction, CoT against flatness), on synthetic
thresholds whose answer is known, including ones the tests must reject."""

import math

import numpy as np
import pandas as pd
import pytest

from georecall.analyse import multihop as mha

NS = (64, 128, 256, 512, 1024)


def _thresholds(slopes: dict, *, R=2, noise=0.0, seed=0, censored=()) -> pd.DataFrame:
    """Synthetic ``multihop_thresholds`` rows: d* = 2 + slopes[(fmt, h)] log2 N (+ noise), for N in NS."""
    rng = np.random.default_rng(seed)
    rows = []
    for (fmt, h), b in slopes.items():
        for N in NS:
            d = 2.0 + b * math.log2(N) + noise * rng.standard_normal()
            cens = "above" if (fmt, h, N) in censored else ""
            rows.append(dict(data_format=fmt, n_subjects=N, n_relations=R, hops=h, d_star=d, censored=cens))
    return pd.DataFrame(rows)


def test_the_slope_and_its_standard_error_are_ordinary_least_squares():
    th = _thresholds({("no_cot", 1): 0.8}, noise=0.3, seed=3)
    fit = mha.growth_fits(th).iloc[0]
    x, y = np.log2(th["n_subjects"].to_numpy(float)), th["d_star"].to_numpy()
    (b, a), cov = np.polyfit(x, y, 1, cov=True)  # covariance scaled by RSS / (n - 2)
    assert fit["slope"] == pytest.approx(b) and fit["intercept"] == pytest.approx(a)
    assert fit["slope_se"] == pytest.approx(math.sqrt(cov[0, 0]))
    assert fit["n_points"] == 5 and (fit["N_min"], fit["N_max"]) == (64, 1024)
    assert fit["bound_slope"] == pytest.approx(2 / 2.0)  # R^h / p at R = 2, h = 1, p = 2


def test_censored_thresholds_are_left_out_and_too_few_points_give_no_slope():
    th = _thresholds({("cot", 2): 1.0}, censored={("cot", 2, 512), ("cot", 2, 1024)})
    fit = mha.growth_fits(th).iloc[0]
    assert fit["n_censored"] == 2 and fit["n_points"] == 3 and fit["N_max"] == 256
    assert fit["slope"] == pytest.approx(1.0) and fit["slope_se"] == pytest.approx(0.0, abs=1e-9)
    few = mha.growth_fits(th[th["n_subjects"] <= 128])
    assert few["n_points"].tolist() == [2] and math.isnan(few["slope"].iloc[0])
    assert mha.compare_growth(few).empty  # nothing to compare without slopes


def test_paths_prediction_for_no_cot_and_flatness_for_cot_are_recognised():
    """No CoT: slope doubles from h = 1 to h = 2 at R = 2 (R^(h-1)); CoT: the same slope at h = 1 and 2."""
    th = _thresholds({("no_cot", 1): 1.0, ("no_cot", 2): 2.0, ("cot", 1): 1.0, ("cot", 2): 1.0}, noise=0.05, seed=1)
    cmp = mha.compare_growth(mha.growth_fits(th)).set_index("data_format")
    assert cmp.loc["no_cot", "consistent_with_paths"] and cmp.loc["no_cot", "grows_with_h"]
    assert not cmp.loc["no_cot", "consistent_with_flat"]
    assert cmp.loc["no_cot", "ratio"] == pytest.approx(2.0, abs=0.15) and cmp.loc["no_cot", "predicted_ratio"] == 2
    assert cmp.loc["cot", "consistent_with_flat"] and not cmp.loc["cot", "grows_with_h"]
    assert not cmp.loc["cot", "consistent_with_paths"]


def test_the_comparison_fails_when_no_cot_does_not_grow_with_h():
    """A no-CoT slope flat in h must be rejected by the paths prediction: the test can fail."""
    th = _thresholds({("no_cot", 1): 1.0, ("no_cot", 2): 1.0, ("no_cot", 3): 1.0}, noise=0.05, seed=2)
    cmp = mha.compare_growth(mha.growth_fits(th)).set_index("hops")
    assert not cmp["consistent_with_paths"].any() and not cmp["grows_with_h"].any()
    assert cmp.loc[3, "predicted_ratio"] == 4 and cmp.loc[3, "z_paths"] < -2


def test_noisy_slopes_are_not_over_claimed():
    """With noise as large as the difference, neither hypothesis is rejected (wide standard errors)."""
    th = _thresholds({("no_cot", 1): 1.0, ("no_cot", 2): 1.5}, noise=1.5, seed=4)
    cmp = mha.compare_growth(mha.growth_fits(th)).iloc[0]
    assert cmp["consistent_with_paths"] and cmp["consistent_with_flat"] and not cmp["grows_with_h"]


def test_growth_inputs_are_checked():
    with pytest.raises(ValueError, match="d_star"):
        mha.growth_fits(pd.DataFrame({"n_subjects": [64]}))
    th = _thresholds({("cot", 1): 1.0})
    with pytest.raises(ValueError, match="min_points"):
        mha.growth_fits(th, min_points=2)
    with pytest.raises(ValueError, match="slope"):
        mha.compare_growth(th)
    with pytest.raises(ValueError, match="z"):
        mha.compare_growth(mha.growth_fits(th), z=0)


def test_bound_crossings_find_the_first_n_at_the_per_entity_bound():
    th = _thresholds({("no_cot", 2): 1.0, ("cot", 2): 0.5})
    bound = {"no_cot": 10.0, "cot": 100.0}  # no CoT: d* = 2 + log2 N is 8, 9, 10, 11, 12: at the bound from N = 256
    th["per_entity_bound_d"] = [bound[f] for f in th["data_format"]]
    cross = mha.bound_crossings(th).set_index("data_format")
    assert cross.loc["no_cot", "N_first_at_bound"] == 256 and cross.loc["no_cot", "n_below"] == 2
    assert not cross.loc["no_cot", "below_at_largest_N"]
    assert cross.loc["cot", "N_first_at_bound"] == -1 and cross.loc["cot", "below_at_largest_N"]
    with pytest.raises(ValueError, match="per_entity_bound_d"):
        mha.bound_crossings(_thresholds({("cot", 2): 0.5}))


def test_the_growth_figure_draws_each_h_with_its_fit_and_marks_censored_points():
    from georecall.plot import multihop_growth as mhp
    from georecall.theory import multihop as mt

    th = _thresholds({("no_cot", 1): 0.5, ("no_cot", 2): 1.5, ("cot", 2): 0.5}, censored={("no_cot", 2, 1024)})
    th = th.assign(max_steps=8192, shared=False)
    fits = mha.growth_fits(th)
    dims = pd.concat([mt.dimension_table(N, [2], [1, 2]) for N in NS])
    fig = mhp.plot_growth(dims, th, fits, R=2)
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["h=1", "h=2"]
    visible = [t for t, v in zip(fig.data, steps[1].args[0]["visible"]) if v]
    fitted = [t for t in visible if t.name.startswith("fit, without CoT")]
    assert len(fitted) == 1 and "1.50 ± 0.00 per doubling" in fitted[0].name  # the exact synthetic slope
    trained = next(t for t in visible if t.name == "trained d*, without CoT")
    assert list(trained.marker.symbol).count("circle-open") == 1  # the censored N = 1024 point
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"


def test_the_held_out_summary_averages_seeds_and_compares_with_chance():
    rows = [
        dict(data_format=fmt, early_stop=True, train_fraction=0.5, seed=s, max_steps=8192, weight_decay=0.0,
             heldout_accuracy=acc, train_accuracy=1.0, single_hop_accuracy=1.0, chance=1 / 64, n_heldout=128)
        for fmt, accs in (("no_cot", (0.0, 0.02, 0.04)), ("cot", (1.0, 1.0, 0.99)))
        for s, acc in enumerate(accs)
    ]  # fmt: skip
    sm = mha.heldout_summary(pd.DataFrame(rows)).set_index("data_format")
    assert sm.loc["no_cot", "heldout_mean"] == pytest.approx(0.02) and sm.loc["no_cot", "heldout_min"] == 0.0
    assert not sm.loc["no_cot", "above_chance"] and sm.loc["cot", "above_chance"]
    assert sm.loc["cot", "training"] == "stopped at 99%" and sm.loc["cot", "n_seeds"] == 3
    from georecall.plot import multihop_growth as mhp

    fig = mhp.plot_heldout(sm.reset_index(), N=64, R=2, h=2)
    assert [t.name for t in fig.data] == ["without CoT", "with CoT", "chance, 1/N = 1.6%"]
    with pytest.raises(ValueError, match="summary"):
        mhp.plot_heldout(pd.DataFrame({"x": [1]}), N=64, R=2, h=2)
