"""The model backend's tables: a guild's opt-in, its token use per day (for the daily budget), its imported cards."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, Id, utcnow

__all__ = ["GuildCard", "ModelGuildSettings", "ModelUsage"]


class ModelGuildSettings(Base):
    """Whether a guild has the model backend on (off unless a moderator turns it on)."""

    __tablename__ = "model_guild_settings"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, onupdate=utcnow)


class ModelUsage(Base):
    """The tokens a guild's model replies cost on one day (UTC, ``YYYY-MM-DD``)."""

    __tablename__ = "model_usage"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)


class GuildCard(Base):
    """A character card a guild imported: a ``restyle`` of a persona's voice, or a model-only ``character``.

    ``key`` is the persona's id (restyle) or the character's fact-base entity id; a guild has one card per key.
    ``card_json`` is the validated card as compact V2 JSON.
    """

    __tablename__ = "guild_cards"
    __table_args__ = (UniqueConstraint("guild_id", "key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    card_json: Mapped[str] = mapped_column(Text)
    imported_by: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)
