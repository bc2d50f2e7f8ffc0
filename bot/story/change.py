"""One change to a session: built on a copy of it, then stored in a group commit; the session statuses."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from bot.story.model import Post, Prompt
from db.story.repository import EventRow, PlayerRow, SessionRow

__all__ = ["ENDED", "LOBBY", "NEW_PLAYER", "PLAYING", "Change", "Write", "clone", "with_player"]

LOBBY, PLAYING, ENDED = "lobby", "playing", "ended"
NEW_PLAYER = -1
"""The player id of the events of a player joining for the first time, until it is stored and has its own."""


@dataclass(frozen=True, slots=True)
class Write:
    """A session's new state with its changed players and new transcript lines, stored in a group commit."""

    row: SessionRow
    players: tuple[PlayerRow, ...]
    events: tuple[EventRow, ...]
    new_player: PlayerRow | None = None
    """A player joining for the first time: inserted, given its id, which events marked NEW_PLAYER get."""
    posts: tuple[Post, ...] = ()
    outbox_key: str | None = None
    """Set when the posts are to be stored in the outbox with the change (a session played on Discord)."""


def _plain(value: Any) -> Any:
    """A copy of JSON-like data (dicts, lists, strings, numbers): much cheaper than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def with_player(event: EventRow, player: PlayerRow | None) -> EventRow:
    """The event with the id of the player who just joined, where it is marked NEW_PLAYER."""
    if player is None or event.player_id != NEW_PLAYER:
        return event
    return EventRow(event.seq, event.scene, event.kind, event.text, event.at_ms, player.id, event.persona, event.option)


def clone(row: SessionRow) -> SessionRow:
    """A copy of a session that a change can edit without touching the stored one."""
    cloned = copy.copy(row)
    cloned.players = [copy.copy(player) for player in row.players]
    cloned.state = _plain(row.state)
    return cloned


class Change:
    """One change being built on a copy of a session: transcript events and public posts."""

    def __init__(self, row: SessionRow, now_ms: int) -> None:
        self.row = row
        self.now_ms = now_ms
        self.events: list[EventRow] = []
        self.posts: list[Post] = []
        self.players: list[PlayerRow] = []
        self.outbox_key: str | None = None
        """The outbox key the posts were stored under when the change was committed, if they were."""

    def event(
        self,
        kind: str,
        text: str,
        *,
        player_id: int | None = None,
        persona: str | None = None,
        option: str | None = None,
        fact_ids: tuple[str, ...] = (),
    ) -> None:
        """Store a transcript line, without posting it."""
        self.row.event_seq += 1
        self.events.append(
            EventRow(self.row.event_seq, self.row.scene, kind, text, self.now_ms, player_id, persona, option, fact_ids)
        )

    def say(
        self,
        kind: str,
        text: str,
        *,
        persona: str | None = None,
        title: str | None = None,
        fact_ids: tuple[str, ...] = (),
    ) -> None:
        """Store a transcript line that needs no names, and post it."""
        self.event(kind, text, persona=persona, fact_ids=fact_ids)
        self.posts.append(Post(text, persona, title, None, fact_ids))

    def post(self, text: str, prompt: Prompt | None = None) -> None:
        """Post a narrator's message without storing it (it may name players)."""
        self.posts.append(Post(text, None, None, prompt))
