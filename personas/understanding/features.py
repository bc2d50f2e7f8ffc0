"""Word and character n-gram TF-IDF features, computed exactly as scikit-learn's TfidfVectorizer does.

scikit-learn fits them (see ``training``); this module only applies the fitted vocabularies and weights, so that
answering a message needs numpy alone and the bot starts fast. ``tests/test_understanding.py`` checks both agree.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["CHAR_NGRAMS", "WORD_NGRAMS", "NgramSpace", "char_wb_ngrams", "word_ngrams"]

WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
_WHITE_SPACES = re.compile(r"\s\s+")


def word_ngrams(text: str, ngram_range: tuple[int, int] = WORD_NGRAMS) -> Iterator[str]:
    """Word n-grams of whitespace-separated tokens, in scikit-learn's order."""
    words = text.split()
    low, high = ngram_range
    for size in range(low, min(high, len(words)) + 1):
        for start in range(len(words) - size + 1):
            yield " ".join(words[start : start + size])


def char_wb_ngrams(text: str, ngram_range: tuple[int, int] = CHAR_NGRAMS) -> list[str]:
    """Character n-grams inside word boundaries, padded with spaces (scikit-learn's ``char_wb``)."""
    low, high = ngram_range
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text).split():
        padded = f" {word} "
        length = len(padded)
        for size in range(low, high + 1):
            if size >= length:
                grams.append(padded)  # a word no longer than the n-gram counts once, as itself
                break
            grams += [padded[start : start + size] for start in range(length - size + 1)]
    return grams


@dataclass(frozen=True, slots=True)
class NgramSpace:
    """One fitted vectorizer: feature -> column, and each column's idf (sublinear tf, l2 norm)."""

    columns: Mapping[str, int]
    idf: npt.NDArray[np.floating[Any]]
    chars: bool
    offset: int = 0
    """Where this space's columns start in the joined feature matrix."""

    def transform(self, text: str) -> tuple[list[int], list[float]]:
        """The non-zero columns of ``text`` and their weights."""
        grams = char_wb_ngrams(text) if self.chars else word_ngrams(text)
        get = self.columns.get
        counts = Counter(get(gram) for gram in grams)
        counts.pop(None, None)
        if not counts:
            return [], []
        columns: list[int] = list(counts)  # type: ignore[arg-type]
        weights = [(1.0 + math.log(counts[column])) * float(self.idf[column]) for column in columns]
        norm = math.sqrt(sum(weight * weight for weight in weights))
        return [column + self.offset for column in columns], [weight / norm for weight in weights]
