"""The command endpoints: one per engine command, all through :func:`execute`, the single dispatch path.

Each endpoint checks the caller's role (a dependency, before the body is even read),
then :func:`execute` makes a light :class:`~beslut.workflow.Engine` for this request
with the caller's id as the actor, runs the one engine method (one transaction), counts
the command in the metrics and answers with the recommendation's status document and
its new version as the ``ETag``. A refusal is an exception that the handlers of
:mod:`beslut.api.app` turn into a problem document (and count); nothing was written.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse

from beslut.api import models
from beslut.api.auth import Coordinator, Principal, party_step_role, require_role, store_of
from beslut.api.conditional import if_match_version
from beslut.api.problems import INVALID, PROBLEM_RESPONSES, ApiProblem
from beslut.api.views import contact_json
from beslut.states.case import Case
from beslut.states.commands import COMMANDS, Command
from beslut.states.records import Contact
from beslut.states.views import case_status
from beslut.workflow import CommandResult, Engine

router = APIRouter(responses=PROBLEM_RESPONSES)
T = TypeVar("T")

Key = Annotated[str, Path(description="The recommendation's key, e.g. svom-2022-mini-maria.")]
PartyKey = Annotated[str, Path(description="The party's key, e.g. 2380 (Östersund).")]
IfMatch = Annotated[
    str | None,
    Header(description='The version the change is based on, as the ETag of a GET gave it ("7"); stale → 409.'),
]

#: Every command's kind (its route name), as counted in the metrics.
COMMAND_KINDS = frozenset(
    {
        "propose",
        *(command.name for command in COMMANDS),
        "contact_put",
        "tick",  # beslut/api/scheduler.py
        "party_import",  # beslut/api/imports.py
    }
)


def engine_for(request: Request, principal: Principal) -> Engine:
    """A light engine over the app's one store, acting as *principal* (its id goes into the audit events)."""
    state = request.app.state
    return Engine(store_of(request), clock=state.clock, calendar=state.calendar, actor=principal.id)


def record(request: Request, kind: str, result: str) -> None:
    """Count one command in the app's metrics."""
    request.app.state.metrics.record_command(kind, result)


def expected_version(if_match: str | None, in_body: int | None) -> int | None:
    """The version a command is conditional on: from ``If-Match``, from the body, or none.

    Raises:
        ApiProblem: If-Match is not one quoted version number, or it disagrees with the body.
    """
    if if_match is None or if_match.strip() == "*":
        return in_body
    version = if_match_version(if_match)  # compared strongly: a weak tag is stale (beslut/api/conditional.py)
    if in_body is not None and in_body != version:
        raise ApiProblem(INVALID, f"If-Match {version} and expected_version {in_body} disagree")
    return version


def case_response(case: Case, *, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    """The status document of *case*, with its version as the ETag."""
    etag = {"ETag": f'"{case.version}"'}
    return JSONResponse(case_status(case), status_code=status_code, headers={**etag, **(headers or {})})


def execute(request: Request, principal: Principal, kind: str, action: Callable[[Engine], T]) -> T:
    """Run one command for *principal* (one engine call, one transaction) and count it; the single dispatch path."""
    outcome = action(engine_for(request, principal))
    record(request, kind, "ok")
    return outcome


def command_response(
    request: Request, principal: Principal, kind: str, action: Callable[[Engine], CommandResult]
) -> JSONResponse:
    """:func:`execute` a command on a recommendation and answer with its status and new version."""
    return case_response(execute(request, principal, kind, action).case)


_CASE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The recommendation's status after the command; ETag is its new version."}
}


# ---------------------------------------------------------------- the coordinator's commands


@router.post(
    "/recommendations",
    name="propose",
    tags=["recommendations"],
    summary="Propose a recommendation",
    description="Register a new recommendation from its TOML spec. Roles: coordinator, admin.",
    status_code=201,
    responses={201: {"description": "Proposed; Location names it, ETag is its version."}},
)
def propose(request: Request, body: models.Propose, principal: Coordinator) -> JSONResponse:
    """Register a new recommendation."""
    result = execute(request, principal, "propose", lambda e: e.propose(body.spec, on=body.on))
    location = request.url_for("status", key=result.case.key).path
    return case_response(result.case, status_code=201, headers={"Location": location})


# ---------------------------------------------------------------- the command table's commands


def _principal_of(command: Command[Any]) -> Any:
    """The role check of *command*, a dependency that runs before the body is read."""
    if command.for_party:
        return Annotated[Principal, Depends(party_step_role(*(r for r in command.roles if r != "clerk")))]
    return Annotated[Principal, Depends(require_role(*command.roles))]


def _roles_text(command: Command[Any]) -> str:
    names = [("the clerk of this party" if role == "clerk" else role) for role in command.roles]
    return "Roles: " + ", ".join([*names, "admin"]) + "."


def _endpoint(command: Command[Any]) -> Callable[..., JSONResponse]:
    """The route of *command*: check the role, read the body, run it (one transaction), answer its status."""

    def endpoint(**params: Any) -> JSONResponse:
        request: Request = params["request"]
        body: models.OnDate = params["body"]
        version = expected_version(params["if_match"], body.expected_version)
        values = body.model_dump(exclude={"expected_version"})
        if command.for_party:
            values["party"] = params["party"]
        args = command.args(values)
        key = params["key"]
        return command_response(
            request,
            params["principal"],
            command.name,
            lambda e: e.run(command, key, args, expected_version=version),
        )

    keyword = inspect.Parameter.KEYWORD_ONLY
    signature = [
        inspect.Parameter("request", keyword, annotation=Request),
        inspect.Parameter("key", keyword, annotation=Key),
    ]
    if command.for_party:
        signature.append(inspect.Parameter("party", keyword, annotation=PartyKey))
    signature += [
        inspect.Parameter("body", keyword, annotation=models.body_of(command)),
        inspect.Parameter("principal", keyword, annotation=_principal_of(command)),
        inspect.Parameter("if_match", keyword, annotation=IfMatch, default=None),
    ]
    endpoint.__signature__ = inspect.Signature(signature, return_annotation=JSONResponse)  # type: ignore[attr-defined]
    endpoint.__name__ = command.name
    endpoint.__doc__ = command.summary
    return endpoint


for _command in COMMANDS:
    router.add_api_route(
        _command.route,
        _endpoint(_command),
        methods=["POST"],
        name=_command.name,
        tags=["parties" if _command.for_party else "recommendations"],
        summary=_command.summary,
        description=f"{_command.help} {_roles_text(_command)}",
        responses=_CASE,
    )


# ---------------------------------------------------------------- contacts


@router.put(
    "/contacts/{contact_id}",
    name="contact_put",
    tags=["contacts"],
    summary="Add or replace a contact",
    description="A person who receives a party's reminders. Roles: coordinator, admin.",
    responses={200: {"description": "The contact as saved."}},
)
def contact_put(
    request: Request,
    contact_id: Annotated[str, Path(description="The contact's id (what the outbox refers to).")],
    body: models.ContactIn,
    principal: Coordinator,
) -> dict[str, Any]:
    """Add or replace a contact."""
    contact = Contact(id=contact_id, party=body.party, name=body.name, email=body.email, active=body.active)
    execute(request, principal, "contact_put", lambda e: e.add_contact(contact))
    return contact_json(contact)
