"""The model backend: retrieve the facts a persona knows for a message, ask the model, and let only a reply that
passes the fact guard through. Anything else (an error, a timeout, a reply the guard refuses) returns None, and the
caller posts the offline engine's reply."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cachetools import LRUCache

from bot.llm.client import Completion, ModelClient, ModelError, OnText
from bot.llm.guard import FactGuard, Verdict
from bot.llm.prompt import Turn, build_messages, card_text
from bot.llm.speaker import Speaker
from bot.llm.streaming import StreamPreview
from personas.engine import GroundedEngine
from personas.factbase import Fact
from personas.memory import MemoryState
from personas.persona import Persona

__all__ = ["FACTS_IN_PROMPT", "ModelBackend", "ModelReply", "Rejection"]

log = logging.getLogger(__name__)

FACTS_IN_PROMPT = 6
"""How many facts the prompt holds: the retriever's best for the message that the persona knows."""
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
CHARACTER_GUARDS = 256
"""Guards kept for cards' characters (each guild may add its own); one used less recently is built again."""


@dataclass(frozen=True, slots=True)
class ModelReply:
    """A guarded model reply, with the facts it cites and what it cost."""

    text: str
    fact_ids: tuple[str, ...]
    tokens: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why the model's answer was not used: ``error`` (server, timeout, cut), ``unreadable`` or ``guard``."""

    kind: str
    detail: str
    tokens: int = 0


@dataclass(slots=True)
class ModelBackend:
    """Asks ``client`` in each persona's voice, with the facts ``engine`` retrieves, and guards every answer."""

    client: ModelClient
    engine: GroundedEngine
    personas: Mapping[str, Persona]
    _guards: dict[str, FactGuard] = field(default_factory=dict)
    _character_guards: LRUCache[tuple[str, str, str, int | None], FactGuard] = field(
        default_factory=lambda: LRUCache(CHARACTER_GUARDS)
    )

    def guard(self, persona_id: str) -> FactGuard:
        """The fact guard for one persona (built once)."""
        guard = self._guards.get(persona_id)
        if guard is None:
            persona = self.personas[persona_id]
            others = [other for key, other in self.personas.items() if key != persona_id]
            guard = FactGuard(persona, self.engine.knowledge.base, others, card_texts=[card_text(persona)])
            self._guards[persona_id] = guard
        return guard

    def guard_for(self, speaker: Speaker) -> FactGuard:
        """The fact guard for a speaker: a roster persona's own (restyled or not: a card's text backs nothing), or
        one for a card's character, bounded by the knowledge it declares and backed by the fact base alone."""
        if speaker.persona.id in self.personas:
            return self.guard(speaker.persona.id)
        key = (speaker.persona.id, speaker.persona.display_name, speaker.knows_like, speaker.until_scene)
        guard = self._character_guards.get(key)
        if guard is None:
            guard = FactGuard(
                speaker.persona,
                self.engine.knowledge.base,
                list(self.personas.values()),
                knows_like=speaker.knows_like,
                until_scene=speaker.until_scene,
            )
            self._character_guards[key] = guard
        return guard

    def facts_for(
        self, persona_id: str, message: str, memory: MemoryState, at_scene: int | None, *, knows_like: str | None = None
    ) -> list[Fact]:
        """The facts to put in the prompt: the best-ranked ones this persona (or whoever it ``knows_like``) knows at
        this scene, and the last one it said (so a follow-up can be answered)."""
        persona_id = knows_like or persona_id
        analysis = self.engine.understand(persona_id, message, memory)
        ranked = [candidate.fact for candidate in self.engine.retriever.rank(analysis, limit=FACTS_IN_PROMPT * 3)]
        base = self.engine.knowledge.base
        recent = [base.fact(fact_id) for fact_id in memory.last_facts[-1:]]
        chosen: list[Fact] = []
        for fact in [*recent, *ranked]:
            if fact.known_by(persona_id, at_scene) and fact not in chosen:
                chosen.append(fact)
        return chosen[:FACTS_IN_PROMPT]

    async def reply(
        self,
        persona_id: str,
        message: str,
        memory: MemoryState,
        *,
        at_scene: int | None = None,
        history: Sequence[Turn] = (),
        on_text: OnText | None = None,
        on_shown: OnText | None = None,
        speaker: Speaker | None = None,
    ) -> ModelReply | Rejection:
        """The model's guarded reply to ``message``, or why there is none.

        ``on_text`` is awaited with the raw answer each time it grows; ``on_shown`` with the reply so far each time
        more of it may be shown (whole sentences that pass the guard's partial check, see ``StreamPreview``).
        ``speaker``: who speaks when it is not ``persona_id`` in its own voice (a card's restyle or character)."""
        speaker = speaker or Speaker.own(self.personas[persona_id])
        persona, at_scene = speaker.persona, speaker.scene(at_scene)
        facts = self.facts_for(persona.id, message, memory, at_scene, knows_like=speaker.knows_like)
        messages = build_messages(persona, facts, history, message, style=speaker.style)
        sent = [fact.id for fact in facts]
        watch = on_text
        if on_shown is not None:
            preview = StreamPreview(self.guard_for(speaker), set(sent), at_scene)

            async def watch(raw: str) -> None:
                if on_text is not None:
                    await on_text(raw)
                if (shown := preview.update(raw)) is not None:
                    await on_shown(shown)

        try:
            async with asyncio.timeout(self.client.timeout_s):
                completion = await self.client.complete(messages, watch)
        except (ModelError, TimeoutError, OSError, ValueError) as exc:
            log.info("model backend failed (%s); using the offline reply", type(exc).__name__)
            return Rejection("error", str(exc) or type(exc).__name__)
        parsed = _parse(completion, sent)
        if parsed is None:
            log.info("model answer could not be read; using the offline reply")
            return Rejection("unreadable", completion.text[:80], completion.tokens)
        text, cited = parsed
        verdict: Verdict = self.guard_for(speaker).check(text, cited, set(sent), at_scene)
        if not verdict.ok:
            log.info("fact guard refused a model reply: %s", "; ".join(verdict.reasons))
            return Rejection("guard", "; ".join(verdict.reasons), completion.tokens)
        return ModelReply(text.strip(), tuple(dict.fromkeys(cited)), completion.tokens)


def _parse(completion: Completion, sent: Sequence[str]) -> tuple[str, list[str]] | None:
    """The reply and cited ids from the model's text: the JSON asked for, or (from a server without structured
    output) JSON inside other text, or else the plain text, citing every fact the prompt held."""
    text = completion.text.strip()
    found = _JSON_OBJECT.search(text)
    if found is not None:
        try:
            data = json.loads(found.group(0))
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("reply"), str):
            ids = data.get("fact_ids", [])
            if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
                return None
            return data["reply"], ids
        return None
    if completion.structured or not text:
        return None  # structured output was asked for and this is not it
    return text, list(sent)
