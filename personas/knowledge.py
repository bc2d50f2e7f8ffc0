"""Retrieval over the fact base: entity spotting through aliases, BM25 ranking, knowledge boundaries."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from personas.factbase import Fact, FactBase
from personas.textnorm import stem, tokens

__all__ = ["SYNONYMS", "EntityMention", "Knowledge", "ScoredFact", "content_terms"]

_STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off
    on once only or other our ours out own same she should so some such than that the their theirs them then
    there these they this those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself ok okay so well hey hi please tell know say said says explain
    happen happened happens thing things something anything really actually ever like get got go goes
    going gone come came one ones kind sort way much many lot lots let us mean guess think thanks thank thx
    hello hiya yo sup man dude bro buddy pal mate lol btw ok wow hmm um uh oh yeah yes nope cool anyway
    try tried trying guy guys thing stuff person someone somebody story film movie plot
    """.split()
)
"""Words that carry no plot content in a question; they never count for or against a fact."""

_SYNONYM_WORDS: Mapping[str, tuple[str, ...]] = {
    "die": ("kill", "destroy", "shut"),
    "murder": ("kill",),
    "flee": ("escape",),
    "run": ("escape", "flee"),
    "getaway": ("escape",),
    "bike": ("motorcycle",),
    "gun": ("weapons",),
    "robot": ("terminator", "machine"),
    "cyborg": ("terminator",),
    "nuke": ("nuclear",),
    "bomb": ("nuclear", "explosives"),
    "jail": ("imprisoned", "hospital"),
    "prison": ("imprisoned", "hospital"),
    "asylum": ("hospital",),
    "protect": ("protect", "guard"),
    "lava": ("molten",),
    "end": ("farewell", "shut"),
    "destroy": ("destroy", "kill"),
    "fight": ("combat", "fight"),
    "dream": ("nightmare",),
    "lock": ("imprisoned", "arrested"),
    "blow": ("bomb", "explosives"),
    "away": ("escape",),
    "shoot": ("shoot", "wounds"),
    "feel": ("relief", "fear", "hope", "tearful"),
    "mission": ("protect",),
    "purpose": ("protect",),
    "fate": ("destroy", "die", "shut"),
    "throw": ("tosses",),
    "drop": ("tosses", "lowered"),
    "hurt": ("wounds", "damaging"),
    "injured": ("wounds", "damaging"),
    "beat": ("damaging", "destroy"),
    "save": ("protect", "free"),
    "rescue": ("free",),
    "break": ("escape", "break"),
    "cry": ("tearful",),
    "weep": ("tearful",),
    "car": ("police",),
    "shotgun": ("weapons",),
    "launcher": ("grenade",),
    "goodbye": ("farewell",),
    "bye": ("farewell",),
    "melt": ("molten", "vat"),
    "shape": ("shape", "form"),
    "look": ("appearance", "shape"),
    "knife": ("blades", "knives"),
    "knives": ("blades", "knives"),
    "home": ("house", "home"),
    "house": ("home",),
    "want": ("plans",),
    "create": ("creation", "create"),
    "build": ("creation", "create"),
    "invent": ("creation", "create"),
}
"""Words a question may use for what the fact base says otherwise, as plain words (stemmed below)."""

SYNONYMS: Mapping[str, tuple[str, ...]] = {
    stem(word): tuple(dict.fromkeys(stem(other) for other in others)) for word, others in _SYNONYM_WORDS.items()
}
"""The same, stemmed: how a query term (as ``content_terms`` gives it) widens to the fact base's terms."""


def content_terms(words: Iterable[str]) -> list[str]:
    """Stemmed words of a query that can carry plot content."""
    stems = (stem(word) for word in words if word not in _STOPWORDS and len(word) > 1)
    return [term for term in stems if term not in _STOPWORDS]


@dataclass(frozen=True, slots=True)
class EntityMention:
    """An entity found in a message, and the words it covered."""

    entity_id: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ScoredFact:
    """A fact with its retrieval score and how many of the query's content terms it covers."""

    fact: Fact
    score: float
    coverage: float
    term_hits: int = 0
    """How many of the query's content words (not counting entities) the fact matches."""


class Knowledge:
    """Indexes a FactBase once; answers "which facts fit this question" within a knowledge boundary."""

    def __init__(self, base: FactBase, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.base = base
        self._k1 = k1
        self._b = b
        self._aliases: dict[tuple[str, ...], str] = {}
        for entity in base.entities.values():
            for phrase in (entity.name, *entity.aliases):
                words = tuple(tokens(phrase))
                if words and words not in self._aliases:
                    self._aliases[words] = entity.id
        self._longest_alias = max((len(words) for words in self._aliases), default=1)
        self._docs: list[Counter[str]] = []
        self._postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for index, fact in enumerate(base.facts):
            counts = Counter(content_terms(self._fact_words(fact)))
            self._docs.append(counts)
            for term, count in counts.items():
                self._postings[term].append((index, count))
        self._doc_len = [sum(doc.values()) for doc in self._docs]
        self._avg_len = sum(self._doc_len) / max(len(self._docs), 1)
        total = len(self._docs)
        self._idf = {
            term: math.log(1 + (total - len(posts) + 0.5) / (len(posts) + 0.5))
            for term, posts in self._postings.items()
        }
        self._index_of = {fact.id: index for index, fact in enumerate(base.facts)}

    def _fact_words(self, fact: Fact) -> list[str]:
        words = tokens(fact.text)
        for item in fact.trivia:
            words += tokens(item.question)
        for entity_id in fact.entities:
            entity = self.base.entities[entity_id]
            words += tokens(entity.name)
        return words

    @property
    def vocabulary(self) -> frozenset[str]:
        """Every stemmed term the fact base uses."""
        return frozenset(self._postings)

    def spot_entities(
        self, words: list[str], extra: Mapping[tuple[str, ...], str] | None = None
    ) -> list[EntityMention]:
        """Find entity aliases in folded words, longest match first, left to right."""
        table = self._aliases if not extra else {**self._aliases, **extra}
        longest = max(self._longest_alias, max((len(key) for key in extra), default=1) if extra else 1)
        found: list[EntityMention] = []
        position = 0
        while position < len(words):
            for size in range(min(longest, len(words) - position), 0, -1):
                entity_id = table.get(tuple(words[position : position + size]))
                if entity_id is not None:
                    found.append(EntityMention(entity_id, position, position + size))
                    position += size
                    break
            else:
                position += 1
        return found

    def rank(
        self,
        terms: list[str],
        entity_weights: Mapping[str, float],
        *,
        persona: str,
        at_scene: int | None = None,
        boosts: Mapping[str, float] | None = None,
    ) -> list[ScoredFact]:
        """Rank the facts ``persona`` knows (by ``at_scene``) for the query; best first."""
        expanded: dict[str, float] = {}
        for term in terms:
            expanded[term] = max(expanded.get(term, 0.0), 1.0)
            for synonym in SYNONYMS.get(term, ()):
                expanded[synonym] = max(expanded.get(synonym, 0.0), 0.7)
        scores: dict[int, float] = defaultdict(float)
        matched: dict[int, set[str]] = defaultdict(set)
        for term, weight in expanded.items():
            idf = self._idf.get(term)
            if idf is None:
                continue
            for index, count in self._postings[term]:
                norm = count + self._k1 * (1 - self._b + self._b * self._doc_len[index] / self._avg_len)
                scores[index] += weight * idf * count * (self._k1 + 1) / norm
                matched[index].add(term)
        for entity_id, weight in entity_weights.items():
            for index, fact in enumerate(self.base.facts):
                if entity_id in fact.entities:
                    lead = 1.0 if fact.entities[0] == entity_id else 0.6
                    scores[index] += 2.0 * weight * lead
        unique_terms = set(terms)
        ranked: list[ScoredFact] = []
        for index, score in scores.items():
            fact = self.base.facts[index]
            if not fact.known_by(persona, at_scene):
                continue
            covered = self._covered(unique_terms, matched[index], fact, entity_weights)
            bonus = boosts.get(fact.id, 0.0) if boosts else 0.0
            hits = sum(1 for term in unique_terms if _hit(term, matched[index]))
            ranked.append(ScoredFact(fact, score + bonus, covered, hits))
        ranked.sort(key=lambda item: (-item.score, self._index_of[item.fact.id]))
        return ranked

    def _covered(self, terms: set[str], matched: set[str], fact: Fact, entities: Mapping[str, float]) -> float:
        wanted = len(terms) + len(entities)
        if not wanted:
            return 0.0
        hits = sum(1 for term in terms if _hit(term, matched))
        hits += sum(1 for entity in entities if entity in fact.entities)
        return hits / wanted

    def shared_terms(self, fact: Fact, terms: set[str]) -> int:
        """How many of ``terms`` the fact's words include (its sentence, trivia questions and entity names)."""
        doc = self._docs[self._index_of[fact.id]]
        return sum(1 for term in terms if term in doc)

    def facts_about(self, entity_id: str, *, persona: str, at_scene: int | None = None) -> list[Fact]:
        """Facts naming ``entity_id`` that ``persona`` knows, in story order."""
        return [fact for fact in self.base.facts if entity_id in fact.entities and fact.known_by(persona, at_scene)]

    def next_after(self, fact_id: str, *, persona: str, at_scene: int | None = None) -> list[Fact]:
        """Facts after ``fact_id`` in story order that ``persona`` knows."""
        start = self._index_of.get(fact_id, -1) + 1
        return [fact for fact in self.base.facts[start:] if fact.known_by(persona, at_scene)]


def _hit(term: str, matched: set[str]) -> bool:
    """True when a fact matched ``term`` itself or one of its synonyms."""
    return term in matched or any(synonym in matched for synonym in SYNONYMS.get(term, ()))
