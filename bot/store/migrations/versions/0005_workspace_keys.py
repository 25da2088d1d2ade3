"""Per-workspace W3IPFS keys, encrypted (Fernet); only the last 4 characters in clear.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspace_keys",
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("api_key_enc", sa.Text(), nullable=False),
        sa.Column("secret_key_enc", sa.Text(), nullable=False),
        sa.Column("api_key_last4", sa.String(8), nullable=False),
        sa.Column("updated_by", sa.String(32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", name="pk_workspace_keys"),
    )


def downgrade() -> None:
    op.drop_table("workspace_keys")
