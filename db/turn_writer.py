"""Group commit of chat turns, and batched creation of new conversations and reads of default personas."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.batching import Batcher
from db.chat import ConversationKey, ConversationRepository, ConversationState, TurnRecord, UserRepository

__all__ = ["TurnWriter"]


class TurnWriter:
    """Writes chat turns and creates conversations for many concurrent callers in shared transactions, and reads
    their default personas in shared queries.

    Every write transaction of this process holds ``write_lock``, so SQLite writers queue here
    instead of busy-waiting on the database file. Batched, a burst of first messages uses one connection for its
    reads instead of one each (which would open, and then close, connections beyond the pool's size).
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, max_batch: int = 500) -> None:
        self._sessions = sessions
        self.write_lock = asyncio.Lock()
        self._turns: Batcher[TurnRecord, None] = Batcher(self._write_turns, name="turn-writer", max_batch=max_batch)
        self._opens: Batcher[ConversationKey, ConversationState] = Batcher(
            self._open_conversations, name="conversation-opener", max_batch=max_batch
        )
        self._defaults: Batcher[str, str | None] = Batcher(
            self._read_defaults, name="default-persona-reader", max_batch=max_batch
        )

    async def write(self, turn: TurnRecord) -> None:
        """Store ``turn``; returns after the transaction holding it has committed, or raises StorageError."""
        await self._turns.submit(turn)

    async def open_conversation(self, key: ConversationKey) -> ConversationState:
        """The conversation ``key`` with its memory, created (with its user) when it does not exist yet."""
        return await self._opens.submit(key)

    async def default_persona(self, user: str) -> str | None:
        """The persona ``user`` chose as default, if any."""
        return await self._defaults.submit(user)

    async def close(self) -> None:
        """Write what is queued, then stop."""
        await self._defaults.close()
        await self._opens.close()
        await self._turns.close()

    async def _write_turns(self, turns: Sequence[TurnRecord]) -> list[None]:
        async with self.write_lock, self._sessions.begin() as session:
            await ConversationRepository(session).write_turns(turns)
        return [None] * len(turns)

    async def _open_conversations(self, keys: Sequence[ConversationKey]) -> list[ConversationState]:
        async with self.write_lock, self._sessions.begin() as session:
            return await ConversationRepository(session).load_or_create_many(keys)

    async def _read_defaults(self, users: Sequence[str]) -> list[str | None]:
        async with self._sessions() as session:
            chosen = await UserRepository(session).default_personas(users)
        return [chosen.get(user) for user in users]
