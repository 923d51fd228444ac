"""Live explorers: ipywidgets controls that recompute with ``georecall`` and redraw with ``plots``.

Every explorer is built by :func:`explorer`: a row of controls, a message line, and an output area. A
control change calls ``render(**values)``; a ``ValueError`` (a bad combination of N, R, d ...) is shown as
a message in the widget instead of a traceback. Python callbacks need a kernel (Jupyter, Binder, Colab); the
static book shows each explorer's precomputed slider twin instead.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as W
from IPython.display import display

__all__ = ["explorer", "log2_slider", "int_slider"]


def log2_slider(description: str, value: int, lo_exp: int, hi_exp: int) -> W.SelectionSlider:
    """A slider over powers of two 2^lo_exp .. 2^hi_exp."""
    options = [2**e for e in range(lo_exp, hi_exp + 1)]
    return W.SelectionSlider(description=description, options=options, value=value, continuous_update=False)


def int_slider(description: str, value: int, lo: int, hi: int, step: int = 1) -> W.IntSlider:
    return W.IntSlider(description=description, value=value, min=lo, max=hi, step=step, continuous_update=False)


def explorer(controls: dict[str, W.ValueWidget], render: Callable[..., object], *, title: str = "") -> W.VBox:
    """Controls + a message line + an output area; ``render(**{name: value})`` returns what to display."""
    message = W.HTML()
    out = W.Output()

    def redraw(_change=None) -> None:
        values = {name: c.value for name, c in controls.items()}
        try:
            result = render(**values)
        except ValueError as err:  # bad parameter combination: say so, keep the last good figure
            message.value = f'<span style="color:#b00020">&#9888; {html.escape(str(err))}</span>'
            return
        message.value = ""
        out.clear_output(wait=True)
        with out:
            display(result)

    for c in controls.values():
        c.observe(redraw, names="value")
    redraw()
    header = [W.HTML(f"<b>{html.escape(title)}</b>")] if title else []
    return W.VBox([*header, W.HBox(list(controls.values()), layout=W.Layout(flex_flow="row wrap")), message, out])
