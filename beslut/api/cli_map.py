"""Every CLI command and where it is served over HTTP, or why it is not: ONE table, checked by a test.

tests/api/test_cli_map_endpoints.py walks the Typer app of :mod:`beslut.cli` and fails
when a command is in neither :data:`ENDPOINTS` (and every route named there must be in
the app's OpenAPI document) nor :data:`CLI_ONLY`, so a new CLI command without an
endpoint (or without a stated reason) fails CI. docs/api.md shows the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from beslut.states.commands import COMMANDS

Route = tuple[str, str]  # (HTTP method, OpenAPI path)

ENDPOINTS: Final[Mapping[str, tuple[Route, ...]]] = {
    # The command table's commands: their routes are made from it (beslut.api.commands).
    **{" ".join(command.cli): (("POST", command.route),) for command in COMMANDS},
    "propose": (("POST", "/recommendations"),),
    "status": (("GET", "/recommendations"), ("GET", "/recommendations/{key}")),
    "tick": (("POST", "/scheduler/tick"),),
    "diagram": (("GET", "/diagrams/{machine}"),),
    "outbox": (("GET", "/outbox"),),
    "deadlines": (("GET", "/deadlines"),),
    "party import": (("POST", "/party-steps/import"),),
    "audit verify": (("GET", "/audit/verify"), ("POST", "/audit/verify")),
    "audit log": (("GET", "/audit/log"), ("GET", "/recommendations/{key}/audit")),
    "audit checkpoint": (("POST", "/audit/checkpoint"),),
    "audit prove": (("POST", "/audit/prove"),),
    "audit prove-consistency": (("POST", "/audit/prove-consistency"),),
    "audit verify-proof": (("POST", "/audit/verify-proof"),),
    "audit replay": (("GET", "/audit/replay"),),
    "audit export": (("GET", "/audit/export/{key}"), ("POST", "/audit/export/{key}")),
    "audit verify-export": (("POST", "/audit/verify-export"),),
    "scheduler status": (("GET", "/scheduler/daemons"),),
    "contact add": (("PUT", "/contacts/{contact_id}"),),
    "contact list": (("GET", "/contacts"),),
    "token create": (("POST", "/tokens"),),
    "token list": (("GET", "/tokens"),),
    "token revoke": (("DELETE", "/tokens/{token_id}"),),
    "db current": (("GET", "/db/current"),),
    "db history": (("GET", "/db/history"),),
}

CLI_ONLY: Final[Mapping[str, str]] = {
    "init": "creates the database the server needs before it can start; the server never creates one",
    "db upgrade": (
        "the server refuses to run on a schema that is behind, so it could never serve the upgrade; "
        "a schema change needs a maintenance window with the server stopped"
    ),
    "audit keygen": "a private key must never travel over HTTP; the operator gives the server one (--checkpoint-key)",
    "audit replay --into": "writes another database; `GET /audit/replay` serves the rest of `audit replay`",
    "serve": "starts the server itself",
    "scheduler run": "a long-running daemon process, not a request",
    "demo": "writes a throwaway demo database of its own, not the served one",
}


def cli_only(command: str) -> bool:
    """Whether *command* (``"db upgrade"``) is deliberately CLI-only."""
    return command in CLI_ONLY


__all__ = ["CLI_ONLY", "ENDPOINTS", "Route", "cli_only"]
