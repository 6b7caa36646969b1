"""The application layer: commands that load, check, fire and save in one transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from beslut.lazy import names_on_first_use

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


__getattr__ = names_on_first_use(__name__, _HOMES)


__all__ = ["BatchResult", "CommandResult", "Engine", "Fired", "PartyStep"]
