"""Normalising answers and guesses: NFKC, case and accents folded, "&" read as "and", articles dropped, stems.

Number words are read as digits and dates as one token (``bot.trivia.numbers``). Separator characters
(``, ; / | +``) are not kept as tokens, but where they stood is, so the judge can tell a list from an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.trivia.numbers import month_dates, number_words, numeric_dates
from personas.textnorm import fold, stem

__all__ = ["MAX_GUESS_CHARS", "Normalised", "normalise", "normalised"]

MAX_GUESS_CHARS = 200

_ARTICLES = frozenset({"a", "an", "the"})
_SEPARATORS = frozenset({",", ";", "/", "|", "+"})
_TOKEN = re.compile(r"[^\W_]+|[,;/|+]")


@dataclass(frozen=True, slots=True)
class Normalised:
    """A normalised text: its stemmed tokens and where list separators were."""

    tokens: tuple[str, ...]
    separators: tuple[int, ...]
    """For each separator character, the index of the token it came before."""

    @property
    def joined(self) -> str:
        """The tokens run together, as typo distances compare them."""
        return "".join(self.tokens)


def normalised(raw: str) -> Normalised:
    """The tokens and separator positions of an answer or guess (its first ``MAX_GUESS_CHARS`` characters)."""
    text = fold(raw[:MAX_GUESS_CHARS]).replace("&", " and ")
    text = numeric_dates(text)
    words: list[str] = []
    separators: list[int] = []
    for token in _TOKEN.findall(text):
        if token in _SEPARATORS:
            separators.append(len(words))
        else:
            words.append(token)
    words = number_words(words)
    words, separators = month_dates(words, separators)
    # A comma inside a date ("August 29, 1997") was consumed with it: drop separators that now fall inside.
    separators = [s for s in separators if 0 < s < len(words)] if words else []
    kept = [w for w in words if w not in _ARTICLES] or words
    if len(kept) != len(words):
        shift = [0] * (len(words) + 1)
        removed = 0
        for index, word in enumerate(words):
            shift[index] = index - removed
            if word in _ARTICLES:
                removed += 1
        shift[len(words)] = len(words) - removed
        separators = [shift[s] for s in separators]
    return Normalised(tuple(stem(w) for w in kept), tuple(separators))


def normalise(text: str) -> str:
    """The normalised form of an answer or guess, tokens joined by spaces (for display and tests)."""
    return " ".join(normalised(text).tokens)
