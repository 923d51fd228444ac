"""One repository URL: `repository.url` in book/_config.yml feeds the launch buttons; the Colab cell of every chapter
and the README name the same repository, and the README links the book where GitHub Pages publishes it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
GITHUB_REPO_URL = re.compile(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def configured_url() -> str:
    return yaml.safe_load((BOOK / "_config.yml").read_text())["repository"]["url"]


def pages_url(repository: str) -> str:
    """Where GitHub Pages serves a project site: https://github.com/OWNER/NAME -> https://OWNER.github.io/NAME/."""
    owner, name = repository.removeprefix("https://github.com/").split("/")
    return f"https://{owner.lower()}.github.io/{name}/"


def texts() -> dict[str, str]:
    """Everything a reader or a launch button sees: the README, the config, the pages and the notebooks' code."""
    found = {"README.md": (REPO / "README.md").read_text(), "book/_config.yml": (BOOK / "_config.yml").read_text()}
    for page in sorted(BOOK.glob("*.md")):
        found[f"book/{page.name}"] = page.read_text()
    for notebook in sorted(BOOK.glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        found[f"book/{notebook.name}"] = "\n".join("".join(c["source"]) for c in cells)
    return found


def test_configured_url_is_a_github_repository():
    assert GITHUB_REPO_URL.fullmatch(configured_url()), configured_url()


def test_every_repository_url_is_the_configured_one():
    url = configured_url()
    others = {
        (where, found.rstrip("."))
        for where, text in texts().items()
        for found in GITHUB_REPO_URL.findall(text)
        if found.rstrip(".").removesuffix(".git") != url
    }
    assert not others, f"repository URLs other than repository.url ({url}) of book/_config.yml: {sorted(others)}"


def test_colab_cells_clone_the_configured_repository():
    url = configured_url()
    notebooks = {k: v for k, v in texts().items() if k.endswith(".ipynb")}
    assert notebooks
    missing = [name for name, code in notebooks.items() if f'REPOSITORY = "{url}"' not in code]
    assert not missing, f"chapters whose Colab cell does not clone {url}: {missing}"


def test_readme_names_the_repository_and_the_published_book():
    readme = (REPO / "README.md").read_text()
    url = configured_url()
    assert url in readme, f"the README does not name the repository {url}"
    assert pages_url(url) in readme, f"the README does not link the published book {pages_url(url)}"
