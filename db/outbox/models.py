"""The outbox's table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, Id

__all__ = ["OutboxPost"]


class OutboxPost(Base):
    """A message the bot is to post, stored in the transaction of the change that caused it (a chat reply with its
    turn, story narration with its scene), and removed once Discord has accepted all of it. What is left here after
    a stop is posted at the next start, unless it has grown too old."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    """Names the post for its front end (the reply to a message, a story post) and is its nonce on Discord."""
    kind: Mapped[str] = mapped_column(String(8))
    """What renders it: chat (a persona's reply), story (a story post) ..."""
    channel_id: Mapped[int] = mapped_column(BigInteger)
    persona: Mapped[str | None] = mapped_column(String(16))
    """Who speaks: a persona id, or None for the bot's own voice."""
    text: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """What else the front end needs to render it (a story post's title and buttons)."""
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    """How many of the post's parts (it is split under Discord's 2,000 characters) Discord has accepted."""
