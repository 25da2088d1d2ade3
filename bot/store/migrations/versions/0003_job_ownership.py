"""Which job holds a pending claim, and the reply message it posted.

A job retried after its worker died recognises its own claim (and keeps editing the same
"Pinning…" message) instead of mistaking itself for a duplicate.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pins") as batch:
        batch.add_column(sa.Column("claim_owner", sa.String(128), nullable=True))
        batch.add_column(sa.Column("reply_ts", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pins") as batch:
        batch.drop_column("reply_ts")
        batch.drop_column("claim_owner")
