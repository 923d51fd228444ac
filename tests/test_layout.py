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
    "theory",
    "recipe",
    "tasks",
    "models",
    "recall",
    "constructions",
    "multihop_theory",
    "multihop",
    "multihop_constructions",
    "disjoint",
    "disjoint_theory",
    "disjoint_construction",
    "probes",
    "selector",
    "probe_summary",
    "_fused",
    "batched",
    "train",
    "executors",
    "transfer",
    "cache",
    "sweeps",
    "search",
    "presets_probing",
    "presets",
    "disjoint_runs",
    "multihop_sweep",
    "tables",
    "scheduler",
    "analysis",
    "multihop_analysis",
    "disjoint_analysis",
    "probe_analysis",
    "chapters",
    "study",
    "runner",
    "plotstyle",
    "tablefmt",
    "plots",
    "plots_probing",
    "plots_construction",
    "plots_capacity",
    "disjoint_plots",
    "multihop_plots",
    "widgets",
    "disjoint_widgets",
    "widgets_probing",
    "multihop_widgets",
    "__main__",
]
TORCH_FREE = [
    "theory",
    "multihop_theory",
    "disjoint_theory",
    "recipe",
    "cache",
    "sweeps",
    "search",
    "presets_probing",
    "presets",
    "tables",
    "scheduler",
    "analysis",
    "multihop_analysis",
    "disjoint_analysis",
    "probe_analysis",
    "plotstyle",
    "tablefmt",
]
MAX_LINES = 450
LARGER: dict[str, int] = {}  # modules allowed past MAX_LINES (none: the figures are split by chapter)


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(), filename=str(p)) for p in sorted(PKG.glob("*.py")) if p.stem != "__init__"}


def _package_imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level == 1 or (node.module or "").startswith("georecall")):
            mod = (node.module or "").removeprefix("georecall").lstrip(".")
            if mod:
                names.add(mod.split(".")[0])
            else:  # `from . import x`: x is a module, or a name of the package itself (__version__)
                names.update(a.name for a in node.names if (PKG / f"{a.name}.py").exists())
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("georecall."))
    return names


def test_every_module_has_a_place_in_the_order():
    assert sorted(_modules()) == sorted(ORDER)


def test_imports_run_one_way_and_no_module_imports_itself():
    for name, tree in _modules().items():
        for dep in _package_imports(tree) - {""}:
            assert dep != name, f"{name} imports itself"
            if name == "sweeps" and dep == "__main__":
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
    for path in PKG.glob("*.py"):
        n = len(path.read_text().splitlines())
        assert n <= LARGER.get(path.stem, MAX_LINES), f"{path.name} has {n} lines"


def test_imports_are_at_module_top_unless_a_comment_says_why():
    for path in PKG.glob("*.py"):
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
