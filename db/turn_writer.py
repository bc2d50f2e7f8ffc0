"""Group commit: the turns of many concurrent conversations are written in one transaction."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.repositories import ConversationRepository, StorageError, TurnRecord

__all__ = ["TurnWriter"]

log = logging.getLogger(__name__)


class TurnWriter:
    """Queues turns and commits them in batches; each ``write`` returns once its own rows are committed.

    While one transaction commits, new turns gather for the next one, so under load a commit carries
    many turns and under no load a turn is committed at once. When a batch fails, its turns are retried
    one by one, so a single bad turn (a replayed Discord message, say) fails alone.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, max_batch: int = 500) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._pending: list[tuple[TurnRecord, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.write_lock = asyncio.Lock()
        """Held by every write transaction of this process, so SQLite writers queue here instead of busy-waiting."""

    async def write(self, turn: TurnRecord) -> None:
        """Store ``turn``; returns after the transaction holding it has committed, or raises StorageError."""
        if self._closed:
            raise StorageError("the turn writer is closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((turn, future))
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="turn-writer")
        await future

    async def close(self) -> None:
        """Write what is queued, then stop."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
                await self._commit(batch)
            if self._closed:
                return

    async def _commit(self, batch: list[tuple[TurnRecord, asyncio.Future[None]]]) -> None:
        try:
            await self._transaction([turn for turn, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                error = exc if isinstance(exc, StorageError) else StorageError(f"could not store: {type(exc).__name__}")
                if not batch[0][1].done():
                    batch[0][1].set_exception(error)
                return
            log.warning("a batch of %d turns failed (%s); writing them one by one", len(batch), type(exc).__name__)
            for item in batch:
                await self._commit([item])
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    async def _transaction(self, turns: list[TurnRecord]) -> None:
        async with self.write_lock, self._sessions.begin() as session:
            await ConversationRepository(session).write_turns(turns)
