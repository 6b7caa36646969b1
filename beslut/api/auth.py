"""Who is calling, and may they: the API's authentication and role checks as FastAPI dependencies.

A request authenticates with an API token (see :mod:`beslut.api.tokens`), sent as
``Authorization: Bearer <token>``, or with the ``beslut_token`` cookie the dashboard's
sign-in sets, which carries a short-lived session acting for a token, never the token
(:mod:`beslut.api.sessions`); the header wins when both are sent. A write (any method
but GET, HEAD, OPTIONS) authenticated by the cookie must come with an ``Origin`` naming
this host (:func:`foreign_origin`): SameSite=Strict keeps the cookie from other sites, but
not from a sibling on the same site, which a browser still counts as same-site. Every route depends on
:func:`current_principal` or on one of the checks built from it, or (the hot reads) on
:data:`TokenSecret` plus :func:`authorise` inside the route's own read transaction, so
no route can be reached without a valid, unrevoked token.

Why two ways: :func:`current_principal` is a synchronous dependency, so FastAPI runs
it on a thread of the pool, and the route (synchronous too) on another: two hand-offs
and two read transactions per request. For ``GET /recommendations/{key}`` that was
most of the price of the HTTP layer (docs/performance.md, bench_api). There the route
takes the raw secret (:data:`TokenSecret`: no database, no thread) and checks it with
:func:`authorise` in the same read transaction that loads the case, on one thread hop.
No cache of tokens: a revocation (``beslut token revoke``, possibly from another
process) then takes effect for the very next request, and the indexed lookup inside an
already open transaction is cheap.

Roles (docs/api.md has the table): ``admin`` may do everything; ``coordinator`` runs a
recommendation (propose, recommend, withdraw, consolidate) and keeps the contacts;
``clerk`` records the steps of its own party only; ``auditor`` reads and verifies.
Every role may read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Final
from urllib.parse import urlsplit

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from beslut.api import sessions, tokens
from beslut.api.problems import FORBIDDEN, UNAUTHORIZED, ApiProblem
from beslut.clock import Clock, SystemClock
from beslut.persistence import Store
from beslut.workflow.ports import ApiToken, Reader

COOKIE_NAME = "beslut_token"

_bearer = HTTPBearer(auto_error=False, description="An API token from `beslut token create`.")
_cookie = APIKeyCookie(
    name=COOKIE_NAME, auto_error=False, description="A dashboard session, set by its sign-in (acts as its token)."
)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="beslut"'}


@dataclass(frozen=True, kw_only=True)
class Principal:
    """The caller, as its token says: an id for the audit log, a role, and (for a clerk) its party."""

    token_id: str
    role: str
    party: str | None = None

    @property
    def id(self) -> str:
        """The actor id recorded in audit events: ``token:<token id>`` (an id, never a name)."""
        return f"token:{self.token_id}"


def store_of(request: Request) -> Store:
    """The app's one store."""
    store: Store = request.app.state.store
    return store


@dataclass(frozen=True)
class Credential:
    """What a request presents, not yet checked: a token (the header) or a dashboard session (the cookie)."""

    secret: str
    cookie: bool
    now: datetime  # the app's clock when the request came: a session's expiry is checked against it
    foreign_write: str | None = None  # why a write by cookie is refused (403) once the session is known


SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


async def token_secret(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Credential:
    """The credential the request carries, not yet checked; refuses (401) a request without one.

    Asynchronous and without I/O, so FastAPI runs it on the event loop (no thread hop);
    the OpenAPI document still lists both security schemes for every route using it. A
    write carried by the cookie is marked to be refused (403) unless its Origin is this host.
    """
    if bearer is not None and bearer.credentials:
        return Credential(bearer.credentials, cookie=False, now=_now(request))
    if not cookie:
        raise ApiProblem(UNAUTHORIZED, "no API token: send Authorization: Bearer <token>", headers=_CHALLENGE)
    foreign = foreign_origin(request) if request.method not in SAFE_METHODS else None
    return Credential(cookie, cookie=True, now=_now(request), foreign_write=foreign)


def _now(request: Request) -> datetime:
    """The app's clock (tests fix it), or the system's on an app that set none."""
    clock: Clock = getattr(request.app.state, "clock", None) or SystemClock()
    return clock.now()


def foreign_origin(request: Request) -> str | None:
    """Why a write by cookie may not be done: its ``Origin`` is missing or names another host; None when it may.

    Only the host is compared (as the dashboard's sign-in does), so a proxy ending TLS in front
    of the app passes; a sibling on the same site (``https://sibling.example``) does not. The
    refusal (403) comes after the session is checked, so an unknown cookie is still a 401.
    """
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return "a write authenticated by the dashboard's cookie needs an Origin header naming this host"
    if urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower():
        return f"a write authenticated by the dashboard's cookie from {origin[:80]!r} is refused"
    return None


TokenSecret = Annotated[Credential, Depends(token_secret)]


def _principal(found: ApiToken | None, *, cookie: bool) -> Principal:
    if found is None:
        what = "the dashboard session is unknown, ended or its token revoked" if cookie else "the API token is"
        raise ApiProblem(UNAUTHORIZED, what if cookie else f"{what} unknown or revoked", headers=_CHALLENGE)
    return Principal(token_id=found.id, role=found.role, party=found.party)


def authorise(reader: Reader, credential: Credential) -> Principal:
    """The principal of *credential*, checked inside the caller's open read transaction *reader*.

    Raises:
        ApiProblem: 401, the token is unknown or revoked, or the session unknown, ended or its token revoked.
    """
    if credential.cookie:
        principal = _principal(sessions.session_token_in(reader, credential.secret, now=credential.now), cookie=True)
        if credential.foreign_write is not None:
            raise ApiProblem(FORBIDDEN, credential.foreign_write)
        return principal
    return _principal(tokens.authenticate_in(reader, credential.secret), cookie=False)


def current_principal(request: Request, credential: TokenSecret) -> Principal:
    """The caller of this request; refuses (401) a missing, unknown or revoked token or session.

    Reusable by any router on this app (the dashboard's pages depend on it too).
    """
    with store_of(request).reader() as reader:
        return authorise(reader, credential)


def principal_for(store: Store, secret: str) -> Principal | None:
    """The principal a token secret stands for, or None when it is unknown or revoked.

    The plain function behind :func:`current_principal`, for code that checks a token
    outside a FastAPI dependency (the dashboard's sign-in form).
    """
    found = tokens.authenticate(store, secret)
    if found is None:
        return None
    return Principal(token_id=found.id, role=found.role, party=found.party)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets through ``admin`` and the given *roles*, and refuses (403) the rest."""
    allowed = ("admin", *roles)

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise ApiProblem(FORBIDDEN, f"role {principal.role!r} may not do this; it needs {' or '.join(allowed)}")
        return principal

    return check


def party_step_role(*others: str) -> Callable[..., Principal]:
    """A dependency that lets through ``admin``, the clerk of the party in the path, and the roles *others*."""
    needed = ", ".join(("clerk", *others)) + " or admin"

    def check(
        principal: CurrentPrincipal,
        party: Annotated[str, Path(description="The party's key, e.g. 2380 (Östersund).")],
    ) -> Principal:
        if principal.role == "admin" or principal.role in others:
            return principal
        if principal.role != "clerk":
            raise ApiProblem(FORBIDDEN, f"role {principal.role!r} may not record a party's steps; it needs {needed}")
        if principal.party != party:
            raise ApiProblem(FORBIDDEN, f"a clerk of party {principal.party!r} may not act for party {party!r}")
        return principal

    return check


party_clerk = party_step_role()


Coordinator = Annotated[Principal, Depends(require_role("coordinator"))]
Clerk = Annotated[Principal, Depends(party_clerk)]

__all__ = [
    "COOKIE_NAME",
    "Clerk",
    "Coordinator",
    "Credential",
    "CurrentPrincipal",
    "Principal",
    "TokenSecret",
    "authorise",
    "current_principal",
    "principal_for",
]
