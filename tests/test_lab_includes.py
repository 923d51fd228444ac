"""Included notes and citations read in JupyterLab as in the book (georecall.lab_includes, georecall.prose).

- every chapter's ```{include}``` cell is followed by its JupyterLab twin, a ``remove-cell`` Markdown cell equal to
  the note as :func:`georecall.lab_includes.lab_markdown` rewrites it (so the note has one source, the include file);
- the rewrite leaves no role jupyterlab-myst cannot resolve, and its citations read as sphinxcontrib-bibtex's
  author-year ones.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from book_toc import toc_files

from georecall.lab_includes import INCLUDE_CELL, TWIN_TAG, lab_markdown, sync_notebook, twin_source
from georecall.prose import CITE_PATTERN, Glued, cite_markdown

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = [f for f in toc_files(BOOK) if (BOOK / f"{f}.ipynb").is_file()]

BIB = r"""
@misc{one2020, author = {Solo, Ann}, title = {A}, year = {2020}, url = {https://example.org/one}}
@misc{two2021, author = {First, Bo and Second, Cy}, title = {B}, year = {2021}}
@misc{three2022, author = {J{\'e}gou, Herv{\'e} and Two, Di and Three, Ed}, title = {C}, year = {2022},
  url = {https://example.org/three}}
@misc{anon2023, title = {D}, year = {2023}}
"""


@pytest.fixture
def book(tmp_path: Path) -> Path:
    (tmp_path / "references.bib").write_text(BIB)
    (tmp_path / "theory.md").write_text("(theory-x)=\n# Theory\n")
    return tmp_path


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_include_cell_has_its_current_lab_twin(chapter):
    path = BOOK / f"{chapter}.ipynb"
    cells = json.loads(path.read_text())["cells"]
    includes = [i for i, c in enumerate(cells) if INCLUDE_CELL.match("".join(c["source"]))]
    assert includes, f"{chapter}: no included note"
    for i in includes:
        twin = cells[i + 1]
        assert twin["cell_type"] == "markdown" and twin["metadata"].get("tags") == [TWIN_TAG], f"{chapter} cell {i + 1}"
        note = INCLUDE_CELL.match("".join(cells[i]["source"]))[1]
        assert "".join(twin["source"]) == twin_source(note, BOOK), f"{chapter}: stale twin (python -m ...lab_includes)"
    assert not sync_notebook(path, write=False)


def test_the_book_note_keeps_no_role_in_its_twin():
    text = twin_source("_includes/provenance.md", BOOK)
    assert not re.search(r"\{[a-z:]+\}`", text)
    assert "[Ravfogel *et al.*, 2026](https://arxiv.org/abs/2605.12426)" in text
    assert "[theory page](theory.md)" in text


def test_citations_read_as_author_year(book):
    bib = book / "references.bib"
    assert cite_markdown("p:one2020", bib) == r"\[[Solo, 2020](https://example.org/one)\]"
    assert cite_markdown("p:two2021,three2022", bib) == (
        r"\[First and Second, 2021, [Jégou *et al.*, 2022](https://example.org/three)\]"
    )
    assert cite_markdown("t:three2022", bib) == r"Jégou *et al.* \[[2022](https://example.org/three)\]"
    assert cite_markdown("p:two2021,three2022", bib, markdown=False) == "[First and Second, 2021, Jégou et al., 2022]"
    said = Glued(bibliography=bib).cite("t:three2022")
    assert repr(said) == "Jégou et al. [2022]" and said._repr_markdown_() is None  # text/plain: shown inline


@pytest.mark.parametrize(
    ("ref", "message"),
    [("x:one2020", "glued.cite takes"), ("p:", "glued.cite takes"), ("p:nope", "not in"), ("p:anon2023", "no author")],
)
def test_bad_citations_are_clear_errors(book, ref, message):
    with pytest.raises(ValueError, match=message):
        cite_markdown(ref, book / "references.bib")


def test_missing_bibliography_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="bibliography must be an existing"):
        cite_markdown("p:one2020", tmp_path / "none.bib")


def test_the_cite_expression_form():
    assert re.match(CITE_PATTERN, 'glued.cite("p:a2020,b-2021")')
    assert re.match(CITE_PATTERN, 'glued.cite("t:a2020")')
    assert not re.match(CITE_PATTERN, 'glued.cite("q:a2020")')
    assert not re.match(CITE_PATTERN, 'glued.cite("p:a2020"); x')


def test_lab_markdown_rewrites_cite_and_ref(book):
    out = lab_markdown("See {cite:t}`one2020` and {ref}`the theory <theory-x>`.", book)
    assert out == r"See Solo \[[2020](https://example.org/one)\] and [the theory](theory.md)."
    with pytest.raises(ValueError, match="defined on no page"):
        lab_markdown("{ref}`t <nowhere>`", book)
    with pytest.raises(ValueError, match="cannot resolve"):
        lab_markdown("{doc}`theory`", book)


def test_sync_inserts_then_keeps_the_twin(book):
    (book / "_includes").mkdir()
    (book / "_includes" / "n.md").write_text("A note {cite:p}`one2020`.\n")
    nb = {
        "cells": [
            {"cell_type": "markdown", "id": "c0", "metadata": {}, "source": ["```{include} _includes/n.md\n", "```"]}
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = book / "ch.ipynb"
    path.write_text(json.dumps(nb))
    assert sync_notebook(path) and not sync_notebook(path)
    cells = json.loads(path.read_text())["cells"]
    assert len(cells) == 2 and cells[1]["source"][-1] == r"A note \[[Solo, 2020](https://example.org/one)\]."
    (book / "_includes" / "n.md").write_text("Changed.\n")
    assert sync_notebook(path, write=False)
