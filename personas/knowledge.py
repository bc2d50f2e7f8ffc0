"""The fact base as the personas read it: facts about an entity, and what comes next in the story, per persona."""

from __future__ import annotations

from personas.factbase import Fact, FactBase

__all__ = ["Knowledge"]


class Knowledge:
    """A FactBase with the look-ups that keep each persona within what it knows (and, in a story, by when)."""

    def __init__(self, base: FactBase) -> None:
        self.base = base
        self._index_of = {fact.id: index for index, fact in enumerate(base.facts)}

    def facts_about(self, entity_id: str, *, persona: str, at_scene: int | None = None) -> list[Fact]:
        """Facts naming ``entity_id`` that ``persona`` knows, in story order."""
        return [fact for fact in self.base.facts if entity_id in fact.entities and fact.known_by(persona, at_scene)]

    def next_after(self, fact_id: str, *, persona: str, at_scene: int | None = None) -> list[Fact]:
        """Facts after ``fact_id`` in story order that ``persona`` knows."""
        start = self._index_of.get(fact_id, -1) + 1
        return [fact for fact in self.base.facts[start:] if fact.known_by(persona, at_scene)]
