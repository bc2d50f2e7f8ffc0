"""Trivia tables: games (one running per channel), scores, choice answers, lifetime stats, imported lists, settings.

Times of a running game are absolute milliseconds since the epoch, so a restart resumes at the same moment.
Users are stored by their external id (``discord:<id>``, ``local:<name>``) with the name shown on boards.
"""

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
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, Id, utcnow

__all__ = [
    "TriviaChoice",
    "TriviaGame",
    "TriviaGuildSettings",
    "TriviaList",
    "TriviaScore",
    "TriviaStats",
]


class TriviaGame(Base):
    """A game in a channel; ``active_channel`` is set while it runs, so one channel has one running game.

    A game's asked questions are ``questions[: question_index + 1]``; the channel's latest games, found through
    ``ix_trivia_games_channel_id_id``, tell which questions it heard recently.
    """

    __tablename__ = "trivia_games"
    __table_args__ = (Index("ix_trivia_games_channel_id_id", "channel_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    active_channel: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    starter: Mapped[str | None] = mapped_column(String(80))
    start_request: Mapped[str | None] = mapped_column(String(40), unique=True)
    """The request that started it (a Discord interaction's id), so the same request delivered again after a
    restart starts no second game."""
    solo: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    """Played by its starter alone (in a terminal): a question closes as soon as the starter answers."""
    host: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(8))
    seconds: Mapped[int] = mapped_column(Integer)
    target_score: Mapped[int | None] = mapped_column(Integer)
    idle_s: Mapped[int] = mapped_column(Integer)
    lists: Mapped[list[str]] = mapped_column(JSON)
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12))
    end_reason: Mapped[str | None] = mapped_column(String(16))
    question_index: Mapped[int] = mapped_column(Integer)
    phase: Mapped[str] = mapped_column(String(8))
    asked_at_ms: Mapped[int] = mapped_column(BigInteger)
    deadline_ms: Mapped[int] = mapped_column(BigInteger)
    hints: Mapped[int] = mapped_column(Integer)
    last_activity_ms: Mapped[int] = mapped_column(BigInteger)
    paused_at_ms: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    """Counts the stored changes of a running game: a change is written only on the version it was made from."""
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime())


class TriviaScore(Base):
    """A player's score in one game."""

    __tablename__ = "trivia_scores"

    game_id: Mapped[int] = mapped_column(
        ForeignKey("trivia_games.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    user: Mapped[str] = mapped_column(String(80), primary_key=True, index=True)
    name: Mapped[str] = mapped_column(String(100))
    points: Mapped[int] = mapped_column(Integer)
    correct: Mapped[int] = mapped_column(Integer)
    attempted: Mapped[int] = mapped_column(Integer)


class TriviaChoice(Base):
    """A player's one answer to a multiple-choice question."""

    __tablename__ = "trivia_choices"

    game_id: Mapped[int] = mapped_column(
        ForeignKey("trivia_games.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    question_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    user: Mapped[str] = mapped_column(String(80), primary_key=True, index=True)
    choice: Mapped[int] = mapped_column(Integer)
    correct: Mapped[bool] = mapped_column(Boolean)
    points: Mapped[int] = mapped_column(Integer)
    at_ms: Mapped[int] = mapped_column(BigInteger)


class TriviaStats(Base):
    """A player's lifetime figures in one guild (guild 0: outside any guild); global boards sum them."""

    __tablename__ = "trivia_stats"
    __table_args__ = (Index("ix_trivia_stats_guild_id_points", "guild_id", "points"),)

    user: Mapped[str] = mapped_column(String(80), primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    points: Mapped[int] = mapped_column(Integer)
    correct: Mapped[int] = mapped_column(Integer)
    attempted: Mapped[int] = mapped_column(Integer)
    games: Mapped[int] = mapped_column(Integer)
    wins: Mapped[int] = mapped_column(Integer)
    streak: Mapped[int] = mapped_column(Integer)
    best_streak: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class TriviaList(Base):
    """A trivia list imported into a guild (Red-DiscordBot format), with its questions as parsed."""

    __tablename__ = "trivia_lists"
    __table_args__ = (UniqueConstraint("guild_id", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(40))
    author: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    uploaded_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class TriviaGuildSettings(Base):
    """A guild's trivia defaults (None: the built-in default)."""

    __tablename__ = "trivia_guild_settings"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    questions: Mapped[int | None] = mapped_column(Integer)
    target_score: Mapped[int | None] = mapped_column(Integer)
    seconds: Mapped[int | None] = mapped_column(Integer)
    mode: Mapped[str | None] = mapped_column(String(8))
    host: Mapped[str | None] = mapped_column(String(16))
    lists: Mapped[list[str] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)
