"""Who a model reply speaks as: a persona in its own voice, a persona restyled by a card, or a card's character."""

from __future__ import annotations

from dataclasses import dataclass

from personas.persona import Persona

__all__ = ["Speaker"]


@dataclass(frozen=True, slots=True)
class Speaker:
    """``persona`` speaks, knowing what ``knows_like`` knows (by ``until_scene``, when given).

    ``style``: an imported card's text for the prompt, in place of the persona's own card; it shapes the voice only,
    and the fact guard never takes a name or number from it.
    """

    persona: Persona
    knows_like: str
    until_scene: int | None = None
    style: str | None = None

    @classmethod
    def own(cls, persona: Persona) -> Speaker:
        """A persona in its own voice, knowing what it knows."""
        return cls(persona, persona.id)

    def scene(self, at_scene: int | None) -> int | None:
        """The scene whose knowledge bounds a reply: the story's scene, or the card's boundary when earlier."""
        if self.until_scene is None:
            return at_scene
        return self.until_scene if at_scene is None else min(at_scene, self.until_scene)
