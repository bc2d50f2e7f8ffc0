"""Reading and writing the character cards each guild imported."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.common import insert_for, storable
from db.llm.models import GuildCard
from db.models import utcnow

__all__ = ["CardRepository", "StoredCard"]


@dataclass(frozen=True, slots=True)
class StoredCard:
    """One imported card as stored."""

    id: int
    guild_id: int
    kind: str
    key: str
    name: str
    card_json: str
    imported_by: str
    imported_at: datetime


class CardRepository:
    """A guild's imported cards on the session it is given; the caller owns the transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put(self, guild_id: int, kind: str, key: str, name: str, card_json: str, imported_by: str) -> int:
        """Store the guild's card for ``key``, replacing the one it had; returns the card's id."""
        values = {
            "kind": kind,
            "name": storable(name)[:100],
            "card_json": storable(card_json),
            "imported_by": imported_by,
            "imported_at": utcnow(),
        }
        statement = insert_for(self.session, GuildCard.__table__).values(guild_id=guild_id, key=key, **values)
        await self.session.execute(statement.on_conflict_do_update(index_elements=["guild_id", "key"], set_=values))
        found = await self.session.scalar(
            select(GuildCard.id).where(GuildCard.guild_id == guild_id, GuildCard.key == key)
        )
        assert found is not None
        return int(found)

    async def in_guild(self, guild_id: int) -> list[StoredCard]:
        """The guild's cards, by key."""
        rows = await self.session.scalars(
            select(GuildCard).where(GuildCard.guild_id == guild_id).order_by(GuildCard.key)
        )
        return [_stored(row) for row in rows]

    async def get(self, card_id: int) -> StoredCard | None:
        """The card with this id, or None (it was removed or replaced)."""
        row = await self.session.get(GuildCard, card_id)
        return None if row is None else _stored(row)

    async def remove(self, guild_id: int, name: str) -> list[str]:
        """Remove the guild's card whose key or name is ``name`` (case-insensitive); returns the removed names."""
        folded = name.strip().lower()
        matches = select(GuildCard.id, GuildCard.name).where(
            GuildCard.guild_id == guild_id,
            (func.lower(GuildCard.key) == folded) | (func.lower(GuildCard.name) == folded),
        )
        found = (await self.session.execute(matches)).all()
        if found:
            await self.session.execute(delete(GuildCard).where(GuildCard.id.in_([card_id for card_id, _ in found])))
        return [card_name for _, card_name in found]


def _stored(row: GuildCard) -> StoredCard:
    return StoredCard(
        row.id, row.guild_id, row.kind, row.key, row.name, row.card_json, row.imported_by, row.imported_at
    )
