"""Splitting long replies into Discord-sized messages at sentence boundaries."""

from __future__ import annotations

import re

__all__ = ["DISCORD_LIMIT", "split_message"]

DISCORD_LIMIT = 2000
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters, preferring sentence, then word boundaries."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        for piece in _fit(sentence, limit):
            candidate = f"{current} {piece}" if current else piece
            if len(candidate) <= limit:
                current = candidate
            else:
                parts.append(current)
                current = piece
    if current:
        parts.append(current)
    return parts


def _fit(sentence: str, limit: int) -> list[str]:
    """A sentence longer than ``limit`` is cut at spaces, or hard when one word is longer still."""
    if len(sentence) <= limit:
        return [sentence]
    pieces: list[str] = []
    current = ""
    for word in sentence.split(" "):
        while len(word) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:limit])
            word = word[limit:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= limit:
            current = candidate
        else:
            pieces.append(current)
            current = word
    if current:
        pieces.append(current)
    return pieces
