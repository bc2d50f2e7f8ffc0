"""Where questions come from: the plot questions of the fact base, a guild's imported lists, and A-D choices."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from typing import Any

from bot.splitting import clip
from bot.trivia.judge import judge, prepare
from bot.trivia.normalise import normalise
from bot.trivia.options import PLOT_LIST, TriviaError
from bot.trivia.red_lists import MAX_NAME_CHARS
from db.trivia.repository import TriviaRepository
from personas.factbase import FactBase

__all__ = ["CHOICE_LETTERS", "QuestionPools", "answer_entity", "draw", "with_choices"]

CHOICE_LETTERS = "ABCD"
KNOWN_SHOWN = 20
"""An unknown list's refusal names at most this many of the lists there are."""
_AKIN = {kind: ("person", "machine", "organization") for kind in ("person", "machine", "organization")}
"""Kinds close enough to fill the choices when an answer's own kind has too few others."""
_WHO = re.compile(r"^(who|whom)\b", re.IGNORECASE)
_DATE = re.compile(
    r"^(January|February|March|April|May|June|July|August|September|October|November|December) (\d{1,2}), (\d{4})$"
)


class QuestionPools:
    """The questions of the lists a game draws from; the plot questions are built once, when first needed."""

    def __init__(self, facts: FactBase) -> None:
        self._facts = facts
        self._plot: list[dict[str, Any]] | None = None

    def plot(self) -> list[dict[str, Any]]:
        """The trivia questions of the fact base, each with the fact its answer comes from, and, when the answer
        names one of the fact base's people, machines, places or things, the others of its kind ("peers")."""
        if self._plot is None:
            facts = self._facts
            plot: list[dict[str, Any]] = []
            for fact in facts.facts:
                for item in fact.trivia:
                    entity = answer_entity(item.answers[0], facts)
                    kind = "date" if _DATE.match(item.answers[0]) else facts.entities[entity].kind if entity else None
                    plot.append(
                        {
                            "q": item.question,
                            "a": list(item.answers),
                            "fact": fact.id,
                            "fact_text": fact.text,
                            "list": PLOT_LIST,
                            "kind": kind,
                            "entity": entity,
                        }
                    )
            for question in plot:
                if question["kind"] is None and _WHO.match(question["q"]):
                    question["kind"] = "person"  # "Who is John living with?": people, whatever the answer's words
                if question["kind"] and question["kind"] != "date":
                    question["peers"] = _peers(question, plot, facts)
            self._plot = plot
        return self._plot

    async def pool(
        self, repo: TriviaRepository, guild_key: int, names: Sequence[str]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The questions of the named lists, with the CONFIG of a list named alone; TriviaError for an unknown name."""
        pool: list[dict[str, Any]] = []
        config: dict[str, Any] = {}
        wanted = [name.strip().lower() for name in names if name.strip()] or [PLOT_LIST]
        imported = {row.name: row for row in await repo.lists(guild_key)} if set(wanted) - {PLOT_LIST} else {}
        for name in dict.fromkeys(wanted):
            if name == PLOT_LIST:
                pool.extend(self.plot())
                continue
            row = imported.get(name)
            if row is None:
                raise TriviaError(
                    f"There is no list called `{clip(name, MAX_NAME_CHARS)}` here. Lists: {_known(imported)}."
                )
            pool.extend({**q, "fact": None, "fact_text": None, "list": name} for q in row.questions)
            if len(wanted) == 1:
                config = dict(row.config)
        return pool, config


def _known(imported: Iterable[str], shown: int = KNOWN_SHOWN) -> str:
    """The lists one can name, at most ``shown`` of them and how many more."""
    names = [PLOT_LIST, *sorted(imported)]
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more (`/trivia lists`)" if more > 0 else "")


def draw(
    pool: list[dict[str, Any]], order: Sequence[dict[str, Any]], count: int, mode: str, rng: random.Random
) -> list[dict[str, Any]]:
    """The first ``count`` questions of ``order`` (the pool, ordered); in choice mode each gets its choices from the
    pool, and one that cannot is passed over for the next."""
    if mode != "choice":
        return list(order[:count])
    picked: list[dict[str, Any]] = []
    for question in order:
        if len(picked) == count:
            break
        chosen = with_choices(question, pool, rng)
        if chosen is not None:
            picked.append(chosen)
    return picked


def answer_entity(answer: str, facts: FactBase) -> str | None:
    """The fact base entity an answer names ("a mental hospital", "Skynet", "Sarah"), if it names one."""
    plain = _bare(answer)
    for entity in facts.entities.values():
        if plain == _bare(entity.name):
            return entity.id
    for entity in facts.entities.values():
        proper = entity.kind in ("person", "machine", "organization") and answer[:1].isupper()
        if proper and any(plain == _bare(alias) for alias in entity.aliases):
            return entity.id
    return None


def _peers(question: dict[str, Any], plot: list[dict[str, Any]], facts: FactBase) -> list[str]:
    """The names of the other entities of ``question``'s kind, then of kinds like it when those are too few (people,
    machines and organisations all act): never its own answer's entity, nor one the question names."""
    asked = f" {normalise(question['q'])} "
    kinds = [question["kind"], *(kind for kind in _AKIN.get(question["kind"], ()) if kind != question["kind"])]
    peers: list[str] = []
    for kind in kinds:
        if len(peers) >= len(CHOICE_LETTERS) - 1:
            break
        for entity in facts.entities.values():
            if entity.kind != kind or entity.id == question["entity"] or f" {_bare(entity.name)} " in asked:
                continue  # "Who is John Connor's mother?" never offers John Connor
            peers.append(entity.name)
    return peers


def _bare(text: str) -> str:
    words = normalise(text).split()
    return " ".join(words[1:] if words and words[0] in ("a", "an", "the") else words)


def _same_answer(text: str) -> frozenset[str]:
    """The words an answer is made of, in any order: "John and Sarah" is "Sarah and John"."""
    return frozenset(normalise(text).split()) - {"and", "the", "a", "an", "or"}


def _dates_near(answer: str, rng: random.Random) -> list[str]:
    match = _DATE.match(answer.strip())
    if match is None:
        return []
    month, day, year = match.group(1), int(match.group(2)), int(match.group(3))
    near = [f"{month} {day}, {year + shift}" for shift in (-2, -1, 1, 2)]
    near += [f"{month} {day + shift}, {year}" for shift in (-2, -1, 1, 2) if 1 <= day + shift <= 28]
    rng.shuffle(near)
    return near


def with_choices(question: dict[str, Any], pool: list[dict[str, Any]], rng: random.Random) -> dict[str, Any] | None:
    """The question with four shuffled choices, or None if no wrong one can be found.

    Wrong choices are of the right answer's kind when it has one (another person for a person, another place for
    a place, a nearby date for a date); otherwise they are other answers of the pool, numbers near a number. No
    two choices are the same words in another order.
    """
    accepted = prepare(question["a"])
    right = question["a"][0]
    numeric = normalise(right).isdigit()
    seen = {_same_answer(right)}
    wrong: list[str] = []
    kind = question.get("kind")
    if kind:
        candidates = list(question.get("peers", ()))
        rng.shuffle(candidates)
        candidates = _dates_near(right, rng) + candidates
    else:
        candidates = [q["a"][0] for q in pool if q is not question and not q.get("kind")]
        rng.shuffle(candidates)
    if numeric:
        value = int(normalise(right))
        offsets = [d for d in (-3, -2, -1, 1, 2, 3, 4) if value + d >= 0]
        rng.shuffle(offsets)
        candidates = [str(value + d) for d in offsets] + candidates
    else:
        size = len(right.split())
        candidates.sort(key=lambda text: (normalise(text).isdigit(), abs(len(text.split()) - size)))
    for text in candidates:
        key = _same_answer(text)
        if not key or key in seen or judge(text, accepted).correct:
            continue
        seen.add(key)
        wrong.append(text)
        if len(wrong) == len(CHOICE_LETTERS) - 1:
            break
    if not wrong:
        return None
    choices = [right, *wrong]
    rng.shuffle(choices)
    return {**question, "choices": choices, "correct": choices.index(right)}
