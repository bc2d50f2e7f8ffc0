"""Analyse: the kind of answer a message wants, whom and what it names, and the words that say what it asks."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from personas.factbase import FactBase
from personas.textnorm import tokens
from personas.understanding.language import Language
from personas.understanding.normalise import Normalised

__all__ = ["STOPWORDS", "Analyser", "Analysis", "EntityTable", "entity_token", "question_type"]

STOPWORDS = frozenset(
    """
    a about above after again all also am an and any are as at be because been before being below between both but
    by can could did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just me more most my myself nor now of off on once
    only or other our ours out own same she should so some such than that the their theirs them then there these
    they this those through to too under until up very was we were what when where which while who whom whose why
    will with would you your yours yourself yourselves ok okay well hey hi please tell know say said says explain
    happen happened happens thing things something anything really actually ever like get got go goes going gone
    come came kind sort way much many lot lots let us mean guess think thanks thank thx hello hiya yo sup man dude
    bro buddy pal mate wow hmm um uh oh yeah yes nope cool anyway guy guys stuff person someone somebody story
    film movie plot again exactly basically literally even still just wait remember deal whole part bit right
    sure quick question wonder wondering curious confused understand happening though although themselves
    ourselves idea wild crazy weird funny rewatch rewatched watch watched kinda gonna wanna exactly totally
    """.split()
)
"""Words that carry no plot content in a question."""

_QUESTION_WORDS = {"who", "whom", "whose", "what", "which", "when", "where", "why", "how"}
_AUXILIARIES = {"did", "does", "do", "is", "was", "are", "were", "can", "could", "will", "would", "has", "have", "had"}
_FILLERS = {"so", "ok", "okay", "and", "but", "wait", "hey", "um", "uh", "like", "well", "yo", "oh", "hmm", "then"}
_SUBORDINATORS = {"when", "after", "before", "once", "while", "if", "since", "until", "as"}
_CAUSING = {"made", "makes", "make", "caused", "causes", "led", "set", "sets", "triggered", "prompted", "drove"}
_HOW_MUCH = {"many", "much", "old", "long", "often", "far"}
_WHEN_NOUNS = {"year", "date", "day", "month", "time"}
_WHERE_NOUNS = {"place", "city", "country", "town", "building", "location", "state"}
_PURPOSE_NOUNS = {"point", "purpose", "reason", "idea", "goal", "aim", "motive"}
"""What a "what" question asks for when it asks why: "what was the point of it?", "for what reason?"."""
_TAKES_FOR = frozenset(
    """look looking looked search searching searched wait waiting waited ask asking asked pay paid hunt hunting
    stand go going head heading hope care vote call reach fight fighting beg pray work working account known
    famous responsible grateful sorry thankful ready blame blamed""".split()
)
"""Words that take "for" themselves: "what did you look for?" asks what, not why."""
_IDENTITY_WORDS = frozenset(
    """who what be the a an tell me about explain deal with even exactly again please actually really so ok okay like
    i am want to know is was whats thing story""".split()
)
"""The words of "who is X?", "what's the deal with X?", "tell me about X": nothing asked but what X is."""
_NAMING = {"name", "names", "named", "called", "call"}
_NAME_ASKING = {"what", "which", "who", "whom", "how"}
"""The question words that can ask for a name ("how is it called?" as many learners of English say it)."""
_PRONOUNS = {"he": "he", "him": "he", "his": "he", "she": "she", "her": "she", "it": "it", "its": "it"}
_PRONOUNS |= {"they": "they", "them": "they", "their": "they"}
_ELLIPSIS_LEADS = (("and",), ("what", "about"), ("how", "about"), ("and", "what", "about"))


@dataclass(frozen=True, slots=True)
class EntityTable:
    """Every way the fact base names an entity, as folded words, and each entity's pronoun."""

    aliases: Mapping[tuple[str, ...], str]
    pronouns: Mapping[str, str]
    longest: int
    related: Mapping[str, frozenset[str]]
    """Each entity and those whose proper name holds all of its own or is held in it (Cyberdyne Systems and the
    Cyberdyne building; Dyson and Dyson's home)."""
    settings: Mapping[str, frozenset[int]]
    """Each place and organisation, and the scenes of which two facts or more name it (or one related to it):
    where it sets the scene, so that "what happened at Cyberdyne?" is answered by any fact of that scene."""
    first_scene: Mapping[str, int]
    """Each entity and the first scene a fact names it (or one related to it) in."""

    @classmethod
    def of(cls, base: FactBase) -> EntityTable:
        """The table for ``base``."""
        aliases: dict[tuple[str, ...], str] = {}
        capitalised = {
            word
            for entity in base.entities.values()
            for phrase in (entity.name, *entity.aliases)
            for written in phrase.split()
            if written[0].isupper()
            for word in tokens(written)
        }
        for entity in base.entities.values():
            for phrase in (entity.name, *entity.aliases):
                if words := tuple(tokens(phrase)):
                    aliases.setdefault(words, entity.id)
                    if not words[-1].endswith("s") and (len(words) == 1 or words[-1] in capitalised):
                        # A possessive typed without its apostrophe ("dysons house", "sarah connors son"). Of a
                        # phrase ending in a common noun it would read plurals and verbs as names: "the cops" is not
                        # "the cop", "Dyson works" is not "Dyson's work".
                        aliases.setdefault((*words[:-1], words[-1] + "s"), entity.id)
                    named = words[1:] if words[0] in ("the", "a", "an") else words
                    if len(named) > 1 and len(joined := "".join(named)) >= 6:  # typed as one word: "judgmentday"
                        aliases.setdefault((joined,), entity.id)
        pronouns = {entity.id: entity.pronoun for entity in base.entities.values()}
        proper = {
            entity.id: frozenset(re.sub(r"['’]s$", "", word) for word in entity.name.split() if word[0].isupper())
            for entity in base.entities.values()
        }
        related = {
            entity: frozenset(
                other
                for other, words in proper.items()
                if other == entity or (own and words and (own <= words or words <= own))
            )
            for entity, own in proper.items()
        }
        settings = {}
        places = {entity.id for entity in base.entities.values() if entity.kind in ("place", "organization")}
        for place in places:
            counts = Counter(fact.scene for fact in base.facts if set(fact.entities) & related[place] & places)
            settings[place] = frozenset(scene for scene, count in counts.items() if count >= 2)
        first_scene = {
            entity: min((fact.scene for fact in base.facts if set(fact.entities) & related[entity]), default=0)
            for entity in related
        }
        return cls(aliases, pronouns, max(len(words) for words in aliases), related, settings, first_scene)


@dataclass(frozen=True, slots=True)
class Analysis:
    """What a message asks."""

    qtype: str
    """who, what, when, where, why, how, how_many, name, identity ("who is Dyson?"), fate ("what happened to
    him?") or yes_no."""
    query: tuple[str, ...]
    """Lemmas, with each entity's id after the words that name it and "you" replaced by whom it means."""
    content: tuple[str, ...]
    """The query's words that carry plot content (no stopwords, no entity ids)."""
    named: tuple[str, ...]
    """Entities the message names itself (not through "you")."""
    addressed: tuple[str, ...]
    """Entities the message reaches through "you", "your mom"..."""
    resolved: tuple[str, ...] = ()
    """Entities a pronoun stands for, from what was talked about before."""
    negated: bool = False
    follow_up: str | None = None
    """next or more ("and then?", "tell me more"); why, how, where, when, who ("why?"); ellipsis ("and sarah?")."""
    words: tuple[str, ...] = field(default=())
    frame: tuple[str, ...] = field(default=())
    """The query with each entity as its id alone: what a follow-up ("and sarah?") reuses."""
    aside: frozenset[str] = frozenset()
    """Content words the asker says of themselves after the question ("who won the fight, i spilled my popcorn"):
    the asker is not in the story, so these say nothing of what is asked."""
    strangers: tuple[str, ...] = ()
    """Kin the message asks about that no entity is ("your father"): ``Language.relatives`` outside a name."""

    @property
    def entities(self) -> tuple[str, ...]:
        """Every entity the message is about."""
        return tuple(dict.fromkeys((*self.named, *self.resolved, *self.addressed)))

    @property
    def text(self) -> str:
        """The query as one string, for the matcher."""
        return " ".join(self.query)


class Analyser:
    """Reads normalised messages against the fact base's entities and a persona's point of view."""

    def __init__(self, entities: EntityTable, language: Language) -> None:
        self.entities = entities
        self.language = language

    def __call__(
        self,
        message: Normalised,
        perspective: Mapping[tuple[str, ...], str] | None = None,
        recent: Sequence[str] = (),
    ) -> Analysis:
        """Analyse ``message`` as heard by a persona whose "you", "your mom"... mean ``perspective``."""
        words, lemmas = message.words, message.lemmas
        resolved = self._resolve(words, self._named(words), recent, perspective)
        query: list[str] = []
        frame: list[str] = []
        naming: list[str] = []
        named: list[str] = []
        addressed: list[str] = []
        position = 0
        table = self.entities.aliases
        longest = self.entities.longest
        while position < len(words):
            span = 0
            for size in range(min(longest, len(words) - position), 0, -1):
                key = tuple(words[position : position + size])
                if perspective and key in perspective:
                    entity, span = perspective[key], size
                    addressed.append(entity)
                    query.append(entity_token(entity))
                    frame.append(entity_token(entity))
                    break
                if key in table:
                    entity, span = table[key], size
                    named.append(entity)
                    naming.extend(lemma for lemma in lemmas[position : position + size] if lemma)
                    query.extend(lemma for lemma in lemmas[position : position + size] if lemma)
                    query.append(entity_token(entity))
                    frame.append(entity_token(entity))
                    break
            if span:
                position += span
                continue
            if lemmas[position]:
                query.extend(lemmas[position].split())
            if (stands_for := resolved.get(_PRONOUNS.get(words[position], ""))) is not None:
                query.append(entity_token(stands_for))
                frame.append(entity_token(stands_for))
            elif lemmas[position]:
                frame.extend(lemmas[position].split())
            position += 1
        content = tuple(term for term in query if term not in STOPWORDS and not term.startswith("_") and len(term) > 1)
        qtype = question_type(words, message.clauses)
        about = set(named) | set(resolved.values())
        if len(about) == 1 and _asks_fate(words):
            qtype = "fate"  # "what happened to him?", "what became of Dyson?": the last we hear of them
        rest = {term for term in query if not term.startswith("_")} - set(naming)
        if qtype in ("who", "what") and len(set(named)) == 1 and not addressed and rest <= _IDENTITY_WORDS:
            qtype = "identity"  # "who is dyson?", "what's skynet?": what the fact base says of it first
        # "why not?" and "why didn't she?" ask the same as "why?" of an answer that said something did not happen.
        asking = tuple(term for term in content if term not in naming and term not in ("not", "never"))
        follow_up = self._follow_up(words, asking, named, qtype)
        aside = frozenset(lemmas[position] for position in _asides(words, message.clauses)) & set(content)
        strangers = tuple(
            lemma
            for position, lemma in enumerate(lemmas)
            if lemma in self.language.relatives
            and lemma not in naming
            and words[position - 1 : position] not in (("my",), ("our",))  # the asker's own kin ("my uncle")
        )
        return Analysis(
            qtype=qtype,
            query=tuple(query),
            content=content,
            named=tuple(dict.fromkeys(named)),
            addressed=tuple(dict.fromkeys(addressed)),
            resolved=tuple(dict.fromkeys(resolved.values())),
            negated=message.negated,
            follow_up=follow_up,
            words=words,
            frame=tuple(frame),
            aside=aside,
            strangers=strangers,
        )

    def _named(self, words: Sequence[str]) -> set[str]:
        table, longest = self.entities.aliases, self.entities.longest
        return {
            table[key]
            for size in range(1, longest + 1)
            for start in range(len(words) - size + 1)
            if (key := tuple(words[start : start + size])) in table
        }

    def _resolve(
        self,
        words: Sequence[str],
        named: set[str],
        recent: Sequence[str],
        perspective: Mapping[tuple[str, ...], str] | None,
    ) -> dict[str, str]:
        """What he, she, it and they stand for: the latest talked-about entity of that pronoun.

        A pronoun the message itself gives a referent for ("Dyson said he...") is left alone, and so is whom the
        listener is ("you").
        """
        wanted = {_PRONOUNS[word] for word in words if word in _PRONOUNS}
        wanted -= {self.entities.pronouns.get(entity) for entity in named}
        listener = set(perspective.values()) if perspective else set()
        found: dict[str, str] = {}
        for pronoun in wanted:
            for entity in recent:
                if entity not in listener and self.entities.pronouns.get(entity) == pronoun:
                    found[pronoun] = entity
                    break
        return found

    def _follow_up(self, words: Sequence[str], content: Sequence[str], named: Sequence[str], qtype: str) -> str | None:
        key = tuple(words)
        for kind, phrases in self.language.follow_ups.items():
            if key in phrases:
                return kind
        if not named:
            # "and then what", "ok so what else?", "what did you do after that": a follow-up phrase of two words or
            # more, in a message that asks about nothing else.
            for kind, phrases in self.language.follow_ups.items():
                for phrase in phrases:
                    if len(phrase) >= 2 and _holds(key, phrase) and set(content) <= set(phrase):
                        return kind
        if not content and not named and qtype in ("why", "how", "where", "when", "who") and len(words) <= 6:
            return qtype
        if named and not content and qtype != "fate" and any(key[: len(lead)] == lead for lead in _ELLIPSIS_LEADS):
            return "ellipsis"
        if qtype == "what" and (ending := self._next_ending(key)) and set(content) <= set(ending):
            # "what did you do after?", "what did the T-1000 do next?": the next event (about whoever is named), if
            # something was said before.
            return "after"
        return None

    def _next_ending(self, words: Sequence[str]) -> tuple[str, ...] | None:
        """The longest of ``Language.next_endings`` that ends ``words``, if one does."""
        endings = [ending for ending in self.language.next_endings if tuple(words[-len(ending) :]) == ending]
        return max(endings, key=len, default=None)


def _asks_yes_or_no(words: Sequence[str]) -> bool:
    """True when ``words`` hold a verb put before its subject ("... did you see him", "... was it over")."""
    return any(word in _AUXILIARIES and following in _SUBJECTS for word, following in pairwise(words))


def _holds(words: Sequence[str], phrase: Sequence[str]) -> bool:
    """True when ``phrase`` occurs in ``words`` as a run of whole words."""
    size = len(phrase)
    return any(tuple(words[start : start + size]) == tuple(phrase) for start in range(len(words) - size + 1))


def _asks_fate(words: Sequence[str]) -> bool:
    text = f" {' '.join(words)} "
    return any(phrase in text for phrase in (" happened to ", " happens to ", " become of ", " became of "))


def _asks_purpose(words: Sequence[str], what: int) -> bool:
    """A "what" that asks why: "what was the point (of it)?", "for what reason?", "what did he do that for?",
    "to do what?"."""
    after = words[what + 1 : what + 4]
    if after[:1] and after[0] in _PURPOSE_NOUNS:
        return True  # "for what reason", "what purpose"
    if len(after) == 3 and after[0] in ("is", "was", "s") and after[1] == "the" and after[2] in _PURPOSE_NOUNS:
        return True  # "what was the point"
    if words[-1] == "for" and what < len(words) - 2 and words[-2] not in _TAKES_FOR:
        return True  # "what did you do that for"
    return what > 0 and words[0] == "to" and what == len(words) - 1  # "to do what?"


def entity_token(entity_id: str) -> str:
    """How an entity stands in a query: its id, marked so it is never taken for a word."""
    return f"_{entity_id}"


def _asides(words: Sequence[str], clauses: Sequence[int]) -> range:
    """The positions of what the asker says of themselves once the question is asked: from an "i" that is the
    subject of its own clause (not "did i", "where i was") to the end of that clause."""
    asked = False
    for position, word in enumerate(words):
        if word in _QUESTION_WORDS or (word in _AUXILIARIES and position in clauses):
            asked = True
            continue
        before = words[position - 1] if position else ""
        if word == "i" and asked and before not in _QUESTION_WORDS and before not in _AUXILIARIES:
            later = [start for start in clauses if start > position]
            return range(position, later[0] if later else len(words))
    return range(0)


_SUBJECTS = frozenset({"you", "he", "she", "it", "they", "we", "i", "the", "your", "his", "her", "their", "that"})
"""Words that open the subject of a question whose verb comes first ("did *you*...", "was *the* T-1000...")."""
_WHEN_ADVERBS = frozenset({"exactly", "precisely", "again", "ever", "roughly", "about", "in", "at", "on"})
"""Words after "when" that narrow the time asked for ("when exactly did you...") rather than open a clause."""


def question_type(words: Sequence[str], clauses: Sequence[int] = (0,)) -> str:
    """who, what, when, where, why, how, how_many, name or yes_no, from the question word (or the leading verb)
    of the main clause.

    "name" is a question for what someone or something is called ("what's the cop's name?"). ``clauses`` are the
    indexes where the message's clauses start (``Normalised.clauses``); see ``main_clause``.
    """
    return _clause_type(words[main_clause(words, clauses) :])


def main_clause(words: Sequence[str], clauses: Sequence[int]) -> int:
    """Where the clause that asks starts: the first that opens with a question word or a verb put first ("did…",
    "was…"), passing over a clause that only sets the time or a condition when another clause follows it ("when
    you found her, how did she act?") and over statements before the question ("I get the mall. but why…?").
    The whole message when no clause opens so."""
    for number, start in enumerate(clauses):
        end = clauses[number + 1] if number + 1 < len(clauses) else len(words)
        opening = start
        while opening < end - 1 and words[opening] in _FILLERS:
            opening += 1
        if opening >= end:
            continue
        first = words[opening]
        asks_time = first == "when" and opening + 1 < end and words[opening + 1] in _AUXILIARIES  # "when did…"
        if first in _SUBORDINATORS and not asks_time and number + 1 < len(clauses):
            continue
        if first in _QUESTION_WORDS or first in _AUXILIARIES:
            return start
    return 0


def _clause_type(words: Sequence[str]) -> str:
    if _NAMING & set(words) and _NAME_ASKING & set(words):
        return "name"  # "what's the cop called?"; but "why is Skynet called that?" asks why
    start = 0
    while start < len(words) - 1 and words[start] in _FILLERS:
        start += 1
    if start < len(words) and words[start] in _AUXILIARIES:
        embedded = [word for word in words[start : start + 6] if word in _QUESTION_WORDS]
        if not embedded or not {"know", "tell", "remember", "explain", "idea"} & set(words[start : start + 5]):
            return "yes_no"
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if word == "how":
            return "how_many" if following in _HOW_MUCH else "why" if following == "come" else "how"
        if word in ("what", "which"):
            if following in _CAUSING:
                return "why"  # "what made you change your mind?"
            if following in _WHEN_NOUNS:
                return "when"
            if following in _WHERE_NOUNS:
                return "where"
            if following == "for" and index + 2 >= len(words):
                return "why"
            if _asks_purpose(words, index):
                return "why"
            return "what"
        if word in ("who", "whom"):
            return "who"
        if word == "whose":
            return "what"
        if word == "when" and following not in _AUXILIARIES and (_QUESTION_WORDS - {"when"}) & set(words[index + 1 :]):
            continue  # "when they got to the mill who was waiting": a time clause, then the question
        if word == "when" and following not in _AUXILIARIES | _WHEN_ADVERBS and _asks_yes_or_no(words[index + 3 :]):
            return "yes_no"  # "when you got to the mill did he see you": a time clause, then a yes-or-no question
        if word == "where" and "from" in words[index + 1 :] and {"come", "came", "comes"} & set(words[index + 1 :]):
            return "what"  # "where did his research come from?" asks what it came from, not a place
        if word in ("when", "where", "why"):
            return word
    return "what"
