"""Sphinx extension: the book's root page, ``index.html``, redirects to the first page and asks for no icon.

The book's first page is ``intro`` (``_toc.yml``), so the URL a reader is given (``https://OWNER.github.io/REPO/``)
serves ``index.html``. sphinx-external-toc writes it as a bare ``<meta http-equiv="Refresh">`` line, with no
``<link rel="icon">``: a browser landing there may ask the server for ``/favicon.ico``, which on GitHub Pages is the
owner's domain root, a 404. Naming the book's icon there does not help either: the redirect aborts its request (a
failed request in the console). So this extension writes the page first, as a small HTML document with the same
redirect, an empty ``data:`` icon (nothing to fetch) and a link for readers without meta refresh; the pages
themselves name the real icon (``html.favicon``). sphinx-external-toc then leaves ``index.html`` alone (it writes it
only when the file does not exist).
"""

from __future__ import annotations

import html
from pathlib import Path

from sphinx.application import Sphinx

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<meta http-equiv="Refresh" content="0; url={target}">
<link rel="icon" href="data:,">
</head>
<body><p><a href="{target}">{title}</a></p></body>
</html>
"""


def write_root_page(app: Sphinx, exception) -> None:
    if exception is not None or app.builder.format != "html" or app.config.root_doc == "index":
        return
    target = f"{app.config.root_doc}.html"
    title = html.escape(app.config.html_title or app.config.root_doc)  # Jupyter Book sets html_title from `title`
    Path(app.outdir, "index.html").write_text(PAGE.format(title=title, target=target), encoding="utf8")


def setup(app: Sphinx) -> dict:
    app.connect("build-finished", write_root_page, priority=400)  # before sphinx-external-toc's redirect (500)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
