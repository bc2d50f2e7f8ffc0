"""The offline grounded responder: understands a message, retrieves facts, answers in a persona's voice."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from personas import intent
from personas.composer import ReplyBuilder
from personas.factbase import Fact
from personas.knowledge import Knowledge, ScoredFact, content_terms
from personas.memory import MemoryState, Reply
from personas.persona import Persona
from personas.textnorm import clean_input, tokens

__all__ = ["GroundedEngine", "MemoryState", "Reply"]  # MemoryState and Reply live in personas.memory

_MIN_COVERAGE = 0.5
_MIN_SCORE = 1.5


@dataclass(slots=True)
class _Understanding:
    words: list[str]
    entities: dict[str, float]
    explicit_entities: list[str]
    alias_terms: list[str]
    """The words of the aliases the entities were named by ("leader of the resistance" for John)."""
    terms: list[str]
    qtype: str
    follow_up: str | None
    fate: bool
    broad: bool
    future: bool
    measure: bool


class GroundedEngine:
    """Answers from the fact base only; says in voice that it does not know when nothing supports an answer."""

    def __init__(self, knowledge: Knowledge, personas: Mapping[str, Persona]) -> None:
        self.knowledge = knowledge
        self.personas = personas
        self._perspective: dict[str, dict[tuple[str, ...], str]] = {}
        for persona in personas.values():
            table = {tuple(tokens(phrase)): entity for phrase, entity in persona.perspective.items()}
            if ("you",) in table:
                table.setdefault(("your",), table[("you",)])
            self._perspective[persona.id] = table
        self._proper_words = frozenset(
            word
            for entity in knowledge.base.entities.values()
            for word in re.findall(r"[A-Za-z][\w-]*", entity.name)
            if word[0].isupper()
        ) | {"I", "I'm", "I've", "I'd", "I'll"}

    def respond(
        self, persona_id: str, message: str, memory: MemoryState, *, seed_key: str = "", at_scene: int | None = None
    ) -> Reply:
        """Answer ``message`` as ``persona_id`` given the conversation's memory; deterministic for the same state."""
        persona = self.personas[persona_id]
        turn = ReplyBuilder(persona, memory, seed_key, at_scene, self.continue_sentence)
        clean = clean_input(message)
        if not clean.text:
            return turn.voice("empty")
        words = tokens(clean.text)
        if not words or (clean.had_letters and not clean.latin):
            return turn.voice("unreadable")
        reply = self._answer(turn, words)
        if clean.truncated:
            prefix = turn.pick_voice("too_long")
            reply = replace(reply, text=f"{prefix} {reply.text}")
        return reply

    def _answer(self, turn: ReplyBuilder, words: list[str]) -> Reply:
        folded = " ".join(words)
        if intent.INJECTION.search(folded):
            return turn.voice("injection")
        if intent.SMALL_TALK_ONLY.match(folded):
            return self._small_talk(turn, folded) or turn.voice("greetings")
        understanding = self._understand(turn, words, folded)
        if understanding.follow_up is not None and not understanding.explicit_entities:
            return self._follow_up(turn, understanding)
        reply = self._retrieve(turn, understanding)
        if reply.fact_ids:
            return reply
        return self._small_talk(turn, folded) or reply

    def _small_talk(self, turn: ReplyBuilder, folded: str) -> Reply | None:
        kind = intent.small_talk_kind(folded)
        return turn.voice(kind) if kind else None

    def _understand(self, turn: ReplyBuilder, words: list[str], folded: str) -> _Understanding:
        mentions = self.knowledge.spot_entities(words, self._perspective[turn.persona.id])
        covered = {index for mention in mentions for index in range(mention.start, mention.end)}
        entities: dict[str, float] = {}
        explicit: list[str] = []
        self_id = self._perspective[turn.persona.id].get(("you",))
        for mention in mentions:
            addressed = words[mention.start] in ("you", "yourself", "your")
            weight = 0.5 if mention.entity_id == self_id and addressed else 1.0
            entities[mention.entity_id] = max(entities.get(mention.entity_id, 0.0), weight)
            if weight == 1.0 and mention.entity_id not in explicit:
                explicit.append(mention.entity_id)
        if not explicit:
            resolved = self._resolve_pronoun(words, turn.memory)
            if resolved is not None:
                entities[resolved] = 1.0
                explicit.append(resolved)
        if len(entities) > 1 and not explicit and self_id in entities:
            entities[self_id] = 1.0
        free_words = [word for index, word in enumerate(words) if index not in covered]
        alias_terms = content_terms([word for index, word in enumerate(words) if index in covered])
        terms = [term for term in content_terms(free_words) if term not in intent.PRONOUNS]
        return _Understanding(
            words=words,
            entities=entities,
            explicit_entities=explicit,
            alias_terms=alias_terms,
            terms=terms,
            qtype=intent.question_type(words),
            follow_up=intent.follow_up_kind(words, folded),
            fate=bool(intent.FATE.search(folded)),
            broad=bool(intent.BROAD.match(folded)) and not terms and bool(explicit),
            future=bool(intent.FUTURE.search(folded)),
            measure=bool(intent.MEASURE.match(folded)),
        )

    def continue_sentence(self, line: str) -> str:
        """Lower-case a line's first word when it follows an opener such as "Okay, so" (names stay as they are)."""
        first, _, rest = line.partition(" ")
        if not first or first in self._proper_words or first.rstrip(",.:;!?") in self._proper_words:
            return line
        return f"{first[0].lower()}{first[1:]} {rest}".rstrip()

    def _resolve_pronoun(self, words: list[str], memory: MemoryState) -> str | None:
        wanted = {intent.PRONOUNS[word] for word in words if word in intent.PRONOUNS and word not in ("it", "its")}
        if not wanted or not memory.entities:
            return None
        for entity_id in memory.entities:
            entity = self.knowledge.base.entities.get(entity_id)
            if entity is not None and entity.pronoun in wanted:
                return entity_id
        return None

    def _boosts(self, understanding: _Understanding, candidates: Sequence[ScoredFact]) -> dict[str, float]:
        boosts: dict[str, float] = {}
        for item in candidates:
            fact = item.fact
            text = fact.text.lower()
            bonus = 0.0
            qtype = understanding.qtype
            if qtype == "when" and intent.MONTHS.search(text):
                bonus += 2.0
            elif qtype == "where" and any(
                self._kind(e) == "place" and e not in understanding.entities for e in fact.entities
            ):
                bonus += 0.5
            elif qtype == "why" and intent.REASON.search(text):
                bonus += 0.3
            elif qtype == "who":
                lead = fact.entities[0]
                if self._kind(lead) == "person" and lead not in understanding.entities:
                    bonus += 2.0
                elif any(self._kind(e) == "person" and e not in understanding.entities for e in fact.entities):
                    bonus += 0.3
            if understanding.future and intent.FUTURE.search(text):
                bonus += 0.5
            if bonus:
                boosts[fact.id] = bonus
        return boosts

    def _kind(self, entity_id: str) -> str:
        entity = self.knowledge.base.entities.get(entity_id)
        return entity.kind if entity else ""

    def _retrieve(self, turn: ReplyBuilder, understanding: _Understanding) -> Reply:
        knowledge = self.knowledge
        has_content = bool(understanding.explicit_entities) or any(
            term in knowledge.vocabulary for term in understanding.terms
        )
        persona_id = turn.persona.id
        if understanding.broad or (understanding.fate and not understanding.terms):
            return self._about_entities(turn, understanding)
        ranked = knowledge.rank(understanding.terms, understanding.entities, persona=persona_id, at_scene=turn.at_scene)
        boosts = self._boosts(understanding, ranked[:12])
        if boosts:
            ranked = knowledge.rank(
                understanding.terms, understanding.entities, persona=persona_id, at_scene=turn.at_scene, boosts=boosts
            )
        accepted = [item for item in ranked if self._supports(item, understanding)]
        named = understanding.explicit_entities
        accepted.sort(
            key=lambda item: (
                -sum(entity in item.fact.entities for entity in named),
                -item.score * (0.5 + item.coverage),
            )
        )
        if (
            understanding.measure
            and accepted
            and not intent.NUMBER.search(intent.T_MODEL.sub("", accepted[0].fact.text.lower()))
        ):
            accepted = []
        if not accepted:
            return turn.voice("unknown" if has_content else "off_topic", entities=understanding.explicit_entities)
        best = accepted[0]
        close = [item for item in accepted if item.score >= best.score * 0.85 and item.coverage >= best.coverage]
        chosen = next((item.fact for item in close if item.fact.id not in turn.memory.said_facts), best.fact)
        return turn.facts([chosen], understanding.explicit_entities, kind="facts")

    def _supports(self, item: ScoredFact, understanding: _Understanding) -> bool:
        """Whether a ranked fact answers the question: it covers enough of it, and names who or what was asked about.

        Places only set the scene of a question ("what weapon at the steel mill?"), so they need not be named.
        """
        if item.coverage < _MIN_COVERAGE or (understanding.terms and item.score < _MIN_SCORE):
            return False
        named = [entity for entity in understanding.explicit_entities if self._kind(entity) != "place"]
        if named and not any(entity in item.fact.entities for entity in named):
            return False
        covers_all = len(named) > 1 and all(entity in item.fact.entities for entity in named)
        if understanding.terms and not item.term_hits and not covers_all:
            return False  # it names the right people but says nothing about what was asked
        unknown_terms = [term for term in understanding.terms if term not in self.knowledge.vocabulary]
        return not unknown_terms or item.coverage > 0.6

    def _about_entities(self, turn: ReplyBuilder, understanding: _Understanding) -> Reply:
        if not understanding.explicit_entities:
            return turn.voice("unknown")
        entity_id = understanding.explicit_entities[0]
        facts = self.knowledge.facts_about(entity_id, persona=turn.persona.id, at_scene=turn.at_scene)
        if understanding.fate:
            facts = list(reversed(facts))
        else:
            wording = set(understanding.alias_terms)
            facts.sort(key=lambda fact: (-self.knowledge.shared_terms(fact, wording), fact.entities[0] != entity_id))
        unsaid = [fact for fact in facts if fact.id not in turn.memory.said_facts] or facts
        if not unsaid:
            return turn.voice("unknown", entities=understanding.explicit_entities)
        count = 1 if understanding.fate else 2
        return turn.facts(unsaid[:count], understanding.explicit_entities, kind="facts")

    def _follow_up(self, turn: ReplyBuilder, understanding: _Understanding) -> Reply:
        memory = turn.memory
        persona_id = turn.persona.id
        if not memory.last_facts:
            return turn.voice("follow_up_exhausted")
        last = memory.last_facts[-1]
        candidates: list[Fact] = []
        if understanding.follow_up == "more" and memory.entities:
            for entity_id in memory.entities[:2]:
                candidates += self.knowledge.facts_about(entity_id, persona=persona_id, at_scene=turn.at_scene)
        candidates += self.knowledge.next_after(last, persona=persona_id, at_scene=turn.at_scene)
        fresh = [fact for fact in candidates if fact.id not in memory.said_facts]
        if not fresh:
            return turn.voice("follow_up_exhausted")
        return turn.facts([fresh[0]], [], kind="follow_up")


def _states_a_number(fact: Fact) -> bool:
    """True when the fact's sentence holds a quantity (model names such as T-800 do not count)."""
    return bool(intent.NUMBER.search(intent.T_MODEL.sub("", fact.text.lower())))
