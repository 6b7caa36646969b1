"""Who is calling, and may they: the API's authentication and role checks as FastAPI dependencies.

A request authenticates with an API token (see :mod:`beslut.api.tokens`), sent as
``Authorization: Bearer <token>`` or, for the dashboard's pages, in the
``beslut_token`` cookie; the header wins when both are sent. Every route depends on
:func:`current_principal` or on one of the checks built from it, or (the hot reads) on
:data:`TokenSecret` plus :func:`authorise` inside the route's own read transaction, so
no route can be reached without a valid, unrevoked token.

Why two ways: :func:`current_principal` is a synchronous dependency, so FastAPI runs
it on a thread of the pool, and the route (synchronous too) on another: two hand-offs
and two read transactions per request. For ``GET /recommendations/{key}`` that was
most of the price of the HTTP layer (docs/performance.md, "HTTP API"). There the route
takes the raw secret (:data:`TokenSecret`: no database, no thread) and checks it with
:func:`authorise` in the same read transaction that loads the case, on one thread hop.
No cache of tokens: a revocation (``beslut token revoke``, possibly from another
process) then takes effect for the very next request, and the indexed lookup inside an
already open transaction costs about 0.1 ms.

Roles (docs/api.md has the table): ``admin`` may do everything; ``coordinator`` runs a
recommendation (propose, recommend, withdraw, consolidate) and keeps the contacts;
``clerk`` records the steps of its own party only; ``auditor`` reads and verifies.
Every role may read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from beslut.api import tokens
from beslut.api.problems import FORBIDDEN, UNAUTHORIZED, ApiProblem
from beslut.persistence import Store
from beslut.persistence.abc import ApiToken, Reader

COOKIE_NAME = "beslut_token"

_bearer = HTTPBearer(auto_error=False, description="An API token from `beslut token create`.")
_cookie = APIKeyCookie(name=COOKIE_NAME, auto_error=False, description="The same token, set by the dashboard login.")
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


async def token_secret(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> str:
    """The token the request carries, not yet checked; refuses (401) a request without one.

    Asynchronous and without I/O, so FastAPI runs it on the event loop (no thread hop);
    the OpenAPI document still lists both security schemes for every route using it.
    """
    secret = bearer.credentials if bearer is not None else cookie
    if not secret:
        raise ApiProblem(UNAUTHORIZED, "no API token: send Authorization: Bearer <token>", headers=_CHALLENGE)
    return secret


TokenSecret = Annotated[str, Depends(token_secret)]


def _principal(found: ApiToken | None) -> Principal:
    if found is None:
        raise ApiProblem(UNAUTHORIZED, "the API token is unknown or revoked", headers=_CHALLENGE)
    return Principal(token_id=found.id, role=found.role, party=found.party)


def authorise(reader: Reader, secret: str) -> Principal:
    """The principal of *secret*, checked inside the caller's open read transaction *reader*.

    Raises:
        ApiProblem: 401, the token is unknown or revoked.
    """
    return _principal(tokens.authenticate_in(reader, secret))


def current_principal(request: Request, secret: TokenSecret) -> Principal:
    """The caller of this request; refuses (401) a missing, unknown or revoked token.

    Reusable by any router on this app (the dashboard's pages depend on it too).
    """
    return _principal(tokens.authenticate(store_of(request), secret))


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


def party_clerk(
    principal: CurrentPrincipal,
    party: Annotated[str, Path(description="The party's key, e.g. 2380 (Östersund).")],
) -> Principal:
    """Lets through ``admin`` and the clerk of the party in the path; refuses (403) everyone else."""
    if principal.role == "admin":
        return principal
    if principal.role != "clerk":
        raise ApiProblem(FORBIDDEN, f"role {principal.role!r} may not record a party's steps; it needs clerk or admin")
    if principal.party != party:
        raise ApiProblem(FORBIDDEN, f"a clerk of party {principal.party!r} may not act for party {party!r}")
    return principal


Coordinator = Annotated[Principal, Depends(require_role("coordinator"))]
Clerk = Annotated[Principal, Depends(party_clerk)]

__all__ = [
    "COOKIE_NAME",
    "Clerk",
    "Coordinator",
    "CurrentPrincipal",
    "Principal",
    "TokenSecret",
    "authorise",
    "current_principal",
    "principal_for",
]
