"""The package's layout: one-way imports (lowest first), torch-free declarative modules, small modules, imports at
the top, and no reference to documents or machine paths outside the repository."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "lib" / "georecall"
# The import order, lowest first: a module may import only modules listed before it.
ORDER = [
    "_checks",
    "repro",
    "theory.bijection",
    "train.recipe",
    "tasks.bijection",
    "model.transformer",
    "model.recall",
    "construct.bijection",
    "theory.multihop",
    "model.multihop",
    "construct.multihop",
    "tasks.disjoint",
    "theory.disjoint",
    "construct.disjoint",
    "probe.storage",
    "probe.selector",
    "probe.summary",
    "train._fused",
    "train.batched",
    "train.loop",
    "run.executors",
    "probe.transfer",
    "run.cache",
    "sweep.configs",
    "sweep.search",
    "sweep.probing",
    "sweep.presets",
    "run.disjoint",
    "run.multihop",
    "sweep.tables",
    "run.scheduler",
    "analyse.bijection",
    "analyse.multihop",
    "analyse.disjoint",
    "analyse.probing",
    "construct.views",
    "run.study",
    "run.runner",
    "plot.style",
    "plot.tablefmt",
    "plot.bijection",
    "plot.probing",
    "plot.construction",
    "plot.capacity",
    "plot.disjoint",
    "plot.multihop",
    "explore.bijection",
    "explore.disjoint",
    "explore.probing",
    "explore.multihop",
    "__main__",
]
TORCH_FREE = [
    "theory.bijection",
    "theory.multihop",
    "theory.disjoint",
    "train.recipe",
    "run.cache",
    "sweep.configs",
    "sweep.search",
    "sweep.probing",
    "sweep.presets",
    "sweep.tables",
    "run.scheduler",
    "analyse.bijection",
    "analyse.multihop",
    "analyse.disjoint",
    "analyse.probing",
    "plot.style",
    "plot.tablefmt",
]
MAX_LINES = 450
LARGER: dict[str, int] = {}  # modules allowed past MAX_LINES (none: the figures are split by chapter)


def _name(path: Path) -> str:
    return ".".join(path.relative_to(PKG).with_suffix("").parts)


def _modules() -> dict[str, ast.Module]:
    return {
        _name(p): ast.parse(p.read_text(), filename=str(p)) for p in sorted(PKG.rglob("*.py")) if p.stem != "__init__"
    }


def _package_imports(name: str, tree: ast.Module) -> set[str]:
    """The package's modules that ``name`` imports (dotted, relative to the package)."""
    here = name.split(".")[:-1]  # the package holding the module
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("georecall")):
            if node.level:
                base = here[: len(here) - (node.level - 1)] + ([node.module] if node.module else [])
            else:
                base = (node.module or "").split(".")[1:]
            base = ".".join(p for part in base for p in part.split("."))
            for a in node.names:
                full = f"{base}.{a.name}" if base else a.name
                if (PKG / (full.replace(".", "/") + ".py")).exists():
                    names.add(full)
                elif base and (PKG / (base.replace(".", "/") + ".py")).exists():
                    names.add(base)
        elif isinstance(node, ast.Import):
            names.update(a.name.removeprefix("georecall.") for a in node.names if a.name.startswith("georecall."))
    return names


def test_every_module_has_a_place_in_the_order():
    assert sorted(_modules()) == sorted(ORDER)


def test_imports_run_one_way_and_no_module_imports_itself():
    for name, tree in _modules().items():
        for dep in _package_imports(name, tree):
            assert dep != name, f"{name} imports itself"
            if name == "sweep.configs" and dep == "__main__":
                continue  # the old `python -m georecall.sweeps` alias hands over to the CLI (inside __main__ only)
            assert ORDER.index(dep) < ORDER.index(name), f"{name} imports {dep}, which comes after it"


@pytest.mark.parametrize("name", TORCH_FREE)
def test_declarative_modules_import_without_torch(name):
    code = f"import sys, georecall.{name}; assert 'torch' not in sys.modules, 'torch was imported'"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO / "lib"), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr


def test_modules_are_small():
    for path in PKG.rglob("*.py"):
        n = len(path.read_text().splitlines())
        assert n <= LARGER.get(_name(path), MAX_LINES), f"{_name(path)} has {n} lines"


def test_imports_are_at_module_top_unless_a_comment_says_why():
    for path in PKG.rglob("*.py"):
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
                assert "#" in lines[node.lineno - 1], f"{path.name}:{node.lineno}: a late import needs a comment"


def test_no_reference_to_outside_documents_or_machine_paths():
    docs = "|".join(re.escape(n + ".md") for n in ("science", "toolchain", "house-style")) + "|shared" + "/docs"
    machine = "|".join(re.escape(p) for p in ("/" + "work/", "/" + "home/", "/" + "Users/"))
    pattern = re.compile(f"{docs}|{machine}")
    roots = ["lib", "book", "tests", "benchmarks", "Makefile", "README.md"]
    tracked = subprocess.run(["git", "ls-files", "-z", "--", *roots], cwd=REPO, capture_output=True, check=True)
    hits = []
    for name in tracked.stdout.decode().split("\0"):
        f = REPO / name
        if not name or not f.is_file() or f.suffix not in {"", ".py", ".md", ".ipynb", ".yml", ".toml", ".txt", ".cfg"}:
            continue
        hits += [f"{name}:{i}" for i, line in enumerate(f.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, hits
