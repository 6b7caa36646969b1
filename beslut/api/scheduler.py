"""``POST /scheduler/tick``: fire every timer due at an instant, as ``beslut tick --now`` does.

The route calls :meth:`beslut.workflow.Engine.tick`, the method the CLI and the daemon
call: each timer fires in its own transaction after a short lease, a second tick at the
same instant changes nothing, and an instant in the future of the server's clock is
refused (422) so that no transition is ever fired early. The answer is the document
``beslut tick --json`` prints. The daemon (``beslut scheduler run``) stays the normal
way timers fire; this endpoint is for a scheduler outside beslut (cron, a workflow
system) that prefers HTTP to a process on the database host.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field

from beslut.api.auth import Coordinator
from beslut.api.commands import execute
from beslut.api.problems import PROBLEM_RESPONSES
from beslut.clock import parse_instant
from beslut.workflow.documents import fired_json

router = APIRouter(responses=PROBLEM_RESPONSES, tags=["scheduler"])


class Tick(BaseModel):
    """When to fire the timers."""

    model_config = ConfigDict(extra="forbid")

    now: str | None = Field(
        default=None,
        description=(
            "The instant to fire deadlines at (ISO 8601; Europe/Stockholm local time if no offset; a bare date "
            "means 00:00). Not after the server's clock. Default: the server's clock."
        ),
        json_schema_extra={"format": "date-time"},
    )


@router.post(
    "/scheduler/tick",
    name="tick",
    summary="Fire every timer due at an instant",
    description=(
        'The same as `beslut tick --now T --json`: {"fired": [...]}, each timer handled (overdue, laga kraft, '
        "in force, reminders). Idempotent: a second tick at the same instant fires nothing. Roles: "
        "coordinator, admin."
    ),
)
def tick(request: Request, principal: Coordinator, body: Annotated[Tick | None, Body()] = None) -> dict[str, Any]:
    """Fire the due timers; the body (and its ``now``) may be left out."""
    given = body.now if body is not None else None
    instant = parse_instant(given, "now") if given is not None else request.app.state.clock.now()
    fired = execute(request, principal, "tick", lambda engine: engine.tick(instant))  # counted in the metrics
    return {"fired": [fired_json(f) for f in fired]}


__all__ = ["router"]
