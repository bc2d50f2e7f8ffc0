"""trivia: a channel's latest games by (channel_id, id), to order new games' questions by what was asked recently

The index on channel_id alone is replaced by one on (channel_id, id): "the last games in this channel" is then
an index range read backwards on SQLite and PostgreSQL alike, with no sort.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trivia_games", schema=None) as batch_op:
        batch_op.create_index("ix_trivia_games_channel_id_id", ["channel_id", "id"], unique=False)
        batch_op.drop_index(batch_op.f("ix_trivia_games_channel_id"))


def downgrade() -> None:
    with op.batch_alter_table("trivia_games", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trivia_games_channel_id"), ["channel_id"], unique=False)
        batch_op.drop_index("ix_trivia_games_channel_id_id")
