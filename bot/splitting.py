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
    return _pack([piece for sentence in _SENTENCE_END.split(text) for piece in _fit(sentence, limit)], limit)


def _fit(sentence: str, limit: int) -> list[str]:
    """A sentence longer than ``limit`` is cut at spaces, or hard when one word is longer still."""
    if len(sentence) <= limit:
        return [sentence]
    words = [word[start : start + limit] for word in sentence.split(" ") for start in range(0, len(word) or 1, limit)]
    return _pack(words, limit)


def _pack(pieces: list[str], limit: int) -> list[str]:
    """Join pieces with spaces into as few parts of at most ``limit`` characters as their order allows."""
    parts: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current} {piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
        else:
            parts.append(current)
            current = piece
    if current:
        parts.append(current)
    return parts
