"""environment.yml (Binder, conda) must only point at pyproject.toml, the single source of dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]


def load_env() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text())


def conda_deps(env: dict) -> list[str]:
    return [d for d in env["dependencies"] if isinstance(d, str)]


def test_channels_are_conda_forge_only():
    assert load_env()["channels"] == ["conda-forge"]


def test_pip_section_installs_the_package_with_book_and_test_extras():
    pip_sections = [d["pip"] for d in load_env()["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip_sections == [["-e .[book,test]"]]
    assert "pip" in conda_deps(load_env())


def test_conda_provides_cpu_torch():
    deps = conda_deps(load_env())
    assert any(re.fullmatch(r"pytorch-cpu([<>=!].*)?", d) for d in deps), deps


def test_python_pin_agrees_with_requires_python():
    pins = [d for d in conda_deps(load_env()) if re.match(r"python\s*[=<>]", d)]
    assert len(pins) == 1, f"expected one python pin in environment.yml, got {pins}"
    version = re.fullmatch(r"python\s*=+\s*(\d+\.\d+)(\.\*)?", pins[0])
    assert version, f"python pin {pins[0]!r} is not of the form python=X.Y"
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(version.group(1)), f"python={version.group(1)} violates {requires!r}"
