"""The fact base: scenes, entities and atomic plot facts, loaded from ``facts.yaml`` and validated."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from personas.checking import DocumentChecker, read_yaml

__all__ = [
    "ANSWER_TYPES",
    "FACTS_PATH",
    "MIN_ASKS",
    "PERSONA_IDS",
    "SUMMARY_PATH",
    "Entity",
    "Fact",
    "FactBase",
    "FactBaseError",
    "Scene",
    "TriviaItem",
    "load_fact_base",
    "parse_fact_base",
    "split_summary_sentences",
]

PERSONA_IDS: tuple[str, ...] = ("john", "sarah", "t800")
FACTS_PATH: Path = Path(__file__).parent / "facts.yaml"
SUMMARY_PATH: Path = Path(__file__).parent / "plot-summary.txt"

ANSWER_TYPES: tuple[str, ...] = ("who", "what", "when", "where", "why", "how", "how_many", "yes_no")
MIN_ASKS = 8
"""Each fact is asked for in at least this many ways: the examples the matcher learns from."""
ENTITY_KINDS = frozenset({"person", "machine", "place", "thing", "organization", "event"})
PRONOUNS = frozenset({"he", "she", "it", "they"})
_FACT_ID = re.compile(r"^f-[a-z0-9]+(-[a-z0-9]+)*$")
_ENTITY_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_SENTENCE_BREAK = re.compile(r"(?<=\s\.)\s+(?=[A-Z])")


class FactBaseError(ValueError):
    """The fact base document is malformed; the message names the file, the item and the problem."""


@dataclass(frozen=True, slots=True)
class Scene:
    """One scene of the story, in order."""

    number: int
    id: str
    title: str
    summary: str


@dataclass(frozen=True, slots=True)
class Entity:
    """A person, machine, place, thing, organization or event that facts refer to."""

    id: str
    name: str
    kind: str
    pronoun: str
    aliases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TriviaItem:
    """A trivia question with its accepted answers, canonical answer first."""

    question: str
    answers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Fact:
    """One atomic plot fact with who knows it from when, and how each knower says it."""

    id: str
    scene: int
    text: str
    sources: tuple[int, ...]
    entities: tuple[str, ...]
    knowers: Mapping[str, int]
    lines: Mapping[str, tuple[str, ...]]
    trivia: tuple[TriviaItem, ...]
    answers: Mapping[str, str]
    """Question type (who, what, when, where, why, how, how_many, yes_no) -> the words that answer it."""
    asks: Mapping[str, tuple[str, ...]]
    """How people ask for this fact: ``any`` (third person) or a knower's id (asked of that persona, "you")."""
    because: tuple[str, ...] = ()
    """The facts that say why this one happened (its reason, motive or cause), best first."""

    def known_by(self, persona: str, at_scene: int | None = None) -> bool:
        """True when ``persona`` knows this fact (at ``at_scene``, or at all when it is None)."""
        first = self.knowers.get(persona)
        return first is not None and (at_scene is None or first <= at_scene)


@dataclass(frozen=True, slots=True)
class FactBase:
    """All scenes, entities and facts, in story order."""

    scenes: tuple[Scene, ...]
    entities: Mapping[str, Entity]
    facts: tuple[Fact, ...]

    def fact(self, fact_id: str) -> Fact:
        """The fact with this id; KeyError if there is none."""
        for fact in self.facts:
            if fact.id == fact_id:
                return fact
        raise KeyError(fact_id)

    def scene(self, number: int) -> Scene:
        """The scene with this number; KeyError if there is none."""
        for scene in self.scenes:
            if scene.number == number:
                return scene
        raise KeyError(number)

    def facts_known_by(self, persona: str, at_scene: int | None = None) -> tuple[Fact, ...]:
        """The facts ``persona`` knows (at ``at_scene``, or at all when it is None), in story order."""
        return tuple(fact for fact in self.facts if fact.known_by(persona, at_scene))


def split_summary_sentences(text: str) -> list[str]:
    """Split the tokenised plot summary into its sentences (numbered from 1 by the ``sources`` field)."""
    return _SENTENCE_BREAK.split(text.strip())


def load_fact_base(path: Path | None = None) -> FactBase:
    """Read and validate the fact base file (``FACTS_PATH`` by default)."""
    path = FACTS_PATH if path is None else path
    return parse_fact_base(read_yaml(path, FactBaseError), str(path))


def parse_fact_base(data: object, source: str = "<data>") -> FactBase:
    """Validate a parsed YAML document and build the fact base from it."""
    return _Parser(source).document(data)


class _Parser(DocumentChecker):
    """Checks one document; every error names the source file and the item at fault."""

    error = FactBaseError

    def texts(self, value: object, where: str) -> tuple[str, ...]:
        return tuple(self.text(item, where) for item in self.seq(value, where))

    def integer(self, value: object, where: str, low: int = 1, high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            limit = f"{low}..{high}" if high is not None else f">= {low}"
            raise self.fail(where, f"expected an integer {limit}, got {value!r}")
        return value

    def document(self, data: object) -> FactBase:
        top = self.mapping(data, "document", {"scenes", "entities", "facts"})
        scenes = tuple(self.scene(raw, index) for index, raw in enumerate(self.seq(top["scenes"], "scenes"), 1))
        if not scenes:
            raise self.fail("scenes", "no scenes")
        entities = {key: self.entity(key, raw) for key, raw in self.mapping(top["entities"], "entities").items()}
        facts: list[Fact] = []
        for index, raw in enumerate(self.seq(top["facts"], "facts"), 1):
            fact = self.fact(raw, index, len(scenes), entities)
            if any(seen.id == fact.id for seen in facts):
                raise self.fail(f"fact {fact.id!r}", "duplicate fact id")
            if facts and fact.scene < facts[-1].scene:
                raise self.fail(f"fact {fact.id!r}", f"scene {fact.scene} comes after scene {facts[-1].scene}")
            facts.append(fact)
        known = {fact.id for fact in facts}
        for fact in facts:
            if unknown := [ref for ref in fact.because if ref not in known or ref == fact.id]:
                raise self.fail(f"fact {fact.id!r}", f"because names {unknown[0]!r}, not another fact")
        return FactBase(scenes, MappingProxyType(entities), tuple(facts))

    def scene(self, raw: object, index: int) -> Scene:
        where = f"scene #{index}"
        item = self.mapping(raw, where, {"number", "id", "title", "summary"})
        number = self.integer(item["number"], f"{where} number")
        if number != index:
            raise self.fail(where, f"scene number {number} out of order, expected {index}")
        scene_id = self.text(item["id"], f"{where} id")
        if not _ENTITY_ID.match(scene_id):
            raise self.fail(where, f"bad scene id {scene_id!r}")
        return Scene(number, scene_id, self.text(item["title"], f"{where} title"), self.text(item["summary"], where))

    def entity(self, entity_id: str, raw: object) -> Entity:
        where = f"entity {entity_id!r}"
        if not _ENTITY_ID.match(entity_id):
            raise self.fail(where, "bad entity id")
        item = self.mapping(raw, where, {"name", "kind", "pronoun", "aliases"})
        kind, pronoun = self.text(item["kind"], f"{where} kind"), self.text(item["pronoun"], f"{where} pronoun")
        if kind not in ENTITY_KINDS or pronoun not in PRONOUNS:
            raise self.fail(where, f"unknown kind {kind!r} or pronoun {pronoun!r}")
        aliases = self.texts(item["aliases"], f"{where} aliases")
        if bad := [alias for alias in aliases if alias != alias.lower()]:
            raise self.fail(where, f"alias {bad[0]!r} is not lowercase")
        return Entity(entity_id, self.text(item["name"], f"{where} name"), kind, pronoun, aliases)

    def fact(self, raw: object, index: int, scene_count: int, entities: Mapping[str, Entity]) -> Fact:
        keys = {"id", "scene", "text", "sources", "entities", "knowers", "lines", "trivia", "answers", "asks"}
        item = self.mapping(raw, f"fact #{index}", keys, optional=frozenset({"because"}))
        fact_id = self.text(item["id"], f"fact #{index} id")
        where = f"fact {fact_id!r}"
        if not _FACT_ID.match(fact_id):
            raise self.fail(where, "bad fact id, expected f-lowercase-words")
        scene = self.integer(item["scene"], f"{where} scene", 1, scene_count)
        sources = tuple(self.integer(n, f"{where} sources") for n in self.seq(item["sources"], f"{where} sources"))
        refs = self.texts(item["entities"], f"{where} entities")
        if unknown := [ref for ref in refs if ref not in entities]:
            raise self.fail(where, f"unknown entity {unknown[0]!r}")
        knowers: dict[str, int] = {}
        for persona, first in self.mapping(item["knowers"], f"{where} knowers").items():
            if persona not in PERSONA_IDS:
                raise self.fail(where, f"unknown persona knower {persona!r}")
            knowers[persona] = self.integer(first, f"{where} knower {persona}", 1, scene_count)
        lines = {
            persona: self.texts(said, f"{where} lines for {persona}")
            for persona, said in self.mapping(item["lines"], f"{where} lines").items()
        }
        if not sources or not refs or not knowers:
            raise self.fail(where, "needs at least one source, entity and knower")
        if silent := [persona for persona in knowers if not lines.get(persona)]:
            raise self.fail(where, f"knower {silent[0]!r} has no line")
        if strangers := [persona for persona in lines if persona not in knowers]:
            raise self.fail(where, f"line for non-knower {strangers[0]!r}")
        trivia = tuple(self.trivia(raw_q, where) for raw_q in self.seq(item["trivia"], f"{where} trivia"))
        if not trivia:
            raise self.fail(where, "missing trivia, needs at least one question")
        answers = self.answers(item["answers"], where)
        asks = self.asks(item["asks"], where, knowers)
        return Fact(
            fact_id,
            scene,
            self.text(item["text"], f"{where} text"),
            sources,
            refs,
            MappingProxyType(knowers),
            MappingProxyType(lines),
            trivia,
            answers,
            asks,
            self.texts(item.get("because", []), f"{where} because"),
        )

    def answers(self, raw: object, where: str) -> Mapping[str, str]:
        slots = self.mapping(raw, f"{where} answers")
        if unknown := [kind for kind in slots if kind not in ANSWER_TYPES]:
            raise self.fail(where, f"unknown answer type {unknown[0]!r}, expected one of {', '.join(ANSWER_TYPES)}")
        if not slots:
            raise self.fail(where, "answers names no question type")
        return MappingProxyType({kind: self.text(slot, f"{where} answers {kind}") for kind, slot in slots.items()})

    def asks(self, raw: object, where: str, knowers: Mapping[str, int]) -> Mapping[str, tuple[str, ...]]:
        groups = self.mapping(raw, f"{where} asks")
        if strangers := [key for key in groups if key != "any" and key not in knowers]:
            raise self.fail(where, f"asks for {strangers[0]!r}, who is neither 'any' nor a knower")
        asks = {key: self.texts(items, f"{where} asks {key}") for key, items in groups.items()}
        if (total := sum(len(items) for items in asks.values())) < MIN_ASKS:
            raise self.fail(where, f"{total} asks, needs at least {MIN_ASKS}")
        for key, items in asks.items():
            if len({ask.casefold() for ask in items}) < len(items):
                raise self.fail(where, f"the same ask twice in asks {key}")
        return MappingProxyType(asks)

    def trivia(self, raw: object, where: str) -> TriviaItem:
        item = self.mapping(raw, f"{where} trivia", {"q", "a"})
        answers = self.texts(item["a"], f"{where} trivia answers")
        if not answers:
            raise self.fail(where, "trivia question without answers")
        return TriviaItem(self.text(item["q"], f"{where} trivia question"), tuple(a.strip() for a in answers))
