"""Chapter 6's figures and live explorer: built from the constructions and closed forms, with the documented traces,
slider steps and errors; the CoT gate picture of the construction."""

import pandas as pd
import pytest

from georecall import repro
from georecall.construct import multihop as mc
from georecall.explore import multihop as multihop_widgets
from georecall.model import multihop
from georecall.plot import multihop as multihop_plots
from georecall.tasks import bijection as tasks
from georecall.theory import multihop as mt


@pytest.fixture(autouse=True)
def _one_thread():
    with repro.torch_threads(1):
        yield


def test_cot_gate_steps_fire_only_the_queried_relation():
    task = tasks.make_task(16, 3, seed=1)
    path = [2, 0, 1]
    blocks, decoded = multihop.cot_gate_steps(mc.build_cot(task, 3), task, 7, path)
    assert tuple(blocks.shape) == (3, 3)
    assert decoded.tolist() == multihop.chain(task, [7], [path])[0].tolist()
    for i, r in enumerate(path):
        assert blocks[i, r] > 0 and float(blocks[i].sum() - blocks[i, r]) == 0.0
    with pytest.raises(ValueError, match="unknown relation"):
        multihop.cot_gate_steps(mc.build_cot(task, 3), task, 7, [3, 0, 1])
    with pytest.raises(ValueError, match="n_ctx"):
        multihop.cot_gate_steps(mc.build_cot(task, 1), task, 7, path)


def _th():
    return pd.DataFrame(
        dict(
            data_format=["no_cot", "no_cot", "cot"],
            hops=[1, 2, 2],
            d_star=[3, 6, 64],
            censored=["", "", "above"],
            max_steps=8192,
        )
    )


def test_tradeoff_figure_has_a_step_per_R_and_marks_censored_points():
    steps = [(str(R), mt.dimension_table(64, [R], range(1, 5)), _th(), f"R = {R}") for R in (2, 3)]
    fig = multihop_plots.plot_tradeoff(steps)
    assert len(fig.layout.sliders[0].steps) == 2
    measured = [t for t in fig.data if t.name and t.name.startswith("trained d*, with CoT")]
    assert measured and list(measured[0].marker.symbol) == ["circle-open"]
    assert "not reached within 8192 steps" in measured[0].customdata[0]


def test_accuracy_slider_and_sizes_twin():
    curves = pd.DataFrame(
        dict(
            data_format=["no_cot", "cot"],
            n_subjects=64,
            n_relations=2,
            hops=2,
            d_model=[6, 4],
            accuracy_mean=[0.99, 1.0],
            accuracy_min=[0.98, 1.0],
            accuracy_max=[1.0, 1.0],
            n_ok=[2, 3],
            n_seeds=3,
        )
    )
    fig = multihop_plots.plot_multihop_accuracy_slider(curves, [(2, 2), (2, 3)], N=64)
    assert len(fig.layout.sliders[0].steps) == 2 and len(fig.data) == 2
    twin = multihop_plots.plot_sizes_slider(multihop_widgets.sizes_twin_steps(256, [2, 4], 128), slider_label="R")
    assert len(twin.layout.sliders[0].steps) == 2
    with pytest.raises(ValueError, match="format"):
        multihop_plots.tradeoff_traces(mt.dimension_table(64, [2], [1]), _th().assign(data_format="chain"))


def test_explorer_view_builds_small_sizes_and_refuses_bad_input():
    fig = multihop_widgets.multihop_view(16, 2, 2, 32)
    assert "accuracy 100.0%" in fig.layout.title.text
    big = multihop_widgets.multihop_view(1024, 4, 3, 64)
    assert "builds skipped" in big.layout.title.text
    with pytest.raises(ValueError, match="h \\(hops\\)"):
        multihop_widgets.multihop_view(16, 2, 5, 32)
    with pytest.raises(ValueError, match="N \\(n_subjects\\)"):
        multihop_widgets.multihop_view(1, 2, 1, 32)


def test_live_figure_log_axis_range_holds_its_data_and_the_d_label():
    import math

    dims = mt.dimension_table(64, [2], range(1, 5))
    fig = multihop_plots.plot_sizes(dims, 64, 2, title="t")
    lo, hi = fig.layout.yaxis.range
    values = [v for trace in fig.data for v in trace.y if v]
    assert fig.layout.yaxis.type == "log" and math.isfinite(lo) and math.isfinite(hi)
    assert lo <= math.log10(min(values)) and hi >= math.log10(max(values)), "the range must hold every curve"
    assert hi - lo < 4, f"range {lo:.2f}..{hi:.2f} (log10) stretched far beyond the data"
    (label,) = fig.layout.annotations
    assert label.y == math.log10(64) and lo <= label.y <= hi, "the d label is placed in log10 units, inside the range"
