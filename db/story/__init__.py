"""Story sessions' storage: their tables (``models``) and the queries the story service needs (``repository``)."""

from db.story.repository import FORMER_PLAYER, EventRow, PlayerRow, ScopeTakenError, SessionRow, StoryRepository

__all__ = ["FORMER_PLAYER", "EventRow", "PlayerRow", "ScopeTakenError", "SessionRow", "StoryRepository"]
