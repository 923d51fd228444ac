"""Faces that load their modules on first use (PEP 562), so a stage whose modules import torch stays cheap to name."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

__all__ = ["lazy"]


def lazy(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """A module-level ``__getattr__`` for ``package``: attribute ``a`` in ``names`` is imported from the module
    ``names[a]`` (relative to ``package``) when first asked for; any other name raises ``AttributeError``."""

    def __getattr__(name: str):
        if name in names:
            return getattr(importlib.import_module(names[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
