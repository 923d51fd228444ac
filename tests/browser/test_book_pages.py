"""Browser tests of the built book: every page in ``book/_toc.yml`` renders its figures without console errors, and
every chapter notebook has a working plotly slider figure (the static twin of its live widgets).

Run after ``make book``:  ``.venv/bin/python -m pytest tests/browser``  (``make test-browser``).
Pages are read from ``_toc.yml`` at collection time, so a new chapter is covered without editing this file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from book_toc import toc_files

# Same resolution as conftest.py (not imported from it: tests/ is not a package).
BOOK_DIR = Path(os.environ.get("GEORECALL_BOOK_DIR", Path(__file__).resolve().parents[2] / "book")).resolve()

pytestmark = pytest.mark.browser

RENDER_TIMEOUT_MS = 30_000  # plotly + widgets drawn after the `load` event
SLIDER_TIMEOUT_MS = 5_000  # a slider step's update/animate reaches gd.data / gd.layout


# ---------------------------------------------------------------------------------------------------------------
# pages from the table of contents
# ---------------------------------------------------------------------------------------------------------------


PAGES = toc_files(BOOK_DIR)
CHAPTERS = [f for f in PAGES if (BOOK_DIR / f"{f}.ipynb").is_file()]
# An empty list would make pytest skip silently; a placeholder id turns it into a clear failure instead.
NO_PAGES = "no-pages-in-_toc.yml"


def html_name(page: str) -> str:
    return f"{page}.html"


# ---------------------------------------------------------------------------------------------------------------
# console allowlist: keep it tight; every entry says why it is harmless
# ---------------------------------------------------------------------------------------------------------------

# html-manager's FontAwesome files are answered from the local npm copy (conftest.WIDGET_FONT), so no local 404 is
# allowed at all.

# Uncaught page errors (`pageerror`), matched on (message, stack), that are known and harmless.
BENIGN_PAGE_ERRORS = [
    # sphinx-thebe 0.3.1 declares `const THEBE_JS_URL` in a script that is loaded twice.
    (re.compile(r"^Identifier 'THEBE_JS_URL' has already been declared$"), re.compile(r"")),
    # @jupyter-widgets/html-manager 1.0.x typesets widget descriptions with the MathJax 2 API
    # (`MathJax.Hub.Queue`) whenever `window.MathJax` exists; Sphinx's page defines a MathJax 3 config, which has
    # no `Hub`, with or without network. The label text is set before the throw; only LaTeX in widget
    # descriptions stays untypeset.
    (re.compile(r"^Cannot read properties of undefined \(reading 'Queue'\)$"), re.compile(r"/embed-amd\.js:")),
]

# Console errors (type "error"), matched on (text, location url), that are known and harmless.
# "Failed to load resource: net::ERR_FAILED" for a URL the router aborted (on our pages: Sphinx's MathJax from
# jsdelivr and plotly's MathJax from cdnjs) is handled separately: it is allowed only for URLs that were actually
# aborted, see `unexpected_console_errors`. Anything the page needs must be served locally or routed.
BENIGN_CONSOLE_ERRORS = [
    # pydata-sphinx-theme 0.17 on a first visit (empty localStorage, no `default_mode` theme option) logs this
    # with console.error and falls back to "auto". Only the empty mode is allowed.
    (re.compile(r"^Got invalid theme mode: \. Resetting to auto\.$"), re.compile(r"/pydata-sphinx-theme\.js")),
]


def unexpected_console_errors(log) -> list[str]:
    bad = []
    for text, url in log.console_errors:
        if text.startswith("Failed to load resource: net::ERR_FAILED") and url in log.aborted:
            continue  # an external request the test aborted on purpose (the page must work without it)
        if any(t.search(text) and u.search(url or "") for t, u in BENIGN_CONSOLE_ERRORS):
            continue
        bad.append(f"console: {text} ({url})")
    for message, stack in log.page_errors:
        if not any(m.search(message) and st.search(stack) for m, st in BENIGN_PAGE_ERRORS):
            bad.append(f"pageerror: {message}\n{stack}")
    for status, url in log.failed_local:
        if urlsplit(url).hostname == "127.0.0.1":
            bad.append(f"HTTP {status}: {url}")
    return bad


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------

ALL_FIGURES_DRAWN = """() => Array.from(document.querySelectorAll('.plotly-graph-div'))
    .every(gd => gd.querySelector('svg.main-svg') !== null)"""

ALL_WIDGETS_DRAWN = """() => {
    const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
    return views.length === 0 || document.querySelectorAll('.jupyter-widgets').length > 0;
}"""

# Everything a slider step can change: trace visibility and data, and the title. Typed arrays become lists.
FIGURE_STATE = """(gd) => JSON.stringify({
    title: (gd.layout.title && gd.layout.title.text) || null,
    traces: gd.data.map(t => [t.visible, t.x, t.y, t.z, t.text, t.marker && t.marker.color]),
}, (k, v) => ArrayBuffer.isView(v) ? Array.from(v) : v)"""


def load(open_page, page_name):
    page, log = open_page(html_name(page_name))
    page.wait_for_function(ALL_FIGURES_DRAWN, timeout=RENDER_TIMEOUT_MS)
    page.wait_for_function(ALL_WIDGETS_DRAWN, timeout=RENDER_TIMEOUT_MS)
    return page, log


def click_slider_step(page, figure, group_index: int) -> str:
    """Click a step other than the active one on slider `group_index` of `figure`; return a description."""
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


# ---------------------------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page_name", PAGES or [NO_PAGES])
def test_page_renders_figures(open_page, page_name):
    """(a) the page loads and every plotly figure has drawn its SVG (and embedded widgets rendered)."""
    assert page_name != NO_PAGES, f"no pages found in {BOOK_DIR / '_toc.yml'}"
    page, _ = load(open_page, page_name)
    n_figures = page.locator(".plotly-graph-div").count()
    n_drawn = page.locator(".plotly-graph-div:has(svg.main-svg)").count()
    assert n_drawn == n_figures, f"{page_name}: {n_drawn}/{n_figures} plotly figures drawn"


@pytest.mark.parametrize("page_name", CHAPTERS or [NO_PAGES])
def test_chapter_slider_changes_figure(open_page, page_name):
    """(b) every chapter notebook has >= 1 plotly slider figure, and moving each slider changes its figure."""
    assert page_name != NO_PAGES, f"no chapter notebooks listed in {BOOK_DIR / '_toc.yml'}"
    page, _ = load(open_page, page_name)
    figures = page.locator(".plotly-graph-div:has(g.slider-container)")
    assert figures.count() >= 1, (
        f"{page_name}: no plotly slider figure. Every chapter needs the static twin of its widgets: a figure with"
        " precomputed slider steps."
    )
    for i in range(figures.count()):
        figure = figures.nth(i)
        n_sliders = figure.evaluate("gd => gd._fullLayout.sliders.length")
        for k in range(n_sliders):
            before = figure.evaluate(FIGURE_STATE)
            what = click_slider_step(page, figure, k)
            try:
                page.wait_for_function(
                    f"([gd, before]) => ({FIGURE_STATE})(gd) !== before",
                    arg=[figure.element_handle(), before],
                    timeout=SLIDER_TIMEOUT_MS,
                )
            except Exception:  # playwright TimeoutError; report as an assertion below
                pass
            after = figure.evaluate(FIGURE_STATE)
            title_before, title_after = json.loads(before)["title"], json.loads(after)["title"]
            assert not (title_before and not title_after), (
                f"{page_name}: slider figure {i}, slider {k}: clicking {what} removed the title"
                f" {title_before!r}; slider steps must set 'title.text', not 'title'."
            )
            changed = after != before  # (not compared inside the assert: the states can be megabytes)
            assert changed, (
                f"{page_name}: slider figure {i}, slider {k}: clicking {what} changed neither the traces"
                f" (visible/x/y/z/text/marker.color) nor title.text. Title stays"
                f" {json.loads(before)['title']!r}; note that steps must set 'title.text', not 'title'."
            )


@pytest.mark.parametrize("page_name", PAGES or [NO_PAGES])
def test_console_clean(open_page, page_name):
    """(c) no console errors, uncaught exceptions or local 404s beyond the documented benign ones."""
    assert page_name != NO_PAGES, f"no pages found in {BOOK_DIR / '_toc.yml'}"
    page, log = load(open_page, page_name)
    page.wait_for_timeout(500)  # late errors from deferred scripts
    bad = unexpected_console_errors(log)
    # shown with -rP, or on failure: what was aborted and every error seen, allowed or not
    print(f"aborted external requests: {sorted(log.aborted)}")
    print("console errors:", *log.console_errors, "page errors:", *log.page_errors, sep="\n  ")
    assert not bad, f"{page_name}: unexpected browser errors:\n" + "\n".join(bad)
