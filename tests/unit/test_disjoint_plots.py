"""The appendix's figures, its explorer's render and the construction's margin summary."""

import pandas as pd
import pytest

from georecall.construct import disjoint as dc
from georecall.explore import disjoint as disjoint_widgets
from georecall.plot import disjoint as disjoint_plots


def test_construction_margins_counts_every_fact_with_the_stated_minimum():
    out = dc.construction_margins(40, 3, 5)
    assert out["accuracy"] == 1.0 and out["n_facts"] == 120 and sum(out["counts"]) == 120
    assert out["min_margin"] == pytest.approx(2 / 3) and out["recipe"].d_model == 3 * 3 + 3 + 3
    assert len(out["edges"]) == len(out["counts"]) + 1
    with pytest.raises(ValueError, match="n_answers"):
        dc.construction_margins(40, 3, 0)


def test_figures_take_tables_and_return_figures():
    ds = pd.DataFrame(
        dict(
            S=[256, 256],
            R=[1, 4],
            D=[2, 8],
            d_star=[2, 5],
            d_fail=[1, None],
            R_log2_D=[1.0, 12.0],
            construction_d=[3, 19],
            counting_d_p2=[0.5, 4.8],
        )
    )
    fig = disjoint_plots.plot_dstar_vs_rlogd(ds)
    assert len(fig.data) == 4 and list(fig.data[0].y) == [2]
    both = pd.DataFrame(
        dict(
            setting=["a", "a", "b", "b"],
            S=[64, 128, 64, 128],
            d_star=[5, 5, 5, 7],
            censored="",
            R_log2_answers=[12.0, 12.0, 24.0, 28.0],
        )
    )
    assert len(disjoint_plots.plot_shared_vs_disjoint(both).data) == 4
    rows = pd.DataFrame(dict(label=["x", "x"], facts=[64, 128], judged_mean=[1.0, 0.5], n_ok=[2, 0], n_seeds=[2, 2]))
    assert len(disjoint_plots.plot_frozen_control(rows).data) == 1
    views = [(D, [0, 3], [0.0, 0.5, 1.0], 1.0, f"D={D}") for D in (2, 4)]
    fig = disjoint_plots.plot_margin_slider(views)
    assert len(fig.layout.sliders[0].steps) == 2


def test_explorer_render_draws_one_construction():
    fig = disjoint_widgets.margin_view(32, 2, 4)
    assert "accuracy 100.0%" in fig.layout.title.text.replace("<br>", " ") and sum(fig.data[0].y) == 64
