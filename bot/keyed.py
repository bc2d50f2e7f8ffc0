"""Per-key locks that exist only while someone holds or waits for them, so they never need evicting."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["KeyedLocks"]

K = TypeVar("K", bound=Hashable)


@dataclass(slots=True)
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    """Tasks holding or waiting for the lock."""


class KeyedLocks(Generic[K]):
    """One asyncio lock per key, created on first use and dropped when no task holds or waits for it.

    Memory is bounded by the number of tasks inside or queued at ``hold``: an idle key costs nothing, and a lock
    is never dropped while it still guards someone, so mutual exclusion per key always holds.
    """

    def __init__(self) -> None:
        self._entries: dict[K, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def busy(self, key: K) -> bool:
        """Whether a task holds or waits for the lock of ``key``."""
        return key in self._entries

    @contextlib.asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        """Hold the lock of ``key`` for the block; tasks on the same key run the block one at a time."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0 and self._entries.get(key) is entry:
                del self._entries[key]
