"""The queries the services need; services never build SQL themselves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.models import ChannelSettings, Conversation, Memory, Message, User, utcnow

__all__ = [
    "ChannelRepository",
    "ConversationKey",
    "ConversationRepository",
    "ConversationState",
    "DuplicateMessageError",
    "StorageError",
    "StoredMessage",
    "TurnRecord",
    "UserInScope",
    "UserRepository",
    "insert_for",
    "load_user_in_scope",
    "storable",
]


class StorageError(Exception):
    """The database could not do what was asked; the message says what."""


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
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A stored message as the front ends show it."""

    role: str
    persona: str | None
    text: str
    fact_ids: list[str]
    created_at: datetime


def storable(text: str) -> str:
    """Text as every backend can store it: PostgreSQL text cannot hold U+0000, so it becomes U+FFFD everywhere."""
    return text.replace("\x00", "\ufffd")


def insert_for(session: AsyncSession, table: Any) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that can be told to ignore conflicts, in the dialect of the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


_USERS = cast(Table, User.__table__)
_CONVERSATIONS = cast(Table, Conversation.__table__)
_MESSAGES = cast(Table, Message.__table__)
_MEMORIES = cast(Table, Memory.__table__)


def _stored(row: Message) -> StoredMessage:
    return StoredMessage(row.role, row.persona, row.text, list(row.fact_ids or []), row.created_at)


@dataclass(frozen=True, slots=True)
class UserInScope:
    """A user's default persona and their conversations in one place, read in one query."""

    default_persona: str | None
    conversations: dict[str, ConversationState]


async def load_user_in_scope(connection: AsyncConnection, external_id: str, scope: str) -> UserInScope:
    """The user's default persona and conversations in ``scope``; cheap enough for every first message."""
    result = await connection.execute(
        select(User.default_persona, Conversation.persona, Conversation.id, Memory.turn, Memory.data)
        .select_from(User)
        .outerjoin(Conversation, (Conversation.user_id == User.id) & (Conversation.scope == scope))
        .outerjoin(Memory, Memory.conversation_id == Conversation.id)
        .where(User.external_id == external_id)
    )
    default: str | None = None
    conversations: dict[str, ConversationState] = {}
    for chosen, persona, conversation_id, turn, data in result.all():
        default = chosen
        if persona is not None and conversation_id is not None:
            conversations[persona] = ConversationState(conversation_id, turn or 0, data or {})
    return UserInScope(default, conversations)


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session


class UserRepository(_Repository):
    """Users and their preferences."""

    async def ensure(self, external_id: str) -> int:
        """The user's row id, creating the row on first contact."""
        found = await self.session.scalar(select(User.id).where(User.external_id == external_id))
        if found is not None:
            return found
        statement = insert_for(self.session, User).values(external_id=external_id, created_at=utcnow())
        await self.session.execute(statement.on_conflict_do_nothing(index_elements=[User.external_id]))
        user_id = await self.session.scalar(select(User.id).where(User.external_id == external_id))
        assert user_id is not None
        return user_id

    async def default_persona(self, external_id: str) -> str | None:
        """The persona this user chose as default, if any."""
        return await self.session.scalar(select(User.default_persona).where(User.external_id == external_id))

    async def set_default_persona(self, external_id: str, persona: str) -> None:
        """Remember the user's default persona."""
        await self.ensure(external_id)
        await self.session.execute(update(User).where(User.external_id == external_id).values(default_persona=persona))

    async def forget(self, external_id: str) -> int:
        """Delete the user and, by cascade, everything stored about them; return the messages removed."""
        user_id = await self.session.scalar(select(User.id).where(User.external_id == external_id))
        if user_id is None:
            return 0
        conversations = select(Conversation.id).where(Conversation.user_id == user_id)
        removed = await self.session.scalar(
            select(func.count(Message.id)).where(Message.conversation_id.in_(conversations))
        )
        await self.session.execute(delete(Message).where(Message.conversation_id.in_(conversations)))
        await self.session.execute(delete(Memory).where(Memory.conversation_id.in_(conversations)))
        await self.session.execute(delete(Conversation).where(Conversation.user_id == user_id))
        await self.session.execute(delete(User).where(User.id == user_id))
        return int(removed or 0)

    async def export(self, external_id: str) -> dict[str, Any]:
        """Everything stored about the user, as plain JSON-ready data."""
        user = await self.session.scalar(select(User).where(User.external_id == external_id))
        if user is None:
            return {"user": external_id, "conversations": []}
        rows = await self.session.execute(
            select(Conversation, Memory)
            .outerjoin(Memory, Memory.conversation_id == Conversation.id)
            .where(Conversation.user_id == user.id)
            .order_by(Conversation.id)
        )
        conversations = []
        for conversation, memory in rows.all():
            messages = await ConversationRepository(self.session).messages(conversation.id)
            conversations.append(
                {
                    "scope": conversation.scope,
                    "persona": conversation.persona,
                    "created_at": conversation.created_at.isoformat(),
                    "memory": memory.data if memory else {},
                    "messages": [
                        {
                            "role": message.role,
                            "persona": message.persona,
                            "text": message.text,
                            "fact_ids": message.fact_ids,
                            "at": message.created_at.isoformat(),
                        }
                        for message in messages
                    ],
                }
            )
        return {
            "user": external_id,
            "default_persona": user.default_persona,
            "created_at": user.created_at.isoformat(),
            "conversations": conversations,
        }


class ConversationRepository(_Repository):
    """Conversations, their messages and their memory."""

    async def load(self, external_id: str, scope: str, persona: str) -> ConversationState | None:
        """The conversation with its memory, or None when it does not exist yet."""
        row = (
            await self.session.execute(
                select(Conversation.id, Memory.turn, Memory.data)
                .join(User, User.id == Conversation.user_id)
                .outerjoin(Memory, Memory.conversation_id == Conversation.id)
                .where(User.external_id == external_id, Conversation.scope == scope, Conversation.persona == persona)
            )
        ).first()
        if row is None:
            return None
        return ConversationState(row[0], row[1] or 0, row[2] or {})

    async def load_or_create(self, external_id: str, scope: str, persona: str) -> ConversationState:
        """The conversation with its memory, created (with its user) on first contact."""
        (state,) = await self.load_or_create_many([(external_id, scope, persona)])
        return state

    async def load_or_create_many(self, keys: Sequence[ConversationKey]) -> list[ConversationState]:
        """Like ``load_or_create`` for many conversations at once, with six bulk statements in all."""
        now = utcnow()
        external_ids = sorted({user for user, _, _ in keys})
        await self._insert_missing(
            _USERS, ["external_id"], [{"external_id": e, "created_at": now} for e in external_ids]
        )
        found_users = await self.session.execute(
            select(User.external_id, User.id).where(User.external_id.in_(external_ids))
        )
        user_ids: dict[str, int] = {external_id: user_id for external_id, user_id in found_users.all()}
        wanted = sorted({(user_ids[user], scope, persona) for user, scope, persona in keys})
        rows = [{"user_id": u, "scope": s, "persona": p, "created_at": now} for u, s, p in wanted]
        await self._insert_missing(_CONVERSATIONS, ["user_id", "scope", "persona"], rows)
        found = await self.session.execute(
            select(Conversation.user_id, Conversation.scope, Conversation.persona, Conversation.id).where(
                Conversation.user_id.in_(sorted(set(user_ids.values())))
            )
        )
        conversation_ids = {(user, scope, persona): cid for user, scope, persona, cid in found.all()}
        ids = sorted({conversation_ids[key] for key in wanted})
        blank = [{"conversation_id": cid, "turn": 0, "data": {}, "updated_at": now} for cid in ids]
        await self._insert_missing(_MEMORIES, ["conversation_id"], blank)
        memories = await self.session.execute(
            select(Memory.conversation_id, Memory.turn, Memory.data).where(Memory.conversation_id.in_(ids))
        )
        by_id = {cid: ConversationState(cid, turn or 0, data or {}) for cid, turn, data in memories.all()}
        return [by_id[conversation_ids[(user_ids[user], scope, persona)]] for user, scope, persona in keys]

    async def _insert_missing(self, table: Table, unique: list[str], rows: list[dict[str, Any]]) -> None:
        """Insert the rows whose unique key is not there yet."""
        statement = insert_for(self.session, table).on_conflict_do_nothing(index_elements=unique)
        await self.session.execute(statement, rows)

    async def write_turns(self, turns: Sequence[TurnRecord]) -> None:
        """Store the messages and memory of many turns with two bulk statements each."""
        if not turns:
            return
        messages: list[dict[str, Any]] = []
        for turn in turns:
            messages.append(
                {
                    "conversation_id": turn.conversation_id,
                    "role": "user",
                    "persona": None,
                    "text": storable(turn.user_text),
                    "fact_ids": [],
                    "discord_message_id": turn.discord_message_id,
                    "created_at": turn.at,
                }
            )
            messages.append(
                {
                    "conversation_id": turn.conversation_id,
                    "role": "persona",
                    "persona": turn.persona,
                    "text": storable(turn.reply_text),
                    "fact_ids": list(turn.fact_ids),
                    "discord_message_id": None,
                    "created_at": turn.at,
                }
            )
        memories = [
            {"cid": turn.conversation_id, "turn": turn.turn, "data": turn.memory, "updated_at": turn.at}
            for turn in turns
        ]
        try:
            await self.session.execute(_MESSAGES.insert(), messages)
            table = _MEMORIES
            await self.session.execute(
                update(table)
                .where(table.c.conversation_id == bindparam("cid"))
                .values(
                    turn=bindparam("turn"),
                    data=bindparam("data", type_=table.c.data.type),
                    updated_at=bindparam("updated_at", type_=table.c.updated_at.type),
                ),
                memories,
            )
        except IntegrityError as exc:
            if "discord_message_id" in str(exc.orig):
                raise DuplicateMessageError("a Discord message in this batch was already stored") from exc
            raise StorageError(f"could not store {len(turns)} turn(s): {exc.orig}") from exc
        except SQLAlchemyError as exc:
            raise StorageError(f"could not store {len(turns)} turn(s): {type(exc).__name__}") from exc

    async def messages(self, conversation_id: int, limit: int | None = None) -> list[StoredMessage]:
        """A conversation's messages, oldest first (the newest ``limit`` when given)."""
        query = select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id.desc())
        if limit is not None:
            query = query.limit(limit)
        rows = list((await self.session.scalars(query)).all())
        rows.reverse()
        return [_stored(row) for row in rows]

    async def last_reply(self, external_id: str, scope: str) -> StoredMessage | None:
        """The newest persona reply this user got in this place, with the facts it used."""
        row = await self.session.scalar(
            select(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(User, User.id == Conversation.user_id)
            .where(User.external_id == external_id, Conversation.scope == scope, Message.role == "persona")
            .order_by(Message.id.desc())
            .limit(1)
        )
        return None if row is None else _stored(row)

    async def message_seen(self, discord_message_id: int) -> bool:
        """True when a Discord message with this id is already stored."""
        found = await self.session.scalar(select(Message.id).where(Message.discord_message_id == discord_message_id))
        return found is not None


class ChannelRepository(_Repository):
    """Per-channel settings: the auto-chat persona and the cached webhook."""

    async def get(self, channel_id: int) -> ChannelSettings | None:
        """The channel's settings row, if any, as stored now."""
        return await self.session.get(ChannelSettings, channel_id, populate_existing=True)

    async def set_auto_persona(self, channel_id: int, guild_id: int | None, persona: str | None) -> None:
        """Make the channel answer every message as ``persona`` (None turns it off)."""
        await self._upsert(channel_id, guild_id, auto_persona=persona)

    async def set_webhook(
        self, channel_id: int, guild_id: int | None, webhook_id: int | None, token: str | None
    ) -> None:
        """Cache (or clear) the webhook the personas post through in this channel."""
        await self._upsert(channel_id, guild_id, webhook_id=webhook_id, webhook_token=token)

    async def _upsert(self, channel_id: int, guild_id: int | None, **values: Any) -> None:
        now = utcnow()
        statement = insert_for(self.session, ChannelSettings).values(
            channel_id=channel_id, guild_id=guild_id, updated_at=now, **values
        )
        changes = {**values, "updated_at": now}
        await self.session.execute(
            statement.on_conflict_do_update(index_elements=[ChannelSettings.channel_id], set_=changes)
        )
