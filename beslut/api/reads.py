"""The read endpoints: status, deadlines, outbox, contacts, the audit log and its verification.

Every role may read (a valid token is still required). Each answer is the JSON
document the matching CLI command prints with ``--json``; a recommendation's status
carries its version as the ``ETag`` (and ``If-None-Match`` with that ETag gets a 304).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from beslut.api import paging
from beslut.api.audit import verify_answer
from beslut.api.auth import CurrentPrincipal, TokenSecret, authorise, store_of
from beslut.api.commands import case_response, engine_for
from beslut.api.need_to_know import contacts_for, outbox_for
from beslut.api.problems import PROBLEM_RESPONSES
from beslut.api.views import audit_record_json, deadline_json, heartbeat_json
from beslut.audit import service
from beslut.errors import NotFound
from beslut.states.records import OUTBOX_STATUSES
from beslut.states.views import case_status

router = APIRouter(responses=PROBLEM_RESPONSES)


@router.get(
    "/recommendations",
    name="list",
    tags=["recommendations"],
    summary="Every recommendation's status, or one page of them",
    description=(
        'Without `limit`: the same document as `beslut status --json`, {"recommendations": [...]}, oldest '
        "proposal first (then by key). With `limit`: at most that many, in the same order, and a `next` "
        "member: the `cursor` that fetches the following page, or null on the last one. A `cursor` is "
        "opaque; pass it back unchanged with the same or another `limit`. See docs/api.md, Paging."
    ),
)
async def list_recommendations(
    request: Request,
    secret: TokenSecret,
    limit: Annotated[
        int | None, Query(ge=1, le=paging.MAX_LIMIT, description="At most this many; a `next` cursor is added.")
    ] = None,
    cursor: Annotated[str | None, Query(description="The `next` of the previous page.")] = None,
) -> JSONResponse:
    """Every recommendation, or a page of them; the token check and the read in one transaction."""
    store = store_of(request)

    def read() -> JSONResponse:
        with store.reader() as reader:
            authorise(reader, secret)  # first: a stranger learns nothing, not even that a cursor is bad
            after = paging.decode_cursor(cursor) if cursor is not None else None
            if limit is None and after is None:
                return JSONResponse({"recommendations": [case_status(c) for c in reader.list_cases()]})
            cases = reader.cases_page(after=after, limit=None if limit is None else limit + 1)
        page = cases if limit is None else cases[:limit]
        more = limit is not None and len(cases) > limit
        next_cursor = paging.encode_cursor(page[-1].proposed_on, page[-1].key) if more else None
        return JSONResponse({"recommendations": [case_status(c) for c in page], "next": next_cursor})

    return await run_in_threadpool(read)


@router.get(
    "/recommendations/{key}",
    name="status",
    tags=["recommendations"],
    summary="One recommendation's status",
    description="The same document as `beslut status KEY --json`; ETag is its version (send it back as If-Match).",
    responses={304: {"description": "If-None-Match named the current version."}},
)
async def status(
    request: Request,
    key: Annotated[str, Path(description="The recommendation's key.")],
    secret: TokenSecret,
    if_none_match: Annotated[str | None, Header(description="An ETag from an earlier GET.")] = None,
) -> Response:
    """One recommendation, party by party: the token check, the read and the JSON on ONE pool thread.

    The hottest read (a registry system polls it), so it avoids the second hand-off and the
    second transaction that :data:`CurrentPrincipal` would cost (docs/performance.md).
    """
    store = store_of(request)

    def read() -> Response:
        with store.reader() as reader:
            authorise(reader, secret)
            case = reader.load_case(key)
        if case is None:
            raise NotFound(f"no recommendation {key!r}")
        seen = {tag.strip().removeprefix("W/") for tag in (if_none_match or "").split(",")}
        if f'"{case.version}"' in seen:
            return Response(status_code=304, headers={"ETag": f'"{case.version}"'})
        return case_response(case)

    return await run_in_threadpool(read)


@router.get(
    "/recommendations/{key}/audit",
    name="audit_stream",
    tags=["audit"],
    summary="One recommendation's audit events",
    description="The same document as `beslut audit log KEY --json`: its events, oldest first, as stored.",
)
def audit_stream(
    request: Request, key: Annotated[str, Path(description="The recommendation's key.")], principal: CurrentPrincipal
) -> list[dict[str, Any]]:
    """The recommendation's audit events."""
    del principal  # any role may read
    return [audit_record_json(r) for r in service.log_records(store_of(request), key)]


@router.get(
    "/audit/log",
    name="audit_log",
    tags=["audit"],
    summary="The whole audit log",
    description="The same document as `beslut audit log --json`: every event, oldest first, as stored.",
)
def audit_log(request: Request, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """Every audit event."""
    del principal
    return [audit_record_json(r) for r in service.log_records(store_of(request), None)]


@router.get(
    "/audit/verify",
    name="audit_verify",
    tags=["audit"],
    summary="Verify the audit log",
    description=(
        "The same report as `beslut audit verify --json`: hash chain, gap-free seq and stream_seq, legal "
        "transitions. 200 with the report when it verifies. When it does not (the CLI exits 4): a 409 "
        "problem document (type urn:beslut:problem:audit-broken) whose detail is the CLI's error line, with "
        "`first_bad_seq`, `failed_check` and the full `report` as members. `POST /audit/verify` also checks "
        "a signed checkpoint. Any role."
    ),
    responses={409: {"description": "The log does not verify: detail names the first bad seq; report is attached."}},
)
def audit_verify(request: Request, principal: CurrentPrincipal) -> JSONResponse:
    """Verify the whole log."""
    del principal
    return verify_answer(request, service.verify_store(store_of(request)))


@router.get(
    "/deadlines",
    name="deadlines",
    tags=["scheduler"],
    summary="Pending deadlines",
    description="The same document as `beslut deadlines [KEY] --json`: pending timers, soonest first.",
)
def deadlines(
    request: Request,
    principal: CurrentPrincipal,
    key: Annotated[str | None, Query(description="One recommendation; all when omitted.")] = None,
) -> list[dict[str, Any]]:
    """Pending deadlines and reminders."""
    engine = engine_for(request, principal)
    if key is not None:
        engine.case(key)  # refuse an unknown key (404), as the CLI does
    return [deadline_json(r) for r in engine.deadlines(status="pending", key=key)]


@router.get(
    "/outbox",
    name="outbox",
    tags=["scheduler"],
    summary="Outgoing messages",
    description=(
        "The same document as `beslut outbox --json`: reminders, escalations, digests and their delivery. "
        "A clerk reads its own party's rows only; an auditor reads every row with `last_error` null "
        "(docs/api.md, \"Personal data\")."
    ),
)
def outbox(
    request: Request,
    principal: CurrentPrincipal,
    status: Annotated[
        str | None,
        Query(description="queued | sent | failed | skipped", json_schema_extra={"enum": list(OUTBOX_STATUSES)}),
    ] = None,
    limit: Annotated[int | None, Query(ge=1, description="At most this many rows.")] = None,
) -> list[dict[str, Any]]:
    """The outbox rows the caller may read (:mod:`beslut.api.need_to_know`)."""
    return outbox_for(principal, engine_for(request, principal).outbox(status=status, limit=limit))


@router.get(
    "/scheduler/daemons",
    name="scheduler_status",
    tags=["scheduler"],
    summary="Scheduler daemons",
    description="The same document as `beslut scheduler status --json`: each daemon's last heartbeat.",
)
def scheduler_status(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """Each daemon's last heartbeat."""
    return {"daemons": [heartbeat_json(b) for b in engine_for(request, principal).heartbeats()]}


@router.get(
    "/contacts",
    name="contacts",
    tags=["contacts"],
    summary="Contacts",
    description=(
        "The same document as `beslut contact list --json`, on a need-to-know basis: coordinator and admin "
        "read every contact, a clerk its own party's, an auditor ids only (`name` and `email` null)."
    ),
)
def contacts(request: Request, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """The contacts the caller may read (:mod:`beslut.api.need_to_know`)."""
    return contacts_for(principal, engine_for(request, principal).contacts())


@router.get(
    "/whoami",
    name="whoami",
    tags=["tokens"],
    summary="The caller",
    description="The calling token's actor id (as the audit log records it), role and party.",
)
def whoami(principal: CurrentPrincipal) -> dict[str, Any]:
    """Who the token says the caller is."""
    return {"actor": principal.id, "role": principal.role, "party": principal.party}
