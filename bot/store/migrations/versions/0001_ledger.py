"""The pin ledger: who pinned what, where; exactly-once key per team.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pins",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("pin_id", sa.String(128), nullable=True),
        sa.Column("cid", sa.String(255), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("channel_id", sa.String(32), nullable=True),
        sa.Column("user_id", sa.String(32), nullable=True),
        sa.Column("slack_file_id", sa.String(32), nullable=True),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("status", sa.String(64), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unpinned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unpinned_by", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pins"),
        sa.UniqueConstraint("team_id", "key", name="uq_pins_team_id_key"),
    )
    op.create_index("ix_pins_team_id_pin_id", "pins", ["team_id", "pin_id"])
    op.create_index("ix_pins_team_id_cid", "pins", ["team_id", "cid"])
    op.create_index("ix_pins_team_id_user_id", "pins", ["team_id", "user_id"])
    op.create_index("ix_pins_team_id_channel_id", "pins", ["team_id", "channel_id"])


def downgrade() -> None:
    op.drop_table("pins")
