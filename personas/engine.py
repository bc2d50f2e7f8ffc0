"""The offline grounded responder: runs the understanding pipeline for one message and answers in voice.

normalise -> address -> analyse -> retrieve -> decide -> compose; deterministic for the same conversation state.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from personas import intent
from personas.composer import ReplyBuilder, telling_words
from personas.factbase import Fact, FactBase
from personas.knowledge import Knowledge
from personas.memory import MemoryState, Reply
from personas.persona import Persona
from personas.textnorm import clean_input, tokens
from personas.understanding.address import split_addressee
from personas.understanding.analyse import Analysis, entity_token
from personas.understanding.decide import Decision, Thresholds, decide
from personas.understanding.model import UnderstandingModel, load_model
from personas.understanding.offplot import load_other_works, names_other_work
from personas.understanding.retrieve import Retriever

__all__ = ["GroundedEngine", "MemoryState", "Reply"]  # MemoryState and Reply live in personas.memory

_ASKS_PAST = frozenset({"why", "what", "how"})
"""Question types that, asked anew right after an answer, ask for something else than it (a yes/no question or a
when or where often checks the answer just given)."""
_WRAPPERS = frozenset({"greetings", "thanks", "farewells"})
"""Small talk that wraps a question ("hey, ...", "thanks! and ..."): the question is what gets the answer."""
_FATE_SHARE = 0.5
"""How much of the matcher's weight the facts about X must share for "what happened to X?" to have an answer."""


class GroundedEngine:
    """Answers from the fact base only; says in voice that it does not know when nothing supports an answer."""

    def __init__(
        self,
        knowledge: Knowledge,
        personas: Mapping[str, Persona],
        *,
        model: UnderstandingModel | None = None,
        cache_dir: Path | None = None,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.personas = personas
        self.model = model if model is not None else load_model(knowledge.base, personas, cache_dir)
        self.retriever = Retriever(self.model)
        self.thresholds = thresholds or Thresholds()
        self._other_works = load_other_works()
        results: dict[str, list[Fact]] = {}
        for fact in knowledge.base.facts:
            for reason in fact.because:
                results.setdefault(reason, []).append(fact)
        self._results_of = {reason: tuple(facts) for reason, facts in results.items()}
        self._proper_words = (
            frozenset(
                word
                for entity in knowledge.base.entities.values()
                for word in re.findall(r"[A-Za-z][\w-]*", entity.name)
                if word[0].isupper()
            )
            | _capitalised_inside(knowledge.base)
            | {"I", "I'm", "I've", "I'd", "I'll"}
        )
        self.respond(next(iter(personas)), "who sent u back in tiem?", MemoryState())  # warm every path once

    def respond(
        self, persona_id: str, message: str, memory: MemoryState, *, seed_key: str = "", at_scene: int | None = None
    ) -> Reply:
        """Answer ``message`` as ``persona_id`` given the conversation's memory; deterministic for the same state."""
        persona = self.personas[persona_id]
        turn = ReplyBuilder(persona, memory, seed_key, at_scene, self.continue_sentence)
        clean = clean_input(message)
        if not clean.text:
            return turn.voice("empty")
        if not tokens(clean.text) or (clean.had_letters and not clean.latin):
            return turn.voice("unreadable")
        hostile = self.model.hostility.probability(message) >= self.thresholds.hostile
        reply = self._answer(turn, clean.text, hostile)
        if clean.truncated:
            prefix = turn.pick_voice("too_long")
            reply = replace(reply, text=f"{prefix} {reply.text}")
        return reply

    def understand(self, persona_id: str, text: str, memory: MemoryState | None = None) -> Analysis:
        """Normalise and analyse ``text`` as heard by ``persona_id``."""
        recent = memory.entities if memory is not None else []
        return self.model.analyse(self.model.normalise(text), self.model.perspectives[persona_id], recent)

    def decide(
        self,
        persona_id: str,
        analysis: Analysis,
        at_scene: int | None = None,
        exclude: Collection[str] = (),
        context: Sequence[Fact] = (),
    ) -> Decision:
        """Retrieve facts for ``analysis``; decide whether ``persona_id`` answers with one (none of ``exclude``).

        ``context`` is what was just said, for a message that goes on from it.
        """
        candidates = self.retriever.rank(analysis, context=context)
        vocabulary, modifies = self.model.content_vocabulary, self.model.normalise.lexicon.modifies
        # An adjective or adverb no fact uses ("frankly", "sudden") only colours a question that asks about something
        # known; on its own ("you are useless") it is all the question says.
        anchored = any(term in vocabulary and not modifies(term) for term in analysis.content)
        unknown = [
            term
            for term in analysis.content
            if term not in vocabulary and not (anchored and modifies(term)) and term not in analysis.aside
        ]
        if analysis.strangers and analysis.qtype != "yes_no":
            unknown = list(analysis.content)  # "who was your father?": no fact tells of him (a yes or no may settle)
        return decide(
            analysis,
            candidates,
            self.retriever.fits,
            self.retriever.restates,
            self.model.analyse.entities.related,
            self.model.analyse.entities.settings,
            self.model.analyse.entities.first_scene,
            persona_id,
            at_scene,
            len(unknown) / max(1, len(set(analysis.content))),
            self.thresholds,
            exclude,
            self._reasons,
            self._sequels,
            self._results,
            self.retriever.tells,
            context,
        )

    def _answer(self, turn: ReplyBuilder, text: str, hostile: bool = False) -> Reply:
        persona_id = turn.persona.id
        _, text = split_addressee(text, persona_id)
        folded = " ".join(tokens(text))
        if hostile or intent.is_injection(folded):
            return turn.voice("injection")
        if intent.SMALL_TALK_ONLY.match(folded):
            return self._small_talk(turn, folded) or turn.voice("greetings")
        if names_other_work(folded.split(), self._other_works):
            return turn.voice("unknown")  # another film's story: nothing here tells it
        analysis = self.understand(persona_id, text, turn.memory)
        if not analysis.words:  # nothing but mentions, emoji or filler ("@everyone lol")
            return turn.voice("empty")
        if analysis.follow_up in ("next", "more"):
            return self._continue(turn, analysis.follow_up)
        if analysis.follow_up == "after":
            # "what did the T-1000 do next?" after an answer goes on from it; with nothing said before, or nothing
            # more about the T-1000, it is a question like any other.
            if (sequel := self._sequel_about(turn, (*analysis.named, *analysis.addressed))) is not None:
                return turn.facts([sequel], [], kind="follow_up")
            analysis = replace(analysis, follow_up=None)
        if analysis.follow_up == "why" and (reason := self._reason_for_last(turn)) is not None:
            return turn.facts([reason], [], kind="follow_up", asked="why")
        if analysis.follow_up in _SLOT_FOLLOW_UPS and (told := self._slot_of_last(turn, analysis)):
            return turn.facts([told], [], kind="follow_up", asked=analysis.follow_up)
        exclude: list[str] = []
        past: list[str] = []
        if analysis.qtype in _ASKS_PAST and analysis.follow_up is None:
            # A new why, what or how question right after an answer asks past it first (after the damage the T-1000
            # did, "why did you think it was finished?" asks about the shutdown); when nothing else answers, it was
            # the same question again.
            past = list(turn.memory.last_facts)
        heard = analysis
        if analysis.follow_up is not None and turn.memory.topic:
            analysis = self._complete(analysis, turn.memory)
            if analysis.follow_up != "ellipsis":  # "why?" asks for more than was said, unless it said why
                last = (self.knowledge.base.fact(fact_id) for fact_id in turn.memory.last_facts)
                exclude = [fact.id for fact in last if analysis.qtype not in fact.answers]
        if analysis.qtype == "fate" and self._fate_supported(analysis):
            reply = self._fate(turn, analysis)
        else:
            if analysis.qtype == "fate":
                analysis = replace(analysis, qtype="what")
            reply = self._decided(turn, analysis, folded, exclude, past)
            if not reply.fact_ids and analysis.follow_up == "ellipsis":
                # "and the chip?" when the same question has no answer about the chip: what the story says of it
                # at that point.
                if (near := self._nearest_about(turn, heard)) is not None:
                    reply = turn.facts([near], analysis.named, kind="follow_up")
        topic = list(analysis.frame) if analysis.content or analysis.named else turn.memory.topic
        topic_type = analysis.qtype if topic is not turn.memory.topic else turn.memory.topic_type
        return replace(reply, memory=replace(reply.memory, topic=topic, topic_type=topic_type))

    def _decided(
        self, turn: ReplyBuilder, analysis: Analysis, folded: str, exclude: Collection[str], past: Collection[str] = ()
    ) -> Reply:
        """The reply the decision layer chooses: a fact, who would know it, small talk or "I don't know".

        ``past``: facts to answer with only when no other one will do (what was just said).
        """
        context: list[Fact] = []
        if turn.memory.last_facts and _goes_on(analysis):
            context = [self.knowledge.base.fact(turn.memory.last_facts[-1])]
        decision = self.decide(turn.persona.id, analysis, turn.at_scene, [*exclude, *past], context)
        if decision.fact is None and past:
            decision = self.decide(turn.persona.id, analysis, turn.at_scene, exclude, context)
        if decision.fact is not None:
            return turn.facts([decision.fact], analysis.entities, kind="facts", asked=analysis.qtype)
        if decision.outcome == "not_known" and decision.candidate is not None:
            return self._point_elsewhere(turn, decision.candidate.fact, analysis)
        kind = intent.small_talk_kind(folded)
        if kind is None or (analysis.content and kind in _WRAPPERS):
            return self._refusal(turn, analysis)  # "hey, <a question no fact answers>" is not a greeting
        return turn.voice(kind)

    def _reasons(self, fact: Fact) -> tuple[Fact, ...]:
        return tuple(self.knowledge.base.fact(fact_id) for fact_id in fact.because)

    def _results(self, fact: Fact) -> tuple[Fact, ...]:
        """The facts ``fact`` is a reason for (that list it under ``because``)."""
        return self._results_of.get(fact.id, ())

    def _sequels(self, fact: Fact) -> tuple[Fact, ...]:
        """The fact that comes next in the story (whoever knows it: the persona's boundary is checked after)."""
        facts = self.knowledge.base.facts
        index = facts.index(fact)
        return tuple(facts[index + 1 : index + 2])

    def _reason_for_last(self, turn: ReplyBuilder) -> Fact | None:
        """What says why the last thing said happened ("why?"), when that fact does not say it itself."""
        if not turn.memory.last_facts:
            return None
        last = self.knowledge.base.fact(turn.memory.last_facts[-1])
        if "why" in last.answers:
            return None
        known = [fact for fact in self._reasons(last) if fact.known_by(turn.persona.id, turn.at_scene)]
        fresh = [fact for fact in known if fact.id not in turn.memory.said_facts]
        return next(iter(fresh or known), None)

    def _nearest_about(self, turn: ReplyBuilder, analysis: Analysis) -> Fact | None:
        """The fact of the last answer's scene nearest to it in the story that names all of those the message names
        and something else of the last answer, fits the question's type, and that this persona knows and has not
        said."""
        about = analysis.named
        if not turn.memory.last_facts or not about:
            return None
        last = self.knowledge.base.fact(turn.memory.last_facts[-1])
        others = set(last.entities) - set(about)
        facts = self.knowledge.base.facts
        related = self.model.analyse.entities.related
        index = facts.index(last)
        near = [
            fact
            for fact in facts
            if fact.scene == last.scene
            and fact.id not in turn.memory.said_facts
            and fact.known_by(turn.persona.id, turn.at_scene)
            and all(related.get(entity, frozenset({entity})) & set(fact.entities) for entity in about)
            and others & set(fact.entities)
            and self.retriever.fits(fact, analysis)
        ]
        return min(near, key=lambda fact: abs(facts.index(fact) - index), default=None)

    def _slot_of_last(self, turn: ReplyBuilder, analysis: Analysis) -> Fact | None:
        """What answers "why?", "where was that?" or "when?" about the last thing said: the fact itself when it has
        that slot; else, for a place, the nearest fact of the same scene whose slot is the place the scene is set in
        (``EntityTable.settings``), and for a time the nearest of the same scene about someone of it. One that asks
        about someone ("where was he?") is about them, not the event: the fact must name them."""
        if not turn.memory.last_facts:
            return None
        qtype = analysis.follow_up or analysis.qtype
        related = self.model.analyse.entities.related
        about = [related.get(entity, frozenset({entity})) for entity in (*analysis.resolved, *analysis.named)]
        last = self.knowledge.base.fact(turn.memory.last_facts[-1])
        if any(not names & set(last.entities) for names in about):
            return None
        persona = turn.persona.id
        if qtype in last.answers:
            return last if _says(last, persona, qtype) else None
        if qtype not in ("where", "when"):
            return None
        facts = self.knowledge.base.facts
        index = facts.index(last)
        settings = self.model.analyse.entities.settings
        if qtype == "where":  # the scene's place, not another place someone of it went to
            anchor = {place for place, scenes in settings.items() if last.scene in scenes}
        else:
            anchor = set(last.entities)
        scene = [
            fact
            for fact in facts
            if fact.scene == last.scene
            and set(fact.entities) & anchor
            and qtype in fact.answers
            and _says(fact, persona, qtype)
            and fact.known_by(persona, turn.at_scene)
            and all(names & set(fact.entities) for names in about)
        ]
        return min(scene, key=lambda fact: abs(facts.index(fact) - index), default=None)

    def _fate_supported(self, analysis: Analysis) -> bool:
        """True when the matcher gives the facts about X together most of its weight for "what happened to X?": the
        last fact about someone is their fate only when the story says what became of them. Of the foster parents
        it says nothing after they are mentioned, and the matcher's weight goes to the questions the plot does not
        answer instead."""
        entity = analysis.entities[0]
        candidates = self.retriever.rank(analysis)
        about = sum(candidate.probability for candidate in candidates if entity in candidate.fact.entities)
        return about > _FATE_SHARE

    def _fate(self, turn: ReplyBuilder, analysis: Analysis) -> Reply:
        """The last thing this persona knows of the one asked about."""
        entity = analysis.entities[0]
        known = self.knowledge.facts_about(entity, persona=turn.persona.id, at_scene=turn.at_scene)
        if not known:
            return turn.voice("unknown", entities=[entity])
        return turn.facts([known[-1]], [entity], kind="facts")

    def _point_elsewhere(self, turn: ReplyBuilder, fact: Fact, analysis: Analysis) -> Reply:
        """ "I don't know", and who does: the answer lies outside this persona's vantage point, not the story's."""
        reply = turn.voice("unknown", entities=analysis.entities)
        knowers = [
            persona
            for persona_id, persona in self.personas.items()
            if persona_id != turn.persona.id and fact.known_by(persona_id, turn.at_scene)
        ]
        knowers.sort(key=lambda persona: persona.id not in fact.entities)  # who it happened to first
        if not knowers or not turn.persona.voice.ask_other:
            return reply
        pointer = turn.pick_voice("ask_other", avoiding=reply.text).format(name=knowers[0].display_name)
        return replace(reply, text=f"{reply.text} {pointer}")

    def _refusal(self, turn: ReplyBuilder, analysis: Analysis) -> Reply:
        on_topic = (
            analysis.follow_up is not None
            or analysis.entities
            or any(term in self.model.content_vocabulary for term in analysis.content)
        )
        return turn.voice("unknown" if on_topic else "off_topic", entities=analysis.entities)

    def _complete(self, analysis: Analysis, memory: MemoryState) -> Analysis:
        """A follow-up ("why?", "and sarah?") read with the question before it."""
        topic = list(memory.topic)
        if analysis.follow_up == "ellipsis":
            old = [term for term in topic if term.startswith("_")]
            new = [entity_token(entity) for entity in analysis.named]
            frame = [term for term in topic if term not in old[:1]] + new if old else topic + new
            return replace(analysis, query=tuple(frame), frame=tuple(frame), qtype=memory.topic_type or "what")
        frame = [analysis.qtype, *(term for term in topic if term not in intent.QUESTION_WORDS)]
        return replace(analysis, query=tuple(frame), frame=tuple(frame))

    def _small_talk(self, turn: ReplyBuilder, folded: str) -> Reply | None:
        kind = intent.small_talk_kind(folded)
        return turn.voice(kind) if kind else None

    def continue_sentence(self, line: str) -> str:
        """Lower-case a line's first word when it follows an opener such as "Okay, so" (names stay as they are)."""
        first, _, rest = line.partition(" ")
        bare = re.sub(r"['’]s$", "", first.rstrip(",.:;!?"))
        if not first or first in self._proper_words or bare in self._proper_words:
            return line
        return f"{first[0].lower()}{first[1:]} {rest}".rstrip()

    def _continue(self, turn: ReplyBuilder, kind: str) -> Reply:
        """ "and then?" goes on in story order; "tell me more" says more about who was talked about."""
        memory = turn.memory
        persona_id = turn.persona.id
        if not memory.last_facts:
            return turn.voice("follow_up_exhausted")
        last = memory.last_facts[-1]
        candidates: list[Fact] = []
        if kind == "more" and memory.entities:
            for entity_id in memory.entities[:2]:
                candidates += self.knowledge.facts_about(entity_id, persona=persona_id, at_scene=turn.at_scene)
        candidates += self.knowledge.next_after(last, persona=persona_id, at_scene=turn.at_scene)
        fresh = [fact for fact in candidates if fact.id not in memory.said_facts]
        if not fresh:
            return turn.voice("follow_up_exhausted")
        return turn.facts([fresh[0]], [], kind="follow_up")

    def _sequel_about(self, turn: ReplyBuilder, about: Sequence[str]) -> Fact | None:
        """The next fact after the last answer that this persona knows and has not said, naming one of ``about``
        when that names anyone."""
        if not turn.memory.last_facts:
            return None
        later = self.knowledge.next_after(turn.memory.last_facts[-1], persona=turn.persona.id, at_scene=turn.at_scene)
        related = self.model.analyse.entities.related
        wanted = {other for entity in about for other in related.get(entity, {entity})}
        fresh = (fact for fact in later if fact.id not in turn.memory.said_facts)
        return next((fact for fact in fresh if not wanted or wanted & set(fact.entities)), None)


_SLOT_FOLLOW_UPS = frozenset({"why", "where", "when", "how", "who"})
"""Follow-ups that ask for one slot of what was just said ("why?", "where was that?", "who did it?")."""


def _capitalised_inside(base: FactBase) -> frozenset[str]:
    """Words the fact base writes with a capital inside a sentence (names, months: "on August 29"), which keep it
    when they open a line that follows an opener."""
    found: set[str] = set()
    for fact in base.facts:
        for text in (fact.text, *(line for lines in fact.lines.values() for line in lines)):
            for sentence in re.split(r"(?<=[.!?])\s+", text):
                found.update(word for word in re.findall(r"[A-Za-z][\w-]*", sentence)[1:] if word[0].isupper())
    return frozenset(found)


def _says(fact: Fact, persona_id: str, qtype: str) -> bool:
    """True when one of ``persona_id``'s lines for ``fact`` says most of its answer to ``qtype`` (a line that says
    "It said goodbye." does not answer "when?", though the fact knows when)."""
    wanted = telling_words(fact.answers[qtype])
    return any(len(wanted & telling_words(line)) * 2 >= len(wanted) for line in fact.lines.get(persona_id, ()))


def _goes_on(analysis: Analysis) -> bool:
    """True when a message reads as going on from the last answer: a follow-up, a pronoun, or a short question that
    names no one ("where did he work?", "why?", "what did it do first?")."""
    return (
        analysis.follow_up is not None or bool(analysis.resolved) or (len(analysis.words) <= 5 and not analysis.named)
    )
