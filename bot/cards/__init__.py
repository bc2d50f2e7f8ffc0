"""Character Card V2: the personas exported as cards, and cards read and checked against the spec."""

from bot.cards.model import BookEntry, CardError, CharacterBook, CharacterCard, CompanionInfo, ParsedCard
from bot.cards.validation import parse_card

__all__ = ["BookEntry", "CardError", "CharacterBook", "CharacterCard", "CompanionInfo", "ParsedCard", "parse_card"]
