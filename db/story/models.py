"""Story session tables: sessions, their players and their transcript (events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, Id, utcnow

__all__ = ["StoryEvent", "StoryPlayer", "StorySession"]


class StorySession(Base):
    """One group story in one place; ``active_scope`` is set while it runs, so a place has at most one."""

    __tablename__ = "story_sessions"
    __table_args__ = (Index("ix_story_sessions_scope_id", "scope", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))
    active_scope: Mapped[str | None] = mapped_column(String(64), unique=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    host: Mapped[str | None] = mapped_column(String(80))
    turn_order: Mapped[str] = mapped_column(String(8))
    vote_seconds: Mapped[int] = mapped_column(Integer)
    turn_seconds: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    phase: Mapped[str] = mapped_column(String(12))
    scene: Mapped[int] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    turn_index: Mapped[int] = mapped_column(Integer)
    skips: Mapped[int] = mapped_column(Integer)
    deadline_ms: Mapped[int | None] = mapped_column(BigInteger)
    remaining_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_activity_ms: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Story flags and the votes of the decision in progress."""
    event_seq: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    """Counts the stored changes: a change is written only on the version it was made from."""
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime())


class StoryPlayer(Base):
    """A player of a session; after /forget-me ``user`` is empty and ``name`` is "a former player"."""

    __tablename__ = "story_players"
    __table_args__ = (UniqueConstraint("session_id", "user"), Index("ix_story_players_user", "user"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("story_sessions.id", ondelete="CASCADE"))
    user: Mapped[str | None] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(16))
    seat: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    joined_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class StoryEvent(Base):
    """One line of a session's transcript: narration, a persona line, a vote, a choice, a join, a skip ..."""

    __tablename__ = "story_events"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("story_sessions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    scene: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    player_id: Mapped[int | None] = mapped_column(BigInteger)
    persona: Mapped[str | None] = mapped_column(String(16))
    option: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    fact_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    at_ms: Mapped[int] = mapped_column(BigInteger)
