"""Tests for the persona data: voice lines, names, perspective and roster lookup."""

from __future__ import annotations

import dataclasses
import re
from types import MappingProxyType

import pytest

from personas.persona import Persona, Voice
from personas.roster import PERSONAS, find_persona, get_persona

__all__: list[str] = []

VOICE_FIELDS = tuple(f.name for f in dataclasses.fields(Voice))
PREFIX_FIELDS = ("openers", "connectors")
ALLOWED_IDS = {"john", "sarah", "t800", "t1000", "dyson", "skynet"}
BANNED = (
    "be back",
    "hasta",
    "reese",
    "uncle bob",
    "arnold",
    "assistant",
    "language model",
    "system prompt",
    "as an ai",
)
FORBIDDEN_CHARS = ("@", "http", "`", "*", "\u2019", "#", "[", "]")
# Plot facts live only in the fact base: no film names, places, dates or weapons in voice lines.
PLOT_WORDS = (
    "skynet",
    "dyson",
    "cyberdyne",
    "t-1000",
    "t1000",
    "los angeles",
    "mexico",
    "judgment",
    "1995",
    "1997",
    "liquid metal",
    "polyalloy",
    "steel",
    "mall",
    "motorcycle",
    "hospital",
    "grenade",
    "freeway",
    "police",
    "cpu",
    "resistance",
    "nuclear",
)
# Names may appear only when the persona says who it is.
NAME_WORDS = ("john", "sarah", "connor", "terminator", "t-800", "model 101")
INJECTION_LEAKS = ("instruction", "prompt", "system", "ai model", "programm", " ai ", "chatbot", "bot")
CONTRACTION = re.compile(r"\b\w+'(s|t|re|ll|ve|d|m)\b", re.IGNORECASE)
EXPECTED_ORDER = ("john", "sarah", "t800")


def _lines(persona: Persona) -> list[tuple[str, str]]:
    return [(name, line) for name in VOICE_FIELDS for line in getattr(persona.voice, name)]


@pytest.fixture(params=EXPECTED_ORDER)
def persona(request: pytest.FixtureRequest) -> Persona:
    return PERSONAS[request.param]


def test_roster_order_and_ids() -> None:
    assert tuple(PERSONAS) == EXPECTED_ORDER
    assert isinstance(PERSONAS, MappingProxyType)
    for pid, p in PERSONAS.items():
        assert p.id == pid


def test_persona_fields(persona: Persona) -> None:
    assert persona.display_name and persona.description and persona.vantage
    assert "\n" not in persona.description
    assert persona.avatar_url.startswith("https://cdn.discordapp.com/embed/avatars/")
    assert isinstance(persona.short_names, tuple)
    assert all(n == n.lower() for n in persona.short_names)
    assert isinstance(persona.perspective, MappingProxyType)
    with pytest.raises(dataclasses.FrozenInstanceError):
        persona.id = "x"  # type: ignore[misc]


def test_colors_and_avatars_distinct() -> None:
    assert len({p.color for p in PERSONAS.values()}) == len(PERSONAS)
    assert len({p.avatar_url for p in PERSONAS.values()}) == len(PERSONAS)


def test_voice_tuples(persona: Persona) -> None:
    for name in VOICE_FIELDS:
        variants = getattr(persona.voice, name)
        assert isinstance(variants, tuple), name
        assert 4 <= len(variants) <= 6, (persona.id, name)
        assert all(isinstance(v, str) and v.strip() == v and v for v in variants), (persona.id, name)
        assert len(set(variants)) == len(variants), (persona.id, name)


def test_reply_lines_are_short_sentences(persona: Persona) -> None:
    for name, line in _lines(persona):
        if name in PREFIX_FIELDS:
            continue
        assert line[-1] in ".!?", (persona.id, name, line)
        assert len(re.findall(r"[.!?]+(?=\s|$)", line)) <= 2, (persona.id, name, line)
        assert len(line) <= 90, (persona.id, name, line)


def test_no_shared_lines_between_personas() -> None:
    seen: dict[str, str] = {}
    for p in PERSONAS.values():
        for _, line in _lines(p):
            key = line.lower()
            assert seen.get(key, p.id) == p.id, (line, seen[key], p.id)
            seen[key] = p.id


def test_no_banned_content(persona: Persona) -> None:
    for name, line in _lines(persona):
        low = line.lower()
        for bad in (*FORBIDDEN_CHARS, *BANNED, *PLOT_WORDS):
            assert bad not in low, (persona.id, name, line, bad)
        if name != "who_am_i":
            for word in NAME_WORDS:
                assert word not in low, (persona.id, name, line, word)


def test_injection_lines_never_leak(persona: Persona) -> None:
    for line in persona.voice.injection:
        padded = f" {line.lower()} "
        for leak in INJECTION_LEAKS:
            assert leak not in padded, (persona.id, line, leak)


def test_t800_uses_no_contractions() -> None:
    for name, line in _lines(PERSONAS["t800"]):
        assert not CONTRACTION.search(line), (name, line)
        assert "'" not in line, (name, line)


def test_john_says_mom() -> None:
    assert any(re.search(r"\bmom\b", line.lower()) for _, line in _lines(PERSONAS["john"]))


def test_sarah_says_my_son() -> None:
    assert any("my son" in line.lower() for _, line in _lines(PERSONAS["sarah"]))


def test_perspective_values(persona: Persona) -> None:
    assert persona.perspective["you"] == persona.id
    assert persona.perspective["yourself"] == persona.id
    for phrase, target in persona.perspective.items():
        assert phrase == phrase.lower()
        assert target in ALLOWED_IDS, (persona.id, phrase, target)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("T-800", "t800"),
        ("terminator", "t800"),
        ("The Terminator", "t800"),
        ("model 101", "t800"),
        ("t800", "t800"),
        ("Sarah Connor", "sarah"),
        ("sarah", "sarah"),
        ("JOHN", "john"),
        ("  John   Connor ", "john"),
    ],
)
def test_get_persona_accepts(name: str, expected: str) -> None:
    assert get_persona(name).id == expected
    assert find_persona(name) is get_persona(name)


@pytest.mark.parametrize("name", ["kyle", "", "t1000", "skynet"])
def test_get_persona_rejects(name: str) -> None:
    with pytest.raises(KeyError, match="valid names"):
        get_persona(name)
    assert find_persona(name) is None


def test_addressed_by(persona: Persona) -> None:
    assert persona.addressed_by(persona.id)
    for short in persona.short_names:
        assert persona.addressed_by(short)
