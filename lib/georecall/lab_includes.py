"""The chapters' included notes, as JupyterLab can show them: one source, two renderings.

A chapter includes a shared note with a Markdown cell holding only ```` ```{include} _includes/<note>.md``` ````. The
book renders it; jupyterlab-myst (2.7) does not process ``{include}`` (it shows nothing), cannot read a BibTeX file
(every ``{cite:...}`` shows as an unresolved citation) and cannot resolve a ``{ref}`` to another document. So the cell
after each include cell is the note's *Lab twin*: a Markdown cell tagged ``remove-cell`` (the book drops it, Jupyter
shows it) holding the note's text with its roles rewritten to plain Markdown that needs no kernel (the note may come
before a chapter's first code cell):

- ``{cite:p}`k1,k2``` / ``{cite:t}`k``` -> :func:`georecall.prose.cite_markdown` (the book's author-year text, each
  label linked to the entry's URL);
- ``{ref}`text <label>``` -> ``[text](page.md)``, the page of the book whose source defines ``(label)=``.

``python -m georecall.lab_includes BOOK_DIR`` writes the twins (``--check``: exit 1 if one is missing or stale);
tests/test_lab_includes.py checks that every twin equals :func:`lab_markdown` of its note.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from georecall.prose import cite_markdown

__all__ = ["INCLUDE_CELL", "TWIN_TAG", "lab_markdown", "twin_source", "sync_notebook", "main"]

INCLUDE_CELL = re.compile(r"^```\{include\} (\S+)\n```\s*$")
TWIN_TAG = "remove-cell"
_MARKER = "% JupyterLab's copy of {path} (the book shows the include above): python -m georecall.lab_includes"
_CITE = re.compile(r"\{cite:([pt])\}`([^`]+)`")
_REF = re.compile(r"\{ref\}`([^`<]+?)\s*<([^`>]+)>`")
_ROLE = re.compile(r"\{[a-z][a-z:-]*\}`")


def _label_pages(book_dir: Path) -> dict[str, str]:
    """Every ``(label)=`` target of the book's Markdown pages, mapped to its page's file name."""
    pages = {}
    for page in sorted(book_dir.glob("*.md")):
        for label in re.findall(r"^\(([^)\s]+)\)=\s*$", page.read_text(), re.M):
            pages[label] = page.name
    return pages


def lab_markdown(text: str, book_dir: Path) -> str:
    """``text`` (MyST) with its ``{cite:p}``/``{cite:t}`` and ``{ref}`text <label>``` roles rewritten as described in
    the module docstring; any other role, or a label defined by no page, is a ValueError."""
    book_dir = Path(book_dir)
    pages = _label_pages(book_dir)
    out = _CITE.sub(lambda m: cite_markdown(f"{m[1]}:{m[2].replace(' ', '')}", book_dir / "references.bib"), text)

    def ref(m: re.Match) -> str:
        if m[2] not in pages:
            raise ValueError(f"{{ref}} label {m[2]!r} is defined on no page of {book_dir}")
        return f"[{m[1]}]({pages[m[2]]})"

    out = _REF.sub(ref, out)
    if _ROLE.search(out):
        raise ValueError(f"a role JupyterLab cannot resolve is left: {_ROLE.search(out)[0]}...")
    return out


def twin_source(include_path: str, book_dir: Path) -> str:
    """The Lab twin's cell source for ``{include} include_path`` (a path relative to ``book_dir``)."""
    note = (Path(book_dir) / include_path).read_text()
    return _MARKER.format(path=include_path) + "\n" + lab_markdown(note, book_dir).rstrip("\n")


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def sync_notebook(path: Path, write: bool = True) -> bool:
    """Insert or update the Lab twin after every include cell of the notebook at ``path``; True if it changed (and,
    with ``write``, was rewritten as Jupyter writes notebooks: one-space indent, UTF-8)."""
    nb = json.loads(path.read_text())
    cells, changed, i = nb["cells"], False, 0
    while i < len(cells):
        match = INCLUDE_CELL.match("".join(cells[i]["source"])) if cells[i]["cell_type"] == "markdown" else None
        if match:
            source = _lines(twin_source(match[1], path.parent))
            twin = {"cell_type": "markdown", "id": f"{cells[i]['id']}-lab", "metadata": {"tags": [TWIN_TAG]}}
            twin["source"] = source
            nxt = cells[i + 1] if i + 1 < len(cells) else None
            if nxt is not None and "".join(nxt["source"]).startswith(_MARKER.split("{path}")[0]):
                if nxt != twin:
                    cells[i + 1], changed = twin, True
            else:
                cells.insert(i + 1, twin)
                changed = True
            i += 1
        i += 1
    if changed and write:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m georecall.lab_includes", description=__doc__.split("\n")[0])
    parser.add_argument("book_dir", type=Path)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a twin is missing or stale")
    args = parser.parse_args(argv)
    stale = [p.name for p in sorted(args.book_dir.glob("*.ipynb")) if sync_notebook(p, write=not args.check)]
    if stale:
        print(("stale: " if args.check else "updated: ") + ", ".join(stale))
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
