"""A reader's first visit asks for the site icon: every page names one (``<link rel="icon">``, from ``html.favicon``
in book/_config.yml) and the book serves it, so no browser logs a 404 for ``/favicon.ico``."""

from __future__ import annotations

import pytest
from book_toc import toc_files
from browser_paths import BOOK_DIR, HTML_DIR

pytestmark = pytest.mark.browser

PAGES = toc_files(BOOK_DIR)
ICON = """async () => {
    const links = Array.from(document.querySelectorAll('link[rel~="icon"]'));
    if (!links.length) return {count: 0};
    const response = await fetch(links[0].href, {cache: 'no-store'});
    return {count: links.length, href: links[0].href, status: response.status,
            type: response.headers.get('content-type') || '', size: (await response.arrayBuffer()).byteLength};
}"""


@pytest.mark.parametrize("page_name", PAGES or ["no-pages-in-_toc.yml"])
def test_every_page_names_an_icon_the_book_serves(open_page, page_name):
    page, log = open_page(f"{page_name}.html", 1366)
    icon = page.evaluate(ICON)
    assert icon["count"] >= 1, f"{page_name}: no <link rel=icon> (a first visit would request /favicon.ico: 404)"
    assert icon["status"] == 200 and icon["type"].startswith("image/") and icon["size"] > 0, icon
    assert not log.http_errors, log.problems()


def test_the_root_page_redirects_and_names_the_icon(open_page):
    """The URL a reader is given serves index.html: it names an icon that needs no request (so no /favicon.ico 404
    and no aborted request), and lands on the first page with no failed request."""
    page, log = open_page("", 1366)
    page.wait_for_url(f"**/{PAGES[0]}.html", timeout=30_000)
    root = (HTML_DIR / "index.html").read_text()
    assert '<link rel="icon" href="data:,">' in root and f'url={PAGES[0]}.html"' in root, root
    assert not log.problems(), log.problems()
