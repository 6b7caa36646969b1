"""The administrator's endpoints (tokens, the schema's revision) and the machines' diagrams.

Tokens: ``POST /tokens`` issues one through :func:`beslut.api.tokens.issue`, the function
``beslut token create`` calls, and answers with the secret this once (``Cache-Control:
no-store``); the database keeps only its hash. The ``api_token`` table has no creator
column (adding one is a schema change), so who issued or revoked a token is written to
the server's log as ``token:<id>``, not to the database.

``GET /db/current`` and ``GET /db/history`` read what ``beslut db current|history``
print. ``db upgrade`` has no endpoint: the server refuses to run on a schema that is
behind, so it could never be the one to upgrade it (docs/api.md).

``GET /diagrams/{machine}`` draws a machine from its definition as ``beslut diagram``
does (Mermaid text or SVG), with the dashboard's drawing code.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Final

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from beslut.api import tokens
from beslut.api.auth import CurrentPrincipal, Principal, require_role, store_of
from beslut.api.problems import PROBLEM_RESPONSES
from beslut.api.views import token_json
from beslut.errors import NotFound
from beslut.persistence import schema
from beslut.web.diagrams import FORMATS, MACHINES, draw, draw_for_dashboard

log = structlog.get_logger("beslut.api")
router = APIRouter(responses=PROBLEM_RESPONSES)

Admin = Annotated[Principal, Depends(require_role())]  # admin only
MEDIA: Final = {"mermaid": "text/plain; charset=utf-8", "svg": "image/svg+xml"}


class TokenIn(BaseModel):
    """A new token: its role, a clerk's party, a label (what `beslut token create` takes)."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(
        description="clerk | coordinator | auditor | admin", json_schema_extra={"enum": list(tokens.ROLES)}
    )
    party: str | None = Field(default=None, description="The one party a clerk may act for (a clerk needs it).")
    label: str | None = Field(default=None, description="What the token is for (shown by `GET /tokens`).")


# ---------------------------------------------------------------- tokens


@router.post(
    "/tokens",
    name="token_create",
    tags=["tokens"],
    status_code=201,
    summary="Create an API token",
    description=(
        "The same as `beslut token create`: the answer's `token` is the secret, shown this once and never "
        "stored (the database keeps its SHA-256); the other members are what `GET /tokens` lists. Role: admin."
    ),
    responses={201: {"description": "The token's record and, this once, its secret in `token`."}},
)
def token_create(request: Request, body: TokenIn, principal: Admin) -> JSONResponse:
    """Issue a token."""
    token, secret = tokens.issue(
        store_of(request), role=body.role, party=body.party, label=body.label, now=request.app.state.clock.now()
    )
    log.info("api_token_created", token=f"token:{token.id}", role=token.role, by=principal.id)
    return JSONResponse(
        {**token_json(token), "token": secret},
        status_code=201,
        headers={"Cache-Control": "no-store", "Location": f"/tokens/{token.id}"},
    )


@router.get(
    "/tokens",
    name="token_list",
    tags=["tokens"],
    summary="Every API token",
    description="The same document as `beslut token list --json`: ids, roles, parties; never a secret. Role: admin.",
)
def token_list(request: Request, principal: Admin) -> list[dict[str, Any]]:
    """Every token, revoked ones too."""
    del principal
    return [token_json(t) for t in tokens.tokens(store_of(request))]


@router.delete(
    "/tokens/{token_id}",
    name="token_revoke",
    tags=["tokens"],
    summary="Revoke an API token",
    description=(
        "The same as `beslut token revoke ID`: every later request with it is 401. Answers the token as "
        "revoked; 404 for an unknown id, 409 wrong-state when it was already revoked. Role: admin."
    ),
)
def token_revoke(
    request: Request,
    token_id: Annotated[str, PathParam(description="The token's id, as `GET /tokens` shows it.")],
    principal: Admin,
) -> dict[str, Any]:
    """Revoke a token."""
    now = request.app.state.clock.now()
    found = tokens.revoke(store_of(request), token_id, now=now)
    log.info("api_token_revoked", token=f"token:{found.id}", by=principal.id)
    return {**token_json(found), "revoked_at": now.isoformat()}


# ---------------------------------------------------------------- the schema


@router.get(
    "/db/current",
    name="db_current",
    tags=["operations"],
    summary="The database's schema revision",
    description="The same document as `beslut db current --json` (always current here: the server runs on no "
    "other). Role: admin.",
)
def db_current(request: Request, principal: Admin) -> dict[str, Any]:
    """The schema's revision."""
    del principal
    with store_of(request).engine.connect() as connection:  # type: ignore[attr-defined]
        try:
            state: schema.SchemaState = schema.schema_state(connection)
        finally:
            connection.rollback()
    return state.as_json()


@router.get(
    "/db/history",
    name="db_history",
    tags=["operations"],
    summary="The schema's revisions",
    description="The same document as `beslut db history --json`: every revision, oldest first. Role: admin.",
)
def db_history(request: Request, principal: Admin) -> dict[str, Any]:
    """The revisions, marked applied/current."""
    del principal
    with store_of(request).engine.connect() as connection:  # type: ignore[attr-defined]
        try:
            revisions = schema.history(connection)
        finally:
            connection.rollback()
    return {"revisions": [asdict(r) for r in revisions]}


# ---------------------------------------------------------------- diagrams


@router.get(
    "/diagrams/{machine}",
    name="diagram",
    tags=["recommendations"],
    summary="A state machine, drawn from its definition",
    description=(
        "What `beslut diagram MACHINE --format F` prints: Mermaid text (text/plain) or an SVG document "
        "(image/svg+xml; where Graphviz is not installed, the dashboard's plainer drawing), drawn from the "
        "definitions the engine runs. Any role."
    ),
    response_class=Response,
    responses={
        200: {
            "description": "The drawing.",
            "content": {"text/plain": {"schema": {"type": "string"}}, "image/svg+xml": {"schema": {"type": "string"}}},
        }
    },
)
def diagram(
    machine: Annotated[
        str, PathParam(description=f"{' or '.join(MACHINES)}", json_schema_extra={"enum": list(MACHINES)})
    ],
    principal: CurrentPrincipal,
    fmt: Annotated[
        str, Query(alias="format", description=f"{' or '.join(FORMATS)}", json_schema_extra={"enum": list(FORMATS)})
    ] = "mermaid",
) -> Response:
    """Draw a machine."""
    del principal
    if machine not in MACHINES:
        raise NotFound(f"unknown machine {machine!r}: choose one of {', '.join(MACHINES)}")
    text = draw_for_dashboard(machine) if fmt == "svg" else draw(machine, fmt)  # svg without Graphviz: plain
    return Response(text, media_type=MEDIA.get(fmt, "text/plain; charset=utf-8"))


__all__ = ["router"]
