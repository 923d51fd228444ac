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
