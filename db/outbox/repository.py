"""The outbox: posts stored with the change that caused them, until Discord has accepted them."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, update

from db.common import Repository, storable
from db.outbox.models import OutboxPost

__all__ = ["OUTBOX", "NewPost", "OutboxEntry", "OutboxRepository", "outbox_rows", "replied_message_id", "reply_key"]

OUTBOX = cast(Table, OutboxPost.__table__)


def reply_key(source_message_id: int) -> str:
    """The outbox key (and Discord nonce) of the reply to a message."""
    return f"r{source_message_id}"


def replied_message_id(key: str) -> int | None:
    """The message a reply's key (``reply_key``) answers; None for a key of another kind."""
    number = key[1:] if key.startswith("r") else ""
    return int(number) if number.isdigit() else None


@dataclass(frozen=True, slots=True)
class NewPost:
    """A post to store in the outbox."""

    key: str
    kind: str
    channel_id: int
    text: str
    persona: str | None = None
    payload: dict[str, Any] | None = None
    created_at_ms: int = field(default_factory=lambda: int(time.time() * 1000))


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A post waiting to be sent."""

    id: int
    key: str
    kind: str
    channel_id: int
    persona: str | None
    text: str
    payload: dict[str, Any] | None
    created_at_ms: int
    parts_sent: int


def outbox_rows(posts: Sequence[NewPost]) -> list[dict[str, Any]]:
    """The rows of ``posts`` for a bulk insert into ``OUTBOX``."""
    return [
        {
            "key": post.key,
            "kind": post.kind,
            "channel_id": post.channel_id,
            "persona": post.persona,
            "text": storable(post.text),
            "payload": post.payload,
            "created_at_ms": post.created_at_ms,
            "parts_sent": 0,
        }
        for post in posts
    ]


def _entry(row: OutboxPost) -> OutboxEntry:
    return OutboxEntry(
        row.id, row.key, row.kind, row.channel_id, row.persona, row.text, row.payload, row.created_at_ms, row.parts_sent
    )


class OutboxRepository(Repository):
    """Stores, reads and settles the posts waiting to be sent."""

    async def add(self, posts: Sequence[NewPost]) -> None:
        """Store posts in the caller's transaction (that of the change they announce)."""
        if posts:
            await self.session.execute(OUTBOX.insert(), outbox_rows(posts))

    async def waiting(self, limit: int, *, created_before_ms: int | None = None) -> list[OutboxEntry]:
        """The oldest posts still waiting (those created before ``created_before_ms`` when given)."""
        query = select(OutboxPost).order_by(OutboxPost.id).limit(limit)
        if created_before_ms is not None:
            query = query.where(OutboxPost.created_at_ms < created_before_ms)
        return [_entry(row) for row in await self.session.scalars(query)]

    async def waiting_in(self, channel_id: int, kind: str) -> list[OutboxEntry]:
        """The posts of ``kind`` still waiting for one channel, oldest first."""
        query = select(OutboxPost).where(OutboxPost.channel_id == channel_id, OutboxPost.kind == kind)
        return [_entry(row) for row in await self.session.scalars(query.order_by(OutboxPost.id))]

    async def keys_alike(self, entry: OutboxEntry, *, created_since_ms: int) -> list[str]:
        """The keys of the other posts of ``entry``'s kind with its text, for its channel, stored since
        ``created_since_ms`` and still waiting."""
        query = select(OutboxPost.key).where(
            OutboxPost.channel_id == entry.channel_id,
            OutboxPost.kind == entry.kind,
            OutboxPost.text == entry.text,
            OutboxPost.id != entry.id,
            OutboxPost.created_at_ms >= created_since_ms,
        )
        return list((await self.session.scalars(query.order_by(OutboxPost.id))).all())

    async def by_key(self, key: str) -> OutboxEntry | None:
        """The waiting post with this key, if it is still waiting."""
        row = await self.session.scalar(select(OutboxPost).where(OutboxPost.key == key))
        return _entry(row) if row is not None else None

    async def count(self, sent: Collection[str] = ()) -> int:
        """How many posts are waiting (the outbox depth), leaving out ``sent``: keys of posts that went out and are
        about to be removed."""
        query = select(func.count(OutboxPost.id))
        if sent:
            query = query.where(OutboxPost.key.not_in(list(sent)))
        return int(await self.session.scalar(query) or 0)

    async def progress(self, post_id: int, parts_sent: int) -> None:
        """Discord has accepted the first ``parts_sent`` parts of a post split in several."""
        await self.session.execute(update(OutboxPost).where(OutboxPost.id == post_id).values(parts_sent=parts_sent))

    async def settle(self, keys: Sequence[str]) -> None:
        """Remove posts that were sent (or given up)."""
        if keys:
            await self.session.execute(delete(OutboxPost).where(OutboxPost.key.in_(keys)))
