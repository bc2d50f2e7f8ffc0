"""trivia: a game may be played alone (its question closes once its one player has answered)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 01:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trivia_games") as batch:
        batch.add_column(sa.Column("solo", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("trivia_games") as batch:
        batch.drop_column("solo")
