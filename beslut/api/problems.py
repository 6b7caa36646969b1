"""Errors as RFC 9457 problem documents, mapped from `beslut`'s exceptions in this one place.

Every refusal the engine raises, every authentication or authorisation failure and
every malformed request ends up as ``application/problem+json`` with ``type``,
``title``, ``status`` and ``detail``; ``detail`` is the same one-line message the CLI
prints after ``error:``. :data:`RESULTS` also names the result a refusal is counted
under in the command metrics.

Why 409 and not 412 for a stale ``If-Match``: a stale version is the same refusal as a
stale ``expected_version`` in the body or ``--expect-version`` on the command line (the
engine raises :class:`~beslut.errors.ConcurrencyConflict` for all three), and clients
should handle it one way: reload, then retry. docs/api.md says the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from beslut.errors import (
    AuditVerificationFailed,
    BeslutError,
    ConcurrencyConflict,
    Duplicate,
    InvalidInput,
    NotFound,
    Refusal,
    RuleViolation,
    StoreError,
)

PROBLEM_JSON: Final = "application/problem+json"
TYPE_PREFIX: Final = "urn:beslut:problem:"


@dataclass(frozen=True)
class Kind:
    """One kind of problem: its HTTP status, its type slug and title, and its metrics result."""

    status: int
    slug: str
    title: str
    result: str


INVALID = Kind(422, "invalid-input", "The input is not valid", "invalid")
NOT_FOUND = Kind(404, "not-found", "No such recommendation, party or resource", "not_found")
DUPLICATE = Kind(409, "duplicate", "It already exists", "conflict")
WRONG_STATE = Kind(409, "wrong-state", "Not allowed in the current state", "conflict")
STALE = Kind(409, "stale-version", "The recommendation changed since that version", "conflict")
UNAUTHORIZED = Kind(401, "unauthorized", "No valid API token", "unauthorized")
FORBIDDEN = Kind(403, "forbidden", "The token's role may not do this", "forbidden")
# 409, not 500: the server works, the log (or a checkpoint, proof or package) does not verify; docs/api.md.
AUDIT_BROKEN = Kind(409, "audit-broken", "The audit log does not verify", "conflict")
STORE = Kind(503, "store-error", "The database could not do it", "error")
INTERNAL = Kind(500, "internal-error", "Internal error", "error")

# Most specific class first: the first match wins.
_BY_EXCEPTION: Final[tuple[tuple[type[BeslutError], Kind], ...]] = (
    (InvalidInput, INVALID),
    (NotFound, NOT_FOUND),
    (Duplicate, DUPLICATE),
    (RuleViolation, WRONG_STATE),
    (Refusal, INVALID),
    (ConcurrencyConflict, STALE),
    (AuditVerificationFailed, AUDIT_BROKEN),
    (StoreError, STORE),
)

# HTTP errors Starlette raises itself (unknown path, method not allowed, ...). A 400 is FastAPI's answer to a
# body it cannot parse (not UTF-8, say): the same refusal as a body that is not JSON, so 422 invalid-input.
_BY_STATUS: Final = {400: INVALID, 401: UNAUTHORIZED, 403: FORBIDDEN, 404: NOT_FOUND, 422: INVALID}


class ApiProblem(Exception):
    """A refusal made by the HTTP layer itself (authentication, roles, headers), with its kind."""

    def __init__(self, kind: Kind, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.headers = headers


def kind_of(error: BaseException) -> Kind:
    """The problem kind of an exception (an unexpected one is an internal error)."""
    if isinstance(error, ApiProblem):
        return error.kind
    for cls, kind in _BY_EXCEPTION:
        if isinstance(error, cls):
            return kind
    return INTERNAL


def kind_for_status(status: int) -> Kind:
    """The problem kind of a bare HTTP status (from Starlette's own errors)."""
    return _BY_STATUS.get(status, Kind(status, f"http-{status}", "HTTP error", "error" if status >= 500 else "invalid"))


def one_line(message: str) -> str:
    """The message on one line, as the CLI prints it."""
    return " ".join(message.split())


def problem_response(
    kind: Kind,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """An ``application/problem+json`` response (RFC 9457); *extra* adds extension members."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + kind.slug,
        "title": kind.title,
        "status": kind.status,
        "detail": one_line(detail),
    }
    if instance is not None:
        body["instance"] = instance
    body.update(extra or {})
    return JSONResponse(jsonable_encoder(body), status_code=kind.status, media_type=PROBLEM_JSON, headers=headers)


def validation_detail(errors: list[Any]) -> str:
    """One line naming the first invalid field, from a pydantic/FastAPI validation error list."""
    if not errors:
        return "the request is not valid"
    first = errors[0]
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
    where = ".".join(location)
    message = str(first.get("msg", "is not valid")).removeprefix("Value error, ")
    if first.get("type") == "missing":
        return f"{where}: is required" if where else "the request body is required"
    if first.get("type") == "json_invalid":
        return "the request body is not valid JSON"
    return f"{where}: {message}" if where and not message.startswith(where + ":") else message


PROBLEM_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    status: {
        "description": description,
        "content": {
            PROBLEM_JSON: {
                "schema": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "instance": {"type": "string"},
                    },
                    "required": ["type", "title", "status", "detail"],
                }
            }
        },
    }
    for status, description in (
        (401, "No token, an unknown token or a revoked one"),
        (403, "The token's role (or party) may not do this"),
        (404, "Unknown recommendation or party"),
        (409, "Wrong state, a duplicate, or a stale version (If-Match / expected_version)"),
        (422, "Bad input (the message names the field)"),
    )
}
