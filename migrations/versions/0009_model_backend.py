"""model backend: a guild's opt-in, its token use per day, and which backend wrote each reply

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_guild_settings",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_model_guild_settings")),
    )
    op.create_table(
        "model_usage",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "day", name=op.f("pk_model_usage")),
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("backend", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("backend")
    op.drop_table("model_usage")
    op.drop_table("model_guild_settings")
