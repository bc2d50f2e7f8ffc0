"""Address: which persona a message speaks to, when it names one ("sarah, why Mexico?", "who's dyson, sarah?")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from personas.persona import Persona
from personas.roster import PERSONAS

__all__ = ["split_addressee"]

_GREETING = r"(?:(?:hey|hi|hello|yo|ok|okay|oi|so|um|uh|well|and|but|listen|look)[\s,]+)*"
_ASKING = (
    r"(?:who|whom|whose|what|whats|when|where|why|how|which|did|do|does|is|are|was|were|can|could|would|will"
    r"|tell|have|has|had|u|you|ur|your)\b"
)


def _names(persona: Persona) -> list[str]:
    names = {persona.id, persona.display_name.lower(), *persona.short_names}
    return sorted(names, key=len, reverse=True)


def _pattern(name: str) -> str:
    return r"(?:the\s+)?" + r"[\s-]*".join(re.escape(part) for part in re.split(r"[\s-]+", name))


@lru_cache(maxsize=1024)
def _patterns(
    current: str | None, extra: tuple[tuple[str, str], ...] = ()
) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], Mapping[str, str]]:
    who = {re.sub(r"[\s-]+", " ", name.removeprefix("the ")): key for name, key in extra}
    for persona in PERSONAS.values():
        for name in _names(persona):
            who[re.sub(r"[\s-]+", " ", name)] = persona.id
    if current is not None:
        for phrase, entity in PERSONAS[current].perspective.items():
            if phrase.startswith("your ") and entity in PERSONAS and entity != current:
                who.setdefault(phrase.removeprefix("your "), entity)
    names = "|".join(_pattern(name) for name in sorted(who, key=len, reverse=True))
    lead = re.compile(rf"^\s*{_GREETING}(?P<name>{names})(?:\s*[,:;!?.\-–—]+\s*|\s+(?={_ASKING}))", re.IGNORECASE)
    tail = re.compile(rf"[,;]\s*(?:(?:hey|ok|okay)\s+)?(?P<name>{names})\s*[?!.\s]*$", re.IGNORECASE)
    middle = re.compile(rf"^[^,]{{0,40}},\s*(?P<name>{names})\s*,\s*(?={_ASKING})", re.IGNORECASE)
    return lead, tail, middle, who


def split_addressee(
    text: str, current: str | None = None, extra: Mapping[str, str] | None = None
) -> tuple[str | None, str]:
    """The persona a message names as the one spoken to (or None), and the message without that name.

    The name may lead ("sarah, why Mexico?"), close after a comma ("what happened at cyberdyne, sarah?") or stand
    between commas ("ok, john, how did you get away?"). Talking to ``current``, what it calls its own people
    counts as a name too: "mom, why Mexico?" to John speaks to Sarah. ``extra``: more names (lower case) -> who
    answers to them, such as a guild's card characters; the personas' own names come first.
    """
    lead, tail, middle, who = _patterns(current, tuple(sorted(extra.items())) if extra else ())
    for pattern in (lead, tail, middle):
        match = pattern.search(text)
        if match is None:
            continue
        name = re.sub(r"^the\s+|[\s-]+", lambda m: "" if m.group(0).strip() == "the" else " ", match.group("name"))
        persona = who.get(name.lower().strip())
        if persona is None:
            continue
        rest = (text[: match.start()] + " " + text[match.end() :]).strip()
        if pattern is lead or pattern is middle:
            rest = text[match.end() :].strip()
        return persona, rest or text
    return None, text
