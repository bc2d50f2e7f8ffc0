"""The cards each guild imported: stored checked, and read back as the voices and characters the chat uses.

A guild has at most one card per persona (a restyle) and per character. The cards a guild has are read again every
``refresh_s`` seconds, so a card imported through another process is used within that time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cards.boundary import CardRole, NewCharacter, Restyle, card_role
from bot.cards.export import card_json_text
from bot.cards.model import CardError, CharacterCard
from bot.cards.reading import read_card_bytes
from bot.cards.validation import parse_card
from bot.llm.prompt import styled_card_text
from bot.llm.speaker import Speaker
from db.llm import CardRepository, StoredCard
from personas.factbase import FactBase
from personas.persona import Persona, Voice

__all__ = [
    "CHARACTER_AVATAR",
    "CHARACTER_UNAVAILABLE",
    "MAX_CARD_JSON_CHARS",
    "MAX_CARD_UPLOAD_BYTES",
    "CardCharacter",
    "CardStyle",
    "GuildCardSet",
    "GuildCards",
    "ImportedCard",
]

MAX_CARD_UPLOAD_BYTES = 8 * 1024 * 1024
"""The largest card file a guild may upload (a PNG card is mostly its image)."""
MAX_CARD_JSON_CHARS = 256 * 1024
"""The longest card JSON a guild may store (compact; the exported personas' cards, lorebook included, take ~70 KB)."""
CHARACTER_UNAVAILABLE = "I can't talk right now. Try again later."
"""What a card's character says whenever the model does not answer for it: no name, no fact."""
CHARACTER_AVATAR = "https://cdn.discordapp.com/embed/avatars/2.png"
CHARACTER_COLOR = 0x7F8C8D
_SILENT = Voice(**{each.name: () for each in fields(Voice)})
"""A card character's offline voice: no lines at all (it speaks only through the model)."""


@dataclass(frozen=True, slots=True)
class CardStyle:
    """A persona restyled by a guild's card: the persona keeps its name and its knowledge, the prompt the card's
    voice."""

    card_id: int
    card_name: str
    persona: Persona
    style: str

    @property
    def speaker(self) -> Speaker:
        return Speaker(self.persona, self.persona.id, style=self.style)


@dataclass(frozen=True, slots=True)
class CardCharacter:
    """A guild's model-only character: a fact-base entity speaking through the model, within its boundary."""

    card_id: int
    persona: Persona
    knows_like: str
    until_scene: int | None
    style: str

    @property
    def speaker(self) -> Speaker:
        return Speaker(self.persona, self.knows_like, self.until_scene, self.style)


@dataclass(frozen=True, slots=True)
class GuildCardSet:
    """What a guild's cards change: restyled personas (by persona id) and characters (by entity id)."""

    restyles: Mapping[str, CardStyle] = field(default_factory=dict)
    characters: Mapping[str, CardCharacter] = field(default_factory=dict)

    def addresses(self) -> Mapping[str, str]:
        """Each name a character answers to (lower case) -> its id, for telling who a message speaks to."""
        return {
            name: key
            for key, character in self.characters.items()
            for name in (character.persona.display_name.lower(), *character.persona.short_names)
        }

    def character(self, name: str | None) -> CardCharacter | None:
        """The character with this id or one of its names, or None."""
        if name is None:
            return None
        folded = " ".join(name.split()).lower()
        key = folded if folded in self.characters else self.addresses().get(folded)
        return self.characters.get(key) if key is not None else None


NO_CARDS = GuildCardSet(MappingProxyType({}), MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class ImportedCard:
    """A card just stored: its id, what it does, and the reader's warnings."""

    card_id: int
    name: str
    role: CardRole
    warnings: tuple[str, ...]


class GuildCards:
    """Imports, lists and removes a guild's cards, and reads them back as ``GuildCardSet`` (cached briefly)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        write_lock: asyncio.Lock,
        base: FactBase,
        personas: Mapping[str, Persona],
        *,
        refresh_s: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._write_lock = write_lock
        self._base = base
        self._personas = personas
        self._sets: TTLCache[int, GuildCardSet] = TTLCache(maxsize=10_000, ttl=refresh_s)

    def check(self, data: bytes) -> tuple[CharacterCard, CardRole, tuple[str, ...]]:
        """Read and check a card file's bytes (JSON or PNG), its boundary included; ``CardError`` names the field."""
        if len(data) > MAX_CARD_UPLOAD_BYTES:
            raise CardError("file", f"{len(data):,} bytes, more than the {MAX_CARD_UPLOAD_BYTES:,} a card may have")
        parsed = read_card_bytes(data)
        return parsed.card, card_role(parsed.card, self._base, self._personas), parsed.warnings

    async def import_card(self, guild_id: int, data: bytes, imported_by: str) -> ImportedCard:
        """Check the card in ``data`` and store it for the guild, replacing its card for the same persona or
        character; ``CardError`` naming the field when it is not valid."""
        card, role, warnings = await asyncio.to_thread(self.check, data)  # a PNG card is decoded off the loop
        text = card_json_text(card, indent=None)
        if len(text) > MAX_CARD_JSON_CHARS:
            raise CardError("file", f"the card's JSON has {len(text):,} characters, more than {MAX_CARD_JSON_CHARS:,}")
        async with self._write_lock, self._sessions.begin() as session:
            card_id = await CardRepository(session).put(guild_id, role.kind, role.key, card.name, text, imported_by)
        self._sets.pop(guild_id, None)
        return ImportedCard(card_id, card.name, role, warnings)

    async def listed(self, guild_id: int) -> list[StoredCard]:
        """The guild's cards as stored."""
        async with self._sessions() as session:
            return await CardRepository(session).in_guild(guild_id)

    async def remove(self, guild_id: int, name: str) -> list[str]:
        """Remove the guild's card for a persona or character (by id or name); returns the removed cards' names."""
        async with self._write_lock, self._sessions.begin() as session:
            removed = await CardRepository(session).remove(guild_id, name)
        self._sets.pop(guild_id, None)
        return removed

    async def card_name(self, card_id: int) -> str | None:
        """The name of the stored card with this id (None once it was removed or replaced)."""
        async with self._sessions() as session:
            stored = await CardRepository(session).get(card_id)
        return stored.name if stored is not None else None

    async def for_guild(self, guild_id: int | None) -> GuildCardSet:
        """What the guild's cards change (nothing outside a guild)."""
        if guild_id is None:
            return NO_CARDS
        cached = self._sets.get(guild_id)
        if cached is None:
            cached = self.card_set(await self.listed(guild_id))
            self._sets[guild_id] = cached
        return cached

    def card_set(self, stored: list[StoredCard]) -> GuildCardSet:
        """The voices and characters of stored cards (a card no longer valid, say after a fact-base change, is
        skipped)."""
        restyles: dict[str, CardStyle] = {}
        characters: dict[str, CardCharacter] = {}
        for row in stored:
            try:
                card = parse_card(json.loads(row.card_json)).card
                role = card_role(card, self._base, self._personas)
            except (CardError, ValueError):
                continue
            if isinstance(role, Restyle):
                persona = self._personas[role.persona]
                style = styled_card_text(persona.display_name, card.description, card.personality, card.mes_example)
                restyles[role.persona] = CardStyle(row.id, card.name, persona, style)
            elif isinstance(role, NewCharacter):
                characters[role.entity] = self._character(row.id, card, role)
        return GuildCardSet(MappingProxyType(restyles), MappingProxyType(characters))

    def _character(self, card_id: int, card: CharacterCard, role: NewCharacter) -> CardCharacter:
        entity = self._base.entities[role.entity]
        taken = {name.lower() for p in self._personas.values() for name in (p.id, p.display_name, *p.short_names)}
        names = tuple(
            dict.fromkeys(n for n in (role.entity, *entity.aliases) if n.lower() not in taken and n.lower() != "it")
        )
        persona = Persona(
            id=role.entity,
            display_name=" ".join(card.name.split()),
            short_names=names,
            description=entity.name,
            avatar_url=CHARACTER_AVATAR,
            color=CHARACTER_COLOR,
            vantage=f"Knows what {self._personas[role.knows_like].display_name} knows"
            + (f" by scene {role.until_scene}." if role.until_scene is not None else "."),
            voice=_SILENT,
        )
        style = styled_card_text(persona.display_name, card.description, card.personality, card.mes_example)
        return CardCharacter(card_id, persona, role.knows_like, role.until_scene, style)
