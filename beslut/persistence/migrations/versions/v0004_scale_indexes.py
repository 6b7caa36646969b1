"""Indexes for national scale: "all overdue parties", and the tick's claim when thousands of timers share an instant.

Revision ID: 0004
Revises: 0003

Found by bench/bench_scale.py (10,000 recommendations x 300 parties on PostgreSQL):

- ``party_decision (state, deadline)``: the dashboard-style read
  :meth:`beslut.workflow.ports.Reader.overdue_parties` asks for the undecided parties
  (three states) whose reply date has passed. Without the index both databases read every
  party row (3 million) to return a few thousand; with it, three short index ranges.
- ``deadline (status, due_at, id)`` replaces ``deadline (status, due_at)``: the tick
  claims ``pending`` timers due by now ``ORDER BY due_at, id LIMIT 100``, and at national
  scale ten thousand reminders fall due at the same 00:00. With ``due_at`` last, the
  database read all of them to sort each batch of 100 by id (quadratic in the timers due
  at one instant: 65 ms a batch at 10,000); with ``id`` in the index it reads the 100.

Batch mode is used on SQLite as for every revision.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_OVERDUE = "ix_party_decision_state_deadline"
_DUE_OLD = "ix_deadline_status_due"
_DUE_NEW = "ix_deadline_status_due_id"


def upgrade() -> None:
    """Create the overdue index; replace the due index by one ending in id."""
    with op.batch_alter_table("party_decision") as batch:
        batch.create_index(_OVERDUE, ["state", "deadline"])
    with op.batch_alter_table("deadline") as batch:
        batch.create_index(_DUE_NEW, ["status", "due_at", "id"])
        batch.drop_index(_DUE_OLD)


def downgrade() -> None:
    """Back to 0003's indexes (the reads still answer, more slowly at scale)."""
    with op.batch_alter_table("deadline") as batch:
        batch.create_index(_DUE_OLD, ["status", "due_at"])
        batch.drop_index(_DUE_NEW)
    with op.batch_alter_table("party_decision") as batch:
        batch.drop_index(_OVERDUE)
