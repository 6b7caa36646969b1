"""Baseline: the schema of the last release before Alembic (beslut_meta.schema_version "2").

Revision ID: 0001
Revises: (none)

Creates exactly what ``Store.create_schema()`` made up to that release: the tables,
their indexes and constraints, the append-only triggers on ``audit_event`` (different
SQL on SQLite and PostgreSQL) and the ``schema_version`` row. A database made by that
release is recognised by :mod:`beslut.persistence.schema` and stamped at this revision
instead of running it.

Frozen on purpose: it spells out its own column types and trigger SQL instead of
importing them from ``_tables.py`` or the adapters, so later changes there cannot
change what this revision does. tests/persistence/test_migrations.py proves that a
database migrated from nothing equals one made by ``create_schema()``.

downgrade() drops every table: it exists so developers can run base→head→base on an
empty database; it is NOT offered to operators (it would destroy the audit log).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SQLITE_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END""",
)
_POSTGRES_TRIGGERS = (
    """CREATE OR REPLACE FUNCTION beslut_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP; END $$""",
    """CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
       FOR EACH ROW EXECUTE FUNCTION beslut_audit_append_only()""",
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
       FOR EACH STATEMENT EXECUTE FUNCTION beslut_audit_append_only()""",
)


def _sqlite() -> bool:
    return bool(op.get_bind().dialect.name == "sqlite")


def _instant() -> sa.types.TypeEngine[Any]:
    """An aware instant as AwareDateTime stores it: ISO text on SQLite, timestamptz on PostgreSQL."""
    return sa.String(40) if _sqlite() else sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the release-2 schema."""
    op.create_table(
        "beslut_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "recommendation",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("coordinator", sa.String(64), nullable=False),
        sa.Column("consolidation", sa.String(40), nullable=False),
        sa.Column("reply_by", sa.Date(), nullable=False),
        sa.Column("reply_deadline", sa.Date(), nullable=False),
        sa.Column("in_force_on", sa.Date(), nullable=True),
        sa.Column("supersedes", sa.String(100), nullable=True),
        sa.Column("superseded_by", sa.String(100), nullable=True),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.Column("recommended_on", sa.Date(), nullable=True),
        sa.Column("consolidated_on", sa.Date(), nullable=True),
        sa.Column("in_force_since", sa.Date(), nullable=True),
        sa.Column("withdrawn_on", sa.Date(), nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.Column("superseded_on", sa.Date(), nullable=True),
        sa.Column("participants", sa.Text(), nullable=True),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_recommendation_state", "recommendation", ["state"])
    op.create_table(
        "party_decision",
        sa.Column("recommendation_key", sa.String(100), nullable=False),
        sa.Column("party_key", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("case_number", sa.String(200), nullable=True),
        sa.Column("prepared_on", sa.Date(), nullable=True),
        sa.Column("proposal_body", sa.String(200), nullable=True),
        sa.Column("proposal_paragraph", sa.String(200), nullable=True),
        sa.Column("proposed_on", sa.Date(), nullable=True),
        sa.Column("outcome", sa.String(40), nullable=True),
        sa.Column("conditions", sa.Text(), nullable=True),
        sa.Column("deciding_body", sa.String(200), nullable=True),
        sa.Column("paragraph", sa.String(200), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("announced_on", sa.Date(), nullable=True),
        sa.Column("appeal_last_day", sa.Date(), nullable=True),
        sa.Column("appealed_on", sa.Date(), nullable=True),
        sa.Column("settled_on", sa.Date(), nullable=True),
        sa.Column("settlement", sa.String(20), nullable=True),
        sa.Column("final_on", sa.Date(), nullable=True),
        sa.Column("reported_on", sa.Date(), nullable=True),
        sa.Column("last_step_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["recommendation_key"], ["recommendation.key"]),
        sa.PrimaryKeyConstraint("recommendation_key", "party_key"),
    )
    op.create_index("ix_party_decision_overdue", "party_decision", ["overdue", "state"])
    op.create_table(
        "deadline",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recommendation_key", sa.String(100), nullable=False),
        sa.Column("party_key", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("due_at", _instant(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("closed_at", _instant(), nullable=True),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("claimed_until", _instant(), nullable=True),
        sa.ForeignKeyConstraint(["recommendation_key"], ["recommendation.key"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deadline_recommendation_key", "deadline", ["recommendation_key"])
    op.create_index("ix_deadline_status_due", "deadline", ["status", "due_at"])
    op.create_table(
        "contact",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("party_key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_contact_party_key", "contact", ["party_key"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recommendation_key", sa.String(100), nullable=False),
        sa.Column("party_key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("due_at", _instant(), nullable=False),
        sa.Column("contact_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _instant(), nullable=True),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("claimed_until", _instant(), nullable=True),
        sa.Column("sent_at", _instant(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "recommendation_key", "party_key", "kind", "due_at", "contact_id", name="uq_outbox_message"
        ),
    )
    op.create_index("ix_outbox_status_next", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "scheduler_heartbeat",
        sa.Column("daemon_id", sa.String(100), nullable=False),
        sa.Column("hostname", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", _instant(), nullable=False),
        sa.Column("last_tick_at", _instant(), nullable=True),
        sa.Column("last_tick_handled", sa.Integer(), nullable=False),
        sa.Column("last_delivered", sa.Integer(), nullable=False),
        sa.Column("stopped_at", _instant(), nullable=True),
        sa.PrimaryKeyConstraint("daemon_id"),
    )
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.Integer() if _sqlite() else sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("stream", sa.String(100), nullable=False),
        sa.Column("stream_seq", sa.Integer(), nullable=False),
        sa.Column("recorded_at", _instant(), nullable=False),
        sa.Column("valid_on", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("hash"),
        sa.UniqueConstraint("stream", "stream_seq", name="uq_audit_event_stream_seq"),
    )
    for statement in _SQLITE_TRIGGERS if _sqlite() else _POSTGRES_TRIGGERS:
        op.execute(statement)
    op.execute("INSERT INTO beslut_meta (key, value) VALUES ('schema_version', '2')")


def downgrade() -> None:
    """Drop everything the baseline made (developers only: this destroys the audit log)."""
    if not _sqlite():
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
    for table in (
        "audit_event",
        "scheduler_heartbeat",
        "outbox",
        "contact",
        "deadline",
        "party_decision",
        "recommendation",
        "beslut_meta",
    ):
        op.drop_table(table)
    if not _sqlite():
        op.execute("DROP FUNCTION IF EXISTS beslut_audit_append_only()")
