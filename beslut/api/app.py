"""The HTTP API's app factory: one store per app, one light engine per request, errors in one place.

:func:`create_app` opens ONE :class:`~beslut.persistence.Store` (its connection pool is
shared by every request) and wires the routers of :mod:`beslut.api.commands` and
:mod:`beslut.api.reads`, the operators' metrics and probes of :mod:`beslut.api.metrics`,
and the exception handlers below, which are the only place an exception becomes an
HTTP answer: every refusal of the engine (:mod:`beslut.errors`), every refusal of the
HTTP layer (:class:`~beslut.api.problems.ApiProblem`), every malformed request and every
unknown route is an RFC 9457 problem document, and a command's refusal is counted in
the metrics under its kind. ``beslut serve`` runs this app with uvicorn.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from beslut.api import admin, audit, commands, imports, media, reads, scheduler, tokens
from beslut.api.limits import RequestLimits, document_limits
from beslut.api.metrics import install_metrics
from beslut.api.problems import (
    INTERNAL,
    ApiProblem,
    Kind,
    kind_for_status,
    kind_of,
    problem_response,
    validation_detail,
)
from beslut.api.sessions import StoreSessions
from beslut.audit import keys
from beslut.clock import Clock, SystemClock
from beslut.errors import BeslutError, NotFound
from beslut.persistence import DEFAULT_DATABASE, Store, open_store
from beslut.persistence.schema import require_current_store
from beslut.states.calendar import BusinessCalendar
from beslut.web import dashboard_router
from beslut.workflow import Engine

log = structlog.get_logger("beslut.api")

DESCRIPTION = """\
Follow a recommendation that many independent parties must each decide on, over HTTP.

Every command of the `beslut` CLI has an endpoint here, with the same validation, the same refusals and
the same one-transaction guarantee. Authenticate with an API token from `beslut token create`
(`Authorization: Bearer <token>`). Errors are `application/problem+json` (RFC 9457). A recommendation's
status carries its version as the `ETag`; send it back as `If-Match` (or `expected_version`) to refuse a
change based on a stale read (409). See docs/api.md.
"""

TAGS = [
    {"name": "recommendations", "description": "A recommendation's life: propose, recommend, withdraw, consolidate."},
    {"name": "parties", "description": "A party's steps towards its decision; only that party's clerk (or admin)."},
    {"name": "scheduler", "description": "Deadlines, reminders and the outbox."},
    {"name": "contacts", "description": "The people who receive a party's reminders."},
    {"name": "audit", "description": "The hash-chained audit log and its verification."},
    {"name": "tokens", "description": "API tokens: the caller's own, and (admin) creating, listing, revoking them."},
    {"name": "operations", "description": "Metrics and probes for operators (no token)."},
]


def open_app_store(target: str | Path | None) -> Store:
    """Open the database the app serves; refuse one that does not exist or was never initialised.

    Raises:
        NotFound: the SQLite file does not exist, or the schema is missing (run `beslut init`).
        SchemaMismatch: the schema is behind this beslut (run `beslut db upgrade`) or ahead of it.
    """
    name = str(target) if target is not None else DEFAULT_DATABASE
    if "://" not in name and not Path(name).is_file():
        raise NotFound(f"database {name} does not exist: run `beslut init` first")  # opening it would create it
    store = open_store(name)
    if not store.is_initialised():
        store.close()
        shown = name.split("@")[-1] if "://" in name else name
        raise NotFound(f"database {shown} is not initialised: run `beslut init` first")
    try:
        require_current_store(store)  # behind or ahead of this beslut: refuse, never migrate implicitly
    except BaseException:
        store.close()
        raise
    return store


def create_app(
    target: str | Path | Store | None,
    *,
    clock: Clock | None = None,
    calendar: BusinessCalendar | None = None,
    checkpoint_key: Ed25519PrivateKey | Path | None = None,
    secure_cookies: bool = False,
    api_docs: bool = False,
) -> FastAPI:
    """The FastAPI app serving the store *target* (a path, a URL, or an open store the caller keeps owning).

    Args:
        target: the database; a :class:`Store` is used as it is and not closed by the app.
        clock: where "now" comes from (recorded_at, refusing future legal dates); the system clock by default.
        calendar: the business calendar for rolling dates.
        checkpoint_key: the Ed25519 private key (or its PEM file) `POST /audit/checkpoint` signs with;
            without one that endpoint answers 503. Loaded here, so a bad key stops the server at start.
        secure_cookies: mark the dashboard's session cookie ``Secure`` (``serve --secure-cookies``, behind HTTPS).
        api_docs: serve the interactive pages ``/docs`` and ``/redoc`` (off: they load script from a CDN).

    Raises:
        NotFound: the database does not exist or is not initialised.
        InvalidInput: the checkpoint key file is unreadable, readable by others, or not an Ed25519 key.
    """
    signing_key = keys.load_private(checkpoint_key) if isinstance(checkpoint_key, Path) else checkpoint_key
    owned = not isinstance(target, Store)
    store = open_app_store(target) if not isinstance(target, Store) else target

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned:
                store.close()

    app = FastAPI(
        title="beslut",
        version="0.1.0",
        summary="Recommendations that many independent parties must each decide on.",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url="/docs" if api_docs else None,
        redoc_url="/redoc" if api_docs else None,
    )
    app.state.store = store
    app.state.clock = clock or SystemClock()
    app.state.calendar = calendar or BusinessCalendar()
    app.state.checkpoint_key = signing_key
    install_metrics(app, store, clock=clock)
    app.include_router(commands.router)
    app.include_router(reads.router)
    for router in (scheduler.router, imports.router, audit.router, admin.router):  # the rest of the CLI; cli_map.py
        app.include_router(router)
    app.include_router(  # the coordinators' pages at / (beslut/web, docs/dashboard.md); any valid token reads
        dashboard_router(
            Engine(store, clock=app.state.clock, calendar=app.state.calendar),
            authenticate=lambda secret: tokens.authenticate(store, secret),
            clock=app.state.clock,
            secure_cookie=secure_cookies,
            sessions=StoreSessions(store, app.state.clock),
        )
    )
    _install_handlers(app)
    app.add_middleware(RequestLimits)  # outermost of ours: a body over its limit is refused before anything reads it
    media.install(app)  # 415 for a JSON body sent as another media type (beslut/api/media.py)
    _document_limits(app)
    return app


def _count(request: Request, kind: Kind) -> None:
    """Count a refused command (a route in :data:`~beslut.api.commands.COMMAND_KINDS`) under its result."""
    route = request.scope.get("route")
    name = getattr(route, "name", None)
    # A request only partly matching a command's route (GET on a POST path: 405) is not that command.
    if name in commands.COMMAND_KINDS and request.method in getattr(route, "methods", ()):
        request.app.state.metrics.record_command(name, kind.result)


def _allowed_methods(request: Request) -> str:
    """Every method the OpenAPI document gives the request's path (Starlette's 405 names only one route's).

    One route per method is registered for a path, and Starlette answers 405 with the first partly
    matching route's methods; the document lists them all, so the answer follows the document.
    """
    methods: set[str] = set()
    for template, item in request.app.openapi()["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            methods.update(method.upper() for method in item)
    if "GET" in methods:
        methods.add("HEAD")  # Starlette answers HEAD wherever it answers GET
    return ", ".join(sorted(methods))


def _install_handlers(app: FastAPI) -> None:
    """Turn every exception into a problem document: the one place errors are mapped."""

    async def on_error(request: Request, error: Exception) -> JSONResponse:
        kind = kind_of(error)
        _count(request, kind)
        if kind is INTERNAL:
            log.error("api_internal_error", path=request.url.path, error=repr(error))
            return problem_response(kind, "internal error (logged on the server)", instance=request.url.path)
        return problem_response(kind, str(error), instance=request.url.path, headers=getattr(error, "headers", None))

    # Refusals are handled inside the app (ExceptionMiddleware); the handler for Exception runs in
    # Starlette's outermost ServerErrorMiddleware, which answers and then re-raises for the server's log.
    app.add_exception_handler(BeslutError, on_error)
    app.add_exception_handler(ApiProblem, on_error)
    app.add_exception_handler(Exception, on_error)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        kind = kind_for_status(422)
        _count(request, kind)
        return problem_response(kind, validation_detail(list(error.errors())), instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = kind_for_status(error.status_code)
        _count(request, kind)
        detail = error.detail if isinstance(error.detail, str) else kind.title
        if error.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.method} {request.url.path}"
        if error.status_code == 400:
            detail = "the request body is not valid JSON (UTF-8 text)"
        headers = dict(error.headers) if error.headers else None
        if error.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return problem_response(kind, detail, instance=request.url.path, headers=headers)


def _document_limits(app: FastAPI) -> None:
    """The OpenAPI document names the limits' answers (413, 503) where :mod:`beslut.api.limits` gives them."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_limits(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["create_app", "open_app_store"]

