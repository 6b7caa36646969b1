"""API tokens: the ``api_token`` table for the HTTP API's authentication (``beslut token …``).

Revision ID: 0003
Revises: 0002

One new table; nothing existing changes. It holds each token's id, the SHA-256 of its
secret (never the secret), its role, the party of a clerk, a label, and when it was
created and revoked. Frozen like the baseline: the column types are spelt out here,
not imported from ``_tables.py``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    """An aware instant as AwareDateTime stores it: ISO text on SQLite, timestamptz on PostgreSQL."""
    return sa.String(40) if op.get_bind().dialect.name == "sqlite" else sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create api_token."""
    op.create_table(
        "api_token",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("party", sa.String(64), nullable=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("revoked_at", _instant(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )


def downgrade() -> None:
    """Drop api_token (every API token stops working)."""
    op.drop_table("api_token")
