"""Who a message is addressed to: "sarah, why Mexico?" speaks to Sarah."""

from __future__ import annotations

import re

from personas.roster import find_persona

__all__ = ["split_addressee"]

_VOCATIVE = re.compile(
    r"^\s*(?:(?:hey|hi|hello|yo|ok|okay|oi)\s+)?"
    r"(?P<name>t[\s-]?800|model 101|(?:the )?terminator|john(?: connor)?|sarah(?: connor)?)"
    r"\s*(?:[,:;!?.\-–—]+\s*|\s+(?=(?:who|what|when|where|why|how|did|do|does|is|are|was|were|can|could|tell)\b))",
    re.IGNORECASE,
)


def split_addressee(text: str) -> tuple[str | None, str]:
    """Return the persona id a leading vocative names (or None) and the message without it."""
    match = _VOCATIVE.match(text)
    if match is None:
        return None, text
    persona = find_persona(re.sub(r"[\s-]+", " ", match.group("name").lower()).replace("t 800", "t-800"))
    if persona is None:
        return None, text
    rest = text[match.end() :].strip()
    return persona.id, rest or text
