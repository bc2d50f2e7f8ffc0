"""What a conversation remembers between turns, and the persona's reply that carries it on."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MEMORY_LIMIT", "RECENT_ENTITIES", "MemoryState", "Reply", "shared_id"]

MEMORY_LIMIT = 200
"""How many said facts and used lines a conversation remembers."""
RECENT_ENTITIES = 6
"""How many recently talked-about entities follow-ups can refer to."""


def shared_id(name: str) -> str:
    """One string object for an entity id, fact id or line key, however many conversations remember it.

    These come from a fixed vocabulary (the fact base and the personas' lines), while a conversation remembers up
    to ``MEMORY_LIMIT`` of them; memories read back from JSON, or line keys built per turn, would otherwise hold a
    copy of each in every cached conversation. (The topic's words are the user's, so they are not shared.)
    """
    return sys.intern(name)


@dataclass(slots=True)
class MemoryState:
    """What a conversation remembers between turns; stored as JSON with the conversation."""

    turn: int = 0
    entities: list[str] = field(default_factory=list)
    last_facts: list[str] = field(default_factory=list)
    said_facts: list[str] = field(default_factory=list)
    used_lines: list[str] = field(default_factory=list)
    topic: list[str] = field(default_factory=list)
    """The last question's words, entities as ids: what "why?" or "and sarah?" asks about."""
    topic_type: str = ""
    """The last question's answer type (who, when...)."""

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None, turn: int = 0) -> MemoryState:
        """Rebuild from stored JSON, tolerating missing or malformed keys."""
        data = data or {}

        def strings(key: str) -> list[str]:
            value = data.get(key)
            return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []

        def ids(key: str) -> list[str]:
            return [shared_id(item) for item in strings(key)]

        topic_type = data.get("topic_type")
        return cls(
            turn,
            ids("entities"),
            ids("last_facts"),
            ids("said_facts"),
            ids("used_lines"),
            strings("topic"),
            topic_type if isinstance(topic_type, str) else "",
        )

    def to_data(self) -> dict[str, Any]:
        """The JSON document stored for this memory (the turn is stored in its own column)."""
        return {
            "entities": self.entities,
            "last_facts": self.last_facts,
            "said_facts": self.said_facts,
            "used_lines": self.used_lines,
            "topic": self.topic,
            "topic_type": self.topic_type,
        }


@dataclass(frozen=True, slots=True)
class Reply:
    """A persona's answer: the text, the facts it states, what kind of answer it is, and the new memory."""

    persona: str
    text: str
    fact_ids: tuple[str, ...]
    kind: str
    memory: MemoryState
