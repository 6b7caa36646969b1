"""beslut: follow a recommendation that many independent parties must each decide on.

The public Python API is :class:`Engine` (one method per command) over a store
opened from a file path or database URL, and the refusals it raises::

    from datetime import date
    from beslut import Engine

    engine = Engine.open("beslut.db")
    engine.init()
    engine.propose(open("examples/mini-maria-2022.toml").read(), on=date(2022, 6, 3))
    engine.recommend("svom-2022-mini-maria", on=date(2022, 6, 3), expected_version=1)

Each command is one transaction; a refusal is an exception carrying the CLI's exit
code. docs/embedding.md states the guarantees (threads, processes, the clock) and
examples/embed.py is a runnable example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from beslut.clock import Clock, FixedClock, SystemClock
from beslut.errors import (
    AuditVerificationFailed,
    BeslutError,
    ConcurrencyConflict,
    DefinitionError,
    Duplicate,
    InvalidInput,
    NotFound,
    Refusal,
    RuleViolation,
    SpecError,
    StoreError,
    TransitionNotAllowed,
)
from beslut.lazy import names_on_first_use

# Eager, and light (the port and the opener, no adapter): importing it registers the store opener through
# which Engine.open opens a path or URL (beslut.workflow.ports.register_opener).
from beslut.persistence import Store, open_store

if TYPE_CHECKING:
    from beslut.states.case import Case, PartyDecision
    from beslut.states.spec import RecommendationSpec, parse_spec_text
    from beslut.states.views import case_status
    from beslut.workflow import CommandResult, Engine, Fired

# The engine and its store load on first use: `import beslut.cli` (every command, `--help` too) imports this
# package, and most commands need only a part of it.
_LAZY = {
    "Case": "beslut.states.case",
    "PartyDecision": "beslut.states.case",
    "RecommendationSpec": "beslut.states.spec",
    "parse_spec_text": "beslut.states.spec",
    "case_status": "beslut.states.views",
    "CommandResult": "beslut.workflow",
    "Engine": "beslut.workflow",
    "Fired": "beslut.workflow",
}


__getattr__ = names_on_first_use(__name__, _LAZY)


__all__ = [
    "AuditVerificationFailed",
    "BeslutError",
    "Case",
    "Clock",
    "CommandResult",
    "ConcurrencyConflict",
    "DefinitionError",
    "Duplicate",
    "Engine",
    "Fired",
    "FixedClock",
    "InvalidInput",
    "NotFound",
    "PartyDecision",
    "RecommendationSpec",
    "Refusal",
    "RuleViolation",
    "SpecError",
    "Store",
    "StoreError",
    "SystemClock",
    "TransitionNotAllowed",
    "case_status",
    "open_store",
    "parse_spec_text",
]
