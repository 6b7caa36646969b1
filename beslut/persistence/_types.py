"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no time-zone-aware timestamp: SQLAlchemy's ``DateTime(timezone=True)``
silently drops the offset there. :class:`AwareDateTime` stores ISO 8601 text in UTC
with its ``+00:00`` offset on SQLite (one fixed offset, so comparing the text in SQL
is comparing the instants, also in the repeated hour of the autumn clock change) and
``timestamptz`` on PostgreSQL, and always hands back an aware datetime in
Europe/Stockholm, so both stores answer alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from beslut.clock import STOCKHOLM


class AwareDateTime(TypeDecorator[datetime]):
    """An aware instant: ``timestamptz`` on PostgreSQL, ISO 8601 text with offset on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        """What a value is in Python: an aware :class:`~datetime.datetime` (the driver plans read it)."""
        return datetime

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Pick the storage type per dialect."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """Refuse naive datetimes; write text with offset on SQLite."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a time zone")
        if dialect.name == "sqlite":
            return value.astimezone(UTC).isoformat(timespec="microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware datetime in Europe/Stockholm."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.astimezone(STOCKHOLM)
