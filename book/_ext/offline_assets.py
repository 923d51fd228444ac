"""Sphinx extension: the built book loads every script, font and stylesheet from its own files.

A reader who opens ``_build/html/index.html`` from disk, or serves the folder from any host with no network, must
see every figure and formula. So nothing is fetched from a CDN:

- ``plotly.min.js`` comes from the installed plotly package (``plotly/package_data``);
- require.js, the jupyter-widgets HTML manager (with its FontAwesome files) and MathJax 3 (SVG output, which needs
  no web fonts) come from the npm copies that ``make setup`` installs into ``.browser-assets/node_modules``
  (override with the environment variable ``GEORECALL_BROWSER_ASSETS``).

At ``config-inited`` they are staged into ``book/_vendor/`` (ignored by git): ``_vendor/static`` is listed in
``html_static_path`` (served as ``_static/offline/...``) and ``_vendor/root`` in ``html_extra_path``. The latter
holds the widget manager's fonts where its webpack runtime asks for them: next to the page, under
``@jupyter-widgets/`` (the runtime derives its public path from require.js' module URL, which is relative to the
page).

The extension also drops duplicate ``<script>`` entries from each page (sphinx-thebe and sphinx-togglebutton
register their inline configuration twice under Jupyter Book 1; a second ``const THEBE_JS_URL`` is a page error).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

VENDOR = "_vendor"  # staging folder, relative to the book's source folder
MATHJAX_BUNDLE = "tex-svg.js"  # MathJax 3 combined component: TeX input, SVG output (fonts drawn as paths)
# MathJax loads these on demand (TeX extensions via autoload, the context menu, accessibility); the other combined
# bundles and the CHTML web fonts are never requested with the SVG bundle.
MATHJAX_DIRS = ("input", "output/svg", "ui", "a11y", "sre", "adaptors")
FONT_SUFFIXES = (".woff2", ".woff", ".ttf", ".eot", ".svg")


def npm_root(srcdir: Path) -> Path:
    env = os.environ.get("GEORECALL_BROWSER_ASSETS")
    base = Path(env) if env else srcdir.parent / ".browser-assets"
    return base / "node_modules"


def _sources(srcdir: Path) -> dict[str, Path]:
    """Every file or folder to stage, by its path under the staging folder."""
    import plotly

    npm = npm_root(srcdir)
    dist = npm / "@jupyter-widgets" / "html-manager" / "dist"
    es5 = npm / "mathjax" / "es5"
    files = {
        "static/offline/plotly.min.js": Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
        "static/offline/require.js": npm / "requirejs" / "require.js",
        "static/offline/html-manager/embed-amd.js": dist / "embed-amd.js",
        f"static/offline/mathjax/{MATHJAX_BUNDLE}": es5 / MATHJAX_BUNDLE,
    }
    for sub in MATHJAX_DIRS:
        files[f"static/offline/mathjax/{sub}"] = es5 / sub
    fonts = sorted(p for p in dist.glob("*") if p.suffix in FONT_SUFFIXES) if dist.is_dir() else []
    if not fonts:
        files["root/@jupyter-widgets/(fonts)"] = dist / "*.woff2"  # reported as missing below
    for font in fonts:
        # both public paths the widget manager's bundles compute (see the module docstring)
        files[f"root/@jupyter-widgets/{font.name}"] = font
        files[f"root/@jupyter-widgets/html-manager/dist/{font.name}"] = font
    return files


def _copy(src: Path, dst: Path) -> None:
    """Copy a file or a folder tree, skipping files that are already there with the same size."""
    if src.is_dir():
        for path in src.rglob("*"):
            if path.is_file():
                _copy(path, dst / path.relative_to(src))
        return
    if dst.is_file() and dst.stat().st_size == src.stat().st_size:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def stage_assets(app: Sphinx, config) -> None:
    srcdir = Path(app.srcdir)
    sources = _sources(srcdir)
    missing = [str(src) for src in sources.values() if not src.exists()]
    if missing:
        raise ExtensionError(
            "offline book assets are missing (run `make setup`, which installs the npm copies into "
            f".browser-assets): {', '.join(missing)}"
        )
    staging = srcdir / VENDOR
    for rel, src in sources.items():
        _copy(src, staging / rel)


def drop_duplicate_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for js in scripts:
        key = (js.filename or None, tuple(sorted(js.attributes.items())))  # an inline script has filename None or ""
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", stage_assets, priority=100)  # before Sphinx validates html_static_path (800)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)  # after the extensions add theirs
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
