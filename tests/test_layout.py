"""The package's layout: stage subpackages whose imports run one way (lowest first), no import circle, torch-free
declarative stages, small modules, imports at the top, public names across subpackages, chapters that import from
at most four subpackages, and no reference to documents or machine paths outside the repository."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "lib" / "georecall"
# The subpackages by layer, lowest first: a module may import its own subpackage, the top-level helpers and the
# package root, and subpackages of lower layers only (subpackages in one layer do not import each other).
LAYERS = [
    ["theory"],
    ["tasks"],
    ["model"],
    ["construct", "train", "probe"],
    ["sweep"],
    ["analyse", "plot"],
    ["run", "explore"],
]
SUBPACKAGES = [p for layer in LAYERS for p in layer]
# The package root's modules: helpers below every stage (and what each may import; "" is the root), the CLI above.
TOP = ["__init__", "_checks", "_lazy", "repro", "prose", "lab_includes", "__main__"]
HELPERS = {"": [], "_checks": [], "_lazy": [], "repro": ["_checks"], "prose": [], "lab_includes": ["prose"]}
# Importable without torch: the whole stage (its face and every module), and these modules of other stages.
TORCH_FREE_STAGES = ["theory", "sweep", "analyse", "plot"]
TORCH_FREE_MODULES = ["run.scheduler", "train.recipe"]
MAX_LINES = 450
LARGER: dict[str, int] = {}  # modules allowed past MAX_LINES (none)
MAX_CHAPTER_SUBPACKAGES = 4


def _name(path: Path) -> str:
    """A module's dotted name inside the package: ``run.cache``; a subpackage's face is its own name (``run``)."""
    parts = path.relative_to(PKG).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, ast.Module]:
    return {_name(p): ast.parse(p.read_text(), filename=str(p)) for p in sorted(PKG.rglob("*.py"))}


def _is_module(dotted: str) -> bool:
    path = PKG.joinpath(*dotted.split(".")) if dotted else PKG
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(name: str, tree: ast.Module) -> set[str]:
    """The package's modules that module ``name`` imports, dotted ("" for the root), each with the subpackage face
    that importing it runs first (``from ..run import cache`` gives ``run.cache`` and ``run``)."""
    is_package = (PKG.joinpath(*name.split(".")) / "__init__.py").is_file() if name else True
    here = name.split(".") if is_package else name.split(".")[:-1]
    here = [p for p in here if p]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == "georecall"):
            if node.level:
                base = here[: len(here) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            else:
                base = node.module.split(".")[1:]
            base_name = ".".join(base)
            targets = {f"{base_name}.{a.name}".lstrip(".") for a in node.names}
            targets = {t for t in targets if _is_module(t)} or {base_name}
        elif isinstance(node, ast.Import):
            targets = {
                a.name.removeprefix("georecall").lstrip(".") for a in node.names if a.name.split(".")[0] == "georecall"
            }
        else:
            continue
        for t in targets:
            parts = t.split(".") if t else []
            out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))  # a module and the faces above it
    own = name.split(".")[0] if name.split(".")[0] in SUBPACKAGES else None
    return {t for t in out if t != name and not (t == own and name.startswith(f"{own}."))}


def _stage(module: str) -> str:
    return module.split(".")[0] if module else ""


def _layer(stage: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if stage in layer)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (module -> modules it imports) as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep] if dep in path else [node, dep]
            if dep not in state:
                found = visit(dep, path + [dep])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_every_module_is_in_a_stage_or_at_the_top():
    for name in _modules():
        assert _stage(name) in SUBPACKAGES or name in TOP or name == "", f"{name} has no stage"
    for stage in SUBPACKAGES:
        assert (PKG / stage / "__init__.py").is_file(), f"stage {stage} has no face"


def test_imports_run_one_way_between_stages():
    for name, tree in _modules().items():
        stage = _stage(name)
        for dep in _imports(name, tree):
            dep_stage = _stage(dep)
            if name == "__main__" or dep_stage == stage:
                continue
            if stage not in SUBPACKAGES:  # the root's helpers
                assert dep in HELPERS.get(name, []), f"{name or 'georecall'} imports {dep}"
            elif dep_stage in SUBPACKAGES:
                assert _layer(dep_stage) < _layer(stage), f"{name} imports {dep}: {dep_stage} is not below {stage}"
            else:
                assert dep in {"", "_checks", "_lazy", "repro"}, f"{name} imports {dep}"


def test_the_import_graph_has_no_circle():
    graph = {name: _imports(name, tree) for name, tree in _modules().items()}
    assert _cycle(graph) is None, f"import circle: {' -> '.join(_cycle(graph))}"


def test_the_circle_check_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_private_name_is_imported_from_another_stage():
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not node.level:
                continue
            base = (node.module or "").split(".")[0]
            if node.level == 1 and _stage(name) in SUBPACKAGES:
                continue  # inside its own stage
            private = [
                a.name for a in node.names if a.name.startswith("_") and a.name not in {"_checks", "__version__"}
            ]
            assert not private, f"{name} imports private {private} from {base or 'the package root'}"


@pytest.mark.parametrize(
    "name",
    [*TORCH_FREE_STAGES, *TORCH_FREE_MODULES]
    + [_name(p) for s in TORCH_FREE_STAGES for p in sorted((PKG / s).glob("*.py")) if p.stem != "__init__"],
)
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


@pytest.mark.parametrize("stage", SUBPACKAGES)
def test_every_face_has_a_docstring_and_exports_what_it_names(stage):
    import importlib

    face = importlib.import_module(f"georecall.{stage}")  # the faces are what the chapters import
    assert face.__doc__ and face.__all__, stage
    missing = [n for n in face.__all__ if not hasattr(face, n)]
    assert not missing, f"georecall.{stage} names {missing} in __all__ but does not export them"


def _chapter_subpackages(path: Path) -> set[str]:
    cells = json.loads(path.read_text())["cells"]
    used = set()
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        for m in re.finditer(r"^\s*from georecall(\.\w+)?(?:\.[\w.]+)? import \(?([\w ,\n]+)\)?", src, re.M):
            if m[1]:
                used.add(m[1][1:])
            else:
                used.update(n.split(" as ")[0].strip() for n in m[2].split(","))
        used.update(re.findall(r"^\s*import georecall\.(\w+)", src, re.M))
    return {u for u in used if u in SUBPACKAGES}


@pytest.mark.parametrize("chapter", sorted((REPO / "book").glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_chapter_imports_from_at_most_four_subpackages(chapter):
    used = _chapter_subpackages(chapter)
    assert used, f"{chapter.name}: no georecall subpackage found (is the import parser stale?)"
    assert len(used) <= MAX_CHAPTER_SUBPACKAGES, f"{chapter.name} imports from {sorted(used)}"


def test_modules_are_small():
    for path in PKG.rglob("*.py"):
        n = len(path.read_text().splitlines())
        assert n <= LARGER.get(_name(path), MAX_LINES), f"{path.relative_to(PKG)} has {n} lines"


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
