"""Reading a card: a parsed JSON document checked against the Character Card V2 spec, or V1, into typed values.

The first field that breaks the spec raises ``CardError`` naming it by its path (``data.alternate_greetings[2]``).
V1 cards (the six V1 fields at the root) are upgraded to V2. What the spec requires but older tools leave out (the
V2 additions, ``extensions``) is filled with its empty value and a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeAlias, TypeVar

from bot.cards.model import (
    BOOK_FIELDS,
    COMPANION_KEY,
    ENTRY_FIELDS,
    SPEC,
    SPEC_VERSION,
    V1_FIELDS,
    V2_FIELDS,
    V2_TEXTS,
    BookEntry,
    CardError,
    CharacterBook,
    CharacterCard,
    Json,
    Number,
    ParsedCard,
    Position,
)

__all__ = ["parse_card"]

_T = TypeVar("_T")
_Check: TypeAlias = Callable[[object, str], _T]


def parse_card(document: object) -> ParsedCard:
    """Check a parsed JSON document against the V2 spec (or V1) and build the card; raise ``CardError``."""
    return _Reader().document(document)


class _Reader:
    """Reads one document; collects warnings, raises ``CardError`` at the first field that breaks the spec."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def document(self, document: object) -> ParsedCard:
        root = self.obj(document, "card")
        if "spec" not in root and "data" not in root:
            return ParsedCard(self.v1(root), "v1", tuple(self.warnings))
        spec = root.get("spec")
        if spec != SPEC:
            got = "missing" if spec is None else f"got {spec!r}"
            raise CardError("spec", f"expected {SPEC!r} (Character Card V2), {got}")
        if (version := root.get("spec_version")) != SPEC_VERSION:
            got = "missing" if version is None else f"got {version!r}"
            raise CardError("spec_version", f"expected {SPEC_VERSION!r}, {got}")
        if "data" not in root:
            raise CardError("data", "missing")
        card = self.data(self.obj(root["data"], "data"))
        for key, value in root.items():
            if key in ("spec", "spec_version", "data"):
                continue
            if key in V1_FIELDS:
                if value != getattr(card, key):
                    self.warnings.append(f"{key}: differs from data.{key}; data.{key} is used")
            else:
                self.warnings.append(f"{key}: not part of the spec; ignored")
        return ParsedCard(card, "v2", tuple(self.warnings))

    def v1(self, root: dict[str, Json]) -> CharacterCard:
        name, description, personality, scenario, first_mes, mes_example = (
            self.required_text(root, key, "") for key in V1_FIELDS
        )
        extra = {key: value for key, value in root.items() if key not in V1_FIELDS}
        self.warnings.append("a V1 card: read as V2 with the V2 fields empty")
        if extra:
            self.warnings.append(f"keys not in the V1 spec kept as they are: {', '.join(sorted(extra))}")
        return CharacterCard(name, description, personality, scenario, first_mes, mes_example, extra=extra)

    def data(self, data: dict[str, Json]) -> CharacterCard:
        name, description, personality, scenario, first_mes, mes_example = (
            self.required_text(data, key, "data.") for key in V1_FIELDS
        )
        notes, system_prompt, post_history, creator, version = (
            self.v2_field(data, key, "", self.string) for key in (*V2_TEXTS, "creator", "character_version")
        )
        none: tuple[str, ...] = ()
        greetings = self.v2_field(data, "alternate_greetings", none, self.strings)
        tags = self.v2_field(data, "tags", none, self.strings)
        extensions = self.extensions(data, "data")
        book = None
        if data.get("character_book") is not None:
            book = self.book(self.obj(data["character_book"], "data.character_book"))
        extra = {key: value for key, value in data.items() if key not in (*V1_FIELDS, *V2_FIELDS)}
        if extra:
            self.warnings.append(f"data: keys not in the spec kept as they are: {', '.join(sorted(extra))}")
        return CharacterCard(
            name,
            description,
            personality,
            scenario,
            first_mes,
            mes_example,
            creator_notes=notes,
            system_prompt=system_prompt,
            post_history_instructions=post_history,
            alternate_greetings=greetings,
            character_book=book,
            tags=tags,
            creator=creator,
            character_version=version,
            extensions=extensions,
            extra=extra,
        )

    def book(self, raw: dict[str, Json]) -> CharacterBook:
        where = "data.character_book"
        entries_raw = raw.get("entries")
        if entries_raw is None:
            raise CardError(f"{where}.entries", "missing")
        if not isinstance(entries_raw, list):
            raise CardError(f"{where}.entries", "expected a list")
        entries = tuple(self.entry(self.obj(item, f"{where}.entries[{i}]"), i) for i, item in enumerate(entries_raw))
        return CharacterBook(
            entries=entries,
            extensions=self.extensions(raw, where),
            name=self.optional(raw, "name", where, self.string),
            description=self.optional(raw, "description", where, self.string),
            scan_depth=self.optional(raw, "scan_depth", where, self.number),
            token_budget=self.optional(raw, "token_budget", where, self.number),
            recursive_scanning=self.optional(raw, "recursive_scanning", where, self.boolean),
            extra={key: value for key, value in raw.items() if key not in BOOK_FIELDS},
        )

    def entry(self, raw: dict[str, Json], index: int) -> BookEntry:
        where = f"data.character_book.entries[{index}]"
        for name in ("keys", "content", "enabled", "insertion_order"):
            if name not in raw:
                raise CardError(f"{where}.{name}", "missing")
        return BookEntry(
            keys=self.strings(raw["keys"], f"{where}.keys"),
            content=self.string(raw["content"], f"{where}.content"),
            enabled=self.boolean(raw["enabled"], f"{where}.enabled"),
            insertion_order=self.number(raw["insertion_order"], f"{where}.insertion_order"),
            extensions=self.extensions(raw, where),
            case_sensitive=self.optional(raw, "case_sensitive", where, self.boolean),
            name=self.optional(raw, "name", where, self.string),
            priority=self.optional(raw, "priority", where, self.number),
            id=self.optional(raw, "id", where, self.number),
            comment=self.optional(raw, "comment", where, self.string),
            selective=self.optional(raw, "selective", where, self.boolean),
            secondary_keys=self.optional(raw, "secondary_keys", where, self.strings),
            constant=self.optional(raw, "constant", where, self.boolean),
            position=self.optional(raw, "position", where, self.position),
            extra={key: value for key, value in raw.items() if key not in ENTRY_FIELDS},
        )

    def extensions(self, raw: dict[str, Json], where: str) -> dict[str, Json]:
        """``extensions``: required by the spec; a missing one is taken as ``{}`` with a warning."""
        if "extensions" not in raw:
            self.warnings.append(f"{where}.extensions: missing; taken as {{}}")
            return {}
        extensions = self.obj(raw["extensions"], f"{where}.extensions")
        if COMPANION_KEY in extensions:
            self.companion(extensions[COMPANION_KEY], f"{where}.extensions.{COMPANION_KEY}")
        return extensions

    def companion(self, raw: Json, where: str) -> None:
        ours = self.obj(raw, where)
        for key in ("persona", "fact_id", "character", "knows_like"):
            if ours.get(key) is not None:
                self.string(ours[key], f"{where}.{key}")
        for key in ("knows_until_scene", "until_scene"):
            until = ours.get(key)
            if until is not None and (isinstance(until, bool) or not isinstance(until, int) or until < 1):
                raise CardError(f"{where}.{key}", "expected a scene number (an integer from 1)")

    def required_text(self, raw: dict[str, Json], name: str, prefix: str) -> str:
        if name not in raw:
            raise CardError(f"{prefix}{name}", "missing (the spec wants an empty string at least)")
        return self.string(raw[name], f"{prefix}{name}")

    def v2_field(self, raw: dict[str, Json], name: str, default: _T, check: _Check[_T]) -> _T:
        """A field V2 added: required by the spec, but cards from older tools lack some; warn and use the default."""
        if name not in raw:
            self.warnings.append(f"data.{name}: missing; taken as {default!r}")
            return default
        return check(raw[name], f"data.{name}")

    def optional(self, raw: dict[str, Json], name: str, where: str, check: _Check[_T]) -> _T | None:
        value = raw.get(name)
        return None if value is None else check(value, f"{where}.{name}")

    @staticmethod
    def obj(value: object, where: str) -> dict[str, Json]:
        if not isinstance(value, dict):
            raise CardError(where, f"expected an object, got {_kind(value)}")
        return value

    @staticmethod
    def string(value: object, where: str) -> str:
        if not isinstance(value, str):
            raise CardError(where, f"expected a string, got {_kind(value)}")
        return value

    @classmethod
    def strings(cls, value: object, where: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise CardError(where, f"expected a list of strings, got {_kind(value)}")
        return tuple(cls.string(item, f"{where}[{index}]") for index, item in enumerate(value))

    @staticmethod
    def number(value: object, where: str) -> Number:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CardError(where, f"expected a number, got {_kind(value)}")
        return value

    @staticmethod
    def position(value: object, where: str) -> Position:
        if value == "before_char" or value == "after_char":
            return value
        raise CardError(where, f"expected 'before_char' or 'after_char', got {value!r}")

    @staticmethod
    def boolean(value: object, where: str) -> bool:
        if not isinstance(value, bool):
            raise CardError(where, f"expected true or false, got {_kind(value)}")
        return value


def _kind(value: object) -> str:
    """A JSON value's kind, as people call it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Sequence):
        return "a list"
    return "an object"
