"""Fixtures for the browser tests of the built book: the page as a reader's browser gets it, with no network.

The built HTML in ``book/_build/html`` is served over ``http.server`` on 127.0.0.1 (port 0, in a thread), or opened
through ``file://``, in headless Debian chromium driven by PyPI playwright (``executable_path``; no
``playwright install``, no browser download). Nothing is rerouted: every request that leaves 127.0.0.1 (or
``file://``) is aborted and recorded as a failure, because the book must serve every script, font and stylesheet
itself. A page's log holds every console error, uncaught page error, failed request and HTTP error; the tests
require all of them to be empty, with no allow-list.

Missing prerequisites (chromium, a built book) skip the tests, unless the environment variable
``GEORECALL_REQUIRE_BROWSER=1`` is set (``make test`` sets it): then they fail with a message saying what is missing.
``GEORECALL_BOOK_DIR`` points the tests at another book folder (default: ``<repo>/book``).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from browser_paths import HTML_DIR

CHROMIUM_ARGS = [
    "--no-sandbox",  # required when running as root (CI)
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT_HEIGHT = 900
LOCAL_HOSTS = {"127.0.0.1"}
LOCAL_SCHEMES = {"file", "data", "blob", "about"}


def require_browser() -> bool:
    return os.environ.get("GEORECALL_REQUIRE_BROWSER", "") not in ("", "0")


def missing(reason: str) -> None:
    """Skip, or fail when GEORECALL_REQUIRE_BROWSER=1 (so `make test` can never skip the browser tests silently)."""
    if require_browser():
        pytest.fail(f"browser test prerequisites missing (GEORECALL_REQUIRE_BROWSER=1): {reason}", pytrace=False)
    pytest.skip(reason)


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname in LOCAL_HOSTS


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
    """Everything a reader's console would show, and every request that did not succeed."""

    console_errors: list = field(default_factory=list)  # (text, url of the message's location)
    page_errors: list = field(default_factory=list)  # (message, stack)
    external: list = field(default_factory=list)  # requests that tried to leave the machine (aborted)
    failed: list = field(default_factory=list)  # (url, failure text) of requests that did not complete
    http_errors: list = field(default_factory=list)  # (status, url) of responses >= 400

    def problems(self) -> list[str]:
        return (
            [f"console error: {t} ({u})" for t, u in self.console_errors]
            + [f"page error: {m}\n{s}" for m, s in self.page_errors]
            + [f"request leaving the machine (blocked): {u}" for u in self.external]
            + [f"failed request: {u} ({why})" for u, why in self.failed]
            + [f"HTTP {s}: {u}" for s, u in self.http_errors]
        )

    def counts(self) -> dict:
        return {
            "console_errors": len(self.console_errors),
            "page_errors": len(self.page_errors),
            "failed_requests": len(self.failed) + len(self.http_errors),
            "external_requests": len(self.external),
        }


def _block_external(route, request, log: PageLog) -> None:
    if is_local(request.url):
        route.continue_()
    else:
        log.external.append(request.url)
        route.abort()


@pytest.fixture(scope="session")
def open_page(browser, book_url):
    """``open_page(url, width) -> (page, log)``: ``url`` relative to the book (served over 127.0.0.1) or an absolute
    ``file://`` URL, loaded in its own browser context at viewport ``width``. Each (url, width) loads once per
    session; the tests share the page, so the console check also sees errors the slider clicks caused."""
    opened = {}

    def _open(url: str, width: int, timeout_ms: int = 60_000):
        key = (url, width)
        if key in opened:
            return opened[key]
        context = browser.new_context(viewport={"width": width, "height": VIEWPORT_HEIGHT})
        log = PageLog()
        context.route("**/*", lambda route, request: _block_external(route, request, log))
        page = context.new_page()
        page.on(
            "console", lambda m: m.type == "error" and log.console_errors.append((m.text, m.location.get("url", "")))
        )
        page.on("pageerror", lambda exc: log.page_errors.append((exc.message, exc.stack or "")))
        page.on("requestfailed", lambda r: log.failed.append((r.url, r.failure or "")))
        page.on("response", lambda r: r.status >= 400 and log.http_errors.append((r.status, r.url)))
        opened[key] = (page, log)
        full = url if url.startswith("file://") else book_url + url
        page.goto(full, wait_until="load", timeout=timeout_ms)
        return page, log

    yield _open
    for page, _ in opened.values():
        page.context.close()
