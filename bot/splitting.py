"""Fitting long texts into Discord-sized messages: split at sentence or line boundaries, or cut with a note."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["DISCORD_LIMIT", "clip", "fit_lines", "split_lines", "split_message"]

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


def split_lines(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters at line breaks, keeping its lines; a line longer
    than ``limit`` is split like ``split_message``."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    current = ""
    for line in (piece for raw in text.split("\n") for piece in (split_message(raw, limit) or [""])):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
            continue
        if current.strip():
            parts.append(current)
        current = line
    if current.strip():
        parts.append(current)
    return parts


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "..." when it was cut."""
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def fit_lines(lines: Sequence[str], limit: int = DISCORD_LIMIT, *, what: str = "more") -> str:
    """As many of ``lines`` as fit in ``limit`` characters, each clipped to fit, then "... and N more" for the rest."""
    shown: list[str] = []
    size = 0
    for index, line in enumerate(lines):
        left = len(lines) - index - 1
        note = f"\n... and {left} {what}" if left else ""
        line = clip(line, limit - len(note))
        if size + (1 if shown else 0) + len(line) + len(note) > limit:
            return (
                "\n".join(shown) + f"\n... and {len(lines) - index} {what}" if shown else f"... and {len(lines)} {what}"
            )
        shown.append(line)
        size += (1 if len(shown) > 1 else 0) + len(line)
    return "\n".join(shown)
