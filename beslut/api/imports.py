"""``POST /party-steps/import``: many party steps in ONE transaction, as ``beslut party import FILE``.

The body is the file's text, JSON Lines (``application/x-ndjson`` or ``application/jsonl``)
or CSV with a header row (``text/csv``), parsed by the CLI's own parser
(:func:`beslut.workflow.steps_file.parse_steps`) and run by :meth:`Engine.batch`: all the
steps or, one refused, none (the refusal names the line). A clerk may import only its own
party's lines: a line of another party is refused (403, naming the line) before anything
runs; ``admin`` may import any party's.
"""

from __future__ import annotations

import tempfile
from typing import IO, Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from beslut.api.auth import CurrentPrincipal, Principal
from beslut.api.commands import execute
from beslut.api.problems import FORBIDDEN, PROBLEM_RESPONSES, ApiProblem, Kind
from beslut.errors import InvalidInput
from beslut.states.views import case_status
from beslut.workflow.batch import PartyStep
from beslut.workflow.steps_file import MAX_BYTES, parse_steps

router = APIRouter(responses=PROBLEM_RESPONSES, tags=["parties"])

JSON_LINES: Final = frozenset({"application/x-ndjson", "application/jsonl", "application/json-lines"})
CSV: Final = frozenset({"text/csv"})
UNSUPPORTED: Final = Kind(415, "unsupported-media-type", "The body is not of a supported media type", "invalid")


def importer(principal: CurrentPrincipal) -> Principal:
    """Lets through ``admin`` and clerks (each line's party is checked later); refuses (403) the rest."""
    if principal.role not in ("admin", "clerk"):
        raise ApiProblem(FORBIDDEN, f"role {principal.role!r} may not record a party's steps; it needs clerk or admin")
    return principal


Importer = Annotated[Principal, Depends(importer)]


def check_parties(principal: Principal, steps: list[PartyStep]) -> None:
    """Refuse (403) a clerk's line for another party, naming the first such line."""
    if principal.role == "admin":
        return
    for step in steps:
        if step.party != principal.party:
            raise ApiProblem(
                FORBIDDEN,
                f"{step.source or 'a line'}: a clerk of party {principal.party!r} may not act for party {step.party!r}",
            )


async def spool_body(request: Request, spool: IO[bytes]) -> bool:
    """Write the body to *spool* as it arrives; whether it is CSV. Refuses another media type (415) or too large.

    Why a file and not memory: the import may be 200 MB, and holding the bytes, then their
    text, then the parsed steps at once took about five times that. From the file the lines
    are decoded and parsed one at a time (:func:`parse_spooled`), so only the steps stay.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_LINES | CSV:
        raise ApiProblem(
            UNSUPPORTED,
            f"Content-Type {media or 'none'!r}: send JSON Lines (application/x-ndjson) or CSV (text/csv)",
        )
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:  # the request limits refuse it first (413); this holds without them too
            raise InvalidInput(f"the body is larger than {MAX_BYTES // 1024 // 1024} MB; split the import")
        spool.write(chunk)
    spool.flush()
    return media in CSV


def parse_spooled(path: str, *, is_csv: bool) -> list[PartyStep]:
    """The steps of the spooled body, parsed line by line as the file is read (CSV needs ``newline=""``)."""
    try:
        with open(path, encoding="utf-8", errors="strict", newline="" if is_csv else None) as text:
            return parse_steps(text, csv_format=is_csv)
    except UnicodeDecodeError as error:
        raise InvalidInput(f"the body is not UTF-8 ({error.reason})") from None


@router.post(
    "/party-steps/import",
    name="party_import",
    summary="Import many party steps in one transaction",
    description=(
        "The same as `beslut party import FILE`: the body is the file (JSON Lines, one step a line, "
        '`{"action": "decide", "key": ..., "party": ..., "on": "2025-05-20", "outcome": "approved", '
        '"paragraph": "§ 88"}`; or CSV with a header row naming the same fields). All the steps run in ONE '
        "transaction: all of them, or (one refused, the problem naming its line) none. Roles: admin; a clerk "
        "for its own party's lines only. The answer: how many steps and audit events, and the status of every "
        "recommendation the import changed."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
    responses={415: {"description": "Not JSON Lines or CSV."}},
)
async def party_import(request: Request, principal: Importer) -> dict[str, Any]:
    """Parse the body as the CLI parses the file, check the clerk's party, run the batch."""
    with tempfile.NamedTemporaryFile(prefix="beslut-import-") as spool:
        is_csv = await spool_body(request, spool)
        steps = await run_in_threadpool(parse_spooled, spool.name, is_csv=is_csv)
    check_parties(principal, steps)
    result = await run_in_threadpool(execute, request, principal, "party_import", lambda e: e.batch(steps))
    return {
        "steps": len(steps),
        "events": len(result.records),
        "recommendations": [case_status(case) for case in result.cases],
    }


__all__ = ["router"]
