import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from georecall.construct import bijection as constructions
from georecall.construct import views as chapters
from georecall.plot import bijection as plots
from georecall.plot import capacity as plots_capacity
from georecall.plot import construction as plots_construction
from georecall.plot import style as plotstyle
from georecall.tasks import bijection as tasks
from georecall.theory import bijection as theory


def _steps(n=3):
    return [
        plots.SliderStep(label=str(i), traces=[go.Scatter(x=[0, 1], y=[i, i]), go.Scatter(x=[0], y=[i])], title=f"t{i}")
        for i in range(n)
    ]


def test_setup_renderer_emits_mimetype_and_offline_html():
    plots.setup()
    assert pio.templates.default == "georecall"
    bundle = pio.renderers[pio.renderers.default].to_mimebundle(go.Figure(go.Scatter(x=[1], y=[2])).to_dict())
    assert set(bundle) == {"application/vnd.plotly.v1+json", "text/html"}
    html = bundle["text/html"]
    assert "Plotly.newPlot" in html
    # the static book serves plotly.js and MathJax itself: a figure must load neither, from anywhere
    for forbidden in ("<script src", "cdn.plot.ly", "mathjax", "MathJax.js", "require(", 'import "'):
        assert forbidden not in html, forbidden
    assert '"typesetMath": false' in html and '"responsive": true' in html


def test_slider_figure_toggles_visibility_and_uses_title_text():
    shared = [go.Scatter(x=[0, 1], y=[5, 5], name="bound")]
    fig = plots.slider_figure(_steps(), slider_label="N", active=1, shared_traces=shared)
    assert len(fig.data) == 1 + 6
    assert [t.visible for t in fig.data] == [True, False, False, True, True, False, False]
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 3
    for i, step in enumerate(steps):
        layout_args = step.args[1]
        assert "title" not in layout_args and layout_args["title.text"] == f"t{i}"
        visible = step.args[0]["visible"]
        assert visible[0] is True and sum(visible) == 3
    assert fig.layout.title.text == "t1"


def test_slider_figure_rejects_empty_and_bad_active():
    with pytest.raises(ValueError, match="at least one step"):
        plots.slider_figure([], slider_label="N")
    with pytest.raises(ValueError, match="active must be in"):
        plots.slider_figure(_steps(2), slider_label="N", active=2)


def test_training_history_figure():
    fig = plots.plot_training_history({"step": [0, 10], "loss": [2.0, 0.1], "accuracy": [0.1, 1.0]})
    assert isinstance(fig, go.Figure) and len(fig.data) == 2
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_color_for_R_is_fixed_and_distinct_for_the_book_relations():
    Rs = (1, 2, 4, 8, 16)
    colours = [plots.color_for_R(R) for R in Rs]
    assert len(set(colours)) == len(Rs), f"two relation counts share a colour: {dict(zip(Rs, colours))}"
    assert colours == [plots.color_for_R(R) for R in Rs], "colours must not depend on call order"
    assert all(c.startswith("#") and len(c) == 7 for c in colours)


def test_chapter_plots_return_figures():
    rec = constructions.block_recipe(16, 3)
    task = tasks.make_task(16, 3, seed=0)
    parts = chapters.superposition_parts(rec, task.perms, 2)
    figs = [
        plots_construction.plot_codes(rec.codes.tolist()),
        plots_construction.plot_superposition(
            parts.tolist(), parts.sum(0).tolist(), row_labels=["a", "b", "c", "sum"], title="t", block=4
        ),
    ]
    dense = pd.DataFrame(chapters.dense_accuracy_sweep(64, 2, [24, 48]))
    bounds = pd.DataFrame(theory.memory_budget([64], 2))
    fig = plots_construction.plot_dense_accuracy(dense, bounds)
    assert fig.layout.xaxis.type == "log" and len(fig.layout.sliders[0].steps) == 1
    budget = pd.DataFrame(theory.memory_budget(2 ** np.arange(6, 12), 2))
    built = chapters.built_param_counts([64, 256], R=2)
    figs += [fig, plots_construction.plot_parameter_comparison(budget, built)]
    assert all(isinstance(f, go.Figure) for f in figs)


# --- layout helpers: log axes, titles, legends, palette ---------------------------------------------------------


def test_log_axis_has_major_labels_only():
    axis = plotstyle.log_axis("N", [64, 128, 256, 512, 1024])
    assert axis["type"] == "log" and axis["tickvals"] == [64.0, 128.0, 256.0, 512.0, 1024.0]
    assert axis["ticktext"] == ["64", "128", "256", "512", "1024"]
    wide = plotstyle.log_axis("N", [16, 2**20])  # 17 powers of two: every second one
    assert len(wide["tickvals"]) <= 9 and all(v & (v - 1) == 0 for v in map(int, wide["tickvals"]))
    assert plotstyle.log_axis("weights", base=10)["dtick"] == 1  # decades only
    with pytest.raises(ValueError, match="base"):
        plotstyle.log_axis("x", [1, 2], base=3)


def test_wrap_keeps_lines_short_and_words_whole():
    text = "Threshold d* (2 of 3 seeds reach 99%) against R·log₂N, with a long tail of words"
    lines = plotstyle.wrap(text, width=30).split("<br>")
    assert len(lines) > 1 and all(len(line) <= 30 for line in lines)
    assert " ".join(lines) == text
    with pytest.raises(ValueError, match="width"):
        plotstyle.wrap(text, width=3)


def test_legend_below_reserves_a_band_that_grows_with_entries():
    def fig_with(n):
        return go.Figure([go.Scatter(x=[1], y=[1], name=f"a fairly long legend entry {i}") for i in range(n)])

    small, large = plotstyle.legend_below(fig_with(2), plot_px=300), plotstyle.legend_below(fig_with(8), plot_px=300)
    for fig in (small, large):
        assert fig.layout.legend.yref == "container" and fig.layout.legend.y == 0
        assert fig.layout.height == 300 + fig.layout.margin.t + fig.layout.margin.b  # the plot keeps 300 px
    assert large.layout.margin.b > small.layout.margin.b
    assert plotstyle.legend_rows(["x" * 10] * 3, width_px=10_000) == 1


def test_palette_has_no_red_green_pair_and_R_colours_differ():
    colours = [plots.color_for_R(R) for R in (1, 2, 4, 8, 16)]
    assert len(set(colours)) == 5
    assert "#d62728" not in colours and "#2ca02c" not in colours  # plotly's default red and green
    with pytest.raises(ValueError, match="R must be"):
        plots.color_for_R(0)


def test_slider_titles_are_wrapped_for_narrow_screens():
    long = "A title that is much too long to fit on one line of a phone screen, so it must wrap"
    steps = [plots.SliderStep(label=str(i), traces=[go.Scatter(x=[0], y=[i])], title=long) for i in range(2)]
    fig = plots.slider_figure(steps, slider_label="N")
    assert "<br>" in fig.layout.title.text
    assert all("<br>" in s.args[1]["title.text"] for s in fig.layout.sliders[0].steps)


def test_short_log_axis_still_has_labels():
    axis = plotstyle.log_axis("loss", [0.4, 3.0], base=10)  # less than a decade: no decade tick inside
    assert axis["tickvals"] == [0.5, 1.0, 2.0] and axis["ticktext"] == ["0.5", "1", "2"]
    fig = plots.plot_training_history({"step": [0, 10, 20], "loss": [3.0, 1.0, 0.4], "accuracy": [0.0, 0.5, 1.0]})
    assert list(fig.layout.yaxis.tickvals) == [0.5, 1.0, 2.0]


def test_training_slider_shares_one_loss_range_with_labels():
    runs = [
        (4, {"step": [0, 1], "loss": [5.0, 1.2], "accuracy": [0, 0.6]}, 0.6),
        (32, {"step": [0, 1], "loss": [5.0, 0.01], "accuracy": [0, 1]}, 1.0),
    ]
    fig = plots.plot_training_by_d(runs, N=8, R=2)
    lo, hi = fig.layout.yaxis.range
    assert lo < -1.99 and hi > 0.69  # log10 of 0.01 and 5: both runs fit, and decades 0.01, 0.1, 1 are inside


def test_threshold_scaling_draws_the_real_counting_bound_per_line():
    from georecall.analyse import bijection as analysis

    rows = [
        dict(data_format="single_hop", freeze_embed=False, n_subjects=N, n_relations=R, d_model=d, seed=s, accuracy=1.0)
        for N, R, d in ((64, 2, 4), (256, 4, 8), (1024, 4, 9))
        for s in range(3)
    ]
    th = analysis.thresholds(pd.DataFrame(rows))
    fig = plots_capacity.plot_threshold_scaling(th, analysis.fit_line(th["R_log2_N"], th["d_star"]))
    bound = next(t for t in fig.data if t.name == "counting bound, p = 2")
    expected = [theory.counting_bound_d(N, R, 2.0) for N, R in ((64, 2), (256, 4), (1024, 4))]
    assert np.allclose(bound.y, expected) and fig.layout.xaxis.type != "log"
    per_entity = next(t for t in fig.data if t.name == "per-entity bound, p = 2")
    assert per_entity.y[-1] == pytest.approx(per_entity.x[-1] / 2)
