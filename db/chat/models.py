"""The chat's tables: users, conversations, their messages and memory, channel and guild settings, the outbox and
forget requests (SQLAlchemy 2.0 typed declarative models; Alembic migrations own the schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, Id, utcnow

__all__ = [
    "ChannelSettings",
    "Conversation",
    "ForgetRequest",
    "GuildSettings",
    "Memory",
    "Message",
    "User",
]


class User(Base):
    """Someone who talks to the bot: a Discord user (``discord:<id>``) or a console user."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(80), unique=True)
    default_persona: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class ForgetRequest(Base):
    """A /forget-me that was asked for and not yet carried out; stored before the user is told, and carried out
    at the next start if the bot stopped first."""

    __tablename__ = "forget_requests"

    user: Mapped[str] = mapped_column(String(80), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class GuildSettings(Base):
    """Per-guild defaults."""

    __tablename__ = "guild_settings"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    default_persona: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, onupdate=utcnow)


class ChannelSettings(Base):
    """Per-channel settings: auto-chat persona and the cached webhook the personas post through."""

    __tablename__ = "channel_settings"

    channel_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    auto_persona: Mapped[str | None] = mapped_column(String(16))
    webhook_id: Mapped[int | None] = mapped_column(BigInteger)
    webhook_token: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, onupdate=utcnow)


class Conversation(Base):
    """One conversation per user, place (DM, channel or console) and persona."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("user_id", "scope", "persona"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(64))
    persona: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class Message(Base):
    """A message in a conversation: the user's or the persona's, with the fact ids a reply used."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_id_id", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(8))
    persona: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    fact_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    backend: Mapped[str | None] = mapped_column(String(16))
    """What wrote a persona's reply: None for the offline engine, ``model`` for the language model backend."""
    discord_message_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class Memory(Base):
    """What a conversation remembers between turns: entities talked about, facts and lines used."""

    __tablename__ = "memories"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    turn: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)
