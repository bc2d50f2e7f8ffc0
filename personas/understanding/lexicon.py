"""The words the bot reads: lemmas for every form of the fact base's words, typo correction, real English words.

Built once from the fact base with lemminflect (lemmas and inflections) and pyspellchecker's English word list,
then cached; reading it back needs neither library.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein

__all__ = ["ENGLISH_MIN_COUNT", "Lexicon", "build_lexicon"]

ENGLISH_MIN_COUNT = 100
"""A word of pyspellchecker's list counts as real English from this many occurrences (rarer ones are often typos)."""
_LEMMA_ORDER = ("VERB", "AUX", "NOUN", "PROPN", "ADJ", "ADV")
_MODIFIER_POS = frozenset({"ADJ", "ADV"})


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Lemmas, the fact base's own words (by frequency) and the English words that are never typos."""

    lemmas: Mapping[str, str]
    vocabulary: tuple[str, ...]
    """The fact base's words, most frequent first: what a typo is corrected to."""
    english: frozenset[str]
    """Real words: English ones and the fact base's own names (never taken for typos)."""
    modifiers: frozenset[str] = frozenset()
    """English words that are only ever adjectives or adverbs ("probably", "honest", "exactly"): they colour a
    question but do not say what it is about, so one the fact base never uses does not make a question unknown."""

    def lemma(self, word: str) -> str:
        """The dictionary form of ``word`` ("fled" -> "flee"); the word itself when it is not known."""
        return self.lemmas.get(word, word)

    def knows(self, word: str) -> bool:
        """True when ``word`` is real English or one of the fact base's names."""
        return word in self.english

    def correct(self, word: str) -> str:
        """``word``, or the fact base word it is a typo of ("cyberdine" -> "cyberdyne")."""
        if len(word) < 4 or not word.isalpha() or self.knows(word):
            return word
        limit = 1 if len(word) <= 5 else 2
        found = process.extract(
            word, self.vocabulary, scorer=DamerauLevenshtein.distance, score_cutoff=limit, limit=8, processor=None
        )
        if not found:
            return word
        nearest = min(distance for _, distance, _ in found)
        # Among equally near words, the one sharing the most letters in order ("happend" is "happened", not
        # "happens"), then the most frequent.
        ties = [(choice, position) for choice, distance, position in found if distance == nearest]
        return max(ties, key=lambda item: (fuzz.ratio(word, item[0]), -item[1]))[0]

    def modifies(self, word: str) -> bool:
        """True when ``word`` is only ever an adjective or an adverb."""
        return word in self.modifiers

    def to_data(self) -> dict[str, Any]:
        """A JSON document of this lexicon, for the cache."""
        return {
            "lemmas": dict(self.lemmas),
            "vocabulary": list(self.vocabulary),
            "english": sorted(self.english),
            "modifiers": sorted(self.modifiers),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Lexicon:
        """Read back ``to_data``."""
        return cls(
            dict(data["lemmas"]), tuple(data["vocabulary"]), frozenset(data["english"]), frozenset(data["modifiers"])
        )


def build_lexicon(words: Iterable[str], names: Iterable[str]) -> Lexicon:
    """Lemmatise ``words`` (the fact base's, with repeats) and every inflection of their lemmas.

    ``names`` are the words of the fact base's own sentences, lines and entity names: real words even where no
    English list has them. Words seen only in the examples of how people ask (which keep their typos on purpose)
    are typo targets only when they are English.
    """
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
    ) | frozenset(names)
    vocabulary = tuple(
        word for word, _ in counts.most_common() if word.isalpha() and len(word) >= 3 and word in english
    )
    modifiers = frozenset(
        word for word in english if (readings := lemminflect.getAllLemmas(word)) and set(readings) <= _MODIFIER_POS
    )
    return Lexicon(lemmas, vocabulary, english, modifiers - frozenset(names))


def _lemma(by_pos: Mapping[str, tuple[str, ...]], word: str) -> str:
    for pos in _LEMMA_ORDER:
        if found := by_pos.get(pos):
            return found[0].lower()
    return word
