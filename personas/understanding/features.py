"""Word and character n-gram TF-IDF features, computed exactly as scikit-learn's TfidfVectorizer does.

scikit-learn fits them (see ``training``); this module only applies the fitted vocabularies and weights, so that
answering a message needs numpy alone and the bot starts fast. ``tests/test_understanding.py`` checks both agree.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["CHAR_NGRAMS", "WORD_NGRAMS", "NgramSpace", "word_ngrams"]

WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)


def word_ngrams(text: str, ngram_range: tuple[int, int] = WORD_NGRAMS) -> Iterator[str]:
    """Word n-grams of whitespace-separated tokens, in scikit-learn's order."""
    words = text.split()
    low, high = ngram_range
    for size in range(low, min(high, len(words)) + 1):
        for start in range(len(words) - size + 1):
            yield " ".join(words[start : start + size])


def _padded_ngrams(word: str, ngram_range: tuple[int, int] = CHAR_NGRAMS) -> list[str]:
    """The character n-grams of one word, padded with a space on each side (scikit-learn's ``char_wb`` cuts each
    whitespace-separated word this way)."""
    low, high = ngram_range
    padded = f" {word} "
    length = len(padded)
    grams: list[str] = []
    for size in range(low, high + 1):
        if size >= length:
            grams.append(padded)  # a word no longer than the n-gram counts once, as itself
            break
        grams += [padded[start : start + size] for start in range(length - size + 1)]
    return grams


_WORDS_KEPT = 10_000
"""How many words' character n-gram columns a space remembers (words repeat: each is cut into n-grams once;
at most about 3 MB)."""


@dataclass(frozen=True, slots=True)
class NgramSpace:
    """One fitted vectorizer: feature -> column, and each column's idf (sublinear tf, l2 norm)."""

    columns: Mapping[str, int]
    idf: npt.NDArray[np.floating[Any]]
    chars: bool
    offset: int = 0
    """Where this space's columns start in the joined feature matrix."""
    _by_word: dict[str, tuple[int, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def transform(self, text: str) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """The non-zero columns of ``text`` and their weights."""
        if self.chars:
            counts = Counter(chain.from_iterable(map(self._word_columns, text.split())))
        else:
            get = self.columns.get
            counts = Counter(column for column in (get(gram) for gram in word_ngrams(text)) if column is not None)
        size = len(counts)
        columns = np.fromiter(counts.keys(), dtype=np.intp, count=size)
        weights = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=size))) * self.idf[columns]
        if size:
            weights /= math.sqrt(float(weights @ weights))
        return columns + self.offset, weights

    def _word_columns(self, word: str) -> tuple[int, ...]:
        """The columns of ``word``'s character n-grams that the vocabulary holds, with repeats."""
        found = self._by_word.get(word)
        if found is None:
            get = self.columns.get
            found = tuple(column for column in (get(gram) for gram in _padded_ngrams(word)) if column is not None)
            if len(self._by_word) >= _WORDS_KEPT:
                self._by_word.clear()
            self._by_word[word] = found
        return found
