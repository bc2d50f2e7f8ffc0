"""The words the bot reads: lemmas for every form of the fact base's words, typo correction, real English words.

Built once from the fact base with lemminflect (lemmas and inflections) and pyspellchecker's English word list,
then cached; reading it back needs neither library.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ENGLISH_MIN_COUNT", "Lexicon", "build_lexicon"]

ENGLISH_MIN_COUNT = 100
"""A word of pyspellchecker's list counts as real English from this many occurrences (rarer ones are often typos)."""
_LEMMA_ORDER = ("VERB", "AUX", "NOUN", "PROPN", "ADJ", "ADV")


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Lemmas, the fact base's own words (by frequency) and the English words that are never typos."""

    lemmas: Mapping[str, str]
    vocabulary: tuple[str, ...]
    """The fact base's words, most frequent first: what a typo is corrected to."""
    english: frozenset[str]

    def lemma(self, word: str) -> str:
        """The dictionary form of ``word`` ("fled" -> "flee"); the word itself when it is not known."""
        return self.lemmas.get(word, word)

    def knows(self, word: str) -> bool:
        """True when ``word`` is a word of the fact base, a form of one, or real English."""
        return word in self.lemmas or word in self.english

    def correct(self, word: str) -> str:
        """``word``, or the fact base word it is a typo of ("cyberdine" -> "cyberdyne")."""
        if len(word) < 4 or not word.isalpha() or self.knows(word):
            return word
        from rapidfuzz import process
        from rapidfuzz.distance import DamerauLevenshtein

        limit = 1 if len(word) <= 5 else 2
        best = process.extractOne(
            word, self.vocabulary, scorer=DamerauLevenshtein.distance, score_cutoff=limit, processor=None
        )
        return word if best is None else best[0]

    def to_data(self) -> dict[str, Any]:
        """A JSON document of this lexicon, for the cache."""
        return {"lemmas": dict(self.lemmas), "vocabulary": list(self.vocabulary), "english": sorted(self.english)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Lexicon:
        """Read back ``to_data``."""
        return cls(dict(data["lemmas"]), tuple(data["vocabulary"]), frozenset(data["english"]))


def build_lexicon(words: Iterable[str]) -> Lexicon:
    """Lemmatise ``words`` (the fact base's, with repeats) and every inflection of their lemmas."""
    import lemminflect
    from spellchecker import SpellChecker

    counts = Counter(word for word in words if word.isalpha() or word.isalnum())
    lemmas: dict[str, str] = {}
    for word in counts:
        lemma = _lemma(lemminflect.getAllLemmas(word), word)
        lemmas.setdefault(word, lemma)
        for forms in lemminflect.getAllInflections(lemma).values():
            for form in forms:
                lemmas.setdefault(form.lower(), lemma)
    frequency = SpellChecker().word_frequency
    english = frozenset(
        word for word, count in frequency.items() if count >= ENGLISH_MIN_COUNT and word.isalpha() and word.isascii()
    )
    vocabulary = tuple(word for word, _ in counts.most_common() if word.isalpha() and len(word) >= 3)
    return Lexicon(lemmas, vocabulary, english)


def _lemma(by_pos: Mapping[str, tuple[str, ...]], word: str) -> str:
    for pos in _LEMMA_ORDER:
        if found := by_pos.get(pos):
            return found[0].lower()
    return word
