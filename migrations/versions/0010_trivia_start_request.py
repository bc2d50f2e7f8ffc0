"""trivia: a game remembers the request that started it, so the same request delivered again starts no second game

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 05:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trivia_games") as batch:
        batch.add_column(sa.Column("start_request", sa.String(length=40), nullable=True))
        batch.create_unique_constraint(batch.f("uq_trivia_games_start_request"), ["start_request"])


def downgrade() -> None:
    with op.batch_alter_table("trivia_games") as batch:
        batch.drop_constraint(batch.f("uq_trivia_games_start_request"), type_="unique")
        batch.drop_column("start_request")
