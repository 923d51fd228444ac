"""Strict browser tests of the built book, as a reader gets it: no network, two screen widths, from a server and
from disk.

Every page in ``book/_toc.yml`` is loaded at 1366 px (a laptop) and 390 px (a phone) over 127.0.0.1, with every
request that leaves the machine aborted (nothing is rerouted to local copies: the book must ship them), and must
show:

- zero console errors, zero uncaught page errors, zero failed or blocked requests, zero HTTP errors;
- every plotly figure drawn, every formula typeset by MathJax (no raw ``\\(`` left in the text);
- every slider of every figure changing its figure when moved;
- no horizontal page scroll, and in every figure no overlap between the title, the axis titles, the legend, the
  slider and the colour bars, titles inside the figure, and a plot area at least ``MIN_PLOT_PX`` tall.

``index.html`` and one chapter are also opened through ``file://`` (a reader who opens the built folder from disk).

Run after ``make book``: ``.venv/bin/python -m pytest tests/browser`` (``make test-browser``). With
``GEORECALL_SCREENSHOTS=DIR`` every page is also saved as ``DIR/<page>-<width>.png`` (full page).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from book_toc import toc_files
from browser_paths import BOOK_DIR, HTML_DIR

pytestmark = pytest.mark.browser

WIDTHS = (1366, 390)
RENDER_TIMEOUT_MS = 60_000  # plotly figures and MathJax done after the `load` event (a busy 2-core machine)
SLIDER_TIMEOUT_MS = 5_000  # a slider step's update reaches gd.data / gd.layout
SETTLE_MS = 500  # late errors from deferred scripts
MIN_PLOT_PX = 120  # a figure's plot area keeps at least this height (a legend must not eat it)
OVERLAP_PX2 = 4.0  # two labels whose boxes share more than this area overlap
FILE_PAGES = ("index", "bijection-task")  # opened through file:// as well

PAGES = toc_files(BOOK_DIR)
CHAPTERS = [f for f in PAGES if (BOOK_DIR / f"{f}.ipynb").is_file()]
NO_PAGES = "no-pages-in-_toc.yml"  # an empty parametrisation would skip silently; this id fails instead

# ---------------------------------------------------------------------------------------------------------------
# what is checked in the page (JavaScript run by playwright)
# ---------------------------------------------------------------------------------------------------------------

FIGURES_DRAWN = """() => Array.from(document.querySelectorAll('.plotly-graph-div')).every(gd =>
    gd._fullLayout && gd.querySelector('svg.main-svg') && gd.querySelector('g.trace, g.hm'))"""

FIGURE_COUNTS = """() => { const all = Array.from(document.querySelectorAll('.plotly-graph-div'));
    return {n: all.length, drawn: all.filter(gd => gd._fullLayout && gd.querySelector('g.trace, g.hm')).length}; }"""

MATH_TYPESET = """() => Array.from(document.querySelectorAll('.math')).every(el => el.querySelector('mjx-container'))"""

# Text a reader sees that still holds TeX delimiters (code blocks and typeset formulas excluded).
RAW_TEX = r"""() => {
    const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'MJX-CONTAINER', 'TEXTAREA']);
    const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT, {
        acceptNode(node) {
            for (let el = node.parentElement; el; el = el.parentElement)
                if (skip.has(el.tagName)) return NodeFilter.FILTER_REJECT;
            return NodeFilter.FILTER_ACCEPT; } });
    const found = [];
    while (walker.nextNode()) {
        const t = walker.currentNode.textContent;
        if (/\\\(|\\\)|\\\[|\\\]|\$\$/.test(t)) found.push(t.trim().slice(0, 80));
    }
    return found; }"""

FIGURE_STATE = """(gd) => JSON.stringify({
    title: (gd.layout.title && gd.layout.title.text) || null,
    traces: gd.data.map(t => [t.visible, t.x, t.y, t.z, t.text, t.marker && t.marker.color]),
}, (k, v) => ArrayBuffer.isView(v) ? Array.from(v) : v)"""

# Bounding boxes of the labelled parts of every figure, the plot-area height, and the page's horizontal overflow.
LAYOUT = """() => {
    const box = el => { const r = el.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; };
    const figures = Array.from(document.querySelectorAll('.plotly-graph-div')).map((gd, i) => {
        const svg = gd.querySelector('svg.main-svg');
        const parts = [];
        gd.querySelectorAll('g.infolayer > g[class^="g-"][class$="title"]').forEach(el => {
            if (el.textContent.trim()) parts.push({what: el.getAttribute('class'), ...box(el)}); });
        gd.querySelectorAll('g.legend').forEach(el => parts.push({what: 'legend', ...box(el)}));
        gd.querySelectorAll('g.slider-container').forEach(el => parts.push({what: 'slider', ...box(el)}));
        gd.querySelectorAll('g.colorbar').forEach(el => parts.push({what: 'colorbar', ...box(el)}));
        const title = (gd.layout.title && gd.layout.title.text) || '';
        return {index: i, title: title.slice(0, 60), svg: box(svg), plotHeight: gd._fullLayout._size.h,
                parts: parts.filter(p => p.w > 0 && p.h > 0)};
    });
    return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, figures};
}"""


def load(open_page, url: str, width: int):
    page, log = open_page(url, width)
    page.wait_for_function(FIGURES_DRAWN, timeout=RENDER_TIMEOUT_MS)
    page.wait_for_function(MATH_TYPESET, timeout=RENDER_TIMEOUT_MS)
    return page, log


def overlap(a: dict, b: dict) -> float:
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return w * h if w > 0 and h > 0 else 0.0


def layout_problems(layout: dict) -> list[str]:
    """Horizontal scroll, overlapping labels, titles outside their figure, squeezed plot areas."""
    bad = []
    if layout["scrollWidth"] > layout["innerWidth"] + 1:
        bad.append(f"page scrolls sideways: content {layout['scrollWidth']} px in a {layout['innerWidth']} px window")
    for fig in layout["figures"]:
        name = f"figure {fig['index']} ({fig['title']!r})"
        if fig["plotHeight"] < MIN_PLOT_PX:
            bad.append(f"{name}: plot area {fig['plotHeight']:.0f} px tall (< {MIN_PLOT_PX})")
        svg, parts = fig["svg"], fig["parts"]
        for p in parts:
            if (
                p["x"] < svg["x"] - 1
                or p["x"] + p["w"] > svg["x"] + svg["w"] + 1
                or p["y"] + p["h"] > svg["y"] + svg["h"] + 1
            ):
                bad.append(f"{name}: {p['what']} extends outside the figure (cut off)")
        for i, a in enumerate(parts):
            for b in parts[i + 1 :]:
                if overlap(a, b) > OVERLAP_PX2:
                    bad.append(f"{name}: {a['what']} overlaps {b['what']} ({overlap(a, b):.0f} px²)")
    return bad


def click_slider_step(page, figure, group_index: int) -> str:
    """Click a step other than the active one on slider ``group_index`` of ``figure``; return a description."""
    figure.scroll_into_view_if_needed()  # page.mouse uses viewport coordinates
    info = figure.evaluate(
        """(gd, k) => { const s = gd._fullLayout.sliders[k];
            const visible = s.steps.filter(st => st.visible !== false);
            return {active: s.active, n: visible.length, labels: visible.map(st => st.label)}; }""",
        group_index,
    )
    assert info["n"] >= 2, f"slider {group_index} has {info['n']} visible step(s); a slider needs at least two"
    target = info["n"] - 1 if info["active"] != info["n"] - 1 else 0
    group = figure.locator("g.slider-container g.slider-group").nth(group_index)
    tick = group.locator("rect.slider-tick-rect").nth(target)
    rail = group.locator("rect.slider-rail-touch-rect")
    tick_box, rail_box = tick.bounding_box(), rail.bounding_box()
    assert tick_box and rail_box, "slider tick or rail has no bounding box (not displayed?)"
    page.mouse.click(tick_box["x"] + tick_box["width"] / 2, rail_box["y"] + rail_box["height"] / 2)
    return f"step {info['labels'][target]!r} (from {info['labels'][info['active']]!r})"


def screenshot(page, name: str) -> None:
    folder = os.environ.get("GEORECALL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


# ---------------------------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------------------------

page_params = pytest.mark.parametrize("page_name", PAGES or [NO_PAGES])
width_params = pytest.mark.parametrize("width", WIDTHS)


@page_params
@width_params
def test_figures_and_math_render(open_page, page_name, width):
    """Every plotly figure draws its traces and every formula is typeset, with nothing from the network."""
    assert page_name != NO_PAGES, f"no pages found in {BOOK_DIR / '_toc.yml'}"
    page, _ = load(open_page, f"{page_name}.html", width)
    counts = page.evaluate(FIGURE_COUNTS)
    assert counts["drawn"] == counts["n"], f"{page_name}: {counts['drawn']}/{counts['n']} plotly figures drawn"
    raw = page.evaluate(RAW_TEX)
    assert not raw, f"{page_name}: untypeset TeX in the text: {raw[:5]}"


@pytest.mark.parametrize("page_name", CHAPTERS or [NO_PAGES])
@width_params
def test_every_slider_changes_its_figure(open_page, page_name, width):
    """Every chapter has a precomputed slider figure (the static twin of its live panels), and moving any slider
    of any figure changes the figure (traces or title) and keeps a title."""
    assert page_name != NO_PAGES, f"no chapter notebooks listed in {BOOK_DIR / '_toc.yml'}"
    page, _ = load(open_page, f"{page_name}.html", width)
    figures = page.locator(".plotly-graph-div:has(g.slider-container)")
    assert figures.count() >= 1, f"{page_name}: no plotly slider figure (the static twin of the chapter's panels)"
    for i in range(figures.count()):
        figure = figures.nth(i)
        for k in range(figure.evaluate("gd => gd._fullLayout.sliders.length")):
            before = figure.evaluate(FIGURE_STATE)
            what = click_slider_step(page, figure, k)
            try:
                page.wait_for_function(
                    f"([gd, before]) => ({FIGURE_STATE})(gd) !== before",
                    arg=[figure.element_handle(), before],
                    timeout=SLIDER_TIMEOUT_MS,
                )
            except Exception:  # playwright's TimeoutError: reported by the assertion below
                pass
            after = figure.evaluate(FIGURE_STATE)
            title_before, title_after = json.loads(before)["title"], json.loads(after)["title"]
            assert not (title_before and not title_after), (
                f"{page_name} at {width} px: slider figure {i}, slider {k}: clicking {what} removed the title"
                f" {title_before!r}; slider steps must set 'title.text', not 'title'"
            )
            changed = after != before  # (not compared inside the assert: the states can be megabytes)
            assert changed, (
                f"{page_name} at {width} px: slider figure {i}, slider {k}: clicking {what} changed"
                f" neither the traces nor the title ({title_before!r})"
            )


@page_params
@width_params
def test_layout_fits_the_screen(open_page, page_name, width):
    """No sideways scroll; in every figure the title, axis titles, legend, slider and colour bars do not overlap,
    stay inside the figure, and leave the plot area at least MIN_PLOT_PX tall."""
    assert page_name != NO_PAGES, f"no pages found in {BOOK_DIR / '_toc.yml'}"
    page, _ = load(open_page, f"{page_name}.html", width)
    page.evaluate("window.scrollTo(0, 0)")
    bad = layout_problems(page.evaluate(LAYOUT))
    screenshot(page, f"{page_name}-{width}")
    assert not bad, f"{page_name} at {width} px:\n" + "\n".join(bad)


@page_params
@width_params
def test_console_and_network_clean(open_page, page_name, width):
    """Zero console errors, page errors, failed requests, HTTP errors and requests leaving the machine. Runs after
    the other tests of the page (same page object), so it also sees what the slider clicks caused."""
    assert page_name != NO_PAGES, f"no pages found in {BOOK_DIR / '_toc.yml'}"
    page, log = load(open_page, f"{page_name}.html", width)
    page.wait_for_timeout(SETTLE_MS)
    print(f"{page_name} at {width} px: {log.counts()}")
    problems = log.problems()
    assert not problems, f"{page_name} at {width} px:\n" + "\n".join(problems)


@pytest.mark.parametrize("page_name", FILE_PAGES)
def test_opens_from_disk(open_page, page_name):
    """Opened through file:// (a reader who opens the built folder from disk): figures and formulas render and the
    console, network and page-error logs stay empty. index.html redirects to the first page."""
    if not (HTML_DIR / f"{page_name}.html").is_file():
        pytest.fail(f"{HTML_DIR / (page_name + '.html')} is missing")
    page, log = load(open_page, (HTML_DIR / f"{page_name}.html").as_uri(), WIDTHS[0])
    if page_name == "index":
        page.wait_for_url("**/" + f"{PAGES[0]}.html", timeout=RENDER_TIMEOUT_MS)
        page.wait_for_function(FIGURES_DRAWN, timeout=RENDER_TIMEOUT_MS)
        page.wait_for_function(MATH_TYPESET, timeout=RENDER_TIMEOUT_MS)
    counts = page.evaluate(FIGURE_COUNTS)
    assert counts["drawn"] == counts["n"], f"file:// {page_name}: {counts['drawn']}/{counts['n']} figures drawn"
    assert not page.evaluate(RAW_TEX), f"file:// {page_name}: untypeset TeX"
    page.wait_for_timeout(SETTLE_MS)
    print(f"file:// {page_name}: {log.counts()}")
    assert not log.problems(), f"file:// {page_name}:\n" + "\n".join(log.problems())


@pytest.mark.parametrize("chapter", CHAPTERS or [NO_PAGES])
def test_chapter_citations_are_bibtex_citations(chapter):
    """Every citation of a chapter (``{eval}`glued.cite(...)``` in its cells, ``{cite:...}`` in the notes it includes)
    is on its built page as sphinxcontrib-bibtex writes one: a ``bibtex-citation`` span whose links go to the
    bibliography page, one link per cited key; and the included note is there, once."""
    import re

    from conftest import missing

    page = HTML_DIR / f"{chapter}.html"
    if chapter == NO_PAGES or not page.is_file():
        missing(f"no built page {page} (run make book)")
    cells = json.loads((BOOK_DIR / f"{chapter}.ipynb").read_text())["cells"]
    source = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    notes = "".join((BOOK_DIR / p).read_text() for p in re.findall(r"```\{include\} (\S+)", source))
    keys = [k for ref in re.findall(r'\{eval\}`glued\.cite\("[pt]:([^"]+)"\)`', source) for k in ref.split(",")]
    keys += [k for ref in re.findall(r"\{cite:[pt]\}`([^`]+)`", notes) for k in ref.split(",")]
    html = page.read_text()
    spans = re.findall(r'<span class="bibtex-citation"[^>]*>(.*?)</span>', html, re.S)
    links = [a for s in spans for a in re.findall(r'href="bibliography\.html#[^"]+"', s)]
    assert keys, f"{chapter}: cites nothing"
    assert len(links) == len(keys), f"{chapter}: {len(keys)} cited keys, {len(links)} bibliography links on the page"
    assert "glued.cite" not in html and "Citation Not Found" not in html
    assert html.count("statements labelled") == 3 * len(re.findall(r"```\{include\}", source)), chapter
