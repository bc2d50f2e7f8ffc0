"""Group story sessions: the service (no discord) and what it hands to the front ends."""

from bot.story.model import TURN_ORDERS, ChatContext, Outcome, Post, Prompt, StoryConfig, StoryRefusal, Tick, Turn
from bot.story.service import Clock, StoryService

__all__ = [
    "TURN_ORDERS",
    "ChatContext",
    "Clock",
    "Outcome",
    "Post",
    "Prompt",
    "StoryConfig",
    "StoryRefusal",
    "StoryService",
    "Tick",
    "Turn",
]
