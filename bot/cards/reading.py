"""Reading a card file: JSON or PNG, told apart by content, then checked against the spec."""

from __future__ import annotations

import json
from pathlib import Path

from bot.cards.model import CardError, ParsedCard
from bot.cards.validation import parse_card

__all__ = ["MAX_CARD_BYTES", "read_card_bytes", "read_card_file"]

MAX_CARD_BYTES = 32 * 1024 * 1024
"""Larger files are refused before they are parsed."""
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_card_file(path: Path) -> ParsedCard:
    """Read and check the card in ``path`` (.json or .png); ``CardError`` naming the field when it is not valid."""
    try:
        size = path.stat().st_size
        if size > MAX_CARD_BYTES:
            raise CardError("file", f"{size} bytes, more than the {MAX_CARD_BYTES} a card may have")
        data = path.read_bytes()
    except OSError as exc:
        raise CardError("file", exc.strerror or str(exc)) from exc
    return read_card_bytes(data)


def read_card_bytes(data: bytes) -> ParsedCard:
    """Check the card in ``data``: a PNG card (by its signature) or JSON text."""
    if data.startswith(_PNG_SIGNATURE):
        from bot.cards.png import read_card_text

        return parse_card(_json(read_card_text(data), "chara"))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CardError("file", "neither a PNG image nor UTF-8 JSON text") from exc
    return parse_card(_json(text, "file"))


def _json(text: str, where: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardError(where, f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
