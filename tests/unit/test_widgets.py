import ipywidgets as W

from georecall import widgets


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
