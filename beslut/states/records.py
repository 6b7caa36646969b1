"""Value objects of the scheduler's tables: contacts, outbox messages and heartbeats."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

OUTBOX_STATUSES: Final = ("queued", "sent", "failed", "skipped")
MESSAGE_KINDS: Final = ("before", "overdue", "escalation", "digest")


@dataclass(frozen=True, kw_only=True)
class Contact:
    """Who receives a party's reminders. The only place a person's name and address are kept."""

    id: str
    party: str
    name: str | None = None
    email: str | None = None
    active: bool = True


@dataclass(frozen=True, kw_only=True)
class OutboxEntry:
    """A message to queue (or to record as skipped) in the outbox."""

    recommendation: str
    party: str
    kind: str
    due_at: datetime
    contact_id: str
    status: str = "queued"
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class OutboxRecord(OutboxEntry):
    """A stored outbox row with its delivery bookkeeping."""

    id: int
    created_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    claimed_by: str | None = None
    sent_at: datetime | None = None
    last_error: str | None = None

    @property
    def dedupe_key(self) -> str:
        """The message's uniqueness key as one string, for receivers to drop repeats."""
        return (
            f"{self.recommendation}/{self.party or '-'}/{self.kind}/{self.due_at.isoformat()}/{self.contact_id or '-'}"
        )


@dataclass(frozen=True, kw_only=True)
class Heartbeat:
    """A daemon's last sign of life."""

    daemon_id: str
    hostname: str
    pid: int
    started_at: datetime
    last_tick_at: datetime | None = None
    last_tick_handled: int = 0
    last_delivered: int = 0
    stopped_at: datetime | None = None
    last_tick_seconds: float | None = None  # how long the last tick took
    last_tick_lag_seconds: float | None = None  # how late the last tick started against its schedule
