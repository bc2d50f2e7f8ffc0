"""What an imported card may do, read from ``extensions["t2-companion"]``: restyle a persona, or add a character.

- ``{"persona": "john"}``: the card restyles John's voice in the model backend's prompt. What John knows stays his own:
  a card can never widen it.
- ``{"character": "dyson", "knows_like": "sarah", "until_scene": 6}``: the card adds a model-only character. It must be
  a person or machine of the fact base (its entity id), and the card's name one of that entity's names. It knows the
  facts ``knows_like`` knows (by ``until_scene``, or all of them when it is left out), nothing else.

A card's own texts never become facts: the fact guard backs names and numbers only with the fact base and the
built-in persona data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from bot.cards.model import COMPANION_KEY, CardError, CharacterCard, Json
from personas.factbase import FactBase
from personas.persona import Persona

__all__ = ["CHARACTER_KINDS", "CardRole", "NewCharacter", "Restyle", "card_role"]

CHARACTER_KINDS = frozenset({"person", "machine"})
"""The fact base's entity kinds a card may give a voice to."""
_WHERE = f"data.extensions.{COMPANION_KEY}"


@dataclass(frozen=True, slots=True)
class Restyle:
    """The card restyles a persona's voice."""

    persona: str

    @property
    def kind(self) -> str:
        return "restyle"

    @property
    def key(self) -> str:
        return self.persona


@dataclass(frozen=True, slots=True)
class NewCharacter:
    """The card adds a character (a fact-base entity) who knows what ``knows_like`` knows, by ``until_scene``."""

    entity: str
    knows_like: str
    until_scene: int | None = None

    @property
    def kind(self) -> str:
        return "character"

    @property
    def key(self) -> str:
        return self.entity


CardRole: TypeAlias = Restyle | NewCharacter


def card_role(card: CharacterCard, base: FactBase, personas: Mapping[str, Persona]) -> CardRole:
    """What ``card`` does here; ``CardError`` naming the field when its boundary is missing or names the unknown."""
    ours = card.extensions.get(COMPANION_KEY)
    if not isinstance(ours, dict):
        raise CardError(
            _WHERE,
            'missing: say which persona the card restyles ({"persona": "john"}) or which character it adds '
            '({"character": "dyson", "knows_like": "sarah", "until_scene": 6})',
        )
    persona, character = ours.get("persona"), ours.get("character")
    if persona is not None and character is not None:
        raise CardError(f"{_WHERE}.character", "a card restyles a persona or adds a character, not both")
    if character is None:
        if persona is None:
            raise CardError(f"{_WHERE}.persona", "missing (or give character, knows_like and until_scene)")
        return Restyle(_persona(persona, personas, "persona"))
    entity_id = _text(character, "character")
    entity = base.entities.get(entity_id)
    if entity_id in personas:
        raise CardError(f"{_WHERE}.character", f"{entity_id!r} is a persona: restyle it with persona instead")
    if entity is None or entity.kind not in CHARACTER_KINDS:
        people = ", ".join(
            sorted(key for key, e in base.entities.items() if e.kind in CHARACTER_KINDS and key not in personas)
        )
        raise CardError(f"{_WHERE}.character", f"{entity_id!r} is not a person or machine of the fact base ({people})")
    names = {" ".join(name.split()).casefold() for name in (entity.name, *entity.aliases)}
    if " ".join(card.name.split()).casefold() not in names:
        raise CardError("data.name", f"{card.name!r} is not one of {entity.name}'s names in the fact base")
    knows_like = _persona(ours.get("knows_like"), personas, "knows_like")
    until = ours.get("until_scene", ours.get("knows_until_scene"))
    field = "until_scene" if "until_scene" in ours else "knows_until_scene"
    if until is not None and (isinstance(until, bool) or not isinstance(until, int)):
        raise CardError(f"{_WHERE}.{field}", "expected a scene number (an integer)")
    if until is not None and not any(scene.number == until for scene in base.scenes):
        raise CardError(f"{_WHERE}.{field}", f"no scene {until}: the story has scenes 1 to {len(base.scenes)}")
    return NewCharacter(entity_id, knows_like, until)


def _persona(value: Json, personas: Mapping[str, Persona], field: str) -> str:
    if value is None:
        raise CardError(f"{_WHERE}.{field}", f"missing: one of {', '.join(personas)}")
    persona = _text(value, field)
    if persona not in personas:
        raise CardError(f"{_WHERE}.{field}", f"unknown persona {persona!r}: one of {', '.join(personas)}")
    return persona


def _text(value: Json, field: str) -> str:
    if not isinstance(value, str):
        raise CardError(f"{_WHERE}.{field}", "expected a string")
    return value
