"""Recounts: which parties' counted decisions were annulled after consolidation, and the recounts' days.

Revision ID: 0005
Revises: 0004

A court may annul a party's decision after the agreement was consolidated (or is in force).
The party is then no longer bound and may decide again; every such change is followed by a
``recommendation.recounted`` audit event. Three nullable columns on ``recommendation`` keep the
projection of it: ``contested`` (a JSON list of party keys, null for none), ``recounted_on``, and
``readopted_on`` (the day a recount adopted the agreement again: it never comes into force before).
Existing rows have had no recount, which is what null says. Adding nullable columns needs no table
rebuild on either database; batch mode is used on SQLite all the same, as for every revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the recount columns."""
    with op.batch_alter_table("recommendation") as batch:
        batch.add_column(sa.Column("contested", sa.Text(), nullable=True))
        batch.add_column(sa.Column("recounted_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("readopted_on", sa.Date(), nullable=True))


def downgrade() -> None:
    """Drop them again (the recounts stay in the audit log; a replay rebuilds them after an upgrade)."""
    with op.batch_alter_table("recommendation") as batch:
        batch.drop_column("readopted_on")
        batch.drop_column("recounted_on")
        batch.drop_column("contested")
