"""Who may use the model backend: guilds that turned it on, within their daily token budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.llm import ModelRepository

__all__ = ["ModelPolicy"]


class ModelPolicy:
    """A guild's opt-in (read again every ``refresh_s`` seconds, so a change made by another process is seen) and
    its token budget per UTC day. Direct messages and the console have no guild and never use the model."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        write_lock: asyncio.Lock,
        *,
        daily_tokens: int,
        clock: Callable[[], float] = time.time,
        refresh_s: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._write_lock = write_lock
        self.daily_tokens = daily_tokens
        self._clock = clock
        self._enabled: TTLCache[int, bool] = TTLCache(maxsize=10_000, ttl=refresh_s)

    def today(self) -> str:
        """The budget's day, in UTC."""
        return datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%d")

    async def enabled(self, guild_id: int | None) -> bool:
        """Whether the guild turned the model backend on."""
        if guild_id is None:
            return False
        cached = self._enabled.get(guild_id)
        if cached is None:
            async with self._sessions() as session:
                cached = await ModelRepository(session).enabled(guild_id)
            self._enabled[guild_id] = cached
        return cached

    async def allows(self, guild_id: int | None) -> bool:
        """Whether a reply in this guild may use the model now: turned on, and budget left today."""
        if guild_id is None or not await self.enabled(guild_id):
            return False
        async with self._sessions() as session:
            used = await ModelRepository(session).used(guild_id, self.today())
        return used < self.daily_tokens

    async def set_enabled(self, guild_id: int, enabled: bool) -> None:
        """Turn the model backend on or off for a guild."""
        async with self._write_lock, self._sessions.begin() as session:
            await ModelRepository(session).set_enabled(guild_id, enabled)
        self._enabled[guild_id] = enabled

    async def spend(self, guild_id: int, tokens: int) -> None:
        """Count ``tokens`` against the guild's budget for today."""
        if tokens <= 0:
            return
        async with self._write_lock, self._sessions.begin() as session:
            await ModelRepository(session).spend(guild_id, self.today(), tokens)

    async def used_today(self, guild_id: int) -> int:
        """The tokens the guild spent today."""
        async with self._sessions() as session:
            return await ModelRepository(session).used(guild_id, self.today())
