"""Fixtures for the browser tests of the built book.

The built HTML in ``book/_build/html`` is served over ``http.server`` on 127.0.0.1 (port 0, in a thread) and opened
in headless Debian chromium driven by PyPI playwright (no ``playwright install``: no browser is downloaded).
CDN requests are answered from local copies:

- ``https://cdn.plot.ly/**``                 -> ``plotly/package_data/plotly.min.js`` of the installed plotly
- ``**/require.min.js``                      -> ``.browser-assets/node_modules/requirejs/require.js``
- ``**/html-manager@*/dist/embed-amd.js``    -> ``.browser-assets/node_modules/@jupyter-widgets/html-manager/...``
- html-manager's FontAwesome files (``<20 hex>.woff2`` etc.), which webpack resolves against the page's origin
  (``/@jupyter-widgets/...``, with or without ``html-manager/dist/``, depending on load order) instead of the CDN
  it came from: answered from the same ``dist/`` folder, as the CDN would

and every other request that does not go to the local server is aborted (the test never touches the network).

Missing prerequisites (chromium, a built book, the npm assets) skip the tests, unless the environment variable
``GEORECALL_REQUIRE_BROWSER=1`` is set (``make test`` sets it): then they fail with a message saying what is missing.
``GEORECALL_BOOK_DIR`` points the tests at another book folder (default: ``<repo>/book``).
"""

from __future__ import annotations

import fnmatch
import functools
import http.server
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
BOOK_DIR = Path(os.environ.get("GEORECALL_BOOK_DIR", REPO / "book")).resolve()
HTML_DIR = BOOK_DIR / "_build" / "html"
ASSETS = Path(os.environ.get("GEORECALL_BROWSER_ASSETS", REPO / ".browser-assets")) / "node_modules"
REQUIREJS = ASSETS / "requirejs" / "require.js"
HTML_MANAGER_DIST = ASSETS / "@jupyter-widgets" / "html-manager" / "dist"
EMBED_AMD = HTML_MANAGER_DIST / "embed-amd.js"
WIDGET_FONT = re.compile(r"/@jupyter-widgets/(?:html-manager/dist/)?([0-9a-f]{20}\.(woff2|woff|ttf|eot|svg))$")
FONT_TYPES = {
    "woff2": "font/woff2",
    "woff": "font/woff",
    "ttf": "font/ttf",
    "eot": "application/vnd.ms-fontobject",
    "svg": "image/svg+xml",
}

CHROMIUM_ARGS = [
    "--no-sandbox",  # required when running as root (CI)
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def require_browser() -> bool:
    return os.environ.get("GEORECALL_REQUIRE_BROWSER", "") not in ("", "0")


def missing(reason: str) -> None:
    """Skip, or fail when GEORECALL_REQUIRE_BROWSER=1 (so `make test` can never skip the browser tests silently)."""
    if require_browser():
        pytest.fail(f"browser test prerequisites missing (GEORECALL_REQUIRE_BROWSER=1): {reason}", pytrace=False)
    pytest.skip(reason)


def plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


# ---------------------------------------------------------------------------------------------------------------
# server
# ---------------------------------------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        pass


@pytest.fixture(scope="session")
def book_url():
    """Base URL (ending in '/') of the built book, served from a background thread."""
    if not (HTML_DIR / "index.html").is_file():
        missing(f"no built book at {HTML_DIR} (run `make book`)")
    handler = functools.partial(_QuietHandler, directory=str(HTML_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------------------------------
# browser
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    exe = shutil.which("chromium")
    if exe is None:
        missing("no `chromium` on PATH (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageLog:
    """What one page did: console messages of type error, uncaught exceptions, aborted and failed requests."""

    console_errors: list = field(default_factory=list)  # (text, url of the message's location)
    page_errors: list = field(default_factory=list)  # (message, stack)
    aborted: set = field(default_factory=set)  # external URLs the router aborted
    failed_local: list = field(default_factory=list)  # (status, url) of local responses >= 400


LOCAL_FILES = [
    # (glob on the full URL, local file, content type)
    ("https://cdn.plot.ly/**", plotly_js, "application/javascript"),
    ("**/require.min.js", lambda: REQUIREJS, "application/javascript"),
    ("**/html-manager@*/dist/embed-amd.js", lambda: EMBED_AMD, "application/javascript"),
]


def _route(route, request, log: PageLog) -> None:
    url = request.url
    if urlsplit(url).hostname == "127.0.0.1":
        font = WIDGET_FONT.search(urlsplit(url).path)
        if font and (HTML_MANAGER_DIST / font.group(1)).is_file():
            route.fulfill(path=str(HTML_MANAGER_DIST / font.group(1)), content_type=FONT_TYPES[font.group(2)])
        else:
            route.continue_()
        return
    for pattern, path, ctype in LOCAL_FILES:
        # fnmatch's '*' also crosses '/', which is what '**' means here
        if fnmatch.fnmatchcase(url, pattern.replace("**", "*")):
            route.fulfill(path=str(path()), content_type=ctype, headers={"Access-Control-Allow-Origin": "*"})
            return
    log.aborted.add(url)
    route.abort()


@pytest.fixture(scope="session")
def open_page(browser, book_url):
    """`open_page("chapter.html") -> (page, log)`: the page loaded in its own routed, logged browser context.

    Each page is loaded once per session and shared by the tests (a page load costs seconds: plotly.js and the
    widget manager are parsed every time), so the console check also sees errors caused by the slider test.
    """
    for _, path, _ in LOCAL_FILES:
        if not path().is_file():
            missing(f"local copy {path()} is missing (run `make setup`)")
    opened = {}

    def _open(rel_url: str, timeout_ms: int = 30_000):
        if rel_url in opened:
            return opened[rel_url]
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        log = PageLog()
        context.route("**/*", lambda route, request: _route(route, request, log))
        page = context.new_page()
        page.on(
            "console",
            lambda msg: msg.type == "error" and log.console_errors.append((msg.text, msg.location.get("url", ""))),
        )
        page.on("pageerror", lambda exc: log.page_errors.append((exc.message, exc.stack or "")))
        page.on(
            "response",
            lambda resp: resp.status >= 400 and log.failed_local.append((resp.status, resp.url)),
        )
        opened[rel_url] = (page, log)
        response = page.goto(book_url + rel_url, wait_until="load", timeout=timeout_ms)
        assert response is not None and response.ok, f"{rel_url}: HTTP {response and response.status}"
        return page, log

    yield _open
    for page, _ in opened.values():
        page.context.close()
