"""Normalise: chat spellings expanded, typos corrected, words lemmatised, phrasal verbs and idioms mapped."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from personas.textnorm import tokens
from personas.understanding.language import Language, Phrase
from personas.understanding.lexicon import Lexicon

__all__ = ["NEGATIONS", "Normalised", "Normaliser"]

_CORRECTIONS_KEPT = 4096
NEGATIONS = frozenset({"not", "never", "no", "nobody", "nothing", "neither", "nor"})


@dataclass(frozen=True, slots=True)
class Normalised:
    """A message's words, with one lemma per word.

    A phrasal verb's first word carries what the phrase means ("took out" -> "kill", "") so the two lists stay
    aligned; an empty lemma is read as no word.
    """

    words: tuple[str, ...]
    lemmas: tuple[str, ...]
    corrected: tuple[tuple[str, str], ...] = ()
    clauses: tuple[int, ...] = (0,)
    """The index of the first word of each clause: the message split at sentence and clause punctuation."""

    @property
    def negated(self) -> bool:
        """True when the message says not, never, no..."""
        return any(word in NEGATIONS for word in self.words)


_IS_CONTRACTION = re.compile(r"\b(who|what|where|when|why|how|that|there|here|he|she|it)['’]s\b", re.IGNORECASE)
"""After a question word or a pronoun, "'s" is "is" ("who's Dyson?"), never a possessive as after a name."""
_REPEATS = re.compile(r"([^\W\d_])\1+")
"""A letter typed more than once in a row."""
_STRETCHED = re.compile(r"([^\W\d_])\1{2,}")
"""A letter typed three times or more in a row ("whyyy", "soooo")."""
_CLAUSE_BREAK = re.compile(r"[.?!;,:]+(?!\d)|\s[-\u2013\u2014]+\s")
"""Punctuation that ends a sentence or a clause (a comma inside a number such as 1,000 does not)."""


class Normaliser:
    """Turns a cleaned message into words and lemmas the rest of the pipeline reads."""

    def __init__(self, language: Language, lexicon: Lexicon) -> None:
        self.language = language
        self.lexicon = lexicon
        self._correct = lru_cache(maxsize=_CORRECTIONS_KEPT)(lexicon.correct)
        """Typos come back (and a huge message repeats its words): each word is looked up once."""
        self._phrases: dict[str, list[Phrase]] = {}
        for phrase in sorted(language.phrases, key=lambda phrase: -len(phrase.lemmas)):
            self._phrases.setdefault(phrase.lemmas[0], []).append(phrase)

    def __call__(self, text: str) -> Normalised:
        """Normalise ``text`` (already cleaned of markup)."""
        words: list[str] = []
        corrected: list[tuple[str, str]] = []
        clauses: list[int] = []
        spellings, leading = self.language.spellings, self.language.leading_spellings
        index = 0
        text = _IS_CONTRACTION.sub(r"\1 is", text)
        for clause in _CLAUSE_BREAK.split(text):
            if len(words) not in clauses:
                clauses.append(len(words))
            for token in tokens(clause):
                token = self._unstretched(token)
                fixed = token if token in spellings or (index == 0 and token in leading) else self._correct(token)
                if fixed != token:
                    corrected.append((token, fixed))
                expansion = leading.get(fixed) if index == 0 else None
                expansion = expansion if expansion is not None else spellings.get(fixed)
                words.extend(expansion if expansion is not None else (fixed,))
                index += 1
        lemmas = [self.lexicon.lemma(word) for word in words]
        self._map_phrases(lemmas)
        return Normalised(
            tuple(words),
            tuple(lemmas),
            tuple(corrected),
            tuple(start for start in clauses if start < len(words)) or (0,),
        )

    def _unstretched(self, word: str) -> str:
        """``word`` with its stretched letters typed once or twice ("whyyy" -> "why", "sooo" -> "so", "lmaoo" ->
        "lmao"), when that makes a word it reads; otherwise ``word`` as typed.

        A letter typed three times or more is stretched; one typed twice only when the word it makes is a chat
        spelling, since a real word's double letter or a typo ("yeer") is left to the typo corrector.
        """
        spellings = self.language.spellings
        if word in spellings or self.lexicon.knows(word) or not _REPEATS.search(word):
            return word
        if _STRETCHED.search(word):
            for squeezed in (_STRETCHED.sub(r"\1\1", word), _REPEATS.sub(r"\1", word)):
                if squeezed in spellings or self.lexicon.knows(squeezed):
                    return squeezed
        squeezed = _REPEATS.sub(r"\1", word)
        return squeezed if squeezed in spellings else word

    def _map_phrases(self, lemmas: list[str]) -> None:
        position = 0
        while position < len(lemmas):
            for phrase in self._phrases.get(lemmas[position], ()):
                end = position + len(phrase.lemmas)
                if tuple(lemmas[position:end]) != phrase.lemmas:
                    continue
                if end < len(lemmas) and lemmas[end] in phrase.unless_next:
                    continue
                lemmas[position] = phrase.means
                for index in range(position + 1, end):
                    lemmas[index] = ""
                position = end - 1
                break
            position += 1
