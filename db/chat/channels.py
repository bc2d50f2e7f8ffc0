"""Per-channel settings: the auto-chat persona and the cached webhook."""

from __future__ import annotations

from typing import Any

from db.chat.models import ChannelSettings
from db.common import Repository, insert_for
from db.models import utcnow

__all__ = ["ChannelRepository"]


class ChannelRepository(Repository):
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
