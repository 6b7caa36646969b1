"""The database tables, declared once with SQLAlchemy Core and shared by both adapters.

Private to the persistence package: the rest of `beslut` sees domain values
(:class:`~beslut.states.case.Case`, :class:`~beslut.states.audit_chain.AuditRecord`),
never rows. `audit_event` is a public contract: auditors query it directly, so its
name and columns only ever grow.

Why Core, not model classes: the adapters run Core statements only (no ORM session),
and a table of plain columns imports in a fraction of the time, which every `beslut`
command pays at its start. Each column states its nullability; an index named
``ix_<table>_<column>`` comes from ``index=True``. The migrations in ``migrations/``
must build exactly these tables (tests/persistence/test_migrations.py compares them).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from beslut.persistence._types import AwareDateTime

SCHEMA_VERSION = "2"

METADATA = MetaData()

META = Table(
    "beslut_meta",  # key/value facts about the database itself (schema version)
    METADATA,
    Column("key", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)

RECOMMENDATION = Table(
    "recommendation",  # one recommendation: its current state (a projection of its audit stream) and its spec
    METADATA,
    Column("key", String(100), primary_key=True),
    Column("state", String(20), nullable=False, index=True),
    Column("outcome", String(20), nullable=True),
    Column("version", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("issuer", String(500), nullable=False),
    Column("coordinator", String(64), nullable=False),
    Column("consolidation", String(40), nullable=False),
    Column("reply_by", Date, nullable=False),
    Column("reply_deadline", Date, nullable=False),
    Column("in_force_on", Date, nullable=True),
    Column("supersedes", String(100), nullable=True),
    Column("superseded_by", String(100), nullable=True),
    Column("proposed_on", Date, nullable=False),
    Column("recommended_on", Date, nullable=True),
    Column("consolidated_on", Date, nullable=True),
    Column("in_force_since", Date, nullable=True),
    Column("withdrawn_on", Date, nullable=True),
    Column("withdraw_reason", Text, nullable=True),
    Column("superseded_on", Date, nullable=True),
    Column("participants", Text, nullable=True),
    Column("spec", Text, nullable=False),
    Column("updated_at", AwareDateTime, nullable=False),
    Column("contested", Text, nullable=True),  # JSON list of party keys (0005)
    Column("recounted_on", Date, nullable=True),
    Column("readopted_on", Date, nullable=True),
)

PARTY_DECISION = Table(
    "party_decision",  # one party's decision on one recommendation
    METADATA,
    Column("recommendation_key", String(100), ForeignKey("recommendation.key"), primary_key=True),
    Column("party_key", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("state", String(20), nullable=False),
    Column("deadline", Date, nullable=False),
    Column("overdue", Boolean, nullable=False, default=False),
    Column("case_number", String(200), nullable=True),
    Column("prepared_on", Date, nullable=True),
    Column("proposal_body", String(200), nullable=True),
    Column("proposal_paragraph", String(200), nullable=True),
    Column("proposed_on", Date, nullable=True),
    Column("outcome", String(40), nullable=True),
    Column("conditions", Text, nullable=True),
    Column("deciding_body", String(200), nullable=True),
    Column("paragraph", String(200), nullable=True),
    Column("decided_on", Date, nullable=True),
    Column("announced_on", Date, nullable=True),
    Column("appeal_last_day", Date, nullable=True),
    Column("appealed_on", Date, nullable=True),
    Column("settled_on", Date, nullable=True),
    Column("settlement", String(20), nullable=True),
    Column("final_on", Date, nullable=True),
    Column("reported_on", Date, nullable=True),
    Column("last_step_on", Date, nullable=True),
    Index("ix_party_decision_overdue", "overdue", "state"),
    # "All overdue parties" (Reader.overdue_parties): undecided states, reply date passed (migration 0004).
    Index("ix_party_decision_state_deadline", "state", "deadline"),
)

DEADLINE = Table(
    "deadline",  # a deadline: when it falls due, what for, and whether it has fired
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("recommendation_key", String(100), ForeignKey("recommendation.key"), nullable=False, index=True),
    Column("party_key", String(64), nullable=True),
    Column("kind", String(20), nullable=False),
    Column("due_at", AwareDateTime, nullable=False),
    Column("status", String(12), nullable=False),
    Column("closed_at", AwareDateTime, nullable=True),
    Column("claimed_by", String(100), nullable=True),
    Column("claimed_until", AwareDateTime, nullable=True),
    # id last: the tick claims "pending, due by now, ORDER BY due_at, id LIMIT 100", and thousands of reminders
    # fall due at the same 00:00; without id the database read every one of them to sort each batch (0004).
    Index("ix_deadline_status_due_id", "status", "due_at", "id"),
)

CONTACT = Table(
    "contact",  # a person who receives reminders for a party; personal data lives here only, referenced by id
    METADATA,
    Column("id", String(64), primary_key=True),
    Column("party_key", String(64), nullable=False, index=True),
    Column("name", String(200), nullable=True),
    Column("email", String(320), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
)

OUTBOX = Table(
    "outbox",  # an outgoing message: queued in the transaction that decided it, delivered after commit
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("recommendation_key", String(100), nullable=False),
    Column("party_key", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("due_at", AwareDateTime, nullable=False),
    Column("contact_id", String(64), nullable=False),
    Column("status", String(12), nullable=False),
    Column("details", Text, nullable=False),
    Column("created_at", AwareDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", AwareDateTime, nullable=True),
    Column("claimed_by", String(100), nullable=True),
    Column("claimed_until", AwareDateTime, nullable=True),
    Column("sent_at", AwareDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("recommendation_key", "party_key", "kind", "due_at", "contact_id", name="uq_outbox_message"),
    Index("ix_outbox_status_next", "status", "next_attempt_at"),
)

HEARTBEAT = Table(
    "scheduler_heartbeat",  # one row per scheduler daemon: alive since, last tick, what it did
    METADATA,
    Column("daemon_id", String(100), primary_key=True),
    Column("hostname", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", AwareDateTime, nullable=False),
    Column("last_tick_at", AwareDateTime, nullable=True),
    Column("last_tick_handled", Integer, nullable=False, default=0),
    Column("last_delivered", Integer, nullable=False, default=0),
    Column("stopped_at", AwareDateTime, nullable=True),
    Column("last_tick_seconds", Float, nullable=True),
    Column("last_tick_lag_seconds", Float, nullable=True),
)

AUDIT_EVENT = Table(
    "audit_event",  # the append-only, hash-chained audit log (a public contract)
    METADATA,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("stream", String(100), nullable=False),
    Column("stream_seq", Integer, nullable=False),
    Column("recorded_at", AwareDateTime, nullable=False),
    Column("valid_on", Date, nullable=False),
    Column("kind", String(60), nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    UniqueConstraint("stream", "stream_seq", name="uq_audit_event_stream_seq"),
)

API_TOKEN = Table(
    "api_token",  # an API token: only the SHA-256 of the secret is kept, so a copy of the database lets nobody in
    METADATA,
    Column("id", String(32), primary_key=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("party", String(64), nullable=True),
    Column("label", String(200), nullable=True),
    Column("created_at", AwareDateTime, nullable=False),
    Column("revoked_at", AwareDateTime, nullable=True),
)
