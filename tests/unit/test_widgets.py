import ipywidgets as W
import pytest

from georecall.explore import bijection as widgets
from georecall.train import loop as train


def test_explorer_shows_message_instead_of_traceback():
    calls = []

    def render(n):
        calls.append(n)
        if n < 2:
            raise ValueError(f"n must be >= 2, got {n}")
        return f"ok {n}"

    slider = W.IntSlider(value=3, min=0, max=5)
    box = widgets.explorer({"n": slider}, render)
    message, out = box.children[1], box.children[2]
    assert message.value == "" and calls == [3]
    assert [o["data"]["text/plain"] for o in out.outputs] == ["'ok 3'"]
    slider.value = 1
    assert "n must be &gt;= 2, got 1" in message.value
    assert [o["data"]["text/plain"] for o in out.outputs] == ["'ok 3'"], "a bad value must keep the last good output"
    slider.value = 4
    assert message.value == "" and calls[-1] == 4
    assert [o["data"]["text/plain"] for o in out.outputs] == ["'ok 4'"]


def test_log2_slider_options():
    s = widgets.log2_slider("N", 64, 4, 8)
    assert list(s.options) == [16, 32, 64, 128, 256] and s.value == 64


def test_construction_view_draws_accuracy_and_gates():
    fig = widgets.construction_view(64, 3, 40, 6, "dense", "gaussian")
    assert len(fig.data) == 2 and "accuracy" in fig.layout.title.text


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((64, 3, 20, 6, "block", "sign"), "below what the block construction needs"),
        ((128, 2, 40, 6, "block", "sign"), "fewer than N = 128"),
        ((64, 3, 9, 6, "dense", "gaussian"), "too small for the dense construction"),
    ],
)
def test_explorer_bad_combinations_raise_clear_messages(args, match):
    with pytest.raises(ValueError, match=match):
        widgets.construction_view(*args)


def test_explorer_widget_shows_message_for_bad_slider():
    panel = widgets.construction_explorer(N=64, R=2, d=20, k=6)
    controls = {c.description: c for c in panel.children[1].children}
    assert panel.children[2].value == ""
    controls["d"].value = 10  # < R*k + R + k = 20
    assert "below what the block construction needs" in panel.children[2].value
    controls["d"].value = 24  # padded blocks: fine again
    assert panel.children[2].value == ""


def test_construction_twin_is_a_slider_figure():
    fig = widgets.construction_twin(64, 2, [16, 40])
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 2 and len(fig.data) == 4
    assert all("title" not in s.args[1] and "title.text" in s.args[1] for s in steps)
    assert steps[0].args[1]["title.text"] != steps[1].args[1]["title.text"]


def test_train_live_is_the_book_recipe_and_refuses_big_tasks():
    from dataclasses import replace

    from georecall.tasks import bijection as tasks

    live = widgets.train_live(8, 2, 8, max_steps=64, eval_every=16)
    config = replace(train.BOOK_RECIPE, max_steps=64, eval_every=16)
    _, direct = train.fit(tasks.make_task(8, 2, seed=0), 8, config)
    assert live.history == direct.history
    with pytest.raises(ValueError, match="at most"):
        widgets.train_live(4096, 4, 8)


# --- every live panel: a control change puts a non-empty figure bundle below the controls -----------------------------

PLOTLY_MIME = "application/vnd.plotly.v1+json"


def _panel_parts(panel):
    """(controls by name, message line, output area) of an ``explorer`` panel (with or without its title line)."""
    *_, row, message, out = panel.children
    return {c.description: c for c in row.children}, message, out


def _figure_title(out) -> str:
    (output,) = out.outputs
    assert output["output_type"] == "display_data"
    data = output["data"]
    assert PLOTLY_MIME in data and "text/html" in data, f"no figure bundle in the panel, got {sorted(data)}"
    assert data[PLOTLY_MIME]["data"], "the figure bundle has no traces"
    return data[PLOTLY_MIME]["layout"]["title"]["text"]


def _next_value(control):
    """A different, valid value for any control of the panels (slider, selection slider, dropdown, checkbox)."""
    if isinstance(control, W.Checkbox):
        return not control.value
    if isinstance(control, (W.SelectionSlider, W.Dropdown)):
        options = list(control.options)
        return options[(options.index(control.value) + 1) % len(options)]
    return control.value - control.step if control.value + control.step > control.max else control.value + control.step


def _panels():
    from georecall.explore import disjoint as disjoint_widgets
    from georecall.explore import multihop as multihop_widgets
    from georecall.explore import probing as widgets_probing

    return {
        "budget": (lambda: widgets.budget_explorer(), "R"),
        "training": (lambda: widgets.training_explorer(N=8, R=1, d=8, max_steps=32), "d"),
        "construction": (lambda: widgets.construction_explorer(N=64, R=2, d=40, k=6), "placement"),
        "capacity": (lambda: widgets.capacity_inspector(N=8, R=1, d=4, max_steps=32), "frozen W_E, W_U"),
        "probing": (lambda: widgets_probing.probe_explorer(N=16, R=1, d=4), "recipe"),
        "multi-hop": (lambda: multihop_widgets.multihop_explorer(N=16, R=2, h=1, d=32), "h"),
        "disjoint": (lambda: disjoint_widgets.construction_explorer(S=16, R=2, D=2), "D"),
    }


@pytest.mark.parametrize("name", list(_panels()))
def test_every_panel_redraws_its_figure_below_the_controls(name):
    from georecall.plot import style as plotstyle

    plotstyle.setup()
    make, control_name = _panels()[name]
    panel = make()
    controls, message, out = _panel_parts(panel)
    before = _figure_title(out)
    control = controls[control_name]
    control.value = _next_value(control)
    assert message.value == "", f"{name}: {message.value}"
    after = _figure_title(out)
    assert after != before, f"{name}: changing {control_name!r} left the figure's title unchanged ({before!r})"


def test_figure_bundle_does_not_depend_on_the_default_renderer():
    import plotly.graph_objects as go
    import plotly.io as pio

    old = pio.renderers.default
    try:
        pio.renderers.default = "browser"  # a renderer that opens a window and returns no bundle
        bundle = widgets.display_bundle(go.Figure(go.Scatter(y=[1, 2]), layout=dict(title=dict(text="t"))))
    finally:
        pio.renderers.default = old
    assert bundle["data"][PLOTLY_MIME]["layout"]["title"]["text"] == "t"


def test_figure_bundle_is_valid_json_with_nan_as_null():
    """A live figure with undefined points (NaN) reaches the kernel's message as strict JSON, the NaN as null."""
    import json

    import plotly.graph_objects as go

    bundle = widgets.display_bundle(go.Figure(go.Scatter(x=[0, 1, 2], y=[float("nan"), 0.5, float("inf")])))
    text = json.dumps(bundle["data"][PLOTLY_MIME], allow_nan=False)  # raises on a raw NaN
    assert json.loads(text)["data"][0]["y"] == [None, 0.5, None]


def test_panel_shows_a_static_notice_where_no_kernel_draws_widgets():
    bundle = widgets.budget_explorer()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "needs a running Python kernel" in bundle["text/html"]


def test_control_changes_in_a_running_loop_redraw_once_after_the_burst():
    import asyncio

    calls = []

    def render(n):
        calls.append(n)
        return f"n = {n}"

    async def gesture():
        slider = W.IntSlider(value=0, min=0, max=10)
        box = widgets.explorer({"n": slider}, render, debounce_s=0.05)
        for v in (1, 2, 3, 4):  # four arrow-key steps
            slider.value = v
            await asyncio.sleep(0.01)
        assert "redrawing" in box.children[1].value
        await asyncio.sleep(0.2)
        return box

    box = asyncio.run(gesture())
    assert calls == [0, 4], f"one redraw per burst, with the last value; got renders for {calls}"
    assert box.children[1].value == "" and box.children[2].outputs[0]["data"]["text/plain"] == "'n = 4'"


def test_scheduled_redraw_shows_unexpected_errors_in_the_panel():
    import asyncio

    def render(n):
        if n == 1:
            raise RuntimeError("boom")
        return n

    async def change():
        slider = W.IntSlider(value=0, min=0, max=2)
        box = widgets.explorer({"n": slider}, render, debounce_s=0.01)
        slider.value = 1
        await asyncio.sleep(0.1)
        return box

    box = asyncio.run(change())
    assert "RuntimeError: boom" in box.children[1].value
