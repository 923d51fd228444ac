"""Chapter notebooks are committed clean and carry their hidden checks.

- every notebook under book/ (outside _build and checkpoints) has no outputs and null execution counts;
- every page listed in book/_toc.yml exists (as .ipynb or .md);
- every chapter notebook has a code cell tagged `remove-cell` that contains an `assert` (run by nbval and the build);
- chapters link each other as Markdown links with the target's title (JupyterLab cannot resolve {doc}).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from book_toc import toc_files

BOOK = Path(__file__).resolve().parents[1] / "book"
SKIP_PARTS = {"_build", ".ipynb_checkpoints", ".jupyter_cache"}


def book_notebooks() -> list[Path]:
    return sorted(p for p in BOOK.rglob("*.ipynb") if not SKIP_PARTS & set(p.relative_to(BOOK).parts))


def code_cells(path: Path) -> list[dict]:
    nb = json.loads(path.read_text())
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def rel(path: Path) -> str:
    return str(path.relative_to(BOOK))


@pytest.mark.parametrize("path", book_notebooks(), ids=rel)
def test_notebook_has_no_outputs(path):
    dirty = [i for i, c in enumerate(code_cells(path)) if c.get("outputs") or c.get("execution_count") is not None]
    assert not dirty, f"{rel(path)}: code cells {dirty} have outputs or execution counts; clear them (nbstripout)"


def test_toc_pages_exist():
    missing = [f for f in toc_files(BOOK) if not any((BOOK / f"{f}{ext}").is_file() for ext in (".ipynb", ".md"))]
    assert not missing, f"_toc.yml lists pages with no book/<page>.ipynb or .md: {missing}"


@pytest.mark.parametrize("page", [f for f in toc_files(BOOK) if not (BOOK / f"{f}.md").is_file()])
def test_chapter_has_hidden_asserts(page):
    path = BOOK / f"{page}.ipynb"
    assert path.is_file(), f"chapter {page!r} from _toc.yml has no notebook {rel(path)}"
    hidden = [
        c
        for c in code_cells(path)
        if "remove-cell" in c.get("metadata", {}).get("tags", []) and re.search(r"^\s*assert\b", source(c), re.M)
    ]
    assert hidden, f"{rel(path)}: no code cell tagged `remove-cell` containing an `assert` (the hidden checks)"


# --- Colab / Binder: the shown code runs on its own ---------------------------------------------------------------

CHAPTERS = [f for f in toc_files(BOOK) if (BOOK / f"{f}.ipynb").is_file()]
HIDDEN = {"remove-cell", "remove-input"}


def tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def names_bound(tree) -> set[str]:
    """Every name a cell binds at any level (assignments, imports, defs, loop and comprehension targets)."""
    import ast

    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound


@pytest.mark.parametrize("page", CHAPTERS)
def test_visible_code_runs_on_its_own(page):
    """A reader who copies only the code the book shows (or runs it on Colab/Binder) never meets a name that only a
    hidden cell defines: every name a visible cell reads is bound by an earlier visible cell or is a builtin."""
    import ast
    import builtins

    known = set(dir(builtins))
    unbound = []
    for i, cell in enumerate(code_cells(BOOK / f"{page}.ipynb")):
        if tags(cell) & HIDDEN:
            continue
        tree = ast.parse(source(cell))
        local = names_bound(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in known | local:
                unbound.append(f"code cell {i}: {node.id}")
        known |= local
    assert not unbound, f"{page}: visible cells read names that only hidden cells define: {unbound}"


@pytest.mark.parametrize("page", CHAPTERS)
def test_first_cells_install_on_colab_then_import(page):
    """The first code cell installs the package and fetches the data on Colab only (guarded, from the repository
    named in _config.yml); the first visible code cell imports georecall."""
    cells = code_cells(BOOK / f"{page}.ipynb")
    install = source(cells[0])
    assert '"google.colab" in sys.modules' in install, f"{page}: first code cell is not the guarded Colab install"
    repo = yaml.safe_load((BOOK / "_config.yml").read_text())["repository"]["url"]
    assert f'"{repo}"' in install, f"{page}: the install cell does not clone {repo} (repository.url of _config.yml)"
    assert "_data" in install, f"{page}: the install cell does not fetch the data tables"
    visible = [c for c in cells if not tags(c) & HIDDEN]
    assert visible and "from georecall import" in source(visible[0]), (
        f"{page}: first visible cell must import georecall"
    )


# --- JupyterLab: links between chapters -----------------------------------------------------------------------------


def _title(page: str) -> str:
    cells = json.loads((BOOK / f"{page}.ipynb").read_text())["cells"]
    return re.match(r"# (.+)", source(cells[0]))[1].strip()


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapters_link_chapters_as_markdown_links_with_their_titles(page):
    """A chapter names another as [its title](other.ipynb), never {doc}`other`: jupyterlab-myst renders {doc} as a
    link to a file without extension (a 404 in JupyterLab) and shows the bare name; the Markdown link opens the
    notebook there and reads as the book's {doc} did (the target's title), which this checks."""
    markdown = "\n".join(
        source(c) for c in json.loads((BOOK / f"{page}.ipynb").read_text())["cells"] if c["cell_type"] == "markdown"
    )
    assert "{doc}" not in markdown, f"{page}: a {{doc}} role (JupyterLab cannot resolve it); link [title](page.ipynb)"
    for text, target in re.findall(r"\[([^\]]+)\]\(([\w-]+)\.ipynb\)", markdown):
        assert target in CHAPTERS, f"{page}: link to {target}.ipynb, which is not a chapter"
        assert text == _title(target), f"{page}: link text {text!r} is not the title of {target}: {_title(target)!r}"
