"""Which pinning account each pin was made with (a fingerprint of its API key, never the key).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows written before this revision do not know their account, and keep
    # today's behaviour (the workspace's current keys, then the environment's).
    with op.batch_alter_table("pins") as batch:
        batch.add_column(sa.Column("account", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pins") as batch:
        batch.drop_column("account")
