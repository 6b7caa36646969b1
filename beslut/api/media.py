"""415 for a JSON body sent as another media type, and that 415 in the OpenAPI document.

Why: FastAPI reads a body whose ``Content-Type`` is not JSON as raw bytes and then refuses it as
422 "Input should be a valid dictionary", which tells a client its fields are wrong when it is the
media type. Here, a request whose body failed as a whole (the error's location is the body
itself, not a field of it) and whose ``Content-Type`` is neither ``application/json`` nor an
``application/*+json`` type answers 415 ``unsupported-media-type`` instead; every other refusal
keeps its answer. A request without ``Content-Type`` is read as JSON (as FastAPI does). Routes
that read their own body (imports, the dashboard's forms) keep their own rules: they never raise
a body validation error. Every operation whose request body is JSON lists the 415.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from beslut.api.problems import PROBLEM_RESPONSES, Kind, problem_response

UNSUPPORTED: Final = Kind(415, "unsupported-media-type", "The body is not of a supported media type", "invalid")
DOCUMENTED: Final[dict[str, Any]] = {
    **PROBLEM_RESPONSES[422],
    "description": "The body is not JSON (a Content-Type other than application/json or application/*+json)",
}
Handler = Callable[[Request, Exception], Awaitable[Response]]


def is_json(media_type: str) -> bool:
    """``application/json`` or a structured ``application/*+json`` type (``problem+json``, ``merge-patch+json``)."""
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def wrong_media_type(request: Request, error: RequestValidationError) -> str | None:
    """The request's media type when the body failed as a whole because it is not JSON; else None."""
    media_type = request.headers.get("content-type")
    if media_type is None:
        return None
    media_type = media_type.split(";")[0].strip().lower()
    if is_json(media_type):
        return None
    whole_body = any(tuple(item.get("loc", ())) == ("body",) for item in error.errors())
    return media_type if whole_body else None


def install(app: FastAPI) -> None:
    """Answer 415 before the app's own 422 handler, and document it; call after the app's handlers exist."""
    previous = cast(Handler, app.exception_handlers[RequestValidationError])

    async def on_invalid(request: Request, error: Exception) -> Response:
        media_type = wrong_media_type(request, error) if isinstance(error, RequestValidationError) else None
        if media_type is None:
            return await previous(request, error)
        detail = f"Content-Type {media_type or 'empty'!r}: this operation takes application/json"
        return problem_response(UNSUPPORTED, detail, instance=request.url.path)

    app.add_exception_handler(RequestValidationError, on_invalid)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    content = operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}
                    if "application/json" in content:
                        operation.setdefault("responses", {}).setdefault("415", DOCUMENTED)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
