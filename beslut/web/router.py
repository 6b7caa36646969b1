"""The dashboard's routes: the matrix, a page per recommendation, the diagrams, signing in and out.

Server-rendered HTML that reads completely without JavaScript. The router is made
by :func:`dashboard_router` so the application decides which engine, which token
check and which clock it uses; the clock decides "today", hence who is overdue,
and tests set it. Reads go through the Engine and the store's Reader port (one
read transaction per page, so a page never mixes two versions of a case). The
matrix is paged (``?sida=N``, :data:`~beslut.web.pages.MATRIX_PAGE_SIZE` recommendations
a page) and reads only the cases of its page: with thousands of open
recommendations a request stays bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from importlib import resources
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool

from beslut.clock import Clock, SystemClock, today
from beslut.errors import InvalidInput
from beslut.states.case import Case
from beslut.web import diagrams, labels, pages
from beslut.web.session import (
    COOKIE,
    Authenticate,
    FormError,
    MemorySessions,
    Sessions,
    presented_session,
    principal_of,
    read_form,
    safe_next,
    same_site_post,
)
from beslut.web.signed_in import signed_in_as
from beslut.workflow import Engine

HEADERS: Final = {
    # No scripts at all, styles and images from this site only, forms post here only.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Same-origin, not no-referrer: under no-referrer the browser posts our own login form with
    # `Origin: null`, which the login-CSRF check must refuse (another site can send that too).
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def templates() -> Environment:
    """The page templates shipped in the package, with every value HTML-escaped."""
    env = Environment(
        loader=PackageLoader("beslut.web", "templates"),
        autoescape=True,  # spec titles, party names and reasons are user input
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        kronor=pages.kronor,
        overdue_label=labels.OVERDUE,
        party_states=list(labels.PARTY_STATES.items()),
    )
    return env


def read_matrix(
    engine: Engine, *, include_closed: bool, sida: str | None, size: int, day: date
) -> tuple[list[Case], pages.Paging, int]:
    """The cases of the requested page of the matrix, which page that is, and the overdue total of every page.

    One read snapshot, so the count, the page and the overdue total agree; only the
    page's cases (and their parties) are loaded, whatever the number of recommendations.
    """
    states = None if include_closed else pages.OPEN_STATES
    with engine.store.reader() as reader:
        counts = reader.recommendation_counts()
        total = sum(n for state, n in counts.items() if states is None or state in states)
        shown = pages.paging(total, sida, size=size)
        cases = reader.cases_page(states=states, offset=shown.offset, limit=shown.size)
        overdue = len(reader.overdue_parties(day))  # the same rule as the cells' overdue mark
    return cases, shown, overdue


def dashboard_router(
    engine: Engine,
    *,
    authenticate: Authenticate,
    clock: Clock | None = None,
    secure_cookie: bool = False,
    page_size: int = pages.MATRIX_PAGE_SIZE,
    sessions: Sessions | None = None,
) -> APIRouter:
    """The dashboard as a router to mount at ``/``.

    Args:
        engine: where the cases, audit events and deadlines are read.
        authenticate: turns a token into its principal, or None; any valid token may read.
        clock: what "today" is for overdue marks; the system clock by default.
        secure_cookie: mark the login cookie ``Secure`` (set it when served over HTTPS).
        page_size: recommendations per page of the matrix (``?sida=N``); only that page's cases are read.
        sessions: where sign-ins are kept (the app's database); in this process by default.
    """
    env = templates()
    now: Clock = clock or SystemClock()
    kept: Sessions = sessions if sessions is not None else MemorySessions(authenticate, now)

    def signed_in(request: Request) -> bool:
        return principal_of(request, authenticate, kept) is not None

    router = APIRouter(include_in_schema=False)

    def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = env.get_template(name).render(base=request.scope.get("root_path", ""), today=today(now), **context)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def to_login(request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        base = request.scope.get("root_path", "")
        return RedirectResponse(f"{base}/logga-in?{urlencode({'next': target})}", status_code=303, headers=HEADERS)

    @router.get("/stil.css", name="dashboard_css")
    def stylesheet() -> Response:
        css = resources.files("beslut.web").joinpath("stil.css").read_text(encoding="utf-8")
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=300"})

    @router.get("/", name="dashboard_matrix", response_model=None)
    def matrix(
        request: Request, alla: Annotated[str | None, Query()] = None, sida: Annotated[str | None, Query()] = None
    ) -> Response:
        principal = principal_of(request, authenticate, kept)
        if principal is None:
            return to_login(request)
        include_closed = alla not in (None, "", "0")
        day = today(now)
        cases, shown, overdue = read_matrix(engine, include_closed=include_closed, sida=sida, size=page_size, day=day)

        def page_href(number: int) -> str:
            query = {**({"alla": "1"} if include_closed else {}), **({"sida": str(number)} if number > 1 else {})}
            return f"{request.scope.get('root_path', '')}/" + (f"?{urlencode(query)}" if query else "")

        return render(
            request,
            "matris.html",
            m=pages.matrix(cases, today=day, include_closed=include_closed),
            overdue_total=overdue,
            paging=shown,
            previous_href=page_href(shown.number - 1) if shown.has_previous else None,
            next_href=page_href(shown.number + 1) if shown.has_next else None,
            signed_in=signed_in_as(principal),
        )

    @router.get("/rekommendationer/{key}", name="dashboard_recommendation", response_model=None)
    def recommendation(request: Request, key: str) -> Response:
        principal = principal_of(request, authenticate, kept)
        if principal is None:
            return to_login(request)
        with engine.store.reader() as reader:
            case = reader.load_case(key)
            if case is None:
                return render(request, "saknas.html", 404, key=key, signed_in=signed_in_as(principal))
            records = list(reader.audit_records(key))
            pending = reader.deadlines(status="pending", recommendation=key)
        page = pages.recommendation_page(case, records, pending, now=now.now())
        return render(request, "rekommendation.html", p=page, signed_in=signed_in_as(principal))

    @router.get("/diagram/{machine}.svg", name="dashboard_diagram", response_model=None)
    def diagram(request: Request, machine: str, markera: Annotated[str | None, Query()] = None) -> Response:
        if not signed_in(request):
            return PlainTextResponse("sign in first", status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if machine not in diagrams.MACHINES:
            return PlainTextResponse(f"no machine {machine!r}", status_code=404)
        try:
            svg = diagrams.draw_for_dashboard(machine, current=markera or None)
        except InvalidInput as error:
            return PlainTextResponse(str(error), status_code=422)
        return Response(svg, media_type="image/svg+xml", headers={**HEADERS, "Cache-Control": "private, max-age=300"})

    _session_routes(router, kept, render, secure_cookie=secure_cookie)
    return router


Render = Callable[..., HTMLResponse]


def _session_routes(router: APIRouter, kept: Sessions, render: Render, *, secure_cookie: bool) -> None:
    """Signing in (a form, then a session in the cookie) and out (a POST that ends the session)."""

    @router.get("/logga-in", name="dashboard_login")
    def login_form(request: Request, next: Annotated[str | None, Query()] = None) -> HTMLResponse:
        return render(request, "logga_in.html", next=safe_next(next), error=None, signed_in=False)

    @router.post("/logga-in", name="dashboard_login_post", response_model=None)
    async def login(request: Request) -> Response:
        if not same_site_post(request):
            return PlainTextResponse("the login form was posted from another site", status_code=403)
        try:
            form = await read_form(request)
        except FormError as error:
            return PlainTextResponse(str(error), status_code=error.status)
        token = form.get("token", "").strip()
        target = safe_next(form.get("next"))
        opened = await run_in_threadpool(kept.open, token) if token else None
        if opened is None:
            return render(request, "logga_in.html", 401, next=target, error="Nyckeln är inte giltig.", signed_in=False)
        secret, lifetime = opened
        response = RedirectResponse(target, status_code=303, headers=HEADERS)
        response.set_cookie(
            COOKIE, secret, max_age=lifetime, httponly=True, samesite="strict", secure=secure_cookie, path="/"
        )
        return response

    @router.post("/logga-ut", name="dashboard_logout")
    def logout(request: Request) -> Response:
        if not same_site_post(request):  # another site must not be able to sign a visitor out either
            return PlainTextResponse("the logout was posted from another site", status_code=403)
        session = presented_session(request)
        if session is not None:
            kept.close(session)  # revoked where it is kept: a copy of the cookie stops working too
        response = RedirectResponse(f"{request.scope.get('root_path', '')}/logga-in", status_code=303, headers=HEADERS)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=secure_cookie)
        return response
