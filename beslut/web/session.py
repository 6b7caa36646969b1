"""Signing in to the dashboard: the token travels in a cookie the page's scripts cannot read.

The HTTP API takes ``Authorization: Bearer <token>``; a browser cannot send that
header from a plain link or an ``<img>``, so the login form puts the same token in
an HttpOnly, SameSite=Strict cookie named ``beslut_token`` (the API's
``current_principal`` accepts either). SameSite=Strict keeps other sites from
riding on it; HttpOnly keeps it away from scripts. The form body is parsed here
with the standard library (FastAPI's ``Form`` would pull in python-multipart for
one field).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from urllib.parse import parse_qs, urlsplit

from fastapi import Request

COOKIE: Final = "beslut_token"
MAX_FORM_BYTES: Final = 8192

Authenticate = Callable[[str], object | None]
"""Turns a presented token into the principal it belongs to, or None when it is not valid."""


class FormError(ValueError):
    """The login form's body could not be read (wrong type, too large, not UTF-8)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def presented_token(request: Request) -> str | None:
    """The token of the request: the ``Authorization: Bearer`` header first, then the cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    cookie = request.cookies.get(COOKIE, "").strip()
    return cookie or None


def principal_of(request: Request, authenticate: Authenticate) -> object | None:
    """The principal behind the request's token, or None when there is none or it is not valid."""
    token = presented_token(request)
    return authenticate(token) if token is not None else None


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
