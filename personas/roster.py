"""The roster of playable personas and name lookup."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from personas.john import PERSONA as JOHN
from personas.persona import Persona
from personas.sarah import PERSONA as SARAH
from personas.t800 import PERSONA as T800

__all__ = ["PERSONAS", "find_persona", "get_persona"]

PERSONAS: Mapping[str, Persona] = MappingProxyType({p.id: p for p in (JOHN, SARAH, T800)})

_BY_NAME: Mapping[str, Persona] = MappingProxyType(
    {
        name.lower(): persona
        for persona in PERSONAS.values()
        for name in (persona.id, persona.display_name, *persona.short_names)
    }
)


def find_persona(name: str) -> Persona | None:
    """Return the persona with this id, short name or display name (case-insensitive), or None."""
    return _BY_NAME.get(" ".join(name.split()).lower())


def get_persona(name: str) -> Persona:
    """Return the persona with this id, short name or display name (case-insensitive); raise KeyError if none."""
    persona = find_persona(name)
    if persona is None:
        valid = ", ".join(sorted(_BY_NAME))
        raise KeyError(f"unknown persona {name!r}; valid names: {valid}")
    return persona
