"""The queries of the dashboard's sessions (``dashboard_session``), for both SQL adapters.

Kept apart from the other queries: the session table is the HTTP layer's alone, and the
reader and the unit of work call these functions with their open connection.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, delete, insert, or_, select, update

from beslut.persistence import _tables as t
from beslut.workflow.ports import ApiToken, DashboardSession

_S = t.DASHBOARD_SESSION
_T = t.API_TOKEN
_BY_HASH = (
    select(_S, *(c.label(f"api_token_{c.name}") for c in _T.columns))
    .join(_T, _T.c.id == _S.c.token_id)
    .where(_S.c.session_sha256 == bindparam("digest"))
)


def session_by_hash(connection: Connection, session_sha256: str) -> tuple[DashboardSession, ApiToken] | None:
    """The session with this secret hash and its token (one indexed lookup and a primary-key join), or None."""
    row = connection.execute(_BY_HASH, {"digest": session_sha256}).mappings().first()
    if row is None:
        return None
    session = DashboardSession(**{c.name: row[c.name] for c in _S.columns})
    token = ApiToken(**{c.name: row[f"api_token_{c.name}"] for c in _T.columns})
    return session, token


def add_session(connection: Connection, session: DashboardSession, *, now: datetime) -> None:
    """Insert *session*; first delete every session that had ended before *now* (so the table stays small)."""
    connection.execute(delete(_S).where(or_(_S.c.expires_at < now, _S.c.revoked_at < now)))
    connection.execute(insert(_S).values(**asdict(session)))


def revoke_session(connection: Connection, session_sha256: str, *, now: datetime) -> bool:
    """Set revoked_at on the unrevoked session with this hash."""
    result = connection.execute(
        update(_S).where(and_(_S.c.session_sha256 == session_sha256, _S.c.revoked_at.is_(None))).values(revoked_at=now)
    )
    return bool(result.rowcount == 1)


__all__ = ["add_session", "revoke_session", "session_by_hash"]
