"""Group commit: the writes of many concurrent callers share one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from db.common import StorageError, describe_failure, unavailable

__all__ = ["Batcher"]

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """Queues items and hands them to ``run_batch`` in batches; each ``submit`` returns its own result.

    While one batch runs, new items gather for the next, so under load a transaction carries many
    items and under no load an item runs at once. When a batch fails, its items are retried one by
    one, so a single bad item (a replayed Discord message, say) fails alone with a StorageError; when the database
    did not answer at all (locked past its timeout, connection lost), every item of the batch fails at once.
    ``run_batch`` must return one result per item, in order. With ``linger_s``, a batch waits that long after
    its first item for more to join it (for writes nobody waits for, so that fewer transactions carry them).
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]],
        *,
        name: str,
        max_batch: int = 500,
        linger_s: float = 0.0,
    ) -> None:
        self._run_batch = run_batch
        self._name = name
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._closing = asyncio.Event()

    async def submit(self, item: Item) -> Result:
        """Queue ``item``; returns once the transaction holding it has committed, or raises StorageError."""
        return await self.enqueue(item)

    def enqueue(self, item: Item) -> asyncio.Future[Result]:
        """Queue ``item`` without waiting: the future is done once the transaction holding it has committed (or
        holds its StorageError). Raises StorageError when the queue is closed."""
        if self._closed:
            raise StorageError(f"the {self._name} queue is closed")
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)
        return future

    async def close(self) -> None:
        """Run what is queued (at once, without lingering), then stop taking items."""
        self._closed = True
        self._closing.set()
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._linger_s > 0 and not self._closed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self._linger_s)
            while self._pending:
                batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
                await self._commit(batch)
            if self._closed:
                return

    async def _commit(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._run_batch([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                if not batch[0][1].done():
                    batch[0][1].set_exception(_storage_error(exc))
                return
            if unavailable(exc):  # a database that did not answer fails every item alike: no retries one by one
                log.warning("a %s batch of %d failed: %s", self._name, len(batch), describe_failure(exc))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(_storage_error(exc, fresh=True))
                return
            log.warning("a %s batch of %d failed (%s); retrying one by one", self._name, len(batch), type(exc).__name__)
            for entry in batch:
                await self._commit([entry])
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


def _storage_error(exc: BaseException, *, fresh: bool = False) -> StorageError:
    """``exc`` as the StorageError a caller gets; ``fresh``: a new one, for one of several callers."""
    if isinstance(exc, StorageError) and not fresh:
        return exc
    error = StorageError(f"could not store: {describe_failure(exc)}")
    error.__cause__ = exc
    return error
