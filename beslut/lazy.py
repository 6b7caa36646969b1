"""Names a package gives on first use (PEP 562), so importing the package does not import their modules.

Why: every `beslut` command imports :mod:`beslut`, and most need only a part of it; the engine,
the store, the HTTP API and the dashboard load when a caller first asks for one of their names.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def names_on_first_use(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for *package* that imports each name of *homes* (name -> module) when asked.

    The name is then kept in the package, so the next lookup does not come here again.
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 - it is the module's __getattr__
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


__all__ = ["names_on_first_use"]
