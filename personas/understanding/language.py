"""General English for reading chat: chat spellings, phrasal verbs and follow-up phrases, from language.yaml."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

from personas.checking import DocumentChecker, read_yaml
from personas.textnorm import tokens

__all__ = ["LANGUAGE_PATH", "Language", "LanguageError", "Phrase", "load_language"]

LANGUAGE_PATH: Path = Path(__file__).parent.parent / "language.yaml"


class LanguageError(ValueError):
    """language.yaml is malformed."""


@dataclass(frozen=True, slots=True)
class Phrase:
    """A phrasal verb or idiom, as lemmas, and the plain verb it means."""

    lemmas: tuple[str, ...]
    means: str
    unless_next: frozenset[str]


@dataclass(frozen=True, slots=True)
class Language:
    """Chat spellings (word -> words), spellings only read at the start, phrases, follow-up phrases and the endings
    that ask what came next."""

    spellings: Mapping[str, tuple[str, ...]]
    leading_spellings: Mapping[str, tuple[str, ...]]
    phrases: tuple[Phrase, ...]
    follow_ups: Mapping[str, frozenset[tuple[str, ...]]]
    next_endings: frozenset[tuple[str, ...]]
    relatives: frozenset[str]

    def words(self) -> set[str]:
        """The plain English words this file writes (what spellings stand for, phrases and what they mean)."""
        found: set[str] = set()
        for table in (self.spellings, self.leading_spellings):
            for value in table.values():
                found.update(value)
        for phrase in self.phrases:
            found.update(phrase.lemmas)
            found.update(phrase.means.split())
        return found


class _Checker(DocumentChecker):
    error = LanguageError

    def spelling_table(self, raw: object, where: str) -> Mapping[str, tuple[str, ...]]:
        table: dict[str, tuple[str, ...]] = {}
        for key, value in self.mapping(raw, where).items():
            if not isinstance(value, str):
                raise self.fail(f"{where} {key!r}", "expected a string")
            table[key] = tuple(tokens(value))
        return MappingProxyType(table)

    def phrase(self, raw: object, index: int) -> Phrase:
        where = f"phrases #{index}"
        item = self.mapping(raw, where)
        if not {"phrase", "means"} <= item.keys() or not item.keys() <= {"phrase", "means", "unless_next"}:
            raise self.fail(where, "expected phrase, means and optionally unless_next")
        unless = frozenset(str(word) for word in self.seq(item.get("unless_next", []), f"{where} unless_next"))
        words = tuple(tokens(self.text(item["phrase"], where)))
        if len(words) < 2:
            raise self.fail(where, "a phrase has two or more words")
        return Phrase(words, " ".join(tokens(self.text(item["means"], where))), unless)

    def document(self, data: object) -> Language:
        top = self.mapping(
            data, "document", {"spellings", "leading_spellings", "phrases", "follow_ups", "next_endings", "relatives"}
        )
        follow_ups = {
            kind: frozenset(tuple(tokens(self.text(phrase, f"follow_ups {kind}"))) for phrase in self.seq(raw, kind))
            for kind, raw in self.mapping(top["follow_ups"], "follow_ups").items()
        }
        return Language(
            self.spelling_table(top["spellings"], "spellings"),
            self.spelling_table(top["leading_spellings"], "leading_spellings"),
            tuple(self.phrase(raw, index) for index, raw in enumerate(self.seq(top["phrases"], "phrases"), 1)),
            MappingProxyType(follow_ups),
            frozenset(
                tuple(tokens(self.text(phrase, "next_endings")))
                for phrase in self.seq(top["next_endings"], "next_endings")
            ),
            frozenset(self.text(word, "relatives").lower() for word in self.seq(top["relatives"], "relatives")),
        )


@cache
def load_language(path: Path = LANGUAGE_PATH) -> Language:
    """Read and check language.yaml (once per process)."""
    return _Checker(str(path)).document(read_yaml(path, LanguageError))
