"""In which order a new game asks its questions: what the channel has not heard lately first, at random.

Recency is read from the channel's stored games (``RECENT_GAMES`` of them, newest first), so it survives
restarts: a game asked ``questions[: question_index + 1]``. A new game's order is the questions not asked in
those games, shuffled, then the ones that were, the longest ago asked first. The question the channel's last game
opened with never opens the next one, even when every question was asked lately (it goes last instead).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RECENT_GAMES", "Recent", "in_order", "question_key", "recent"]

RECENT_GAMES = 10
"""How many of a channel's latest games count as recent (about a hundred questions at ten a game)."""

QuestionKey = tuple[str, str]


def question_key(question: dict[str, Any]) -> QuestionKey:
    """What makes a question the same one in another game: its list and its wording."""
    return (str(question.get("list") or ""), str(question["q"]))


@dataclass(frozen=True, slots=True)
class Recent:
    """The questions a channel heard lately, and the one its last game opened with."""

    asked: dict[QuestionKey, int] = field(default_factory=dict)
    """Each recently asked question -> when it was last asked, as a rank (higher is more recent)."""
    opener: QuestionKey | None = None


def recent(games: Sequence[tuple[Sequence[dict[str, Any]], int]]) -> Recent:
    """What a channel heard lately, from its latest games as ``(questions, last asked index)``, newest first."""
    asked: dict[QuestionKey, int] = {}
    rank = 0
    for questions, index in reversed(games):
        for question in questions[: index + 1]:
            asked[question_key(question)] = rank
            rank += 1
    opener = question_key(games[0][0][0]) if games and games[0][0] else None
    return Recent(asked, opener)


def in_order(pool: Sequence[dict[str, Any]], lately: Recent, rng: random.Random) -> list[dict[str, Any]]:
    """The pool in the order a new game should ask it: unasked lately at random, then the longest ago asked."""
    fresh = [question for question in pool if question_key(question) not in lately.asked]
    rng.shuffle(fresh)
    heard = sorted(
        (question for question in pool if question_key(question) in lately.asked),
        key=lambda question: lately.asked[question_key(question)],
    )
    order = fresh + heard
    if len(order) > 1 and question_key(order[0]) == lately.opener:
        order.append(order.pop(0))
    return order
