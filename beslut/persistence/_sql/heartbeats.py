"""The heartbeats port over SQL: the ``heartbeat`` table, one row per daemon."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import delete, insert, select

from beslut.persistence import _tables as t
from beslut.persistence._sql.base import SqlPart, SqlWritePart
from beslut.states.records import Heartbeat
from beslut.workflow.ports import HeartbeatReads, HeartbeatWrites


class SqlHeartbeatReads(SqlPart, HeartbeatReads):
    """Heartbeats read."""

    def heartbeats(self) -> list[Heartbeat]:
        """Every daemon's last heartbeat, newest first."""
        rows = self.connection.execute(select(t.HEARTBEAT).order_by(t.HEARTBEAT.c.last_tick_at.desc())).mappings()
        return [Heartbeat(**dict(row)) for row in rows.all()]


class SqlHeartbeatWrites(SqlWritePart, HeartbeatWrites):
    """A heartbeat written."""

    def beat(self, heartbeat: Heartbeat) -> None:
        """Write the daemon's heartbeat row."""
        self.connection.execute(delete(t.HEARTBEAT).where(t.HEARTBEAT.c.daemon_id == heartbeat.daemon_id))
        self.connection.execute(insert(t.HEARTBEAT).values(**asdict(heartbeat)))
