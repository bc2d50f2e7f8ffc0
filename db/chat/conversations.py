"""Conversations, their messages and memory; the bulk writes of the chat path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from db.chat.models import Conversation, Memory, Message, User
from db.chat.records import (
    CONVERSATIONS,
    MEMORIES,
    MESSAGES,
    USERS,
    ConversationKey,
    ConversationState,
    DuplicateMessageError,
    StoredMessage,
    TurnRecord,
    stored,
)
from db.common import Repository, StorageError, check_versions, insert_for, storable
from db.models import utcnow
from db.outbox import NewPost, OutboxRepository, reply_key

__all__ = ["ConversationRepository", "UserInScope", "load_user_in_scope"]


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


class ConversationRepository(Repository):
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
            USERS, ["external_id"], [{"external_id": e, "created_at": now} for e in external_ids]
        )
        found_users = await self.session.execute(
            select(User.external_id, User.id).where(User.external_id.in_(external_ids))
        )
        user_ids: dict[str, int] = {external_id: user_id for external_id, user_id in found_users.all()}
        wanted = sorted({(user_ids[user], scope, persona) for user, scope, persona in keys})
        rows = [{"user_id": u, "scope": s, "persona": p, "created_at": now} for u, s, p in wanted]
        await self._insert_missing(CONVERSATIONS, ["user_id", "scope", "persona"], rows)
        found = await self.session.execute(
            select(Conversation.user_id, Conversation.scope, Conversation.persona, Conversation.id).where(
                Conversation.user_id.in_(sorted(set(user_ids.values())))
            )
        )
        conversation_ids = {(user, scope, persona): cid for user, scope, persona, cid in found.all()}
        ids = sorted({conversation_ids[key] for key in wanted})
        blank = [{"conversation_id": cid, "turn": 0, "data": {}, "updated_at": now} for cid in ids]
        await self._insert_missing(MEMORIES, ["conversation_id"], blank)
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
                    "backend": None,
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
                    "backend": turn.backend,
                    "discord_message_id": None,
                    "created_at": turn.at,
                }
            )
        memories = [
            {
                "cid": turn.conversation_id,
                "turn": turn.turn,
                "previous": turn.turn - 1,
                "data": turn.memory,
                "updated_at": turn.at,
            }
            for turn in turns
        ]
        posts = [
            NewPost(
                reply_key(turn.discord_message_id),
                "chat",
                turn.reply_channel_id,
                turn.reply_text,
                persona=turn.persona,
                payload=turn.reply_payload,
                created_at_ms=int(turn.at.replace(tzinfo=UTC).timestamp() * 1000),
            )
            for turn in turns
            if turn.reply_channel_id is not None and turn.discord_message_id is not None
        ]
        try:
            await self._check_fresh(turns)
            await self.session.execute(MESSAGES.insert(), messages)
            await OutboxRepository(self.session).add(posts)
            table = MEMORIES
            await self.session.execute(
                update(table)
                .where(table.c.conversation_id == bindparam("cid"), table.c.turn == bindparam("previous"))
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

    async def _check_fresh(self, turns: Sequence[TurnRecord]) -> None:
        """Raise StaleWrite when a memory is no longer at the turn these turns were computed from: another process
        wrote to it since it was read (``check_versions``)."""
        read: dict[int, int] = {}
        for turn in turns:  # a batch may hold several turns of one conversation, one after the other
            read[turn.conversation_id] = min(read.get(turn.conversation_id, turn.turn), turn.turn - 1)
        await check_versions(self.session, Memory.conversation_id, Memory.turn, read, "conversation")

    async def replies_like(self, channel_id: int, text: str, since: datetime) -> int:
        """How many persona replies with exactly ``text`` were stored since ``since`` in a channel (or DM)."""
        scopes = [f"channel:{channel_id}", f"dm:{channel_id}"]
        query = (
            select(func.count(Message.id))
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.scope.in_(scopes), Message.role == "persona", Message.text == text)
            .where(Message.created_at >= since)
        )
        return int(await self.session.scalar(query) or 0)

    async def messages(self, conversation_id: int, limit: int | None = None) -> list[StoredMessage]:
        """A conversation's messages, oldest first (the newest ``limit`` when given)."""
        query = select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id.desc())
        if limit is not None:
            query = query.limit(limit)
        rows = list((await self.session.scalars(query)).all())
        rows.reverse()
        return [stored(row) for row in rows]

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
        return None if row is None else stored(row)

    async def message_seen(self, discord_message_id: int) -> bool:
        """True when a Discord message with this id is already stored."""
        found = await self.session.scalar(select(Message.id).where(Message.discord_message_id == discord_message_id))
        return found is not None
