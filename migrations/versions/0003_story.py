"""story: sessions, players, turns, votes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 18:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "story_sessions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("active_scope", sa.String(length=64), nullable=True),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("host", sa.String(length=80), nullable=True),
        sa.Column("turn_order", sa.String(length=8), nullable=False),
        sa.Column("vote_seconds", sa.Integer(), nullable=False),
        sa.Column("turn_seconds", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("phase", sa.String(length=12), nullable=False),
        sa.Column("scene", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("turn_index", sa.Integer(), nullable=False),
        sa.Column("skips", sa.Integer(), nullable=False),
        sa.Column("deadline_ms", sa.BigInteger(), nullable=True),
        sa.Column("remaining_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_activity_ms", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_sessions")),
        sa.UniqueConstraint("active_scope", name=op.f("uq_story_sessions_active_scope")),
    )
    with op.batch_alter_table("story_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_story_sessions_scope_id", ["scope", "id"], unique=False)

    op.create_table(
        "story_players",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("session_id", _ID, nullable=False),
        sa.Column("user", sa.String(length=80), nullable=True),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("seat", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["story_sessions.id"],
            name=op.f("fk_story_players_session_id_story_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_players")),
        sa.UniqueConstraint("session_id", "user", name=op.f("uq_story_players_session_id_user")),
    )
    with op.batch_alter_table("story_players", schema=None) as batch_op:
        batch_op.create_index("ix_story_players_user", ["user"], unique=False)

    op.create_table(
        "story_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("session_id", _ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("scene", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("player_id", sa.BigInteger(), nullable=True),
        sa.Column("persona", sa.String(length=16), nullable=True),
        sa.Column("option", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("fact_ids", sa.JSON(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["story_sessions.id"],
            name=op.f("fk_story_events_session_id_story_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_events")),
        sa.UniqueConstraint("session_id", "seq", name=op.f("uq_story_events_session_id_seq")),
    )


def downgrade() -> None:
    op.drop_table("story_events")
    with op.batch_alter_table("story_players", schema=None) as batch_op:
        batch_op.drop_index("ix_story_players_user")

    op.drop_table("story_players")
    with op.batch_alter_table("story_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_story_sessions_scope_id")

    op.drop_table("story_sessions")
