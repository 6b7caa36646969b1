"""Dashboard sessions: the ``dashboard_session`` table, so the sign-in cookie never carries an API token.

Revision ID: 0006
Revises: 0005

One new table; nothing existing changes. Signing in to the dashboard with an API token
opens a short-lived session of its own; the table keeps the session's id, the SHA-256 of
its secret (never the secret, as for tokens), the id of the token it was opened with,
when it was created, when it expires, and when it was ended (logout). Frozen like the
others: the column types are spelt out here, not imported from ``_tables.py``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    """An aware instant as AwareDateTime stores it: ISO text on SQLite, timestamptz on PostgreSQL."""
    return sa.String(40) if op.get_bind().dialect.name == "sqlite" else sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create dashboard_session."""
    op.create_table(
        "dashboard_session",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("session_sha256", sa.String(64), nullable=False),
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("expires_at", _instant(), nullable=False),
        sa.Column("revoked_at", _instant(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_sha256"),
    )


def downgrade() -> None:
    """Drop dashboard_session (everyone signed in to the dashboard signs in again)."""
    op.drop_table("dashboard_session")
