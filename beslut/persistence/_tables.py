"""The database tables, declared once with SQLModel and shared by both adapters.

Private to the persistence package: the rest of `beslut` sees domain values
(:class:`~beslut.states.case.Case`, :class:`~beslut.states.audit_chain.AuditRecord`),
never rows. `audit_event` is a public contract: auditors query it directly, so its
name and columns only ever grow.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from beslut.persistence._types import AwareDateTime

SCHEMA_VERSION = "2"


class MetaRow(SQLModel, table=True):
    """Key/value facts about the database itself (schema version)."""

    __tablename__ = "beslut_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=200)


class RecommendationRow(SQLModel, table=True):
    """One recommendation: its current state (a projection of its audit stream) and its spec."""

    __tablename__ = "recommendation"

    key: str = Field(primary_key=True, max_length=100)
    state: str = Field(max_length=20, index=True)
    outcome: str | None = Field(default=None, max_length=20)
    version: int
    title: str = Field(sa_column=Column(Text, nullable=False))
    issuer: str = Field(max_length=500)
    coordinator: str = Field(max_length=64)
    consolidation: str = Field(max_length=40)
    reply_by: date
    reply_deadline: date
    in_force_on: date | None = None
    supersedes: str | None = Field(default=None, max_length=100)
    superseded_by: str | None = Field(default=None, max_length=100)
    proposed_on: date
    recommended_on: date | None = None
    consolidated_on: date | None = None
    in_force_since: date | None = None
    withdrawn_on: date | None = None
    withdraw_reason: str | None = Field(default=None, sa_column=Column(Text))
    superseded_on: date | None = None
    participants: str | None = Field(default=None, sa_column=Column(Text))
    spec: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(sa_column=Column(AwareDateTime, nullable=False))
    contested: str | None = Field(default=None, sa_column=Column(Text))  # JSON list of party keys (0005)
    recounted_on: date | None = None
    readopted_on: date | None = None


class PartyDecisionRow(SQLModel, table=True):
    """One party's decision on one recommendation."""

    __tablename__ = "party_decision"

    recommendation_key: str = Field(primary_key=True, foreign_key="recommendation.key", max_length=100)
    party_key: str = Field(primary_key=True, max_length=64)
    position: int
    state: str = Field(max_length=20)
    deadline: date
    overdue: bool = False
    case_number: str | None = Field(default=None, max_length=200)
    prepared_on: date | None = None
    proposal_body: str | None = Field(default=None, max_length=200)
    proposal_paragraph: str | None = Field(default=None, max_length=200)
    proposed_on: date | None = None
    outcome: str | None = Field(default=None, max_length=40)
    conditions: str | None = Field(default=None, sa_column=Column(Text))
    deciding_body: str | None = Field(default=None, max_length=200)
    paragraph: str | None = Field(default=None, max_length=200)
    decided_on: date | None = None
    announced_on: date | None = None
    appeal_last_day: date | None = None
    appealed_on: date | None = None
    settled_on: date | None = None
    settlement: str | None = Field(default=None, max_length=20)
    final_on: date | None = None
    reported_on: date | None = None
    last_step_on: date | None = None

    __table_args__ = (
        Index("ix_party_decision_overdue", "overdue", "state"),
        # "All overdue parties" (Reader.overdue_parties): undecided states, reply date passed (migration 0004).
        Index("ix_party_decision_state_deadline", "state", "deadline"),
    )


class DeadlineTableRow(SQLModel, table=True):
    """A deadline: when it falls due, what for, and whether it has fired."""

    __tablename__ = "deadline"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    recommendation_key: str = Field(foreign_key="recommendation.key", max_length=100, index=True)
    party_key: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=20)
    due_at: datetime = Field(sa_column=Column(AwareDateTime, nullable=False))
    status: str = Field(max_length=12)
    closed_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime))
    claimed_by: str | None = Field(default=None, max_length=100)
    claimed_until: datetime | None = Field(default=None, sa_column=Column(AwareDateTime))

    # id last: the tick claims "pending, due by now, ORDER BY due_at, id LIMIT 100", and thousands of reminders
    # fall due at the same 00:00; without id the database read every one of them to sort each batch (0004).
    # (recommendation, party): a fired timer reads its own party's timers (the reminder ladder, the sync after a
    # transition); by recommendation alone that read every party's timers, and a tick grew quadratic (0007).
    __table_args__ = (
        Index("ix_deadline_status_due_id", "status", "due_at", "id"),
        Index("ix_deadline_recommendation_party", "recommendation_key", "party_key"),
    )


class ContactRow(SQLModel, table=True):
    """A person who receives reminders for a party. Personal data lives here only, referenced by id."""

    __tablename__ = "contact"

    id: str = Field(primary_key=True, max_length=64)
    party_key: str = Field(max_length=64, index=True)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    active: bool = True


class OutboxRow(SQLModel, table=True):
    """An outgoing message: queued in the transaction that decided it, delivered after commit."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    recommendation_key: str = Field(max_length=100)
    party_key: str = Field(max_length=64)
    kind: str = Field(max_length=20)
    due_at: datetime = Field(sa_column=Column(AwareDateTime, nullable=False))
    contact_id: str = Field(max_length=64)
    status: str = Field(max_length=12)
    details: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(AwareDateTime, nullable=False))
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime))
    claimed_by: str | None = Field(default=None, max_length=100)
    claimed_until: datetime | None = Field(default=None, sa_column=Column(AwareDateTime))
    sent_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime))
    last_error: str | None = Field(default=None, sa_column=Column(Text))

    __table_args__ = (
        UniqueConstraint("recommendation_key", "party_key", "kind", "due_at", "contact_id", name="uq_outbox_message"),
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
    )


class HeartbeatRow(SQLModel, table=True):
    """One row per scheduler daemon: alive since, last tick, what it did."""

    __tablename__ = "scheduler_heartbeat"

    daemon_id: str = Field(primary_key=True, max_length=100)
    hostname: str = Field(max_length=200)
    pid: int
    started_at: datetime = Field(sa_column=Column(AwareDateTime, nullable=False))
    last_tick_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime))
    last_tick_handled: int = 0
    last_delivered: int = 0
    stopped_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime))
    last_tick_seconds: float | None = Field(default=None, sa_column=Column(Float))
    last_tick_lag_seconds: float | None = Field(default=None, sa_column=Column(Float))


class AuditEventRow(SQLModel, table=True):
    """The append-only, hash-chained audit log (`audit_event`, a public contract)."""

    __tablename__ = "audit_event"

    seq: int = Field(
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False)
    )
    stream: str = Field(sa_column=Column(String(100), nullable=False))
    stream_seq: int
    recorded_at: datetime = Field(sa_column=Column(AwareDateTime, nullable=False))
    valid_on: date
    kind: str = Field(max_length=60)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))

    __table_args__ = (UniqueConstraint("stream", "stream_seq", name="uq_audit_event_stream_seq"),)


class ApiTokenRow(SQLModel, table=True):
    """An API token: only the SHA-256 of the secret is kept, so a copy of the database lets nobody in."""

    __tablename__ = "api_token"

    id: str = Field(primary_key=True, max_length=32)
    token_sha256: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    role: str = Field(max_length=20)
    party: str | None = Field(default=None, max_length=64)
    label: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_column=Column(AwareDateTime, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime))


class DashboardSessionRow(SQLModel, table=True):
    """A dashboard sign-in: the SHA-256 of its secret (the cookie), the token it was opened with, its end."""

    __tablename__ = "dashboard_session"

    id: str = Field(primary_key=True, max_length=32)
    session_sha256: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    token_id: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=Column(AwareDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(AwareDateTime, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime))


RECOMMENDATION = RecommendationRow.__table__  # type: ignore[attr-defined]
PARTY_DECISION = PartyDecisionRow.__table__  # type: ignore[attr-defined]
DEADLINE = DeadlineTableRow.__table__  # type: ignore[attr-defined]
AUDIT_EVENT = AuditEventRow.__table__  # type: ignore[attr-defined]
META = MetaRow.__table__  # type: ignore[attr-defined]
CONTACT = ContactRow.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]
HEARTBEAT = HeartbeatRow.__table__  # type: ignore[attr-defined]
API_TOKEN = ApiTokenRow.__table__  # type: ignore[attr-defined]
DASHBOARD_SESSION = DashboardSessionRow.__table__  # type: ignore[attr-defined]
METADATA = SQLModel.metadata
