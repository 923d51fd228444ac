"""A reader's first visit asks for the site icon: every page names one (``<link rel="icon">``, from ``html.favicon``
in book/_config.yml) and the book serves it, so no browser logs a 404 for ``/favicon.ico``."""

from __future__ import annotations

import pytest
from book_toc import toc_files
from browser_paths import BOOK_DIR

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
