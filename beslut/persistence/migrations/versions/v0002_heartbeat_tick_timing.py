"""Heartbeat tick timing: how long each daemon's last tick took and how late it started.

Revision ID: 0002
Revises: 0001

Two nullable columns on ``scheduler_heartbeat`` for the operators' metrics
(``beslut_scheduler_tick_duration_seconds`` and ``beslut_scheduler_tick_lag_seconds``):
the daemon writes them with every heartbeat, and older rows simply have none until
their daemon ticks again. Adding nullable columns needs no table rebuild on either
database; batch mode is used on SQLite all the same, as for every revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = ("last_tick_seconds", "last_tick_lag_seconds")


def upgrade() -> None:
    """Add the two timing columns."""
    with op.batch_alter_table("scheduler_heartbeat") as batch:
        for name in _COLUMNS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    """Drop them again (only timing figures are lost; they are rewritten at the next tick)."""
    with op.batch_alter_table("scheduler_heartbeat") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
