"""The running sessions: read once, kept in memory and written through to the database in group commits.

Every change is committed (one transaction, shared with concurrent changes of other sessions) before the
service returns what to announce, so a choice costs one write and no read; after a restart the sessions are
read back and go on at the same point.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.keyed import KeyedLocks
from bot.story.change import ENDED, Change, Write, clone, with_player
from bot.story.model import StoryRefusal
from bot.story.outbox import discord_channel, posts_payload, story_text
from db.batching import Batcher
from db.common import StaleWrite
from db.outbox import NewPost, OutboxRepository
from db.story.repository import EventRow, PlayerRow, SessionRow, StoryRepository

__all__ = ["Op", "SessionStore"]

log = logging.getLogger(__name__)

Op = Callable[[StoryRepository], Awaitable[Any]]
"""A write that needs more than the group commit's statements (creating a session, forgetting a user ...)."""


class SessionStore:
    """Running sessions, one per place: their in-memory copies, their locks and their writes.

    Only sessions that have not ended are kept (at most one per place); an ended one is dropped as it ends.
    A session's lock exists only while a change of that session runs or waits, so locks never outlive use.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        write_lock: asyncio.Lock,
        owns: Callable[[int | None], bool] = lambda guild_id: True,
    ) -> None:
        self._sessions = sessions
        self._owns = owns
        self._write_lock = write_lock
        self._writes: Batcher[Op | Write, Any] = Batcher(self._run_ops, name="story-writer")
        self._live: dict[int, SessionRow] = {}
        self._by_scope: dict[str, int] = {}
        self._locks: KeyedLocks[int] = KeyedLocks()
        self._scope_locks: KeyedLocks[str] = KeyedLocks()
        self._loaded = False
        self._load_lock = asyncio.Lock()

    async def _run_ops(self, ops: Sequence[Op | Write]) -> list[Any]:
        """One transaction for a batch: special writes one by one, then every session change in bulk."""
        writes = [op for op in ops if isinstance(op, Write)]
        async with self._write_lock, self._sessions.begin() as session:
            repo = StoryRepository(session)
            results = [None if isinstance(op, Write) else await op(repo) for op in ops]
            await self.save(repo, writes)
        return results

    @staticmethod
    async def save(repo: StoryRepository, writes: Sequence[Write]) -> None:
        """Store session changes in ``repo``'s transaction (the caller commits, then calls ``remember``)."""
        joining = [write for write in writes if write.new_player is not None]
        ids = await repo.add_players([(write.row.id, write.new_player) for write in joining if write.new_player])
        for write, player_id in zip(joining, ids, strict=True):
            assert write.new_player is not None
            write.new_player.id = player_id
        await repo.save_many(
            [write.row for write in writes],
            [player for write in writes for player in write.players],
            [(write.row.id, with_player(event, write.new_player)) for write in writes for event in write.events],
        )
        await OutboxRepository(repo.session).add(
            [
                NewPost(
                    write.outbox_key, "story", channel_id, story_text(write.posts), payload=posts_payload(write.posts)
                )
                for write in writes
                if write.outbox_key is not None and (channel_id := discord_channel(write.row.scope)) is not None
            ]
        )

    async def load(self) -> None:
        """Read every running session of this process's guilds into memory (once); later calls do nothing."""
        if self._loaded:
            return
        async with self._load_lock:
            if self._loaded:
                return
            async with self._sessions() as session:
                rows = await StoryRepository(session).live_sessions()
            for row in rows:
                if self._owns(row.guild_id):
                    self.remember(row)
            self._loaded = True

    def remember(self, row: SessionRow) -> None:
        """Keep a stored session in memory, or drop it once it has ended."""
        if row.status == ENDED:
            self._live.pop(row.id, None)
            if self._by_scope.get(row.scope) == row.id:
                del self._by_scope[row.scope]
            return
        self._live[row.id] = row
        self._by_scope[row.scope] = row.id

    async def submit(self, op: Op) -> Any:
        """Run ``op`` in the next group commit; returns its result once committed."""
        return await self._writes.submit(op)

    async def commit(self, change: Change, new_player: PlayerRow | None = None) -> None:
        """Store a change (and a player joining for the first time), then keep its session.

        The posts of a session played in a Discord channel go into the outbox in the same transaction, under the
        key set on ``change.outbox_key``: the front end posts them and settles the key, and what a stop leaves
        unsent is posted at the next start.
        """
        if change.posts and discord_channel(change.row.scope) is not None:
            change.outbox_key = f"s{change.row.id}.{secrets.token_hex(5)}"
        write = Write(
            change.row, tuple(change.players), tuple(change.events), new_player, tuple(change.posts), change.outbox_key
        )
        try:
            await self._writes.submit(write)
        except StaleWrite:
            # Another process changed this session: only its guild's owner should, so say so loudly, and read the
            # stored session again, so the next action (the user is told to try again) starts from it.
            log.warning("story session %d was changed by another process; reading it again", change.row.id)
            await self._reload(change.row)
            raise
        self.saved(change.row)

    def saved(self, row: SessionRow) -> None:
        """Keep a session just stored: its stored version moved on by one."""
        row.version += 1
        self.remember(row)

    async def _reload(self, row: SessionRow) -> None:
        async with self._sessions() as session:
            stored = await StoryRepository(session).latest_in_scope(row.scope)
        self._live.pop(row.id, None)
        if stored is not None and stored.id == row.id:
            self.remember(stored)
        elif self._by_scope.get(row.scope) == row.id:
            del self._by_scope[row.scope]

    @property
    def write_lock(self) -> asyncio.Lock:
        """The lock every database write of the bot holds (SQLite has one writer)."""
        return self._write_lock

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """The database sessions the store writes with."""
        return self._sessions

    async def close(self) -> None:
        """Finish pending writes."""
        await self._writes.close()

    def lock(self, session_id: int) -> AbstractAsyncContextManager[None]:
        """The lock every change of this session holds: ``async with store.lock(session_id):``."""
        return self._locks.hold(session_id)

    def scope_lock(self, scope: str) -> AbstractAsyncContextManager[None]:
        """The lock held while a session is opened in this place."""
        return self._scope_locks.hold(scope)

    def held_locks(self) -> int:
        """How many session and place locks exist now (each only while held or awaited)."""
        return len(self._locks) + len(self._scope_locks)

    def running(self, scope: str) -> int | None:
        """The id of the running session of this place, if any (once loaded)."""
        return self._by_scope.get(scope)

    def is_live(self, session_id: int) -> bool:
        """Whether the session is still running."""
        return session_id in self._live

    def rows(self) -> list[SessionRow]:
        """The running sessions as kept in memory: to read, never to edit."""
        return list(self._live.values())

    def copy(self, session_id: int) -> SessionRow:
        """A copy of a running session to change; StoryRefusal when it is over."""
        row = self._live.get(session_id)
        if row is None:
            raise StoryRefusal("That story session is over.")
        return clone(row)

    async def session_id(self, scope: str) -> int:
        """The id of the running session of this place; StoryRefusal when there is none."""
        await self.load()
        session_id = self._by_scope.get(scope)
        if session_id is None:
            raise StoryRefusal("There is no story session here. Start one with /story start.")
        return session_id

    async def session_in(self, scope: str) -> SessionRow | None:
        """A copy of the running session of this place, if any."""
        await self.load()
        session_id = self._by_scope.get(scope)
        return None if session_id is None else clone(self._live[session_id])

    async def events(self, session_id: int) -> list[EventRow]:
        """A session's stored transcript."""
        async with self._sessions() as session:
            return await StoryRepository(session).events(session_id)

    async def latest(self, scope: str) -> tuple[SessionRow, list[EventRow]] | None:
        """The newest session of this place (running or ended) with its transcript, read in one session."""
        async with self._sessions() as session:
            repo = StoryRepository(session)
            found = await repo.latest_in_scope(scope)
            if found is None:
                return None
            return found, await repo.events(found.id)
