"""The Persona type: who speaks, in which voice, from which vantage point."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Persona", "Voice"]


@dataclass(frozen=True, slots=True)
class Voice:
    """Everything a persona says that is not a plot fact: data, chosen by the engine.

    Each field is a tuple of variants; the engine picks one with a seeded choice and avoids
    repeating a variant it already used in the conversation when another one fits.
    Lines here must never state a plot fact: plot statements come only from the fact base.
    """

    greetings: tuple[str, ...]
    farewells: tuple[str, ...]
    thanks: tuple[str, ...]
    who_am_i: tuple[str, ...]
    how_are_you: tuple[str, ...]
    insults: tuple[str, ...]
    catchphrases: tuple[str, ...]
    unknown: tuple[str, ...]
    off_topic: tuple[str, ...]
    injection: tuple[str, ...]
    empty: tuple[str, ...]
    too_long: tuple[str, ...]
    unreadable: tuple[str, ...]
    follow_up_exhausted: tuple[str, ...]
    openers: tuple[str, ...] = ()
    connectors: tuple[str, ...] = ()
    ask_other: tuple[str, ...] = ()
    """Said after "I don't know" when another persona knows: ``{name}`` is that persona's name."""
    retry: tuple[str, ...] = ()
    """Said when something failed for a moment (the database, Discord) and the user may try again."""
    fault: tuple[str, ...] = ()
    """Said when something broke on the bot's side; the failure's reference follows the line."""


@dataclass(frozen=True, slots=True)
class Persona:
    """A character the bot can speak as."""

    id: str
    display_name: str
    short_names: tuple[str, ...]
    description: str
    avatar_url: str
    color: int
    vantage: str
    voice: Voice
    perspective: Mapping[str, str] = field(default_factory=dict)
    """Phrases addressed to this persona mapped to entity ids: "your mom" -> "sarah" for John."""

    def addressed_by(self, name: str) -> bool:
        """True when ``name`` (already lower-cased) is one of this persona's names."""
        return name == self.id or name in self.short_names
