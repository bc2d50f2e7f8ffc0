"""Character cards made from the personas and the fact base, and written as JSON and PNG files.

Every text on a card comes from the project's data: the persona's description, vantage and greetings, and the fact
base's facts, questions and the persona's own lines. Only the scenario and the creator's notes are fixed wording,
and they name no one but ``{{char}}`` and ``{{user}}`` and state nothing about the story.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bot.cards.model import COMPANION_KEY, BookEntry, CharacterBook, CharacterCard, Json, card_to_json
from personas.factbase import Fact, FactBase
from personas.persona import Persona

__all__ = ["EXAMPLE_CHATS", "ExportedCard", "build_card", "card_json_text", "example_chats", "write_cards"]

EXAMPLE_CHATS = 4
"""How many example exchanges ``mes_example`` holds, spread over the story."""
SCENARIO = (
    "{{user}} is chatting with {{char}}. {{char}} tells only what {{char}} has lived through or been told, "
    "and says plainly when {{char}} does not know something."
)
CREATOR = "t2-companion"


@dataclass(frozen=True, slots=True)
class ExportedCard:
    """The files written for one persona."""

    persona: str
    json_path: Path
    png_path: Path
    entries: int


def build_card(persona: Persona, base: FactBase, at_scene: int | None = None) -> CharacterCard:
    """The card for ``persona``, its lorebook holding the facts it knows (by ``at_scene``, or all it ever knows)."""
    facts = base.facts_known_by(persona.id, at_scene)
    greetings = persona.voice.greetings
    boundary = f" by scene {at_scene}" if at_scene is not None else ""
    return CharacterCard(
        name=persona.display_name,
        description=persona.description,
        personality=persona.vantage,
        scenario=SCENARIO,
        first_mes=greetings[0] if greetings else "",
        mes_example=example_chats(persona.id, facts),
        creator_notes=(
            f"Made by t2-companion from its fact base. The lorebook has one entry per fact {persona.display_name} "
            f"knows{boundary}, keyed by the names of the people, machines and places in it; each entry's comment "
            "is the fact's id."
        ),
        alternate_greetings=tuple(greetings[1:]),
        character_book=_lorebook(persona, base, facts),
        tags=(CREATOR, persona.id),
        creator=CREATOR,
        character_version=_version(),
        extensions={
            COMPANION_KEY: {
                "persona": persona.id,
                "knows_until_scene": at_scene if at_scene is not None else len(base.scenes),
            }
        },
    )


def example_chats(persona_id: str, facts: Sequence[Fact], count: int = EXAMPLE_CHATS) -> str:
    """``mes_example``: exchanges spread over the story, each a question from the fact base and the persona's line.

    The question is the first one the fact base lists as asked of this persona ("you"), else the first asked of
    anyone; the answer is the persona's first line for the fact. Nothing here is written anew.
    """
    chosen = _spread(facts, count)
    chats = []
    for fact in chosen:
        asked = fact.asks.get(persona_id) or fact.asks.get("any") or ()
        said = fact.lines.get(persona_id) or ()
        if asked and said:
            chats.append(f"<START>\n{{{{user}}}}: {asked[0]}\n{{{{char}}}}: {said[0]}")
    return "\n".join(chats)


def card_json_text(card: CharacterCard, indent: int | None = 2) -> str:
    """The card as V2 JSON text: indented for the .json file, compact (``indent=None``) for the PNG chunk."""
    document = card_to_json(card)
    if indent is None:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(document, ensure_ascii=False, indent=indent) + "\n"


def write_cards(
    directory: Path, personas: Iterable[Persona], base: FactBase, at_scene: int | None = None
) -> list[ExportedCard]:
    """Write ``<persona id>.json`` and ``<persona id>.png`` into ``directory`` for each persona."""
    from bot.cards.png import card_png

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for persona in personas:
        card = build_card(persona, base, at_scene)
        json_path, png_path = directory / f"{persona.id}.json", directory / f"{persona.id}.png"
        json_path.write_text(card_json_text(card), encoding="utf-8")
        png_path.write_bytes(card_png(card_json_text(card, indent=None), persona.color))
        entries = len(card.character_book.entries) if card.character_book else 0
        written.append(ExportedCard(persona.id, json_path, png_path, entries))
    return written


def _lorebook(persona: Persona, base: FactBase, facts: Sequence[Fact]) -> CharacterBook:
    """One entry per known fact, in story order; its content is the fact's own sentence.

    The content is the fact's plain text rather than the persona's line for it: a lorebook entry is background the
    prompt carries, the persona's voice comes from the card and the example chats, and the plain sentence is the
    one ``/why`` shows for the fact id the entry keeps.
    """
    story_order = {fact.id: index for index, fact in enumerate(base.facts, 1)}
    entries = tuple(
        BookEntry(
            keys=_keys(base, fact),
            content=fact.text,
            enabled=True,
            insertion_order=story_order[fact.id],
            extensions={
                COMPANION_KEY: {"fact_id": fact.id, "scene": fact.scene, "known_from_scene": fact.knowers[persona.id]}
            },
            case_sensitive=False,
            id=index,
            comment=fact.id,
        )
        for index, fact in enumerate(facts)
    )
    ours: dict[str, Json] = {"persona": persona.id}
    return CharacterBook(entries=entries, extensions={COMPANION_KEY: ours}, name=f"What {persona.display_name} knows")


def _keys(base: FactBase, fact: Fact) -> tuple[str, ...]:
    """The names and aliases of the fact's entities, each once (keys match without regard to case)."""
    keys: dict[str, str] = {}
    for entity_id in fact.entities:
        entity = base.entities[entity_id]
        for key in (entity.name, *entity.aliases):
            keys.setdefault(key.casefold(), key)
    return tuple(keys.values())


def _spread(facts: Sequence[Fact], count: int) -> list[Fact]:
    """``count`` facts from the first to the last, evenly spaced (all of them when there are fewer)."""
    if len(facts) <= count:
        return list(facts)
    if count == 1:
        return [facts[0]]
    step = (len(facts) - 1) / (count - 1)
    return [facts[round(index * step)] for index in range(count)]


def _version() -> str:
    """The installed t2-companion version, as the card's ``character_version``."""
    try:
        return metadata.version("t2-companion")
    except metadata.PackageNotFoundError:
        return ""
