"""An index for "all overdue parties": ``party_decision (state, deadline)``.

Revision ID: 0004
Revises: 0003

The dashboard-style read :meth:`beslut.persistence.abc.Reader.overdue_parties` asks for
the undecided parties (three states) whose reply date has passed. Without this index
both databases read every party row to answer it: 3 million rows at national scale
(10,000 recommendations x 300 parties, bench/bench_scale.py), where the answer is a few
thousand. With it they read three short index ranges. Nothing existing changes; batch
mode is used on SQLite as for every revision.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_NAME = "ix_party_decision_state_deadline"


def upgrade() -> None:
    """Create the index."""
    with op.batch_alter_table("party_decision") as batch:
        batch.create_index(_NAME, ["state", "deadline"])


def downgrade() -> None:
    """Drop it again (the read still answers, by reading the whole table)."""
    with op.batch_alter_table("party_decision") as batch:
        batch.drop_index(_NAME)
