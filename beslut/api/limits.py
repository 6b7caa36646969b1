"""What one request may cost the server: a body size limit per route, and a bound on concurrent heavy requests.

An ASGI middleware, outside the routes, authentication included, because the cost is paid
before any of them runs: a JSON body is read and parsed before its token is looked at, an
upload is spooled before the route looks at it. So:

* **Body size.** Each route has a limit (:data:`ROUTE_LIMITS`; :data:`DEFAULT_BODY_LIMIT` for
  the rest). A ``Content-Length`` over it is refused with **413** before a byte of the body is
  read; a body without one (chunked) is counted as it arrives and refused with 413 as soon as
  it passes the limit; nothing beyond the limit is read, whatever the route would have done.
* **Heavy requests.** Unpacking and checking a package, an import, exporting a package and
  replaying the log each take seconds of CPU and a temporary directory or a large transaction.
  At most :data:`HEAVY_CONCURRENCY` of them run at once in one process; one more is refused at
  once with **503** and ``Retry-After`` (never queued: a queue would hold the bodies in memory).

docs/api.md, "Limits", lists the table; change it here and there together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from beslut.api.problems import Kind, problem_response
from beslut.workflow.steps_file import MAX_BYTES as MAX_IMPORT_BYTES

MIB: Final = 1024 * 1024
DEFAULT_BODY_LIMIT: Final = 1 * MIB
"""Any route not in :data:`ROUTE_LIMITS`: a command's or a checkpoint's JSON body is a few kB."""
HEAVY_CONCURRENCY: Final = 2
"""Heavy requests one server process runs at once (each may use a core and a temporary directory)."""
RETRY_AFTER_SECONDS: Final = 5

TOO_LARGE: Final = Kind(413, "body-too-large", "The request body is too large", "invalid")
BUSY: Final = Kind(503, "busy", "Too many heavy requests at once", "error")


@dataclass(frozen=True)
class RouteLimit:
    """One route's limits: its method, its path (a regular expression), its body limit, and whether it is heavy."""

    method: str
    path: re.Pattern[str]
    body: int
    heavy: bool = False


ROUTE_LIMITS: Final = (
    RouteLimit("POST", re.compile(r"/audit/verify-export"), 200 * MIB, heavy=True),
    RouteLimit("POST", re.compile(r"/party-steps/import"), MAX_IMPORT_BYTES, heavy=True),
    RouteLimit("GET", re.compile(r"/audit/export/[^/]+"), 0, heavy=True),
    RouteLimit("POST", re.compile(r"/audit/export/[^/]+"), 64 * 1024, heavy=True),
    RouteLimit("GET", re.compile(r"/audit/replay"), 0, heavy=True),
    RouteLimit("POST", re.compile(r"/logga-in"), 8 * 1024),
)
"""The routes whose limits differ from :data:`DEFAULT_BODY_LIMIT` (a GET's body is 0: it has none)."""


def limit_for(method: str, path: str) -> RouteLimit:
    """The limits of a request by its method and path (relative to the app's root).

    A pair not in :data:`ROUTE_LIMITS` gets :data:`DEFAULT_BODY_LIMIT`, a GET included: a GET route
    reads no body, and a method the path does not have must reach the router for its 405 (with
    ``Allow``), not be answered 413 for a body it would never read.
    """
    for limit in ROUTE_LIMITS:
        if limit.method == method and limit.path.fullmatch(path):
            return limit
    return RouteLimit(method, re.compile(re.escape(path)), DEFAULT_BODY_LIMIT)


def document_limits(document: dict[str, Any]) -> dict[str, Any]:
    """Add the limits' answers to an OpenAPI document: 413 where a body is taken, 503 on the heavy routes."""
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            limit = limit_for(method.upper(), re.sub(r"\{[^}]+\}", "x", path))
            if "requestBody" in operation:
                responses.setdefault("413", {"description": _too_large(limit) + " (a problem document)"})
            if limit.heavy:
                responses.setdefault(
                    "503",
                    {
                        "description": f"more than {HEAVY_CONCURRENCY} heavy requests at once: retry after "
                        "`Retry-After` seconds (a problem document)"
                    },
                )
    return document


class _TooLarge(Exception):
    """Raised into the app when the body passes its limit, so the route stops reading."""


class RequestLimits:
    """The middleware: refuse a body over its route's limit (413), and a heavy request beyond the bound (503)."""

    def __init__(self, app: ASGIApp, *, heavy_concurrency: int = HEAVY_CONCURRENCY) -> None:
        self.app = app
        self.heavy_concurrency = heavy_concurrency
        self.heavy_running = 0  # touched only on the event loop: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared size, take a heavy slot if the route is heavy, then run the app counting the body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"].removeprefix(scope.get("root_path", "")) or "/"
        limit = limit_for(scope["method"], path)
        declared = _content_length(scope)
        if declared is not None and declared > limit.body:
            await _refuse(scope, receive, send, TOO_LARGE, _too_large(limit))
            return
        if not limit.heavy:
            await self._limited(scope, receive, send, limit)
            return
        if self.heavy_running >= self.heavy_concurrency:
            detail = f"{self.heavy_concurrency} heavy requests are running; retry in {RETRY_AFTER_SECONDS} s"
            await _refuse(scope, receive, send, BUSY, detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
            return
        self.heavy_running += 1
        try:
            await self._limited(scope, receive, send, limit)
        finally:
            self.heavy_running -= 1

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: RouteLimit) -> None:
        """Run the app, counting the body as it arrives; past the limit, answer 413 whatever the app does."""
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.body:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's own answer to the interrupted read (400 or 500) is replaced by the 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            pass
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _refuse(scope, receive, send, TOO_LARGE, _too_large(limit))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: RouteLimit) -> str:
    size = f"{limit.body // MIB} MB" if limit.body >= MIB else f"{limit.body // 1024} kB" if limit.body else "0 bytes"
    return f"the request body is larger than {size}, the limit of {limit.method} on this route"


async def _refuse(
    scope: Scope, receive: Receive, send: Send, kind: Kind, detail: str, *, headers: dict[str, str] | None = None
) -> None:
    """Answer with a problem document, closing the connection (the unread body is not drained)."""
    closing = {**(headers or {}), "Connection": "close"}
    response = problem_response(kind, detail, instance=scope["path"], headers=closing)
    await response(scope, receive, send)


__all__ = [
    "BUSY",
    "DEFAULT_BODY_LIMIT",
    "HEAVY_CONCURRENCY",
    "ROUTE_LIMITS",
    "TOO_LARGE",
    "RequestLimits",
    "document_limits",
    "limit_for",
]
