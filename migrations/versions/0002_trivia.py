"""trivia: games, questions, answers, scores, imported lists

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 18:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trivia_games",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("active_channel", sa.BigInteger(), nullable=True),
        sa.Column("starter", sa.String(length=80), nullable=True),
        sa.Column("host", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("target_score", sa.Integer(), nullable=True),
        sa.Column("idle_s", sa.Integer(), nullable=False),
        sa.Column("lists", sa.JSON(), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.Column("question_index", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=False),
        sa.Column("asked_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("deadline_ms", sa.BigInteger(), nullable=False),
        sa.Column("hints", sa.Integer(), nullable=False),
        sa.Column("last_activity_ms", sa.BigInteger(), nullable=False),
        sa.Column("paused_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trivia_games")),
        sa.UniqueConstraint("active_channel", name=op.f("uq_trivia_games_active_channel")),
    )
    with op.batch_alter_table("trivia_games", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trivia_games_channel_id"), ["channel_id"], unique=False)

    op.create_table(
        "trivia_scores",
        sa.Column("game_id", ID, autoincrement=False, nullable=False),
        sa.Column("user", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("attempted", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["game_id"], ["trivia_games.id"], name=op.f("fk_trivia_scores_game_id_trivia_games"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("game_id", "user", name=op.f("pk_trivia_scores")),
    )
    with op.batch_alter_table("trivia_scores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trivia_scores_user"), ["user"], unique=False)

    op.create_table(
        "trivia_choices",
        sa.Column("game_id", ID, autoincrement=False, nullable=False),
        sa.Column("question_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("user", sa.String(length=80), nullable=False),
        sa.Column("choice", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["game_id"], ["trivia_games.id"], name=op.f("fk_trivia_choices_game_id_trivia_games"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("game_id", "question_index", "user", name=op.f("pk_trivia_choices")),
    )
    with op.batch_alter_table("trivia_choices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trivia_choices_user"), ["user"], unique=False)

    op.create_table(
        "trivia_stats",
        sa.Column("user", sa.String(length=80), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("attempted", sa.Integer(), nullable=False),
        sa.Column("games", sa.Integer(), nullable=False),
        sa.Column("wins", sa.Integer(), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("best_streak", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user", "guild_id", name=op.f("pk_trivia_stats")),
    )
    with op.batch_alter_table("trivia_stats", schema=None) as batch_op:
        batch_op.create_index("ix_trivia_stats_guild_id_points", ["guild_id", "points"], unique=False)

    op.create_table(
        "trivia_lists",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trivia_lists")),
        sa.UniqueConstraint("guild_id", "name", name=op.f("uq_trivia_lists_guild_id_name")),
    )
    op.create_table(
        "trivia_guild_settings",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("questions", sa.Integer(), nullable=True),
        sa.Column("target_score", sa.Integer(), nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=True),
        sa.Column("mode", sa.String(length=8), nullable=True),
        sa.Column("host", sa.String(length=16), nullable=True),
        sa.Column("lists", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_trivia_guild_settings")),
    )


def downgrade() -> None:
    op.drop_table("trivia_guild_settings")
    op.drop_table("trivia_lists")
    with op.batch_alter_table("trivia_stats", schema=None) as batch_op:
        batch_op.drop_index("ix_trivia_stats_guild_id_points")

    op.drop_table("trivia_stats")
    with op.batch_alter_table("trivia_choices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trivia_choices_user"))

    op.drop_table("trivia_choices")
    with op.batch_alter_table("trivia_scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trivia_scores_user"))

    op.drop_table("trivia_scores")
    with op.batch_alter_table("trivia_games", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trivia_games_channel_id"))

    op.drop_table("trivia_games")
