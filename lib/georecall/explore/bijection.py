"""Live explorers: ipywidgets controls that recompute with ``georecall`` and redraw with ``georecall.plot``.

Every explorer is built by :func:`explorer`: a row of controls, a message line, and an output area. A
control change calls ``render(**values)``; a ``ValueError`` (a bad combination of N, R, d ...) is shown as
a message in the widget instead of a traceback. Python callbacks need a kernel (Jupyter, Binder, Colab); the
static book shows each explorer's precomputed slider twin instead.
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Callable
from dataclasses import replace

import ipywidgets as W
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from IPython.core.formatters import format_display_data

from .. import repro
from .._checks import ArgumentTypeError, check_bool, check_float, check_int
from ..construct import views as chapters
from ..plot import bijection as plots
from ..plot import construction as plots_construction
from ..tasks import bijection as tasks
from ..theory import bijection as theory
from ..train import loop as train

__all__ = ["Explorer", "explorer", "display_bundle", "log2_slider", "int_slider", "train_live"]

LIVE_MAX_FACTS = 8192  # the live explorers train at most this many facts (N*R), so a redraw never stalls a kernel


def log2_slider(description: str, value: int, lo_exp: int, hi_exp: int) -> W.SelectionSlider:
    """A slider over powers of two 2^lo_exp .. 2^hi_exp; ``value`` must be one of them."""
    options = [2**e for e in range(check_int("lo_exp", lo_exp, 0), check_int("hi_exp", hi_exp, lo_exp) + 1)]
    check_int(f"{description}: value", value, options[0], options[-1])  # a bool is not a slider position
    if value not in options:
        raise ValueError(f"{description}: value must be a power of two in [{options[0]}, {options[-1]}], got {value!r}")
    return W.SelectionSlider(description=description, options=options, value=value, continuous_update=False)


def int_slider(description: str, value: int, lo: int, hi: int, step: int = 1) -> W.IntSlider:
    """An integer slider lo .. hi in steps of ``step`` (ints, not bools), starting at ``value``."""
    check_int(f"{description}: lo", lo, -(2**53))
    check_int(f"{description}: value", value, lo, check_int(f"{description}: hi", hi, lo))
    check_int(f"{description}: step", step, 1)
    return W.IntSlider(description=description, value=value, min=lo, max=hi, step=step, continuous_update=False)


STATIC_NOTICE = (
    '<div class="georecall-static-panel"><b>Live panel: needs a running Python kernel.</b> Open this chapter in '
    "Jupyter (<code>make lab</code>, or a launch button at the top of the page) and run its cells to move the "
    "panel's controls. Every figure on this page is precomputed and works without a kernel.</div>"
)
PLOTLY_MIME = "application/vnd.plotly.v1+json"
DEBOUNCE_S = 0.4  # a burst of control changes closer than this (arrow-key steps, a drag) redraws once


def display_bundle(result: object) -> dict:
    """The ``display_data`` output that shows ``result`` in an ``Output`` widget.

    A plotly figure gives its own mimebundle (plotly's JSON, which JupyterLab and VS Code draw, and the HTML twin of
    ``plot.setup``); anything else goes through IPython's formatters. An object that only displays itself
    (``_ipython_display_``) yields an empty bundle there, having printed into whatever cell is current: ``TypeError``.
    """
    if isinstance(result, go.Figure):
        data = result._repr_mimebundle_()  # the current renderer's bundle (``plot.setup``: JSON + HTML twin)
        if PLOTLY_MIME not in data:  # a renderer that opens a browser or writes a file yields none of it
            data = {**data, **pio.renderers["plotly_mimetype"].to_mimebundle(result.to_dict())}
        # through plotly's own encoder: NaN and infinities become null (a gap in a line), so the kernel's message is
        # valid JSON (a raw NaN makes jupyter_client warn and the frontend may drop the figure)
        data = {**data, PLOTLY_MIME: json.loads(pio.json.to_json_plotly(data[PLOTLY_MIME]))}
    else:
        data, _ = format_display_data(result)
    if not data:
        raise TypeError(f"render returned a {type(result).__name__} with an empty display bundle")
    return {"output_type": "display_data", "data": data, "metadata": {}}


class Explorer(W.VBox):
    """A live panel: a title, a row of controls, a message line and an output area (``children[0..3]``; without a
    title, ``children[0..2]``).

    In a kernel-backed front end (JupyterLab, VS Code, Colab) the widget view is drawn. Its ``text/html``
    alternative, :data:`STATIC_NOTICE`, is what a page without a kernel shows instead (the book prefers HTML to
    widget views), so the static book says the panel needs a kernel and Jupyter never mentions a static page.
    """

    CSS_CLASS = "georecall-explorer"  # on the panel's DOM node, so a browser test can find every panel

    def __init__(self, children=(), **kwargs):
        super().__init__(children, **kwargs)
        self.add_class(self.CSS_CLASS)

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        return {**bundle, "text/html": STATIC_NOTICE}


def _error_html(text: str) -> str:
    return f'<span style="color:#b00020">&#9888; {html.escape(text)}</span>'


def explorer(
    controls: dict[str, W.ValueWidget],
    render: Callable[..., object],
    *,
    title: str = "",
    debounce_s: float = DEBOUNCE_S,
) -> Explorer:
    """Controls + a message line + an output area; ``render(**{name: value})`` returns the figure to display.

    The first figure is drawn at once, into the output area below the controls. After that, a control change marks
    the panel "redrawing" and schedules one redraw ``debounce_s`` seconds later on the kernel's event loop; a further
    change within that time reschedules it, so a burst of changes (several arrow-key steps) computes once, with the
    last values. Without a running event loop (a plain Python session, the tests) the redraw happens at once.
    A ``ValueError`` from ``render`` (a bad combination of N, R, d ...) is shown in the message line and keeps the last
    good figure; in a scheduled redraw any other exception is shown there too, since no cell would show it.
    """
    check_float("debounce_s", debounce_s, 0.0, 10.0)
    if not callable(render):
        raise ArgumentTypeError(f"render must be callable, got {type(render).__name__}")
    message = W.HTML()
    out = W.Output()
    pending: list[asyncio.TimerHandle] = []

    def redraw(*, deferred: bool = False) -> None:
        values = {name: c.value for name, c in controls.items()}
        try:
            bundle = display_bundle(render(**values))
        except ValueError as err:  # bad parameter combination: say so, keep the last good figure
            message.value = _error_html(str(err))
            return
        except Exception as err:
            if not deferred:
                raise
            message.value = _error_html(f"{type(err).__name__}: {err}")
            return
        message.value = ""
        # Set the Output's state (never capture with `with out:`: capture routes kernel messages through the Output
        # widget, which intermittently left nbclient waiting forever).
        out.outputs = (bundle,)

    def schedule(_change=None) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: redraw now
            redraw()
            return
        while pending:
            pending.pop().cancel()
        message.value = '<span style="color:#666666">redrawing&hellip;</span>'
        pending.append(loop.call_later(debounce_s, lambda: redraw(deferred=True)))

    for c in controls.values():
        c.observe(schedule, names="value")
    redraw()
    header = [W.HTML(f"<b>{html.escape(title)}</b>")] if title else []
    row = W.HBox(list(controls.values()), layout=W.Layout(flex_flow="row wrap"))
    return Explorer([*header, row, message, out])


# --- Chapter 1: the random-bijection task ------------------------------------------------------------------


def budget_explorer(*, N: int = 1024, R: int = 4) -> W.VBox:
    """Sliders for N and R over the information content and the weights each regime spends."""
    Ns = 2 ** np.arange(4, 21)

    def render(N: int, R: int, p: float):
        table = pd.DataFrame(theory.memory_budget(Ns, R, bits_per_param=p))
        return plots.plot_memory_budget_at(table, N, R)

    controls = {
        "N": log2_slider("N", N, 4, 20),
        "R": int_slider("R", R, 1, 32),
        "p": W.FloatSlider(description="bits/weight p", value=2.0, min=0.5, max=8.0, step=0.5, continuous_update=False),
    }
    return explorer(controls, render, title="Information in R bijections vs. weights spent")


def train_live(
    N: int,
    R: int,
    d: int,
    *,
    freeze_embed: bool = False,
    max_steps: int = train.BOOK_RECIPE.max_steps,
    eval_every: int = train.BOOK_RECIPE.eval_every,
) -> train.TrainResult:
    """Train one fresh single-hop model (width d, d_mlp = 4d, init seed 0) on all facts of ``make_task(N, R, 0)``
    with the book recipe (``train.BOOK_RECIPE``, here with ``max_steps`` and ``eval_every`` as given), on one
    torch thread; the one live-training path of the explorers. Refuses N*R > ``LIVE_MAX_FACTS``."""
    check_int("N", N, 2)
    check_int("R", R, 1)
    check_int("d", d, 1)
    check_bool("freeze_embed", freeze_embed)
    if N * R > LIVE_MAX_FACTS:
        raise ValueError(f"the live explorers train at most {LIVE_MAX_FACTS} facts; N*R = {N * R}")
    task = tasks.make_task(N, R, seed=0)
    config = replace(train.BOOK_RECIPE, max_steps=max_steps, eval_every=eval_every)
    with repro.torch_threads(1):  # tiny models: one thread is fastest and avoids oversubscribing a busy machine
        return train.fit(task, d, config, freeze_embed=freeze_embed)[1]


def training_explorer(
    *, N: int = 64, R: int = 4, d: int = 16, max_steps: int = train.BOOK_RECIPE.max_steps, eval_every: int = 2
) -> W.VBox:
    """Sliders for N, R and d: train a fresh model on all N*R facts (:func:`train_live`) and draw its loss and
    accuracy, evaluated every ``eval_every`` steps (the run stops at the first evaluation at the recipe's target
    accuracy, so a short cadence keeps the curve dense)."""

    def render(N: int, R: int, d: int):
        result = train_live(N, R, d, max_steps=max_steps, eval_every=eval_every)
        bits = theory.bits_per_parameter(N, R, d)
        title = (
            f"N={N}, R={R}, d={d}: accuracy {result.accuracy:.1%} after {result.steps} steps "
            f"({bits:.2f} bits per embedding weight)"
        )
        return plots.plot_training_history(result.history, title=title)

    controls = {"N": log2_slider("N", N, 3, 10), "R": int_slider("R", R, 1, 8), "d": log2_slider("d", d, 1, 7)}
    return explorer(controls, render, title="Train a one-layer transformer on every fact")


# --- Chapter 2: the superposition construction ---------------------------------------------------------------


def construction_view(N: int, R: int, d: int, k: int, placement: str, codes: str, *, subject: int = 0):
    """Build the chosen construction, score it through the model and draw the gate picture and the margins.

    The render function of :func:`construction_explorer` (also what its latency benchmark times).
    Raises ``ValueError`` for combinations the construction cannot take (shown as a message in the widget).
    """
    with repro.torch_threads(1):  # a redraw is small work: one thread answers fastest
        snap = chapters.snapshot(N, R, placement=placement, d_model=d, k=k, codes=codes, subject=subject)
    ev, rec = snap.evaluation, snap.recipe
    scope = f"{ev.n_facts} sampled facts" if snap.sampled else f"all {ev.n_facts} facts"
    title = (
        f"{rec.kind}, {rec.code_kind} codes, N={N}, R={R}, k={rec.k}, d={rec.d_model}, m={rec.d_mlp}: "
        f"accuracy {ev.accuracy:.1%} on {scope}, min margin {ev.min_margin:.3f}"
    )
    return plots_construction.plot_construction_view(
        snap.activations.tolist(), snap.margin_counts, snap.margin_edges, k=rec.k, title=title
    )


def construction_explorer(
    *, N: int = 1024, R: int = 8, d: int = 98, k: int = 10, placement: str = "block", codes: str = "sign"
) -> W.VBox:
    """Sliders for N, R, d and the code length k, and menus for the placement (block / dense) and the codes
    (sign / gaussian): every change rebuilds the construction and redraws accuracy and the gate picture."""
    controls = {
        "N": log2_slider("N", N, 2, 14),
        "R": int_slider("R", R, 1, 16),
        "d": int_slider("d", d, 4, 1024),
        "k": int_slider("k (code)", k, 1, 48),
        "placement": W.Dropdown(description="placement", options=["block", "dense"], value=placement),
        "codes": W.Dropdown(description="codes", options=["sign", "gaussian"], value=codes),
    }
    return explorer(controls, construction_view, title="The hand-built construction: gates and margins")


def construction_twin(
    N: int,
    R: int,
    d_values,
    *,
    placement: str = "dense",
    k: int | None = None,
    codes: str = "gaussian",
    subject: int = 0,
):
    """Static twin of :func:`construction_explorer`: one slider step per d (``georecall.plot.slider_figure``)."""
    views = []
    for d in d_values:
        snap = chapters.snapshot(N, R, placement=placement, d_model=int(d), k=k, codes=codes, subject=subject)
        ev, rec = snap.evaluation, snap.recipe
        scope = f"{ev.n_facts} sampled facts" if snap.sampled else f"all {ev.n_facts} facts"
        title = f"{rec.kind} placement, N={N}, R={R}, k={rec.k}, d={rec.d_model}: accuracy {ev.accuracy:.1%} on {scope}"
        views.append((d, snap.activations.tolist(), snap.margin_counts, snap.margin_edges, title))
    return plots_construction.plot_construction_view_slider(
        views, R=R, k=snap.recipe.k, slider_label="embedding dimension d"
    )


# --- Chapter 3: learned capacity -------------------------------------------------------------------------------------


def capacity_inspector(
    *, N: int = 32, R: int = 2, d: int = 4, freeze_embed: bool = False, max_steps: int = 512, eval_every: int = 2
) -> W.VBox:
    """Sliders for N, R, d and a frozen-embedding switch: train one small model (:func:`train_live`, the book
    recipe, evaluated every ``eval_every`` steps) and draw its loss and accuracy against steps."""

    def render(N: int, R: int, d: int, frozen: bool):
        result = train_live(N, R, d, freeze_embed=frozen, max_steps=max_steps, eval_every=eval_every)
        bits = theory.bits_per_parameter(N, R, d)
        regime = "frozen" if frozen else "learned"
        title = (
            f"{regime} embeddings, N={N}, R={R}, d={d}: accuracy {result.accuracy:.1%} after {result.steps} steps "
            f"({bits:.2f} bits per embedding weight)"
        )
        return plots.plot_training_history(result.history, title=title)

    controls = {
        "N": log2_slider("N", N, 3, 8),
        "R": int_slider("R", R, 1, 8),
        "d": int_slider("d", d, 2, 32),
        "frozen": W.Checkbox(description="frozen W_E, W_U", value=freeze_embed),
    }
    return explorer(controls, render, title="Inspect one training run (small sizes train in seconds)")
