"""Chapter notebooks are committed clean and carry their hidden checks.

- every notebook under book/ (outside _build and checkpoints) has no outputs and null execution counts;
- every page listed in book/_toc.yml exists (as .ipynb or .md);
- every chapter notebook has a code cell tagged `remove-cell` that contains an `assert` (run by nbval and the build).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
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
