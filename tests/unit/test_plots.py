import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from georecall import chapters, constructions, plots, tasks, theory


def _steps(n=3):
    return [
        plots.SliderStep(label=str(i), traces=[go.Scatter(x=[0, 1], y=[i, i]), go.Scatter(x=[0], y=[i])], title=f"t{i}")
        for i in range(n)
    ]


def test_setup_sets_renderer_that_myst_nb_can_show():
    plots.setup()
    assert "notebook_connected" in pio.renderers.default
    assert pio.templates.default == "georecall"


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
        plots.plot_codes(rec.codes.tolist()),
        plots.plot_superposition(
            parts.tolist(), parts.sum(0).tolist(), row_labels=["a", "b", "c", "sum"], title="t", block=4
        ),
    ]
    dense = pd.DataFrame(chapters.dense_accuracy_sweep(64, 2, [24, 48]))
    bounds = pd.DataFrame(theory.memory_budget([64], 2))
    fig = plots.plot_dense_accuracy(dense, bounds)
    assert fig.layout.xaxis.type == "log" and len(fig.layout.sliders[0].steps) == 1
    budget = pd.DataFrame(theory.memory_budget(2 ** np.arange(6, 12), 2))
    built = chapters.built_param_counts([64, 256], R=2)
    figs += [fig, plots.plot_parameter_comparison(budget, built)]
    assert all(isinstance(f, go.Figure) for f in figs)
