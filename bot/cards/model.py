"""The Character Card V2 as a typed value, and its JSON form.

The card follows the Character Card V2 spec: ``{"spec": "chara_card_v2", "spec_version": "2.0", "data": {...}}``.
Nothing a card holds is lost: unknown keys of ``data``, of the lorebook and of its entries are kept in ``extra`` and
written back, and ``extensions`` are kept whole, as the spec asks. Ours live under ``extensions["t2-companion"]``
(see ``CompanionInfo``). ``bot.cards.validation`` reads cards into these types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

__all__ = [
    "BOOK_FIELDS",
    "COMPANION_KEY",
    "ENTRY_FIELDS",
    "SPEC",
    "SPEC_VERSION",
    "V1_FIELDS",
    "V2_FIELDS",
    "V2_TEXTS",
    "BookEntry",
    "CardError",
    "CharacterBook",
    "CharacterCard",
    "CompanionInfo",
    "Json",
    "Number",
    "ParsedCard",
    "Position",
    "card_to_json",
]

Json: TypeAlias = "bool | int | float | str | list[Json] | dict[str, Json] | None"
Number: TypeAlias = int | float
Position: TypeAlias = Literal["before_char", "after_char"]

SPEC = "chara_card_v2"
SPEC_VERSION = "2.0"
COMPANION_KEY = "t2-companion"
"""Our namespace in ``extensions``, on the card and on each lorebook entry."""

V1_FIELDS: tuple[str, ...] = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
V2_TEXTS: tuple[str, ...] = ("creator_notes", "system_prompt", "post_history_instructions")
V2_FIELDS: tuple[str, ...] = (
    *V2_TEXTS,
    "alternate_greetings",
    "character_book",
    "tags",
    "creator",
    "character_version",
    "extensions",
)
BOOK_FIELDS: tuple[str, ...] = (
    "name",
    "description",
    "scan_depth",
    "token_budget",
    "recursive_scanning",
    "extensions",
    "entries",
)
ENTRY_FIELDS: tuple[str, ...] = (
    "keys",
    "content",
    "extensions",
    "enabled",
    "insertion_order",
    "case_sensitive",
    "name",
    "priority",
    "id",
    "comment",
    "selective",
    "secondary_keys",
    "constant",
    "position",
)


class CardError(ValueError):
    """A card does not follow the spec; ``path`` names the field (``data.alternate_greetings[2]``)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True, slots=True)
class CompanionInfo:
    """Our part of a card's extensions: which persona it was made from and up to which scene it knows the story."""

    persona: str | None = None
    knows_until_scene: int | None = None


@dataclass(frozen=True, slots=True)
class BookEntry:
    """One lorebook entry: inserted into the prompt when one of its ``keys`` comes up in the chat."""

    keys: tuple[str, ...]
    content: str
    enabled: bool = True
    insertion_order: Number = 0
    extensions: Mapping[str, Json] = field(default_factory=dict)
    case_sensitive: bool | None = None
    name: str | None = None
    priority: Number | None = None
    id: Number | None = None
    comment: str | None = None
    selective: bool | None = None
    secondary_keys: tuple[str, ...] | None = None
    constant: bool | None = None
    position: Position | None = None
    extra: Mapping[str, Json] = field(default_factory=dict)
    """Keys the spec does not define, kept as they were."""

    @property
    def fact_id(self) -> str | None:
        """The fact base id this entry was made from, if it was exported by us."""
        ours = self.extensions.get(COMPANION_KEY)
        fact_id = ours.get("fact_id") if isinstance(ours, dict) else None
        return fact_id if isinstance(fact_id, str) else None


@dataclass(frozen=True, slots=True)
class CharacterBook:
    """A character's lorebook."""

    entries: tuple[BookEntry, ...]
    extensions: Mapping[str, Json] = field(default_factory=dict)
    name: str | None = None
    description: str | None = None
    scan_depth: Number | None = None
    token_budget: Number | None = None
    recursive_scanning: bool | None = None
    extra: Mapping[str, Json] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CharacterCard:
    """The ``data`` of a Character Card V2."""

    name: str
    description: str = ""
    personality: str = ""
    scenario: str = ""
    first_mes: str = ""
    mes_example: str = ""
    creator_notes: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""
    alternate_greetings: tuple[str, ...] = ()
    character_book: CharacterBook | None = None
    tags: tuple[str, ...] = ()
    creator: str = ""
    character_version: str = ""
    extensions: Mapping[str, Json] = field(default_factory=dict)
    extra: Mapping[str, Json] = field(default_factory=dict)
    """Keys of ``data`` the spec does not define, kept as they were."""

    @property
    def companion(self) -> CompanionInfo | None:
        """``extensions["t2-companion"]``, read (``parse_card`` has checked its shape), or None."""
        ours = self.extensions.get(COMPANION_KEY)
        if not isinstance(ours, dict):
            return None
        persona, until = ours.get("persona"), ours.get("knows_until_scene")
        return CompanionInfo(
            persona if isinstance(persona, str) else None,
            until if isinstance(until, int) and not isinstance(until, bool) else None,
        )


@dataclass(frozen=True, slots=True)
class ParsedCard:
    """A card read from a file: the card, the format it came in (``v2`` or ``v1``) and what to warn about."""

    card: CharacterCard
    version: Literal["v1", "v2"]
    warnings: tuple[str, ...] = ()


def card_to_json(card: CharacterCard) -> dict[str, Json]:
    """The V2 document for ``card``: spec fields in the spec's order, then the unknown keys it came with."""
    data: dict[str, Json] = {name: getattr(card, name) for name in (*V1_FIELDS, *V2_TEXTS)}
    data["alternate_greetings"] = list(card.alternate_greetings)
    if card.character_book is not None:
        data["character_book"] = _book_to_json(card.character_book)
    data["tags"] = list(card.tags)
    data["creator"] = card.creator
    data["character_version"] = card.character_version
    data["extensions"] = dict(card.extensions)
    data.update(card.extra)
    return {"spec": SPEC, "spec_version": SPEC_VERSION, "data": data}


def _book_to_json(book: CharacterBook) -> dict[str, Json]:
    out: dict[str, Json] = {}
    for name in ("name", "description", "scan_depth", "token_budget", "recursive_scanning"):
        if (value := getattr(book, name)) is not None:
            out[name] = value
    out["extensions"] = dict(book.extensions)
    out["entries"] = [_entry_to_json(entry) for entry in book.entries]
    out.update(book.extra)
    return out


def _entry_to_json(entry: BookEntry) -> dict[str, Json]:
    out: dict[str, Json] = {
        "keys": list(entry.keys),
        "content": entry.content,
        "extensions": dict(entry.extensions),
        "enabled": entry.enabled,
        "insertion_order": entry.insertion_order,
    }
    for name in ENTRY_FIELDS[5:]:
        value = getattr(entry, name)
        if value is not None:
            out[name] = list(value) if isinstance(value, tuple) else value
    out.update(entry.extra)
    return out
