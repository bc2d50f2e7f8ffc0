"""The offline grounded responder: understands a message, retrieves facts, answers in a persona's voice."""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from personas.factbase import Fact
from personas.knowledge import Knowledge, ScoredFact, content_terms
from personas.persona import Persona
from personas.textnorm import clean_input, tokens

__all__ = ["GroundedEngine", "MemoryState", "Reply"]

_MEMORY_LIMIT = 200
_RECENT_ENTITIES = 6
_MIN_COVERAGE = 0.5
_MIN_SCORE = 1.5


def _phrases(*items: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(tokens(item)) for item in items)


_INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instruction|instructions|prompt|rules|previous|above|everything)\b"
    r"|\bsystem prompt\b|\byou are now\b|\bact as\b|\bpretend (to be|you are)\b|\bdeveloper mode\b|\bjailbreak"
    r"|\bas an ai\b|\blanguage model\b|\bai assistant\b|\bnew instructions\b|\brole ?play as\b|\bdan mode\b"
    r"|^system\b|\bim start\b|\bim end\b|\bendoftext\b|\breveal your (instructions|prompt|rules)\b"
)
_FOLLOW_NEXT = _phrases(
    "and then",
    "then what",
    "what next",
    "what happened next",
    "what happens next",
    "after that",
    "go on",
    "continue",
    "keep going",
    "next",
    "then",
)
_FOLLOW_MORE = _phrases("tell me more", "more", "what else", "anything else", "say more", "go on about")
_FATE = re.compile(r"\bhappen(s|ed)? to\b|\bbecome of\b|\bend up\b|\bwhat about\b")
_BROAD = re.compile(
    r"^(?:(?:thanks|thank you|ok|okay|so|well|and|hey|hi|hello|now|please|but)\s+)*"
    r"(tell me about|who is|who was|what is|what was|what about|talk about|what do you know about)\b"
)
_SMALL_TALK: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("thanks", re.compile(r"\b(thanks|thank you|thank u|thx|ty|cheers|much appreciated)\b")),
    ("farewells", re.compile(r"^(bye|goodbye|good bye|see you|see ya|later|farewell|good night|gtg)\b")),
    ("who_am_i", re.compile(r"\b(who are you|what are you|whats your name|what is your name|introduce yourself)\b")),
    ("how_are_you", re.compile(r"\b(how are you|how r u|how are things|hows it going|how do you feel)\b")),
    ("catchphrases", re.compile(r"\b(catchphrase|catch phrase|famous line|say the line|quote|your line)\b")),
    ("insults", re.compile(r"\b(stupid|idiot|dumb|moron|hate you|shut up|you suck|useless|trash|loser|pathetic)\b")),
    ("greetings", re.compile(r"^(hi|hello|hey|heya|yo|howdy|greetings|hiya|sup|whats up|good (morning|evening))\b")),
)
_SMALL_TALK_ONLY = re.compile(
    r"^(?:(?:hi|hello|hey|yo|ok|okay|so|well|and|but|please)\s+)*(?:"
    r"who are you|what are you|whats your name|what is your name|introduce yourself|tell me about yourself"
    r"|how are you( doing)?|how r u|hows it going|thanks?( you)?( so much)?|thx|ty|cheers"
    r"|bye|goodbye|see you|see ya|farewell|good night"
    r"|hi|hello|hey|heya|yo|howdy|greetings|hiya|sup|whats up|good (morning|afternoon|evening)"
    r")(?:\s+(?:john|sarah|t800|terminator|man|dude|buddy|pal|friend|there|again|mate|bro))*$"
)
_QUESTION_WORDS = {"who", "what", "when", "where", "why", "how", "which"}
_YES_NO = {"did", "does", "do", "is", "was", "are", "were", "can", "could", "will", "would", "has", "have", "had"}
_MONTHS = re.compile(
    r"\b(1\d{3}|january|february|march|april|may|june|july|august|september|october|november|december)"
)
_FUTURE = re.compile(r"\b(will|would|going to)\b")
_MEASURE = re.compile(r"^how (old|many|much|tall|long|big|far|fast|heavy)\b")
_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|several)\b")
_T_MODEL = re.compile(r"\bt-\d+")
_REASON = re.compile(r"\b(to|because|since|in order|fearing|after|so that)\b")
_PRONOUNS = {
    "he": "he",
    "him": "he",
    "his": "he",
    "himself": "he",
    "she": "she",
    "her": "she",
    "hers": "she",
    "it": "it",
    "its": "it",
    "they": "they",
    "them": "they",
    "their": "they",
}


@dataclass(slots=True)
class MemoryState:
    """What a conversation remembers between turns; stored as JSON with the conversation."""

    turn: int = 0
    entities: list[str] = field(default_factory=list)
    last_facts: list[str] = field(default_factory=list)
    said_facts: list[str] = field(default_factory=list)
    used_lines: list[str] = field(default_factory=list)

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None, turn: int = 0) -> MemoryState:
        """Rebuild from stored JSON, tolerating missing or malformed keys."""
        data = data or {}

        def strings(key: str) -> list[str]:
            value = data.get(key)
            return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []

        return cls(turn, strings("entities"), strings("last_facts"), strings("said_facts"), strings("used_lines"))

    def to_data(self) -> dict[str, Any]:
        """The JSON document stored for this memory (the turn is stored in its own column)."""
        return {
            "entities": self.entities,
            "last_facts": self.last_facts,
            "said_facts": self.said_facts,
            "used_lines": self.used_lines,
        }


@dataclass(frozen=True, slots=True)
class Reply:
    """A persona's answer: the text, the facts it states, what kind of answer it is, and the new memory."""

    persona: str
    text: str
    fact_ids: tuple[str, ...]
    kind: str
    memory: MemoryState


@dataclass(slots=True)
class _Understanding:
    words: list[str]
    entities: dict[str, float]
    explicit_entities: list[str]
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
        turn = _Turn(self, persona, memory, seed_key, at_scene)
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

    def _answer(self, turn: _Turn, words: list[str]) -> Reply:
        folded = " ".join(words)
        if _INJECTION.search(folded):
            return turn.voice("injection")
        if _SMALL_TALK_ONLY.match(folded):
            return self._small_talk(turn, folded) or turn.voice("greetings")
        understanding = self._understand(turn, words, folded)
        if understanding.follow_up is not None and not understanding.explicit_entities:
            return self._follow_up(turn, understanding)
        reply = self._retrieve(turn, understanding)
        if reply.fact_ids:
            return reply
        return self._small_talk(turn, folded) or reply

    def _small_talk(self, turn: _Turn, folded: str) -> Reply | None:
        for field_name, pattern in _SMALL_TALK:
            if pattern.search(folded):
                return turn.voice(field_name)
        return None

    def _understand(self, turn: _Turn, words: list[str], folded: str) -> _Understanding:
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
        terms = [term for term in content_terms(free_words) if term not in _PRONOUNS]
        first = words[0]
        qtype = first if first in _QUESTION_WORDS else "yesno" if first in _YES_NO else "statement"
        follow_up = None
        key = tuple(words)
        if key in _FOLLOW_NEXT or (len(words) <= 4 and key[:2] in _FOLLOW_NEXT):
            follow_up = "next"
        elif key in _FOLLOW_MORE or folded.startswith("tell me more"):
            follow_up = "more"
        return _Understanding(
            words=words,
            entities=entities,
            explicit_entities=explicit,
            terms=terms,
            qtype=qtype,
            follow_up=follow_up,
            fate=bool(_FATE.search(folded)),
            broad=bool(_BROAD.match(folded)) and not terms and bool(explicit),
            future=bool(_FUTURE.search(folded)),
            measure=bool(_MEASURE.match(folded)),
        )

    def continue_sentence(self, line: str) -> str:
        """Lower-case a line's first word when it follows an opener such as "Okay, so" (names stay as they are)."""
        first, _, rest = line.partition(" ")
        if not first or first in self._proper_words or first.rstrip(",.:;!?") in self._proper_words:
            return line
        return f"{first[0].lower()}{first[1:]} {rest}".rstrip()

    def _resolve_pronoun(self, words: list[str], memory: MemoryState) -> str | None:
        wanted = {_PRONOUNS[word] for word in words if word in _PRONOUNS and word not in ("it", "its")}
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
            if qtype == "when" and _MONTHS.search(text):
                bonus += 2.0
            elif qtype == "where" and any(
                self._kind(e) == "place" and e not in understanding.entities for e in fact.entities
            ):
                bonus += 0.5
            elif qtype == "why" and _REASON.search(text):
                bonus += 0.3
            elif qtype == "who":
                lead = fact.entities[0]
                if self._kind(lead) == "person" and lead not in understanding.entities:
                    bonus += 2.0
                elif any(self._kind(e) == "person" and e not in understanding.entities for e in fact.entities):
                    bonus += 0.3
            if understanding.future and _FUTURE.search(text):
                bonus += 0.5
            if bonus:
                boosts[fact.id] = bonus
        return boosts

    def _kind(self, entity_id: str) -> str:
        entity = self.knowledge.base.entities.get(entity_id)
        return entity.kind if entity else ""

    def _retrieve(self, turn: _Turn, understanding: _Understanding) -> Reply:
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
        accepted.sort(key=lambda item: -item.score * (0.5 + item.coverage))
        if understanding.measure and accepted and not _NUMBER.search(_T_MODEL.sub("", accepted[0].fact.text.lower())):
            accepted = []
        if not accepted:
            return turn.voice("unknown" if has_content else "off_topic", entities=understanding.explicit_entities)
        best = accepted[0]
        close = [item for item in accepted if item.score >= best.score * 0.85 and item.coverage >= best.coverage]
        chosen = next((item.fact for item in close if item.fact.id not in turn.memory.said_facts), best.fact)
        return turn.facts([chosen], understanding.explicit_entities, kind="facts")

    def _supports(self, item: ScoredFact, understanding: _Understanding) -> bool:
        if item.coverage < _MIN_COVERAGE or (understanding.terms and item.score < _MIN_SCORE):
            return False
        unknown_terms = [term for term in understanding.terms if term not in self.knowledge.vocabulary]
        return not unknown_terms or item.coverage > 0.6

    def _about_entities(self, turn: _Turn, understanding: _Understanding) -> Reply:
        if not understanding.explicit_entities:
            return turn.voice("unknown")
        entity_id = understanding.explicit_entities[0]
        facts = self.knowledge.facts_about(entity_id, persona=turn.persona.id, at_scene=turn.at_scene)
        if understanding.fate:
            facts = list(reversed(facts))
        else:
            facts.sort(key=lambda fact: fact.entities[0] != entity_id)
        unsaid = [fact for fact in facts if fact.id not in turn.memory.said_facts] or facts
        if not unsaid:
            return turn.voice("unknown", entities=understanding.explicit_entities)
        count = 1 if understanding.fate else 2
        return turn.facts(unsaid[:count], understanding.explicit_entities, kind="facts")

    def _follow_up(self, turn: _Turn, understanding: _Understanding) -> Reply:
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


class _Turn:
    """One reply being built: seeded choices and the memory update."""

    def __init__(
        self, engine: GroundedEngine, persona: Persona, memory: MemoryState, seed_key: str, at_scene: int | None
    ) -> None:
        self.engine = engine
        self.persona = persona
        self.memory = memory
        self.seed_key = seed_key
        self.at_scene = at_scene
        self._used = set(memory.used_lines)
        self._new_lines: list[str] = []

    def _seed(self, slot: str) -> int:
        return zlib.crc32(f"{self.seed_key}|{self.persona.id}|{self.memory.turn}|{slot}".encode())

    def _choose(self, slot: str, variants: Sequence[str]) -> str:
        keys = [f"{slot}#{index}" for index in range(len(variants))]
        fresh = [index for index, key in enumerate(keys) if key not in self._used] or list(range(len(variants)))
        index = fresh[self._seed(slot) % len(fresh)]
        self._new_lines.append(keys[index])
        return variants[index]

    def pick_voice(self, field_name: str) -> str:
        """A variant of one of the persona's voice fields."""
        variants: tuple[str, ...] = getattr(self.persona.voice, field_name)
        return self._choose(f"v:{field_name}", variants)

    def voice(self, field_name: str, *, entities: Sequence[str] = ()) -> Reply:
        """A reply that states no plot fact."""
        text = self.pick_voice(field_name)
        return self._reply(text, [], field_name, entities)

    def facts(self, facts: Sequence[Fact], entities: Sequence[str], *, kind: str) -> Reply:
        """A reply stating ``facts`` in the persona's own lines."""
        voice = self.persona.voice
        parts: list[str] = []
        if voice.openers and self._seed("opener") % 4 == 0:
            parts.append(self._choose("v:openers", voice.openers))
        for position, fact in enumerate(facts):
            if position and voice.connectors:
                parts.append(self._choose("v:connectors", voice.connectors))
            line = self._choose(f"f:{fact.id}", fact.lines[self.persona.id])
            if parts and not parts[-1].endswith((".", "!", "?", ":")):
                line = self.engine.continue_sentence(line)
            parts.append(line)
        mentioned = list(entities)
        for fact in facts:
            mentioned += [entity for entity in fact.entities if entity not in mentioned]
        return self._reply(" ".join(part for part in parts if part), facts, kind, mentioned)

    def _reply(self, text: str, facts: Sequence[Fact], kind: str, entities: Sequence[str]) -> Reply:
        memory = self.memory
        fact_ids = [fact.id for fact in facts]
        recent = list(dict.fromkeys([*entities, *memory.entities]))[:_RECENT_ENTITIES]
        said = [fact_id for fact_id in memory.said_facts if fact_id not in fact_ids] + fact_ids
        used = [key for key in memory.used_lines if key not in self._new_lines] + self._new_lines
        new_memory = MemoryState(
            turn=memory.turn + 1,
            entities=recent,
            last_facts=fact_ids or memory.last_facts,
            said_facts=said[-_MEMORY_LIMIT:],
            used_lines=used[-_MEMORY_LIMIT:],
        )
        return Reply(self.persona.id, text, tuple(fact_ids), kind, new_memory)
