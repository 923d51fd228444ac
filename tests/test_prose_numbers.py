"""The chapters' computed numbers reach the prose as inline expressions that read the same in the book and in Lab.

- no chapter or page cites a number with myst-nb's ``{glue:...}`` roles (JupyterLab cannot render them);
- every ``{eval}`...``` expression has the one form ``glued["key"]`` / ``glued["key:spec"]``
  (georecall.prose.EXPRESSION_PATTERN), or is a citation ``glued.cite("p:key")`` (georecall.prose.CITE_PATTERN), the
  forms the book's ``glued_eval`` extension reads; a citation comes after the code cell that makes ``glued``, and no
  chapter uses a ``{cite:...}`` role (jupyterlab-myst cannot read the BibTeX file: it shows "Citation Not Found");
- every cited key is glued, with a literal key (or an f-string pattern), in a code cell ABOVE the first Markdown
  cell that cites it: Run All in JupyterLab evaluates a Markdown cell's expressions when it reaches the cell.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml
from book_toc import toc_files

from georecall.prose import CITE_PATTERN, EXPRESSION_PATTERN, KEY_PATTERN

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = [f for f in toc_files(BOOK) if (BOOK / f"{f}.ipynb").is_file()]
PAGES = [f for f in toc_files(BOOK) if (BOOK / f"{f}.md").is_file()]
EVAL_ROLE = re.compile(r"\{eval\}`([^`]*)`")
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`")
CITE_ROLE = re.compile(r"\{cite(?::\w+)?\}`")


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _key_pattern(node: ast.expr) -> str | None:
    """The regex of the keys a ``glue(...)`` first argument can produce: a literal, or an f-string whose fields
    become identifier runs; None for anything else (a variable key cannot be checked)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        parts = [re.escape(v.value) if isinstance(v, ast.Constant) else r"\w+" for v in node.values]
        return "".join(parts)
    return None


def glued_keys(code: str) -> tuple[list[str], list[int]]:
    """The key patterns of every ``glue(key, value)`` call in ``code``, and the lines of calls whose key is neither
    a literal nor an f-string."""
    patterns, bad = [], []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "glue" and node.args:
            pattern = _key_pattern(node.args[0])
            (patterns.append(pattern) if pattern is not None else bad.append(node.lineno))
    return patterns, bad


def citation_problems(cells: list[dict]) -> list[str]:
    """Every expression that is not of the admitted form, cites a key no code cell above glues, or uses a glue
    role; and every glue call with a computed key. Empty when the chapter reads in order."""
    problems, known, made = [], [], False
    for i, cell in enumerate(cells):
        src = _source(cell)
        if cell["cell_type"] == "code":
            made = made or re.search(r"^glued = Glued\(", src, re.M) is not None
            patterns, bad = glued_keys(src)
            known += patterns
            problems += [f"cell {i} line {n}: glue() key is not a literal or an f-string" for n in bad]
            continue
        if cell["cell_type"] != "markdown":
            continue
        if GLUE_ROLE.search(src):
            problems.append(f"cell {i}: a {{glue:...}} role (JupyterLab cannot render it; use {{eval}})")
        if CITE_ROLE.search(src):
            problems.append(f'cell {i}: a {{cite:...}} role (JupyterLab cannot resolve it; use glued.cite("p:key"))')
        for expr in EVAL_ROLE.findall(src):
            if re.match(CITE_PATTERN, expr):
                if not made:
                    problems.append(f"cell {i}: {{eval}}`{expr}` before any code cell above makes glued = Glued()")
                continue
            if not re.match(EXPRESSION_PATTERN, expr):
                problems.append(f'cell {i}: {{eval}}`{expr}` is not of the form glued["key"] / glued["key:spec"]')
                continue
            key = re.match(rf'glued\["({KEY_PATTERN})', expr)[1]
            if not any(re.fullmatch(p, key) for p in known):
                problems.append(f"cell {i}: {key!r} is cited before any code cell above glues it")
    return problems


@pytest.mark.parametrize("page", CHAPTERS)
def test_every_cited_number_is_glued_above_its_first_citation(page):
    cells = json.loads((BOOK / f"{page}.ipynb").read_text())["cells"]
    assert any(EVAL_ROLE.search(_source(c)) for c in cells if c["cell_type"] == "markdown"), f"{page}: no {{eval}}"
    problems = citation_problems(cells)
    assert not problems, f"{page}: " + "; ".join(problems)


@pytest.mark.parametrize("page", PAGES)
def test_pages_cite_no_glued_numbers(page):
    """Markdown pages have no kernel: an {eval} or {glue} role there could never be filled."""
    text = (BOOK / f"{page}.md").read_text()
    assert not GLUE_ROLE.search(text) and not EVAL_ROLE.search(text), page


def test_the_book_reads_the_expressions_from_the_executed_notebooks():
    """The book loads the extension that reads {eval}`glued[...]`, and executes every notebook whole (not inline,
    which would skip the hidden cells), failing on any error."""
    config = yaml.safe_load((BOOK / "_config.yml").read_text())
    assert config["sphinx"]["local_extensions"].get("glued_eval") == "_ext"
    assert config["execute"]["execute_notebooks"] == "force" and config["execute"]["raise_on_error"] is True
    assert "nb_execution_mode" not in config["sphinx"]["config"]


def _md(text: str) -> dict:
    return {"cell_type": "markdown", "source": text}


def _code(text: str) -> dict:
    return {"cell_type": "code", "source": text}


def test_the_order_check_finds_a_number_cited_too_early():
    ok = [
        _code('glue("a", 1)\nfor r in (1, 2):\n    glue(f"b_{r}", r)'),
        _md('{eval}`glued["a:.1f"]` {eval}`glued["b_2"]`'),
    ]
    assert citation_problems(ok) == []
    early = [_md('{eval}`glued["a"]`'), _code('glue("a", 1)')]
    assert citation_problems(early) == ["cell 0: 'a' is cited before any code cell above glues it"]
    assert "not of the form" in citation_problems([_code('glue("a", 1)'), _md("{eval}`a + 1`")])[0]
    assert "computed key" not in citation_problems([_code("glue(name, 1)")])[0]
    assert "not a literal" in citation_problems([_code("glue(name, 1)")])[0]
    assert "role" in citation_problems([_code('glue("a", 1)'), _md("{glue:text}`a`")])[0]
    cite = '{eval}`glued.cite("p:k1,k2")`'
    assert citation_problems([_code("glued = Glued()"), _md(cite)]) == []
    assert "before any code cell" in citation_problems([_md(cite), _code("glued = Glued()")])[0]
    assert "{cite:...} role" in citation_problems([_code("glued = Glued()"), _md("{cite:p}`k1`")])[0]
