"""Where the browser tests find the book (shared by conftest.py and the tests; tests/ is not a package)."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BOOK_DIR = Path(os.environ.get("GEORECALL_BOOK_DIR", REPO / "book")).resolve()
HTML_DIR = BOOK_DIR / "_build" / "html"
