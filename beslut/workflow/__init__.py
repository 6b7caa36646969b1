"""The application layer: commands that load, check, fire and save in one transaction."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from beslut.workflow.batch import BatchResult, PartyStep
    from beslut.workflow.engine import CommandResult, Engine, Fired

# Imported on first use (PEP 562): a command that needs one module of the package (a read model's JSON,
# the steps file) does not load the engine and the store with it.
_HOMES = {
    "BatchResult": "beslut.workflow.batch",
    "PartyStep": "beslut.workflow.batch",
    "CommandResult": "beslut.workflow.engine",
    "Engine": "beslut.workflow.engine",
    "Fired": "beslut.workflow.engine",
}


def __getattr__(name: str) -> Any:
    """The names of :data:`__all__`, from their modules on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = ["BatchResult", "CommandResult", "Engine", "Fired", "PartyStep"]
