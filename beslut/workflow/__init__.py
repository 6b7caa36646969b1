"""The application layer: commands that load, check, fire and save in one transaction."""

from __future__ import annotations

from beslut.workflow.batch import BatchResult, PartyStep
from beslut.workflow.engine import CommandResult, Engine, Fired

__all__ = ["BatchResult", "CommandResult", "Engine", "Fired", "PartyStep"]
