"""Signing in to the dashboard: a short-lived session in a cookie the page's scripts cannot read.

The HTTP API takes ``Authorization: Bearer <token>``; a browser cannot send that
header from a plain link or an ``<img>``, so the login form takes a token and opens a
*session* (:class:`Sessions`): the HttpOnly, SameSite=Strict cookie ``beslut_token``
carries the session's own secret, never the token. The session ends after a working
day, or at logout (a POST), when it is revoked where it is kept, so a copied cookie
stops working too. The application keeps sessions in its database
(:class:`beslut.api.sessions.StoreSessions`); :class:`MemorySessions` keeps them in the
process, for a router embedded without one. SameSite=Strict keeps other sites from
riding on the cookie; HttpOnly keeps it away from scripts; ``secure_cookie`` (``beslut
serve --secure-cookies``) keeps it off plain HTTP. The form body is parsed here with
the standard library (FastAPI's ``Form`` would pull in python-multipart for one field).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final, Protocol
from urllib.parse import parse_qs, urlsplit

from fastapi import Request

from beslut.clock import Clock, SystemClock

COOKIE: Final = "beslut_token"
MAX_FORM_BYTES: Final = 8192

Authenticate = Callable[[str], object | None]
"""Turns a presented token into the principal it belongs to, or None when it is not valid."""

SESSION_SECONDS: Final = 8 * 3600


class Sessions(Protocol):
    """Where dashboard sessions are kept: opened with a token, looked up by their secret, ended at logout."""

    def open(self, token_secret: str) -> tuple[str, int] | None:
        """A new session for a valid token: (its secret, its lifetime in seconds); None for an invalid token."""
        ...

    def principal(self, secret: str) -> object | None:
        """The principal a session acts for, or None when it is unknown, ended or its token no longer valid."""
        ...

    def close(self, secret: str) -> None:
        """End the session (logout)."""
        ...


class MemorySessions:
    """Sessions kept in this process (hashed, like the store's): for a dashboard router mounted without a store.

    Each session remembers its token and asks *authenticate* again on every request, so a
    token that stops being valid ends its sessions at once.
    """

    def __init__(self, authenticate: Authenticate, clock: Clock | None = None) -> None:
        self._authenticate = authenticate
        self._clock: Clock = clock or SystemClock()
        self._sessions: dict[str, tuple[str, datetime]] = {}  # sha256 of the secret -> (token, expiry)
        self._lock = threading.Lock()

    def open(self, token_secret: str) -> tuple[str, int] | None:
        """A session for a valid token."""
        if self._authenticate(token_secret) is None:
            return None
        secret = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[_sha256(secret)] = (token_secret, self._clock.now() + timedelta(seconds=SESSION_SECONDS))
        return secret, SESSION_SECONDS

    def principal(self, secret: str) -> object | None:
        """The principal of the session's token while the session lasts."""
        with self._lock:
            found = self._sessions.get(_sha256(secret))
        if found is None or found[1] <= self._clock.now():
            return None
        return self._authenticate(found[0])

    def close(self, secret: str) -> None:
        """Forget the session."""
        with self._lock:
            self._sessions.pop(_sha256(secret), None)


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class FormError(ValueError):
    """The login form's body could not be read (wrong type, too large, not UTF-8)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def presented_token(request: Request) -> str | None:
    """The token of the request's ``Authorization: Bearer`` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def presented_session(request: Request) -> str | None:
    """The session secret in the request's cookie, if any."""
    cookie = request.cookies.get(COOKIE, "").strip()
    return cookie or None


def principal_of(request: Request, authenticate: Authenticate, sessions: Sessions) -> object | None:
    """The principal behind the request's bearer token or else its session cookie; None when neither is valid."""
    token = presented_token(request)
    if token is not None:
        return authenticate(token)
    session = presented_session(request)
    return sessions.principal(session) if session is not None else None


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form fields of *request* (the first value of each).

    Raises:
        FormError: not ``application/x-www-form-urlencoded`` (415), over 8 KiB (413), not UTF-8 (400).
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise FormError("the form must be sent as application/x-www-form-urlencoded", 415)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormError("the form is too large", 413)
    try:
        text = body.decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=False, max_num_fields=20, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise FormError("the form is not valid UTF-8 urlencoded text", 400) from None
    return {name: values[0] for name, values in fields.items() if values}


def same_site_post(request: Request) -> bool:
    """False when a browser says the form was posted from another site (its Origin names another host).

    SameSite=Strict protects the cookie once set, not the login itself: without this check
    another site could post its own token and sign a visitor in as someone else (login
    CSRF). Only the host is compared, so a proxy that ends TLS in front of the app passes.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-site form post (curl, tests, older browsers on same-origin)
    if origin == "null":
        return False  # an opaque origin: a sandboxed frame, or a page that hides where it is
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only, never another site (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 32 for c in target):
        return "/"
    return target
