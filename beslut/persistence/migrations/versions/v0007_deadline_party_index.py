"""An index on the deadline table by (recommendation, party): a fired timer reads only its party's timers.

Revision ID: 0007
Revises: 0006

Firing one party's timer reads that party's other timers twice: the reminder ladder ("is a newer
reminder of this series due too?") and, after a transition, the party's rows to sync. With only
``deadline (recommendation_key)`` both read every timer of the recommendation (five or so per
party), so a tick on a recommendation with 10,000 parties read 50,000 rows per timer: quadratic in
the parties. With ``(recommendation_key, party_key)`` each read is one short index range. Batch
mode is used on SQLite as for every revision.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_INDEX = "ix_deadline_recommendation_party"


def upgrade() -> None:
    """Create the (recommendation, party) index."""
    with op.batch_alter_table("deadline") as batch:
        batch.create_index(_INDEX, ["recommendation_key", "party_key"])


def downgrade() -> None:
    """Drop it (the reads still answer, more slowly on large recommendations)."""
    with op.batch_alter_table("deadline") as batch:
        batch.drop_index(_INDEX)
