"""What the chat's repositories exchange: conversation state, turn records, stored messages; and their tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table

from db.chat.models import Conversation, Memory, Message, User
from db.common import StorageError
from db.models import utcnow

__all__ = [
    "ConversationKey",
    "ConversationState",
    "DuplicateMessageError",
    "StoredMessage",
    "TurnRecord",
]


class DuplicateMessageError(StorageError):
    """A Discord message id was already stored: the message has been handled before."""


ConversationKey = tuple[str, str, str]
"""(user external id, scope, persona)."""


@dataclass(frozen=True, slots=True)
class ConversationState:
    """A conversation's id with the memory it had after its last turn."""

    conversation_id: int
    turn: int
    memory: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """Everything one chat turn stores: the user's message, the reply, and the new memory."""

    conversation_id: int
    persona: str
    user_text: str
    reply_text: str
    fact_ids: Sequence[str]
    turn: int
    memory: dict[str, Any]
    discord_message_id: int | None = None
    reply_channel_id: int | None = None
    """Where the reply is to be posted: set, the reply goes into the outbox with the turn (see OutboxRepository)."""
    at: datetime = field(default_factory=utcnow)
    backend: str | None = None
    """What wrote the reply: None for the offline engine, ``model`` for the language model backend."""
    reply_payload: dict[str, Any] | None = None
    """Stored with the reply in the outbox: what the front end needs to post it (the message that showed it while
    it streamed, which the reply replaces)."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A stored message as the front ends show it."""

    role: str
    persona: str | None
    text: str
    fact_ids: list[str]
    created_at: datetime
    backend: str | None = None


USERS = cast(Table, User.__table__)
CONVERSATIONS = cast(Table, Conversation.__table__)
MESSAGES = cast(Table, Message.__table__)
MEMORIES = cast(Table, Memory.__table__)


def stored(row: Message) -> StoredMessage:
    """A message row as the front ends show it."""
    return StoredMessage(row.role, row.persona, row.text, list(row.fact_ids or []), row.created_at, row.backend)
