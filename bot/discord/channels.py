"""Per-channel settings as the Discord front end needs them: cached in memory, written through to the database."""

from __future__ import annotations

from dataclasses import dataclass

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.chat import ChannelRepository

__all__ = ["ChannelDirectory", "ChannelInfo"]


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What the bot knows about a channel."""

    auto_persona: str | None = None
    webhook_id: int | None = None
    webhook_token: str | None = None


class ChannelDirectory:
    """Serves each channel's settings from memory, reading them again after ``refresh_s`` seconds (so a change
    stored by another process is seen within that time); every change is stored first.

    At most ``max_channels`` channels are kept, the least recently used going first (read again when needed).
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, max_channels: int = 100_000, refresh_s: float = 5.0
    ) -> None:
        self._sessions = sessions
        self._cache: TTLCache[int, ChannelInfo] = TTLCache(maxsize=max_channels, ttl=refresh_s)

    def is_cached(self, channel_id: int) -> bool:
        """Whether the channel's settings are in memory now (without counting as a use)."""
        return channel_id in self._cache

    async def get(self, channel_id: int) -> ChannelInfo:
        """The channel's settings (defaults when none are stored)."""
        info = self._cache.get(channel_id)
        if info is None:
            async with self._sessions() as session:
                row = await ChannelRepository(session).get(channel_id)
            info = ChannelInfo(row.auto_persona, row.webhook_id, row.webhook_token) if row else ChannelInfo()
            self._cache[channel_id] = info
        return info

    async def set_auto_persona(self, channel_id: int, guild_id: int | None, persona: str | None) -> None:
        """Make the channel answer every message as ``persona``, or stop (None)."""
        async with self._sessions.begin() as session:
            await ChannelRepository(session).set_auto_persona(channel_id, guild_id, persona)
        current = await self.get(channel_id)
        self._cache[channel_id] = ChannelInfo(persona, current.webhook_id, current.webhook_token)

    async def set_webhook(
        self, channel_id: int, guild_id: int | None, webhook_id: int | None, token: str | None
    ) -> None:
        """Remember (or forget, with None) the webhook the personas post through in this channel."""
        async with self._sessions.begin() as session:
            await ChannelRepository(session).set_webhook(channel_id, guild_id, webhook_id, token)
        current = await self.get(channel_id)
        self._cache[channel_id] = ChannelInfo(current.auto_persona, webhook_id, token)
