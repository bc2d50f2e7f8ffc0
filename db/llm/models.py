"""The model backend's tables: a guild's opt-in, and its token use per day (for the daily budget)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, String, false
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, utcnow

__all__ = ["ModelGuildSettings", "ModelUsage"]


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
