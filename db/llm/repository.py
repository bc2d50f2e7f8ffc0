"""Reading and writing a guild's model opt-in and its daily token use."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.common import insert_for
from db.llm.models import ModelGuildSettings, ModelUsage
from db.models import utcnow

__all__ = ["ModelRepository"]


class ModelRepository:
    """The model backend's storage on the session it is given; the caller owns the transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enabled(self, guild_id: int) -> bool:
        """Whether the guild turned the model backend on."""
        found = await self.session.scalar(
            select(ModelGuildSettings.enabled).where(ModelGuildSettings.guild_id == guild_id)
        )
        return bool(found)

    async def set_enabled(self, guild_id: int, enabled: bool) -> None:
        """Turn the model backend on or off for the guild."""
        statement = insert_for(self.session, ModelGuildSettings.__table__).values(
            guild_id=guild_id, enabled=enabled, updated_at=utcnow()
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["guild_id"], set_={"enabled": enabled, "updated_at": utcnow()}
            )
        )

    async def used(self, guild_id: int, day: str) -> int:
        """The tokens the guild spent on ``day``."""
        found = await self.session.scalar(
            select(ModelUsage.tokens).where(ModelUsage.guild_id == guild_id, ModelUsage.day == day)
        )
        return int(found or 0)

    async def spend(self, guild_id: int, day: str, tokens: int) -> None:
        """Add ``tokens`` to the guild's use on ``day``."""
        table = ModelUsage.__table__
        statement = insert_for(self.session, table).values(guild_id=guild_id, day=day, tokens=tokens)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["guild_id", "day"], set_={"tokens": table.c.tokens + tokens}
            )
        )
