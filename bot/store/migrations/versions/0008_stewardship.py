"""Stewardship: retention, keep, notices, quotas, how each pin was made, the sweep lease.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pins") as batch:
        batch.add_column(sa.Column("source", sa.String(16), nullable=True))
        batch.add_column(sa.Column("thread_ts", sa.String(32), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("retention_seconds", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("kept", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("kept_by", sa.String(32), nullable=True))
        batch.add_column(sa.Column("noticed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("unpin_reason", sa.String(16), nullable=True))
    op.create_index("ix_pins_state_expires_at", "pins", ["state", "expires_at"])
    op.create_table(
        "channel_policies",
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("retention_seconds", sa.BigInteger(), nullable=True),
        sa.Column("quota_bytes", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.String(32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "channel_id", name="pk_channel_policies"),
    )
    op.create_table(
        "sweeps",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_result", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_sweeps"),
    )


def downgrade() -> None:
    op.drop_table("sweeps")
    op.drop_table("channel_policies")
    op.drop_index("ix_pins_state_expires_at", "pins")
    with op.batch_alter_table("pins") as batch:
        for column in ("unpin_reason", "noticed_at", "kept_by", "kept", "retention_seconds",
                       "expires_at", "thread_ts", "source"):
            batch.drop_column(column)
