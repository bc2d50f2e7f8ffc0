"""Trivia announcements as the outbox stores them: which games post through it, their keys, and announcements to
and from plain data."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.trivia.options import Announcement
from db.outbox import NewPost, OutboxRepository

__all__ = ["KIND", "TERMINAL", "from_stored", "keyed", "new_posts", "store_said"]

KIND = "trivia"
"""The outbox kind of trivia announcements."""
TERMINAL = 0
"""The channel id of a game in the terminal (Discord ids are never 0): printed at once, never stored."""


def _key(game_id: int) -> str:
    # At most 22 characters for any game id below 10^12, so the nonce of a part ("<key>.<n>") stays within
    # Discord's 25.
    return f"t{game_id}.{secrets.token_hex(4)}"


def keyed(announcements: Sequence[Announcement]) -> list[Announcement]:
    """The announcements, each with an outbox key of its own unless its game plays in the terminal."""
    return [a if a.channel_id == TERMINAL else replace(a, outbox_key=_key(a.game_id)) for a in announcements]


def new_posts(announcements: Sequence[Announcement]) -> list[NewPost]:
    """The outbox posts of the keyed announcements, in their order."""
    return [
        NewPost(
            a.outbox_key,
            KIND,
            a.channel_id,
            a.text,
            persona=a.host,
            payload={"game_id": a.game_id, "kind": a.kind, "question": a.question, "choices": list(a.choices)},
        )
        for a in announcements
        if a.outbox_key is not None
    ]


async def store_said(session: AsyncSession, announcements: Sequence[Announcement]) -> list[Announcement]:
    """Store the announcements of a change in the outbox, in the change's transaction; returns them keyed."""
    said = keyed(announcements)
    await OutboxRepository(session).add(new_posts(said))
    return said


def from_stored(key: str, channel_id: int, host: str | None, text: str, payload: Mapping[str, Any]) -> Announcement:
    """The announcement ``new_posts`` stored under ``key``."""
    question = payload.get("question")
    return Announcement(
        channel_id,
        int(payload.get("game_id") or 0),
        str(payload.get("kind") or "say"),
        host or "t800",
        text,
        None if question is None else int(question),
        tuple(str(choice) for choice in payload.get("choices") or ()),
        outbox_key=key,
    )
