"""How every figure of the book is rendered and laid out: the renderer, the template, the colours, and layout
helpers that keep a figure readable from a 390 px phone to a 1366 px laptop.

- :func:`setup` registers a renderer that emits plotly's JSON mimetype (JupyterLab and VS Code draw from it) plus an
  HTML twin for the static book that calls the page's global ``Plotly``. The twin loads no plotly.js from a CDN and
  never loads MathJax (no figure text uses LaTeX): the book serves ``plotly.min.js`` and MathJax itself. On Colab,
  which draws only HTML and has no page-level plotly.js, plotly's own ``colab`` renderer is kept.
- Colours are the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"), distinguishable with the common
  colour-vision deficiencies; there is no red/green pair.
- :func:`legend_below` reserves a band at the bottom of the figure for a horizontal legend, sized for the narrowest
  screen, so the legend never covers the plot or the x-axis title; :func:`wrap` breaks long titles into lines that
  fit a phone.
- :func:`log_axis` draws log axes with major labels only: at powers of two, or at decades.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence

import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import MimetypeRenderer

__all__ = [
    "setup",
    "BookRenderer",
    "FIGURE_CONFIG",
    "PALETTE",
    "color_for_R",
    "wrap",
    "legend_below",
    "log_axis",
    "title_lines",
    "legend_rows",
    "NARROW_WIDTH_PX",
    "TITLE_CHARS",
]

# Okabe-Ito: blue, vermillion, bluish green, reddish purple, orange, sky blue, yellow, black.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
BLUE, VERMILLION, GREEN, PURPLE, ORANGE, SKY = PALETTE[:6]
GREY = "#666666"
LIGHT_GREY = "#AAAAAA"

# Plotly's per-figure config: resize with the page, no logo, never typeset figure text with MathJax.
FIGURE_CONFIG = {"responsive": True, "displaylogo": False, "typesetMath": False}
RENDERER_NAME = "georecall_book"

NARROW_WIDTH_PX = 340  # the plot width a 390 px screen leaves (page padding); legends and titles must fit it
TITLE_CHARS = 40  # characters per title line that fit NARROW_WIDTH_PX at the title's 15 px font
LEGEND_FONT_PX = 12
_CHAR_PX = 0.58 * LEGEND_FONT_PX  # mean glyph width of the legend font (sans-serif), in px
_LEGEND_ITEM_PAD_PX = 46  # line sample, gap and spacing plotly adds around each horizontal legend entry
_LEGEND_ROW_PX = 20  # height of one legend row at LEGEND_FONT_PX
_X_AXIS_BAND_PX = 62  # tick labels and the x-axis title below the plot


class BookRenderer(MimetypeRenderer):
    """plotly's JSON mimetype plus an HTML twin that calls the page's global ``Plotly`` (no plotly.js, no MathJax)."""

    def to_mimebundle(self, fig_dict):
        html = pio.to_html(
            fig_dict,
            config=FIGURE_CONFIG,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            default_width="100%",
            default_height=500,
            validate=False,
        )
        data = {"data": fig_dict.get("data", []), "layout": fig_dict.get("layout", {}), "config": FIGURE_CONFIG}
        return {"application/vnd.plotly.v1+json": data, "text/html": html}


def setup() -> None:
    """Renderer and template for every chapter (call once, in the chapter's first code cell)."""
    pio.renderers[RENDERER_NAME] = BookRenderer()
    pio.renderers.default = "colab" if "google.colab" in sys.modules else RENDERER_NAME
    template = go.layout.Template(pio.templates["plotly_white"])
    template.layout.font = dict(family="Inter, Helvetica, Arial, sans-serif", size=13)
    template.layout.title = dict(font=dict(size=15), x=0.02, xanchor="left", xref="container")
    template.layout.colorway = list(PALETTE)
    template.layout.margin = dict(l=60, r=20, t=70, b=55)
    template.layout.hoverlabel = dict(namelength=-1)
    template.layout.legend = dict(font=dict(size=LEGEND_FONT_PX))
    pio.templates["georecall"] = template
    pio.templates.default = "georecall"


def color_for_R(R: int) -> str:
    """One fixed colour per relation count, the same in every chapter: R = 1, 2, 4, 8, 16 get the first five
    palette slots; other R the remaining ones."""
    R = int(R)
    if R < 1:
        raise ValueError(f"R must be >= 1, got {R}")
    slot = R.bit_length() - 1 if R & (R - 1) == 0 else 5 + R % 3
    return PALETTE[slot % len(PALETTE)]


def wrap(text: str, width: int = TITLE_CHARS) -> str:
    """``text`` with ``<br>`` between words so that no line is longer than ``width`` characters (where possible).

    >>> wrap("Accuracy against d at N = 64 (mean over seeds; bars: min-max)", width=30)
    'Accuracy against d at N = 64<br>(mean over seeds; bars:<br>min-max)'
    """
    if width < 8:
        raise ValueError(f"width must be >= 8 characters, got {width}")
    lines, line = [], ""
    for word in text.replace("<br>", " <br> ").split(" "):
        if word == "<br>":
            lines.append(line)
            line = ""
        elif line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "<br>".join(lines)


def title_lines(text: str) -> int:
    return text.count("<br>") + 1


def legend_rows(names: Iterable[str], width_px: float = NARROW_WIDTH_PX) -> int:
    """Rows a horizontal plotly legend with these entries needs at ``width_px`` (entries wrap greedily)."""
    rows, used = 0, None
    for name in names:
        w = _LEGEND_ITEM_PAD_PX + _CHAR_PX * len(name)
        if used is None or used + w > width_px:
            rows, used = rows + 1, w
        else:
            used += w
    return rows


def _legend_names(fig: go.Figure) -> list[str]:
    """Names of the entries the legend shows now: visible traces with a name (heatmaps have no legend entry)."""
    names = [
        t.name
        for t in fig.data
        if t.name and t.showlegend is not False and t.visible is not False and t.type != "heatmap"
    ]
    return list(dict.fromkeys(names))


def legend_below(fig: go.Figure, *, plot_px: int = 300, extra_bottom_px: int = 0) -> go.Figure:
    """Put the legend in a band at the bottom of the figure, below the x-axis title, sized for a phone.

    The band holds as many rows as the entries need at :data:`NARROW_WIDTH_PX`; the figure's height becomes
    ``plot_px`` (the plot area) plus the title, the x-axis band, the legend band and ``extra_bottom_px`` (e.g. a
    slider), so the plot keeps its height at every screen width. Returns ``fig`` (changed in place).
    """
    if plot_px < 100:
        raise ValueError(f"plot_px must be >= 100, got {plot_px}")
    rows = legend_rows(_legend_names(fig))
    title = fig.layout.title.text or ""
    top = 30 + 21 * title_lines(title)
    bottom = _X_AXIS_BAND_PX + extra_bottom_px + (rows * _LEGEND_ROW_PX + 12 if rows else 0)
    fig.update_layout(
        legend=dict(
            orientation="h",
            x=0,
            xanchor="left",
            xref="container",
            y=0,
            yanchor="bottom",
            yref="container",
            font=dict(size=LEGEND_FONT_PX),
            traceorder="normal",
        ),
        showlegend=rows > 0,
        margin=dict(t=top, b=bottom),
        height=plot_px + top + bottom,
    )
    return fig


def log_axis(title: str, values: Sequence[float] | None = None, *, base: int = 2) -> dict:
    """A log axis with major labels only (no 2, 3, ..., 9 minor labels).

    ``base=2``: ticks at the powers of two spanning ``values`` (every second one when there are more than 8);
    ``base=10``: ticks at the decades, labelled 10, 100, 1k, ... (plotly's ``dtick=1`` on a log axis); when
    ``values`` span less than two decades, at 1, 2 and 5 times each power of ten inside their range, so a short
    axis still has labels.
    """
    if base not in (2, 10):
        raise ValueError(f"base must be 2 or 10, got {base}")
    axis = dict(title=dict(text=title), type="log", minor=dict(showgrid=False, ticks=""))
    vals = [float(v) for v in values or [] if v is not None and math.isfinite(float(v)) and float(v) > 0]
    if values is not None and not vals:
        raise ValueError("values must hold at least one positive number for a log axis")
    if base == 10:
        if not vals:
            return {**axis, "dtick": 1}
        lo, hi = min(vals), max(vals)
        decades = [
            10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1) if lo <= 10.0**e <= hi
        ]
        if len(decades) >= 2:
            return {**axis, "dtick": 1}
        ticks = [
            m * 10.0**e
            for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
            for m in (1, 2, 5)
            if lo / 1.05 <= m * 10.0**e <= hi * 1.05
        ]
        return {**axis, "tickvals": ticks, "ticktext": [f"{t:g}" for t in ticks]}
    if not vals:
        return {**axis, "dtick": 1}
    lo, hi = math.floor(math.log2(min(vals))), math.ceil(math.log2(max(vals)))
    exps = list(range(lo, hi + 1))
    step = 1 if len(exps) <= 8 else 2
    ticks = [2.0**e for e in exps[::step]]
    return {**axis, "tickvals": ticks, "ticktext": [_pow2_label(t) for t in ticks]}


def _pow2_label(v: float) -> str:
    if v >= 1:
        n = int(v)
        return f"{n // 1024}k" if n >= 4096 and n % 1024 == 0 else str(n)
    return f"1/{int(round(1 / v))}"
