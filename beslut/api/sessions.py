"""Dashboard sessions: signing in with an API token opens a short-lived session; the cookie carries only that.

Why not the token itself in the cookie: a token lives until it is revoked, and a cookie
that leaks (a shared computer, a proxy's log) would carry it; logging out could only
forget the cookie in that one browser. A session has a secret of its own (32 random
bytes, stored as its SHA-256 exactly like a token), ends after :data:`SESSION_LIFETIME`,
and is revoked in the database at logout, so a copy of the cookie stops working too.
It acts as its token: the same role and party, the same ``token:<id>`` actor in the
audit log, and revoking the token ends its sessions at the next request.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from beslut.api import tokens
from beslut.clock import Clock
from beslut.persistence import Store
from beslut.persistence.abc import ApiToken, DashboardSession, Reader

SESSION_LIFETIME: Final = timedelta(hours=8)
"""A working day: after it the dashboard asks for the token again."""


def open_session(store: Store, token_secret: str, *, now: datetime) -> tuple[str, ApiToken] | None:
    """A new session for a valid, unrevoked token: its secret (for the cookie) and the token; None otherwise."""
    with store.unit_of_work() as uow:
        token = tokens.authenticate_in(uow, token_secret)
        if token is None:
            return None
        secret = secrets.token_urlsafe(tokens.TOKEN_BYTES)
        uow.add_session(
            DashboardSession(
                id=secrets.token_hex(6),
                session_sha256=tokens.digest(secret),
                token_id=token.id,
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            ),
            now=now,
        )
    return secret, token


def session_token_in(reader: Reader, secret: str, *, now: datetime) -> ApiToken | None:
    """The token a session secret acts for, inside an open read transaction.

    None when the session is unknown, ended (logged out or expired), or its token revoked.
    """
    wanted = tokens.digest(secret)
    found = reader.session_by_hash(wanted)
    if found is None:
        return None
    session, token = found
    if session.revoked_at is not None or session.expires_at <= now or token.revoked_at is not None:
        return None
    if not hmac.compare_digest(session.session_sha256, wanted):
        return None
    return token


def close_session(store: Store, secret: str, *, now: datetime) -> bool:
    """End the session (logout); False when it was unknown or already ended."""
    with store.unit_of_work() as uow:
        return uow.revoke_session(tokens.digest(secret), now=now)


@dataclass(frozen=True)
class StoreSessions:
    """The dashboard's sessions (:class:`beslut.web.session.Sessions`) kept in the store's ``dashboard_session``."""

    store: Store
    clock: Clock

    def open(self, token_secret: str) -> tuple[str, int] | None:
        """A session for *token_secret*: (its secret, its lifetime in seconds), or None for an invalid token."""
        opened = open_session(self.store, token_secret, now=self.clock.now())
        return (opened[0], int(SESSION_LIFETIME.total_seconds())) if opened is not None else None

    def principal(self, secret: str) -> ApiToken | None:
        """The token a session acts for, or None."""
        with self.store.reader() as reader:
            return session_token_in(reader, secret, now=self.clock.now())

    def close(self, secret: str) -> None:
        """End the session (logout)."""
        close_session(self.store, secret, now=self.clock.now())


__all__ = ["SESSION_LIFETIME", "StoreSessions", "close_session", "open_session", "session_token_in"]
