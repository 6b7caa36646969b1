"""The command endpoints: one per engine command, all through :func:`execute`, the single dispatch path.

Each endpoint checks the caller's role (a dependency, before the body is even read),
then :func:`execute` makes a light :class:`~beslut.workflow.Engine` for this request
with the caller's id as the actor, runs the one engine method (one transaction), counts
the command in the metrics and answers with the recommendation's status document and
its new version as the ``ETag``. A refusal is an exception that the handlers of
:mod:`beslut.api.app` turn into a problem document (and count); nothing was written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse

from beslut.api import models
from beslut.api.auth import Clerk, Coordinator, Principal, store_of
from beslut.api.conditional import if_match_version
from beslut.api.problems import INVALID, PROBLEM_RESPONSES, ApiProblem
from beslut.api.views import contact_json
from beslut.states.case import Case
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
        "recommend",
        "withdraw",
        "consolidate",
        "prepare",
        "propose_party",
        "decide",
        "announce",
        "appeal",
        "settle",
        "report",
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


def command(
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


@router.post(
    "/recommendations/{key}/recommend",
    name="recommend",
    tags=["recommendations"],
    summary="Recommend to the parties",
    description="Send the recommendation to the parties: their decisions open. Roles: coordinator, admin.",
    responses=_CASE,
)
def recommend(
    request: Request, key: Key, body: models.OnDate, principal: Coordinator, if_match: IfMatch = None
) -> JSONResponse:
    """Send the recommendation to the parties."""
    version = expected_version(if_match, body.expected_version)
    return command(request, principal, "recommend", lambda e: e.recommend(key, on=body.on, expected_version=version))


@router.post(
    "/recommendations/{key}/withdraw",
    name="withdraw",
    tags=["recommendations"],
    summary="Withdraw",
    description="Withdraw a proposed or recommended recommendation. Roles: coordinator, admin.",
    responses=_CASE,
)
def withdraw(
    request: Request, key: Key, body: models.Withdraw, principal: Coordinator, if_match: IfMatch = None
) -> JSONResponse:
    """Withdraw the recommendation."""
    version = expected_version(if_match, body.expected_version)
    return command(
        request,
        principal,
        "withdraw",
        lambda e: e.withdraw(key, on=body.on, reason=body.reason, expected_version=version),
    )


@router.post(
    "/recommendations/{key}/consolidate",
    name="consolidate",
    tags=["recommendations"],
    summary="Consolidate",
    description="Count the parties' decisions under the recommendation's policy. Roles: coordinator, admin.",
    responses=_CASE,
)
def consolidate(
    request: Request, key: Key, body: models.OnDate, principal: Coordinator, if_match: IfMatch = None
) -> JSONResponse:
    """Count the decisions."""
    version = expected_version(if_match, body.expected_version)
    return command(
        request, principal, "consolidate", lambda e: e.consolidate(key, on=body.on, expected_version=version)
    )


# ---------------------------------------------------------------- a party's steps (its clerk)

_PARTY = "Roles: the clerk of this party, admin."


@router.post(
    "/recommendations/{key}/parties/{party}/prepare",
    name="prepare",
    tags=["parties"],
    summary="A party opened its case",
    description=f"The party registered its case (diarienummer, date of the officer's report). {_PARTY}",
    responses=_CASE,
)
def prepare(
    request: Request, key: Key, party: PartyKey, *, body: models.Prepare, principal: Clerk, if_match: IfMatch = None
) -> JSONResponse:
    """Record that the party opened its case."""
    version = expected_version(if_match, body.expected_version)
    return command(
        request,
        principal,
        "prepare",
        lambda e: e.prepare(key, party, case_number=body.case_number, on=body.on, expected_version=version),
    )


@router.post(
    "/recommendations/{key}/parties/{party}/propose",
    name="propose_party",
    tags=["parties"],
    summary="A committee proposed a decision",
    description=f"A committee of the party proposed a decision (a proposal, not a decision). {_PARTY}",
    responses=_CASE,
)
def propose_party(
    request: Request,
    key: Key,
    party: PartyKey,
    *,
    body: models.ProposeParty,
    principal: Clerk,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Record the committee's proposal."""
    version = expected_version(if_match, body.expected_version)
    return command(
        request,
        principal,
        "propose_party",
        lambda e: e.propose_party(
            key, party, body=body.body, paragraph=body.paragraph, on=body.on, expected_version=version
        ),
    )


@router.post(
    "/recommendations/{key}/parties/{party}/decide",
    name="decide",
    tags=["parties"],
    summary="The party decided",
    description=f"The party's deciding body decided: approved, rejected or approved_with_conditions. {_PARTY}",
    responses=_CASE,
)
def decide(
    request: Request, key: Key, party: PartyKey, *, body: models.Decide, principal: Clerk, if_match: IfMatch = None
) -> JSONResponse:
    """Record the party's decision."""
    version = expected_version(if_match, body.expected_version)
    return command(
        request,
        principal,
        "decide",
        lambda e: e.decide(
            key,
            party,
            outcome=body.outcome,
            paragraph=body.paragraph,
            on=body.on,
            body=body.body,
            conditions=body.conditions,
            expected_version=version,
        ),
    )


def _simple_step(name: str, summary: str, description: str) -> None:
    """Register a party step whose body is only the legal date (announce, appeal, report)."""

    def step(
        request: Request, key: Key, party: PartyKey, *, body: models.OnDate, principal: Clerk, if_match: IfMatch = None
    ) -> JSONResponse:
        version = expected_version(if_match, body.expected_version)
        return command(
            request,
            principal,
            name,
            lambda e: getattr(e, name)(key, party, on=body.on, expected_version=version),
        )

    step.__doc__ = summary
    router.add_api_route(
        f"/recommendations/{{key}}/parties/{{party}}/{name}",
        step,
        methods=["POST"],
        name=name,
        tags=["parties"],
        summary=summary,
        description=f"{description} {_PARTY}",
        responses=_CASE,
    )


_simple_step(
    "announce",
    "The decision was announced",
    "The signed minutes were announced on the party's notice board: the three-week appeal period starts.",
)
_simple_step(
    "appeal", "An appeal was lodged", "An appeal (laglighetsprövning) against the party's decision was lodged."
)


@router.post(
    "/recommendations/{key}/parties/{party}/settle",
    name="settle",
    tags=["parties"],
    summary="The court ruled on the appeal",
    description=f"dismissed: the decision stands (final); annulled: the party decides again. {_PARTY}",
    responses=_CASE,
)
def settle(
    request: Request, key: Key, party: PartyKey, *, body: models.Settle, principal: Clerk, if_match: IfMatch = None
) -> JSONResponse:
    """Record the court's ruling."""
    version = expected_version(if_match, body.expected_version)
    return command(
        request,
        principal,
        "settle",
        lambda e: e.settle(key, party, result=body.result, on=body.on, expected_version=version),
    )


_simple_step(
    "report",
    "The minute extract was received",
    "The coordinator received the party's minute extract (protokollsutdrag).",
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
