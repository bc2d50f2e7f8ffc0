"""What a game is set up with and what it tells players: options and their limits, errors, announcements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from bot.trivia.hosting import HOSTS

__all__ = [
    "DEFAULTS",
    "LIMITS",
    "MODES",
    "PLOT_LIST",
    "AlreadyStartedError",
    "Announcement",
    "ChoiceResult",
    "GameOptions",
    "ListInfo",
    "NotAllowedError",
    "TriviaError",
    "check_options",
    "merge_options",
    "question_count",
    "timing",
]

MODES = ("open", "choice")
PLOT_LIST = "plot"


@dataclass(frozen=True, slots=True)
class GameOptions:
    """What a starter may choose; None takes the guild's default, then the built-in one."""

    questions: int | None = None
    target_score: int | None = None
    seconds: int | None = None
    mode: str | None = None
    lists: tuple[str, ...] | None = None
    host: str | None = None
    idle_s: int | None = None


DEFAULTS = GameOptions(questions=10, seconds=30, mode="open", lists=(PLOT_LIST,), host="t800", idle_s=120)
LIMITS = {"questions": (1, 50), "target_score": (1, 500), "seconds": (10, 120), "idle_s": (30, 3600)}


class TriviaError(ValueError):
    """A player's mistake (bad option, no game here, ...): the message says what, for the player."""


class NotAllowedError(TriviaError):
    """Only the game's starter or a moderator may do that."""


class AlreadyStartedError(TriviaError):
    """This very request started a game before (it was delivered again, after a restart): nothing to do."""


@dataclass(frozen=True, slots=True)
class Announcement:
    """Something the host says in the channel; ``choices`` are buttons for question ``question``."""

    channel_id: int
    game_id: int
    kind: str
    """start, ask, hint, correct, reveal, skip, stop, end, resume."""
    host: str
    text: str
    question: int | None = None
    choices: tuple[str, ...] = ()
    outbox_key: str | None = None
    """The outbox entry it was stored under with the change it announces (games on Discord); the front end posts
    it and settles the key. None: print or post it at once (a game in the terminal, a question asked again)."""


@dataclass(frozen=True, slots=True)
class ChoiceResult:
    """What a player who pressed a choice button is told (privately), and what the channel is told."""

    accepted: bool
    text: str
    announcements: list[Announcement] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ListInfo:
    """A list one can draw questions from."""

    name: str
    questions: int
    author: str | None
    description: str | None


def check_options(options: GameOptions) -> None:
    """TriviaError naming the first option out of range."""
    for name, (low, high) in LIMITS.items():
        value = getattr(options, name)
        if value is not None and not low <= value <= high:
            raise TriviaError(f"`{name.replace('_', ' ')}` must be between {low} and {high}.")
    if options.mode is not None and options.mode not in MODES:
        raise TriviaError(f"`mode` must be one of: {', '.join(MODES)}.")
    if options.host is not None and options.host not in HOSTS:
        raise TriviaError(f"`host` must be one of: {', '.join(HOSTS)}.")


def merge_options(options: GameOptions, stored: Any) -> GameOptions:
    """Each option as given, else the guild's stored default (``stored``), else the built-in one; then checked."""

    def pick(name: str) -> Any:
        given = getattr(options, name)
        if given is not None:
            return given
        saved = getattr(stored, name, None) if stored is not None and name != "idle_s" else None
        if saved is not None:
            return tuple(saved) if name == "lists" else saved
        return getattr(DEFAULTS, name)

    merged = GameOptions(**{option.name: pick(option.name) for option in fields(GameOptions)})
    check_options(merged)
    return merged


def timing(options: GameOptions, chosen: GameOptions, config: Mapping[str, Any]) -> tuple[int, int | None, int]:
    """Seconds per question, target score and idle limit: the starter's choice, the list's CONFIG, the defaults."""
    seconds = options.seconds or (int(config["delay"]) if "delay" in config else None) or chosen.seconds
    target = options.target_score or (int(config["max_score"]) if "max_score" in config else chosen.target_score)
    idle_s = int(config["timeout"]) if "timeout" in config else chosen.idle_s
    assert seconds is not None and idle_s is not None
    seconds = min(max(seconds, LIMITS["seconds"][0]), LIMITS["seconds"][1])
    return seconds, target, max(idle_s, seconds * 2)


def question_count(options: GameOptions, chosen: GameOptions, target: int | None, available: int) -> int:
    """How many questions to draw: all when playing to a target without a number given, else the number chosen."""
    wanted = available if target is not None and options.questions is None else chosen.questions or available
    return min(wanted, available, LIMITS["questions"][1])
