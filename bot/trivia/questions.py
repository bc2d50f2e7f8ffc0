"""Where questions come from: the plot questions of the fact base, a guild's imported lists, and A-D choices."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from bot.trivia.judge import judge, prepare
from bot.trivia.normalise import normalise
from bot.trivia.options import PLOT_LIST, TriviaError
from db.trivia_repository import TriviaRepository
from personas.factbase import FactBase

__all__ = ["CHOICE_LETTERS", "QuestionPools", "draw", "with_choices"]

CHOICE_LETTERS = "ABCD"


class QuestionPools:
    """The questions of the lists a game draws from; the plot questions are built once, when first needed."""

    def __init__(self, facts: FactBase) -> None:
        self._facts = facts
        self._plot: list[dict[str, Any]] | None = None

    def plot(self) -> list[dict[str, Any]]:
        """The trivia questions of the fact base, each with the fact its answer comes from."""
        if self._plot is None:
            self._plot = [
                {
                    "q": item.question,
                    "a": list(item.answers),
                    "fact": fact.id,
                    "fact_text": fact.text,
                    "list": PLOT_LIST,
                }
                for fact in self._facts.facts
                for item in fact.trivia
            ]
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
                known = ", ".join([PLOT_LIST, *sorted(imported)])
                raise TriviaError(f"There is no list called `{name}` here. Lists: {known}.")
            pool.extend({**q, "fact": None, "fact_text": None, "list": name} for q in row.questions)
            if len(wanted) == 1:
                config = dict(row.config)
        return pool, config


def draw(pool: list[dict[str, Any]], count: int, mode: str, rng: random.Random) -> list[dict[str, Any]]:
    """``count`` questions at random; in choice mode each gets its choices, and those that cannot are left out."""
    picked = rng.sample(pool, count)
    if mode == "choice":
        picked = [q for q in (with_choices(q, pool, rng) for q in picked) if q is not None]
    return picked


def with_choices(question: dict[str, Any], pool: list[dict[str, Any]], rng: random.Random) -> dict[str, Any] | None:
    """The question with four shuffled choices (wrong ones from the other answers), or None if none are wrong."""
    accepted = prepare(question["a"])
    right = question["a"][0]
    numeric = normalise(right).isdigit()
    seen = {normalise(right)}
    wrong: list[str] = []
    candidates = [q["a"][0] for q in pool if q is not question]
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
        key = normalise(text)
        if key in seen or judge(text, accepted).correct:
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
