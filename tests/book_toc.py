"""Read the book's table of contents (shared by the notebook-hygiene and browser tests)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml


def toc_files(book_dir: Path) -> list[str]:
    """Every `file:` of `book_dir/_toc.yml` (root, parts, chapters, sections), in order, without suffix."""
    toc_path = book_dir / "_toc.yml"
    if not toc_path.is_file():
        return []
    toc = yaml.safe_load(toc_path.read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key))

    walk([{k: toc[k] for k in ("parts", "chapters", "sections") if k in toc}])
    return [re.sub(r"\.(ipynb|md)$", "", f) for f in files]
