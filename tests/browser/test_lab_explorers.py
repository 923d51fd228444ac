"""The live explorers as a reader uses them: in a real JupyterLab, driven through its UI in headless chromium.

One JupyterLab server (the project's venv, 127.0.0.1, a random token, a throwaway copy of ``book/`` so nothing is
saved into the repository) serves every chapter that has an Explore panel. For each chapter the test opens the
notebook, runs it with Run > Run All Cells, and then, for every control of every panel (``georecall-explorer``
nodes), changes the control as a user would (arrow keys on a slider handle, a choice in a dropdown, a click on a
checkbox) and waits for the panel's figure, below its controls, to change its title or data. It fails on an error
output, an unexecuted cell, a console error, a panel whose figure is not below its controls or does not change, and
(multi-hop) a live figure whose log axis range is not finite or does not fit its data. After Run All, every inline
expression of the prose ({eval}`glued["key:spec"]`, georecall.prose) must show a value: jupyterlab-myst evaluated it
in the kernel (no error, none left unexecuted, which it shows as the bare expression), and one number per chapter
must read as the book prints it (myst-nb's formatting of the value, computed here from the committed tables). No
citation may show jupyterlab-myst's unresolved marker ("Citation Not Found"), every citation the chapter makes must
read with its author-year label, and the text of every note the chapter includes (```{include}``, shown in Lab by its
twin cell, georecall.lab_includes) must be visible.

Each chapter's Run All time and each control's redraw time are printed (``pytest -s``) and, with
``GEORECALL_SCREENSHOTS=DIR``, every panel is saved as ``DIR/lab-<chapter>-<n>.png``.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_paths import BOOK_DIR
from conftest import PageLog, missing
from myst_nb.core.variables import format_plain_text

from georecall import analyse
from georecall.prose import cite_markdown

pytestmark = pytest.mark.browser

RUN_ALL_TIMEOUT_S = 300  # one chapter's Run All on a busy 2-core machine
REDRAW_TIMEOUT_S = 60  # a control change until its figure redraws (the probing panel trains two models)
SERVER_START_TIMEOUT_S = 90
LAB_WIDTH, LAB_HEIGHT = 1366, 900


def _explore_chapters() -> list[str]:
    """Chapters (notebook stems) with a cell that builds a live panel (``*_explorer(...)`` or ``*_inspector(...)``)."""
    found = []
    for path in sorted(BOOK_DIR.glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        if any("explorer(" in s or "inspector(" in s for s in code):
            found.append(path.stem)
    return found


CHAPTERS = _explore_chapters() or ["no-explore-chapters-found"]  # an empty parametrisation would skip silently

# --- JavaScript run in the page --------------------------------------------------------------------------------

PROMPTS = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt'))
    .map(p => p.textContent.trim())"""

ERROR_OUTPUTS = """() => Array.from(document.querySelectorAll(
    '.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
    .map(o => o.textContent.slice(0, 400))"""

# The figure of panel i: its signature (title + a hash of its data), whether it sits below the controls, y range.
FIGURE_STATE = """(i) => {
    const panel = document.querySelectorAll('.georecall-explorer')[i];
    const gd = panel && panel.querySelector('.widget-output .js-plotly-plot');
    if (!gd || !gd._fullLayout || !gd.data) return null;
    const text = JSON.stringify(gd.data.map(t => [t.x, t.y, t.z, t.text, t.visible]));
    let h = 0;
    for (let k = 0; k < text.length; k++) h = (h * 31 + text.charCodeAt(k)) | 0;
    const controls = panel.querySelector('.widget-hbox');
    const below = controls.getBoundingClientRect().bottom <= gd.getBoundingClientRect().top + 1;
    const ys = gd._fullData.flatMap(t => Array.from(t.y || []).filter(v => typeof v === 'number' && v > 0));
    return {title: (gd.layout.title && gd.layout.title.text) || '', hash: h, below: below,
            ytype: gd._fullLayout.yaxis.type, yrange: gd._fullLayout.yaxis.range, ys: ys};
}"""

MESSAGE = """(i) => document.querySelectorAll('.georecall-explorer')[i]
    .querySelector('.widget-hbox + .widget-html').textContent"""

CONTROLS = """(i) => Array.from(document.querySelectorAll('.georecall-explorer')[i]
    .querySelectorAll('.widget-hbox > .widget-inline-hbox')).map(c => ({
        label: ((c.querySelector('.widget-label') || {}).textContent || '').replace(/\u200b/g, '')
            || (c.querySelector('.widget-label-basic') || {}).textContent || '',
        kind: c.querySelector('select') ? 'dropdown' : c.querySelector('input[type=checkbox]') ? 'checkbox'
            : c.querySelector('.noUi-handle') ? 'slider' : 'other',
        readout: (c.querySelector('.widget-readout') || {}).textContent || ''}))"""


# Every Markdown cell's inline expressions: those in its source, the results jupyterlab-myst stored in the cell's
# metadata after evaluating them, expressions still shown bare (<code>glued[...]</code>: not evaluated) and error spans.
INLINE_EXPRESSIONS = """() => window.jupyterapp.shell.currentWidget.content.widgets
    .filter(c => c.model.type === 'markdown').map(c => ({
        exprs: [...c.model.sharedModel.getSource().matchAll(/\\{eval\\}`([^`]*)`/g)].map(m => m[1]),
        results: (c.model.getMetadata('user_expressions') || []).map(r => ({expression: r.expression,
            status: r.result.status, ename: r.result.ename || '', evalue: r.result.evalue || '',
            text: (r.result.data || {})['text/plain'], markdown: (r.result.data || {})['text/markdown']})),
        bare: Array.from(c.node.querySelectorAll('code')).map(e => e.textContent).filter(t => t.startsWith('glued[')),
        errors: c.node.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]').length,
        text: c.node.innerText}))"""


# jupyterlab-myst's marker for a role it cannot resolve: a yellow span whose title says why ("Citation Not Found",
# "Citation Has No Label", ...); and the visible text of the rendered Markdown cells.
UNRESOLVED = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-MarkdownCell .text-yellow-600, '
    + '.jp-Notebook .jp-MarkdownCell [title*="Not Found"], .jp-Notebook .jp-MarkdownCell [title*="No Label"]'))
    .map(e => (e.getAttribute('title') || '') + ': ' + e.textContent)"""

MARKDOWN_TEXT = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-MarkdownCell'))
    .map(e => e.innerText).join('\\n')"""

PROBE_METRICS = ["superposition_r2", "decode_accuracy", "selectivity", "restricted_accuracy", "swap_success"]


def _book_number(chapter: str) -> tuple[str, str]:
    """(expression, text) for one number per chapter, as the book prints it: myst-nb's {glue:text} formatting of the
    value's text/plain, the value computed here from the committed tables as the chapter computes it."""
    data = BOOK_DIR / "_data"
    if chapter == "learned-capacity":
        th = analyse.thresholds(analyse.load_table("e1_capacity", data))
        fit = analyse.fit_line(th["R_log2_N"], th["d_star"])
        return 'glued["slope:.2f"]', format_plain_text(repr(fit.slope), ".2f")
    if chapter == "multi-hop":
        th = analyse.multihop.multihop_thresholds(analyse.load_table("multihop", data))
        row = th[(th.data_format == "no_cot") & (th.n_subjects == 64) & (th.n_relations == 2) & (th.hops == 2)]
        return 'glued["nc_2_2"]', format_plain_text(repr(int(row["d_star"].item())), "s")
    if chapter in ("probing", "zero-shot-transfer"):
        t = analyse.load_tables(data, names=analyse.PROBING_TABLES)
        if chapter == "probing":
            best = analyse.probing.best_core(
                analyse.probing.summarise(analyse.probing.with_recipe(t["probing"]), PROBE_METRICS),
                "superposition_r2",
            )
            return 'glued["best_r2:.2f"]', format_plain_text(repr(float(best.superposition_r2)), ".2f")
        best = analyse.probing.best_transfer(t["transfer"]).set_index("protocol")
        return 'glued["best_a_pct:.1f"]', format_plain_text(
            repr(100 * float(best.loc["superposition", "accuracy"])), ".1f"
        )
    if chapter == "beyond-one-layer":
        peaks = analyse.layers.peak_layers(analyse.load_table("layer_probes", data)).set_index("n_layers")
        return 'glued["peak_r2_L4:.2f"]', format_plain_text(repr(float(peaks.loc[4, "value"])), ".2f")
    if chapter == "appendix-disjoint":
        ds = analyse.disjoint.dstar(analyse.load_table("disjoint_dstar", data))
        grid = ds[ds["S"] == 256]
        return 'glued["dstar_max"]', format_plain_text(repr(int(grid["d_star"].max())), "s")
    return "", ""  # chapters whose numbers come from models trained on the page: the check above covers them


def _plain(markdown: str) -> str:
    """The words of a line of Markdown as a reader sees them: no emphasis marks, link targets, escapes or list marks."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown.replace("\\[", "[").replace("\\]", "]"))
    return re.sub(r"^\s*[-*] ", "", text.replace("**", "").replace("*", "")).strip()


def _check_citations_and_notes(page, chapter: str) -> tuple[int, int]:
    """No unresolved citation marker; every citation reads as its author-year label; every line of prose of every
    included note is visible. Returns (citations, note lines) checked."""
    unresolved = page.evaluate(UNRESOLVED)
    assert not unresolved, f"{chapter}: unresolved citations or references in JupyterLab: {unresolved}"
    quotes = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})  # MyST's typography
    text = " ".join(page.evaluate(MARKDOWN_TEXT).translate(quotes).split())
    source = "".join(
        "".join(c["source"])
        for c in json.loads((BOOK_DIR / f"{chapter}.ipynb").read_text())["cells"]
        if c["cell_type"] == "markdown"
    )
    notes = [(BOOK_DIR / path).read_text() for path in re.findall(r"```\{include\} (\S+)", source)]
    refs = re.findall(r'\{eval\}`glued\.cite\("([pt]:[^"]+)"\)`', source)
    refs += [f"{k}:{keys}" for k, keys in re.findall(r"\{cite:([pt])\}`([^`]+)`", source + "".join(notes))]
    for ref in refs:
        label = " ".join(_plain(cite_markdown(ref, BOOK_DIR / "references.bib")).split())
        assert label in text, f"{chapter}: the citation {ref} does not read {label!r} in JupyterLab"
    lines = [line for note in notes for line in note.splitlines() if line.strip() and not line.startswith(":")]
    for line in lines:
        for part in re.split(r"\{(?:cite:[pt]|ref)\}`[^`]*`", _plain(line)):
            part = " ".join(part.split())
            assert part in text, f"{chapter}: the included note's text {part!r} is not visible in JupyterLab"
    return len(refs), len(lines)


def _check_inline_expressions(page, chapter: str) -> tuple[dict, int]:
    """Every inline expression of every Markdown cell evaluated to a value; one number matches the book's. Returns
    the expressions shown (expression -> text) and the index of the first Markdown cell with one."""
    cells = _wait(
        lambda: (lambda cs: cs if all(len(c["results"]) == len(c["exprs"]) for c in cs) else None)(
            page.evaluate(INLINE_EXPRESSIONS)
        ),
        30,
        f"{chapter}: every Markdown cell's inline expressions to come back from the kernel",
    )
    shown = {}
    for i, cell in enumerate(cells):
        for r in cell["results"]:
            assert r["status"] == "ok", (
                f"{chapter} Markdown cell {i}: {r['expression']} gave {r['ename']}: {r['evalue']}"
            )
            value = r["markdown"] if r["markdown"] is not None else r["text"]
            assert value and value.strip(), f"{chapter} Markdown cell {i}: {r['expression']} shows nothing"
            assert not (value[0] == value[-1] and value[0] in "'\""), f"{r['expression']} shows quoted: {value}"
            shown[r["expression"]] = value
        assert not cell["bare"], f"{chapter} Markdown cell {i}: unevaluated inline expressions {cell['bare']}"
        assert not cell["errors"], f"{chapter} Markdown cell {i}: an inline expression shows an error"
        assert "{eval}" not in cell["text"] and "{glue" not in cell["text"], f"{chapter} cell {i}: raw role in the text"
    assert shown, f"{chapter}: no inline expression in the prose"
    expression, text = _book_number(chapter)
    if expression:
        assert shown.get(expression) == text, f"{chapter}: {expression} shows {shown.get(expression)!r}, book {text!r}"
        assert any(text in c["text"] for c in cells), f"{chapter}: {text} is not in the rendered prose"
    return shown, next(i for i, c in enumerate(cells) if c["exprs"])


# jupyterlab-myst (2.7) logs these two lines from the clean-up of an inline expression's renderer when a Markdown cell
# re-renders after its old DOM node was already replaced, a timing race on a loaded machine. The new renderer shows
# the value; the test accepts the lines only for expressions it has just read as shown, and reports them.
MYST_RENDERER_CLEANUP = re.compile(
    r"^(?:Could not dispose of renderer|Unable to detach expression renderer) for `(.+)`: node is not connected$"
)


def _myst_cleanup_races(log: PageLog, shown: dict) -> list[str]:
    """Remove from ``log`` the jupyterlab-myst clean-up lines about expressions in ``shown``; return their names."""
    kept, races = [], []
    for text, url in log.console_errors:
        m = MYST_RENDERER_CLEANUP.match(text)
        if m and "/lab/extensions/jupyterlab-myst/" in url and m.group(1) in shown:
            races.append(m.group(1))
        else:
            kept.append((text, url))
    log.console_errors[:] = kept
    return sorted(set(races))


# --- the JupyterLab server ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(settings_dir: Path) -> None:
    """User settings: render every cell (no windowing, so the test sees all prompts) and never autosave."""
    for plugin, values in {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        package, name = plugin.rsplit("/", 1)
        target = settings_dir / package / f"{name}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(base URL, token) of a JupyterLab serving a copy of the book's chapters and data."""
    try:
        import jupyterlab  # noqa: F401
        import jupyterlab_myst  # noqa: F401
    except ImportError as err:
        missing(f"JupyterLab is not installed ({err}; pip install -e '.[lab]')")
    root = tmp_path_factory.mktemp("lab")
    book = root / "book"
    shutil.copytree(BOOK_DIR, book, ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints", "_vendor"))
    _write_settings(root / "settings")
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "BOOK_SCALE": os.environ.get("BOOK_SCALE", "smoke"),
    }
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}"]
    cmd += [f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={book}", "--ServerApp.port_retries=0"]
    cmd += ["--LabApp.expose_app_in_browser=True"]  # window.jupyterapp: the cells' models, for the prose check
    cmd += ["--allow-root"] if os.getuid() == 0 else []
    log_path = root / "lab.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:  # the kernel specs answer too (a notebook opened before they do asks which kernel to start)
                with urllib.request.urlopen(f"{base}/api/kernelspecs?token={token}", timeout=5) as r:
                    if "python3" in json.load(r).get("kernelspecs", {}):
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start: {log_path.read_text()[-3000:]}", pytrace=False)
            time.sleep(0.5)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _api(base: str, token: str, path: str, method: str = "GET", body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}/api/{path}", data=data, method=method)
    req.add_header("Authorization", f"token {token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read()
    return json.loads(text) if text else None


def _start_kernel(base: str, token: str, notebook: str) -> None:
    """Start the notebook's session (its python3 kernel) through the REST API before the page opens it, so the page
    attaches to that kernel instead of asking which kernel to start (it asks when the notebook opens before the
    kernel specs have loaded)."""
    _api(base, token, "sessions", "POST", {"path": notebook, "type": "notebook", "kernel": {"name": "python3"}})


def _wait_kernel_idle(base: str, token: str, notebook: str) -> None:
    """Wait until the server reports an idle kernel with a client connected (the page) for ``notebook``."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S

    def ready():
        kernels = [s["kernel"] for s in _api(base, token, "sessions") if s["path"] == notebook]
        return any(k["execution_state"] == "idle" and k.get("connections", 1) > 0 for k in kernels)

    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"no idle kernel with a client for {notebook}", pytrace=False)
        time.sleep(0.5)


def _shutdown_kernels(base: str, token: str) -> None:
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10) as r:
        sessions = json.load(r)
    for s in sessions:
        req = urllib.request.Request(f"{base}/api/sessions/{s['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


@pytest.fixture(scope="module")
def lab_page(browser, lab):
    """One chromium page for all chapters, with a log of console errors and uncaught page errors."""
    context = browser.new_context(viewport={"width": LAB_WIDTH, "height": LAB_HEIGHT})
    page = context.new_page()
    log = PageLog()
    page.on("console", lambda m: m.type == "error" and log.console_errors.append((m.text, m.location.get("url", ""))))
    page.on("pageerror", lambda exc: log.page_errors.append((exc.message, exc.stack or "")))
    try:
        yield page, log
    finally:
        context.close()


# --- driving the UI ------------------------------------------------------------------------------------------------


def _wait(predicate, timeout_s: float, what: str, poll_s: float = 0.25):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}", pytrace=False)


def _accept_dialogs(page) -> list[str]:
    """Answer any modal dialog JupyterLab shows while a notebook opens (the kernel chooser, when the kernel specs
    arrive after the notebook: pick the Python kernel, never "No Kernel"), and return their texts."""
    texts = []
    for _ in range(5):
        dialog = page.locator(".jp-Dialog")
        if not dialog.count():
            break
        texts.append(" ".join(dialog.first.inner_text().split()))
        choice = dialog.first.locator("select")
        if choice.count():
            labels = choice.first.locator("option").all_text_contents()
            python = [label for label in labels if label.startswith("Python 3")]
            assert python, f"no Python kernel offered in the kernel chooser: {labels}"
            choice.first.select_option(label=python[0])
        dialog.first.locator(".jp-mod-accept").first.click()
        time.sleep(0.5)
    return texts


def _run_all(page) -> None:
    """Run > Run All Cells from the menu bar, then wait until no cell is running or queued."""

    def started():
        return any(p != "[ ]:" for p in page.evaluate(PROMPTS))

    for _ in range(3):  # a click while the page is still settling can miss the menu: try again
        for text in _accept_dialogs(page):
            print(f"\n  accepted a dialog: {text}")
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        deadline = time.monotonic() + 10
        while not started() and time.monotonic() < deadline:
            time.sleep(0.25)
        if started():
            break
    else:
        pytest.fail("Run > Run All Cells started no cell", pytrace=False)
    stable = []

    def done():
        prompts = page.evaluate(PROMPTS)
        idle = any(p[1:-2].isdigit() for p in prompts) and not any("*" in p for p in prompts)
        stable.append(idle)
        return idle and stable[-4:] == [True] * 4  # idle for four polls in a row (one second)

    _wait(done, RUN_ALL_TIMEOUT_S, "Run All Cells to finish")


def _change(page, panel: int, index: int, kind: str, key: str) -> None:
    """Change control ``index`` of ``panel`` through the UI."""
    control = page.locator(".georecall-explorer").nth(panel).locator(".widget-hbox > .widget-inline-hbox").nth(index)
    control.scroll_into_view_if_needed()
    if kind == "slider":
        handle = control.locator(".noUi-handle").first
        handle.focus()
        page.keyboard.press(key)
    elif kind == "dropdown":
        select = control.locator("select")
        options = select.locator("option").all_text_contents()
        current = select.evaluate("s => s.options[s.selectedIndex].text")
        step = 1 if key == "ArrowRight" else -1
        select.select_option(label=options[(options.index(current) + step) % len(options)])
    elif kind == "checkbox":
        control.locator("input[type=checkbox]").click()
    else:
        pytest.fail(f"control {index} of panel {panel} is of an unknown kind", pytrace=False)


def _redraw(page, panel: int, before: dict, stale: str = "") -> tuple[dict | None, str]:
    """Wait until panel ``panel``'s figure differs from ``before`` or its message line shows an error (other than
    ``stale``, the error an earlier change left there)."""

    def changed():
        state = page.evaluate(FIGURE_STATE, panel)
        message = page.evaluate(MESSAGE, panel)
        if "⚠" in message and message != stale:
            return (None, message)
        new = state and (state["title"], state["hash"]) != (before["title"], before["hash"])
        if new and "redrawing" not in message:
            return (state, message)
        return None

    return _wait(changed, REDRAW_TIMEOUT_S, f"panel {panel}'s figure to redraw")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_control_redraws_its_panel_in_jupyterlab(chapter, lab, lab_page):
    if chapter == "no-explore-chapters-found":
        pytest.fail(f"no chapter in {BOOK_DIR} builds a live panel", pytrace=False)
    base, token = lab
    page, log = lab_page
    log.console_errors.clear()
    log.page_errors.clear()
    start = time.monotonic()
    _start_kernel(base, token, f"{chapter}.ipynb")
    # ?reset: a fresh workspace, so the chapter opened before is not restored next to this one
    page.goto(f"{base}/lab/tree/{chapter}.ipynb?reset&token={token}", wait_until="load", timeout=120_000)
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
    _wait(lambda: page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count(), 120, "the kernel")
    _wait_kernel_idle(base, token, f"{chapter}.ipynb")
    _run_all(page)
    ran_s = time.monotonic() - start
    try:
        prompts = page.evaluate(PROMPTS)
        assert all(p[1:-2].isdigit() for p in prompts), f"{chapter}: cells left unexecuted (an error stops Run All)"
        errors = [e for e in page.evaluate(ERROR_OUTPUTS) if "Error" in e or "Traceback" in e]
        assert not errors, f"{chapter}: error output:\n" + "\n---\n".join(errors)
        shown, first = _check_inline_expressions(page, chapter)
        n_expressions = len(shown)
        _screenshot_prose(page, chapter, first)
        n_citations, n_note_lines = _check_citations_and_notes(page, chapter)
        _screenshot_note(page, chapter)
        n_panels = page.locator(".georecall-explorer").count()
        assert n_panels >= 1, f"{chapter}: no live panel rendered after Run All"
        print(
            f"\n{chapter}: Run All {ran_s:.1f} s, {n_expressions} inline expressions shown, {n_citations} citations and"
            f" {n_note_lines} lines of included notes read, {n_panels} panel(s)"
        )
        for panel in range(n_panels):
            state = _wait(lambda p=panel: page.evaluate(FIGURE_STATE, p), 30, f"panel {panel}'s first figure")
            assert state["below"], f"{chapter}: panel {panel}'s figure is not below its controls"
            if chapter == "multi-hop":
                _check_log_range(state)
            for index, control in enumerate(page.evaluate(CONTROLS, panel)):
                label = f"{chapter} panel {panel} control {control['label']!r} ({control['kind']})"
                t0 = time.monotonic()
                _change(page, panel, index, control["kind"], "ArrowRight")
                after, message = _redraw(page, panel, state)
                if after is None and control["kind"] == "slider":  # out of the construction's range: step back
                    _change(page, panel, index, "slider", "ArrowLeft")
                    page.keyboard.press("ArrowLeft")
                    after, message = _redraw(page, panel, state, stale=message)
                    assert after is not None, f"{label}: both directions give an error: {message}"
                assert after["below"], f"{label}: the redrawn figure is not below the controls"
                if chapter == "multi-hop":
                    _check_log_range(after)
                print(f"  {control['label'] or control['kind']}: redrawn in {time.monotonic() - t0:.2f} s")
                state = after
            _screenshot(page, chapter, panel)
        races = _myst_cleanup_races(log, shown)
        if races:
            print(f"  jupyterlab-myst renderer clean-up race (values shown) for: {', '.join(races)}")
        assert not log.problems(), f"{chapter}: " + "\n".join(log.problems())
    finally:
        _shutdown_kernels(base, token)


def _check_log_range(state: dict) -> None:
    """The multi-hop figure's y axis is logarithmic, with a finite range (in log10 units) that holds its data and
    is not stretched by more than a decade on either side."""
    lo, hi = state["yrange"]
    assert state["ytype"] == "log", f"the multi-hop figure's y axis is {state['ytype']}, not log"
    assert math.isfinite(lo) and math.isfinite(hi) and lo < hi, f"y range {state['yrange']} is not finite"
    ymin, ymax = math.log10(min(state["ys"])), math.log10(max(state["ys"]))
    assert lo <= ymin and hi >= ymax, f"y range {state['yrange']} does not hold the data [{ymin:.2f}, {ymax:.2f}]"
    assert lo >= ymin - 1 and hi <= ymax + 1, f"y range {state['yrange']} stretches beyond [{ymin:.2f}, {ymax:.2f}]"


def _screenshot_prose(page, chapter: str, cell: int) -> None:
    """Markdown cell ``cell`` (the first with numbers) after Run All, in view, as ``DIR/lab-<chapter>-prose.png``."""
    folder = os.environ.get("GEORECALL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        target = page.locator(".jp-Notebook .jp-MarkdownCell").nth(cell)
        target.evaluate("e => e.scrollIntoView({block: 'start'})")
        time.sleep(0.5)
        page.screenshot(path=f"{folder}/lab-{chapter}-prose.png")


def _screenshot_note(page, chapter: str) -> None:
    """The chapter's included note and its first Markdown cell with a citation (``glued.cite``), each in view, as
    ``DIR/lab-<chapter>-note.png`` and ``DIR/lab-<chapter>-cite.png``."""
    folder = os.environ.get("GEORECALL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        cited = page.evaluate(
            """() => window.jupyterapp.shell.currentWidget.content.widgets.filter(c => c.model.type === 'markdown')
                .findIndex(c => c.model.sharedModel.getSource().includes('glued.cite('))"""
        )
        targets = {"note": page.locator(".jp-Notebook .jp-MarkdownCell", has_text="statements labelled").first}
        if cited >= 0:
            targets["cite"] = page.locator(".jp-Notebook .jp-MarkdownCell").nth(cited)
        for name, target in targets.items():
            target.evaluate("e => e.scrollIntoView({block: 'center'})")
            time.sleep(0.5)
            page.screenshot(path=f"{folder}/lab-{chapter}-{name}.png")


def _screenshot(page, chapter: str, panel: int) -> None:
    folder = os.environ.get("GEORECALL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.locator(".georecall-explorer").nth(panel).screenshot(path=f"{folder}/lab-{chapter}-{panel}.png")
