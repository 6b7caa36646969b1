"""The directory port over SQL: the ``contact``, ``api_token`` and ``dashboard_session`` tables."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from beslut.errors import Duplicate
from beslut.persistence import _sessions
from beslut.persistence import _tables as t
from beslut.persistence._sql.base import SqlPart, SqlWritePart
from beslut.states.records import Contact
from beslut.workflow.ports import ApiToken, DashboardSession, DirectoryReads, DirectoryWrites

_C = t.CONTACT
_CONTACTS_OF = select(_C).where(and_(_C.c.party_key == bindparam("party"), _C.c.active.is_(True))).order_by(_C.c.id)
_TOKEN_BY_HASH = select(t.API_TOKEN).where(t.API_TOKEN.c.token_sha256 == bindparam("digest"))


class SqlDirectoryReads(SqlPart, DirectoryReads):
    """Contacts and API tokens read."""

    def contact(self, contact_id: str) -> Contact | None:
        """One contact by id (active or not)."""
        row = self.connection.execute(select(t.CONTACT).where(t.CONTACT.c.id == contact_id)).mappings().first()
        return _contact(row) if row is not None else None

    def list_contacts(self) -> list[Contact]:
        """Every contact, by party then id."""
        rows = self.connection.execute(select(t.CONTACT).order_by(t.CONTACT.c.party_key, t.CONTACT.c.id)).mappings()
        return [_contact(row) for row in rows.all()]

    def api_tokens(self) -> list[ApiToken]:
        """Every API token, by creation time then id."""
        query = select(t.API_TOKEN).order_by(t.API_TOKEN.c.created_at, t.API_TOKEN.c.id)
        return [ApiToken(**dict(row)) for row in self.connection.execute(query).mappings().all()]

    def api_token_by_hash(self, token_sha256: str) -> ApiToken | None:
        """The token with this secret hash, or None."""
        row = self.connection.execute(_TOKEN_BY_HASH, {"digest": token_sha256}).mappings().first()
        return ApiToken(**dict(row)) if row is not None else None

    def session_by_hash(self, session_sha256: str) -> tuple[DashboardSession, ApiToken] | None:
        """The dashboard session with this secret hash and its token (beslut/persistence/_sessions.py)."""
        return _sessions.session_by_hash(self.connection, session_sha256)


class SqlDirectoryWrites(SqlWritePart, DirectoryWrites):
    """Contacts and API tokens written."""

    def contacts_of(self, party: str) -> list[Contact]:
        """The active contacts of a party, by id."""
        rows = self.connection.execute(_CONTACTS_OF, {"party": party}).mappings().all()
        return [_contact(row) for row in rows]

    def put_contact(self, contact: Contact) -> None:
        """Insert or replace a contact."""
        self.connection.execute(delete(t.CONTACT).where(t.CONTACT.c.id == contact.id))
        self.connection.execute(
            insert(t.CONTACT).values(
                id=contact.id, party_key=contact.party, name=contact.name, email=contact.email, active=contact.active
            )
        )

    def add_api_token(self, token: ApiToken) -> None:
        """Insert a token row (only its hash)."""
        try:
            self.connection.execute(insert(t.API_TOKEN).values(**asdict(token)))
        except IntegrityError as error:
            raise Duplicate(f"API token {token.id!r} already exists") from error

    def revoke_api_token(self, token_id: str, *, now: datetime) -> bool:
        """Set revoked_at on an unrevoked token."""
        result = self.connection.execute(
            update(t.API_TOKEN)
            .where(and_(t.API_TOKEN.c.id == token_id, t.API_TOKEN.c.revoked_at.is_(None)))
            .values(revoked_at=now)
        )
        return bool(result.rowcount == 1)

    def add_session(self, session: DashboardSession, *, now: datetime) -> None:
        """Insert a dashboard session (beslut/persistence/_sessions.py)."""
        _sessions.add_session(self.connection, session, now=now)

    def revoke_session(self, session_sha256: str, *, now: datetime) -> bool:
        """End a dashboard session (beslut/persistence/_sessions.py)."""
        return _sessions.revoke_session(self.connection, session_sha256, now=now)


def _contact(row: Any) -> Contact:
    return Contact(id=row["id"], party=row["party_key"], name=row["name"], email=row["email"], active=row["active"])
