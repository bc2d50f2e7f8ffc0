"""Composing a persona's reply: seeded, non-repeating choices among its lines, and the memory that follows."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence

from personas.factbase import Fact
from personas.memory import MEMORY_LIMIT, RECENT_ENTITIES, MemoryState, Reply, shared_id
from personas.persona import Persona

__all__ = ["ReplyBuilder", "telling_words"]


def _stutters(lead: str, line: str) -> bool:
    """True when ``line`` already says a word of ``lead`` ("So, man," + "Man, ..."; "Seriously," + "... Seriously")."""
    said = set(re.findall(r"[a-z']+", line.lower()))
    return any(word in said for word in re.findall(r"[a-z']+", lead.lower()) if len(word) > 2 or word == "man")


def telling_words(text: str) -> set[str]:
    """The words of ``text`` three letters or digits long or longer, lower-cased: what says an answer."""
    return set(re.findall(r"[a-z0-9]{3,}", text.lower()))


def _holds_answer(line: str, answer: str) -> bool:
    """True when ``line`` says every telling word of ``answer``."""
    return telling_words(answer) <= telling_words(line)


_ANSWERS_NOTHING = frozenset({"unknown", "off_topic"})
"""Replies after which "and then?" or "why?" has nothing to go on from: what was said before them is no longer
what the conversation is about."""


class ReplyBuilder:
    """One reply being built: seeded choices among variants, and the memory update."""

    def __init__(
        self,
        persona: Persona,
        memory: MemoryState,
        seed_key: str,
        at_scene: int | None,
        continue_sentence: Callable[[str], str],
    ) -> None:
        self.continue_sentence = continue_sentence
        self.persona = persona
        self.memory = memory
        self.seed_key = seed_key
        self.at_scene = at_scene
        self._used = set(memory.used_lines)
        self._new_lines: list[str] = []

    def _seed(self, slot: str) -> int:
        return zlib.crc32(f"{self.seed_key}|{self.persona.id}|{self.memory.turn}|{slot}".encode())

    def _choose(
        self, slot: str, variants: Sequence[str], saying: str = "", allowed: Sequence[int] | None = None
    ) -> str:
        keys = [f"{slot}#{index}" for index in range(len(variants))]
        choices = list(allowed) if allowed is not None else list(range(len(variants)))
        fresh = [index for index in choices if keys[index] not in self._used] or choices
        if saying:  # the lines that say it, when the question asked for it ("why?"), even said before
            wanted = set(re.findall(r"[a-z]{3,}", saying.lower()))
            overlap = [len(wanted & set(re.findall(r"[a-z]{3,}", variant.lower()))) for variant in variants]
            saying_most = [index for index in range(len(variants)) if overlap[index] == max(overlap)]
            fresh = [index for index in saying_most if index in fresh] or saying_most
        index = fresh[self._seed(slot) % len(fresh)]
        self._new_lines.append(shared_id(keys[index]))
        return variants[index]

    def pick_voice(self, field_name: str, *, avoiding: str = "") -> str:
        """A variant of one of the persona's voice fields (one that repeats no word of ``avoiding``, if any does)."""
        variants: tuple[str, ...] = getattr(self.persona.voice, field_name)
        allowed = [index for index, variant in enumerate(variants) if not (avoiding and _stutters(variant, avoiding))]
        return self._choose(f"v:{field_name}", variants, allowed=allowed or None)

    def voice(self, field_name: str, *, entities: Sequence[str] = ()) -> Reply:
        """A reply that states no plot fact."""
        text = self.pick_voice(field_name)
        return self._reply(text, [], field_name, entities)

    def facts(self, facts: Sequence[Fact], entities: Sequence[str], *, kind: str, asked: str = "") -> Reply:
        """A reply stating ``facts`` in the persona's own lines; for an ``asked`` question type (why, where...) the
        lines that hold the fact's answer to it come first."""
        voice = self.persona.voice
        parts: list[str] = []
        for position, fact in enumerate(facts):
            line = self._choose(f"f:{fact.id}", fact.lines[self.persona.id], fact.answers.get(asked, ""))
            when = fact.answers.get("when", "") if asked == "when" else ""
            if any(character.isdigit() for character in when) and not _holds_answer(line, when):
                # "When does Skynet start Judgment Day?" is answered with the date, though no line of the fact says
                # it. (A time given in words, "as she escaped", is told by the lines in words of their own.)
                line = f"{when[0].upper()}{when[1:]}. {line}"
            lead = ""
            if position and voice.connectors:
                lead = self._choose("v:connectors", voice.connectors)
            elif not position and voice.openers and self._seed("opener") % 4 == 0:
                lead = self._choose("v:openers", voice.openers)
            if lead and not _stutters(lead, line):
                parts.append(lead)
                if not lead.endswith((".", "!", "?", ":")):
                    line = self.continue_sentence(line)
            parts.append(line)
        mentioned = list(entities)
        for fact in facts:
            mentioned += [entity for entity in fact.entities if entity not in mentioned]
        return self._reply(" ".join(part for part in parts if part), facts, kind, mentioned)

    def _reply(self, text: str, facts: Sequence[Fact], kind: str, entities: Sequence[str]) -> Reply:
        memory = self.memory
        fact_ids = [shared_id(fact.id) for fact in facts]
        recent = list(dict.fromkeys([*map(shared_id, entities), *memory.entities]))[:RECENT_ENTITIES]
        said = [fact_id for fact_id in memory.said_facts if fact_id not in fact_ids] + fact_ids
        used = [key for key in memory.used_lines if key not in self._new_lines] + self._new_lines
        new_memory = MemoryState(
            turn=memory.turn + 1,
            entities=recent,
            last_facts=fact_ids or ([] if kind in _ANSWERS_NOTHING else memory.last_facts),
            said_facts=said[-MEMORY_LIMIT:],
            used_lines=used[-MEMORY_LIMIT:],
            topic=memory.topic,
            topic_type=memory.topic_type,
        )
        return Reply(self.persona.id, text, tuple(fact_ids), kind, new_memory)
