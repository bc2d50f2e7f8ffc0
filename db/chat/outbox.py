"""The outbox: posts stored with the change that caused them, until Discord has accepted them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update

from db.chat.models import OutboxPost
from db.common import Repository

__all__ = ["OutboxEntry", "OutboxRepository"]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A post waiting to be sent."""

    id: int
    channel_id: int
    persona: str | None
    text: str
    source_message_id: int | None
    created_at_ms: int
    parts_sent: int


def _entry(row: OutboxPost) -> OutboxEntry:
    return OutboxEntry(
        row.id, row.channel_id, row.persona, row.text, row.source_message_id, row.created_at_ms, row.parts_sent
    )


class OutboxRepository(Repository):
    """Reads and settles the posts waiting to be sent."""

    async def waiting(self, limit: int, *, created_before_ms: int | None = None) -> list[OutboxEntry]:
        """The oldest posts still waiting (those created before ``created_before_ms`` when given)."""
        query = select(OutboxPost).order_by(OutboxPost.id).limit(limit)
        if created_before_ms is not None:
            query = query.where(OutboxPost.created_at_ms < created_before_ms)
        return [_entry(row) for row in await self.session.scalars(query)]

    async def for_message(self, source_message_id: int) -> OutboxEntry | None:
        """The waiting reply to a Discord message, if it is still waiting."""
        row = await self.session.scalar(select(OutboxPost).where(OutboxPost.source_message_id == source_message_id))
        return _entry(row) if row is not None else None

    async def count(self) -> int:
        """How many posts are waiting (the outbox depth)."""
        return int(await self.session.scalar(select(func.count(OutboxPost.id))) or 0)

    async def progress(self, post_id: int, parts_sent: int) -> None:
        """Discord has accepted the first ``parts_sent`` parts of a post split in several."""
        await self.session.execute(update(OutboxPost).where(OutboxPost.id == post_id).values(parts_sent=parts_sent))

    async def settle(self, post_ids: Sequence[int]) -> None:
        """Remove posts that were sent (or given up)."""
        if post_ids:
            await self.session.execute(delete(OutboxPost).where(OutboxPost.id.in_(post_ids)))

    async def settle_replies(self, source_message_ids: Sequence[int]) -> None:
        """Remove the replies to these messages: they were sent."""
        if source_message_ids:
            await self.session.execute(delete(OutboxPost).where(OutboxPost.source_message_id.in_(source_message_ids)))
