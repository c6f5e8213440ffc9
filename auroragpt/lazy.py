"""Lazy re-exports for package `__init__` files, so importing a package stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` that imports `exports[name]` (a module path) on first use.

    The attribute is the module's object of that name, or the module itself when the name is
    the module's own last component (e.g. `auroragpt.corpora`).
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name])
        return module if module.__name__.endswith("." + name) else getattr(module, name)

    return __getattr__
