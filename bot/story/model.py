"""What the story service hands to its front ends: posts, prompts, outcomes, refusals, settings."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TURN_ORDERS", "ChatContext", "Outcome", "Post", "Prompt", "StoryConfig", "StoryRefusal", "Tick", "Turn"]

TURN_ORDERS: tuple[str, ...] = ("list", "vote", "natural")


class StoryRefusal(Exception):
    """A user's mistake (not your turn, not the host, no session here): shown to them, nothing else changed.

    ``posts`` holds what to announce anyway: a click that is refused still resumes a paused session.
    """

    def __init__(self, message: str, posts: tuple[Post, ...] = ()) -> None:
        super().__init__(message)
        self.posts = posts
        self.outbox_key: str | None = None
        """As ``Outcome.outbox_key``."""


@dataclass(frozen=True, slots=True)
class StoryConfig:
    """Timings and limits of story sessions."""

    turn_seconds: int = 120
    """How long the current player has in list and natural order before being skipped."""
    default_vote_seconds: int = 60
    pause_seconds: int = 900
    """A session with no activity for this long is paused."""
    max_players: int = 8


@dataclass(frozen=True, slots=True)
class Prompt:
    """Buttons to show under a post: a decision (choose, vote, tiebreak) or the lobby."""

    session_id: int
    scene: int
    kind: str
    options: tuple[tuple[str, str], ...]
    """(id, label) pairs."""


@dataclass(frozen=True, slots=True)
class Post:
    """One public message: narration (persona None) or a persona's line."""

    text: str
    persona: str | None = None
    title: str | None = None
    prompt: Prompt | None = None
    fact_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one action: a short answer for whoever acted and the posts for everyone."""

    session_id: int
    scope: str
    reply: str
    posts: tuple[Post, ...] = ()
    lobby: Post | None = None
    """The lobby message as it should now read, when the action changed it."""
    outbox_key: str | None = None
    """The outbox entry holding ``posts`` (stored with the change), for the front end to settle once posted."""


@dataclass(frozen=True, slots=True)
class Tick:
    """What the clock made happen in one session (a vote closing, a player skipped, a pause)."""

    session_id: int
    scope: str
    posts: tuple[Post, ...]
    outbox_key: str | None = None
    """As ``Outcome.outbox_key``."""


@dataclass(frozen=True, slots=True)
class Turn:
    """Whose call it is in a running session: the scene and the current player."""

    scene: int
    user: str | None
    name: str
    options: tuple[str, ...] = ()
    """The ids of the options offered to that player, as on their buttons."""


@dataclass(frozen=True, slots=True)
class ChatContext:
    """How to answer a free question in a place with a story session."""

    at_scene: int
    persona: str | None
    text: str
    notice: str | None = None
    """Said instead of an answer when every persona is played by someone."""
