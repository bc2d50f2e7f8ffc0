"""What the host says at each step of a game, built from the game's state in the host's voice (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.trivia.hosting import host_line
from bot.trivia.judge import reveal
from bot.trivia.live import HINTS, LiveGame
from bot.trivia.options import Announcement
from bot.trivia.questions import CHOICE_LETTERS
from db.trivia.repository import Standing

__all__ = ["asking", "closing", "correct", "ending", "hint", "opening"]


def opening(live: LiveGame) -> Announcement:
    """The start of a game: what wins it and how long each question lasts."""
    questions = f"{live.total} question{'' if live.total == 1 else 's'}"
    goal = f"{questions}." if live.target is None else f"First to {live.target} points, up to {questions}."
    text = host_line(live.host, "start", live.id, goal=goal, seconds=live.seconds)
    return Announcement(live.channel_id, live.id, "start", live.host, text)


def asking(live: LiveGame, moment: str = "ask", left: int | None = None, index: int | None = None) -> Announcement:
    """Question ``index`` (default: the current one); ``moment`` ``resume``: asked again after a restart, ``left``
    seconds to go."""
    index = live.index if index is None else index
    question = live.questions[index]
    seed = live.id + index
    text = host_line(
        live.host,
        "resumed" if moment == "resume" else "ask",
        seed,
        n=index + 1,
        total=live.total,
        question=question["q"],
        left=left,
    )
    choices = tuple(question.get("choices") or ()) if live.mode == "choice" else ()
    if moment == "ask":
        text += f" ({live.seconds} s)"
    if choices:
        text += "\n" + "\n".join(f"**{CHOICE_LETTERS[i]}**: {choice}" for i, choice in enumerate(choices))
    return Announcement(live.channel_id, live.id, moment, live.host, text, index, choices)


def hint(live: LiveGame, hints: int, points: int) -> Announcement:
    """Hint number ``hints`` for the current question (as many letters shown), and what it is worth now."""
    shown = reveal(live.question["a"][0], hints / (HINTS + 1))
    text = host_line(live.host, "hint", live.id + live.index + hints, hint=f"`{shown}`", points=points)
    return Announcement(live.channel_id, live.id, "hint", live.host, text)


def correct(live: LiveGame, name: str, points: int) -> Announcement:
    """``name`` answered the current question right and scored ``points``."""
    question = live.question
    said = host_line(live.host, "correct", live.id + live.index, name=name, answer=question["a"][0], points=points)
    return Announcement(live.channel_id, live.id, "correct", live.host, f"{said} {_fact_note(question)}".strip())


def closing(live: LiveGame, moment: str, winners: Sequence[str]) -> Announcement:
    """The answer of the current question, revealed when time is up or (``moment`` ``skipped``) on a skip."""
    question = live.question
    answer = question["a"][0]
    if moment == "skipped":
        text = host_line(live.host, "skipped", live.id + live.index, answer=answer)
        text = f"{text} {_fact_note(question)}".strip()
    else:
        kind = "reveal_choice" if live.mode == "choice" else "reveal"
        text = host_line(live.host, kind, live.id + live.index, answer=answer, fact=_fact_note(question))
    if winners:
        text += "\nRight: " + ", ".join(winners)
    return Announcement(live.channel_id, live.id, "skip" if moment == "skipped" else "reveal", live.host, text)


def ending(live: LiveGame, reason: str, standings: Sequence[Standing]) -> Announcement:
    """The end of a game (``reason``: done, target, idle or stopped) with the final scores."""
    moment = {"stopped": "stopped", "idle": "idle"}.get(reason, "finished")
    board = _standings_text(standings) or host_line(live.host, "nobody", live.id)
    text = host_line(live.host, moment, live.id, standings=board)
    if moment == "stopped":
        text += "\n" + board
    return Announcement(live.channel_id, live.id, "stop" if reason == "stopped" else "end", live.host, text)


def _fact_note(question: dict[str, Any]) -> str:
    text = question.get("fact_text")
    return f"({text})" if text else ""


def _standings_text(standings: Sequence[Standing]) -> str:
    if not standings or standings[0].points <= 0:
        return ""
    return "\n".join(f"{place}. {s.name}: {s.points} points" for place, s in enumerate(standings[:10], 1))
