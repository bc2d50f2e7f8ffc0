"""The in-memory state of running games and its time arithmetic; a cache of the stored rows, which are the truth.

Times are absolute milliseconds on the service's wall clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from bot.trivia.judge import Accepted, prepare
from db.trivia.repository import GameRow, TriviaRepository

__all__ = ["GAP_MS", "HINTS", "HINT_COST", "POINTS", "LiveGame", "LiveGames", "live_game", "unpause"]

POINTS = 10
HINT_COST = 3
HINTS = 2
GAP_MS = 4000
"""The pause between a closed question and the next one."""


@dataclass(slots=True)
class LiveGame:
    """The cached state of a running game (the stored row is the truth; this mirrors it)."""

    id: int
    guild_key: int
    channel_id: int
    starter: str | None
    host: str
    mode: str
    seconds: int
    target: int | None
    idle_s: int
    questions: list[dict[str, Any]]
    index: int
    phase: str
    asked_at: int
    deadline: int
    hints: int
    last_activity: int
    solo: bool = False
    """Played by its starter alone: a question closes once the starter has answered."""
    version: int = 0
    """The stored game's version this state mirrors (``GameRow.version``)."""
    accepted: Accepted = field(default_factory=lambda: Accepted(()))
    attempts: dict[str, str] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)
    players: dict[str, str] = field(default_factory=dict)
    points: dict[str, int] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def question(self) -> dict[str, Any]:
        """The question being asked (or just closed)."""
        return self.questions[self.index]

    @property
    def total(self) -> int:
        """How many questions the game has."""
        return len(self.questions)

    def next_hint_at(self) -> int | None:
        """When the next hint is due, if one is left."""
        if self.hints >= HINTS:
            return None
        return self.asked_at + (self.seconds * 1000 * (self.hints + 1)) // (HINTS + 1)

    def due_at(self) -> int:
        """When the game next has something to do: a hint, a time-out, or the next question."""
        if self.phase == "ask":
            hint = self.next_hint_at()
            return min(self.deadline, hint) if hint is not None else self.deadline
        return self.deadline

    def points_now(self, now: int, hints: int | None = None) -> int:
        """What a right answer scores now (after ``hints`` hints, default those given): less after each hint, and
        in choice mode less as time runs out."""
        hints = self.hints if hints is None else hints
        base = POINTS - HINT_COST * hints
        if self.mode == "choice":
            left = max(0, self.deadline - now) / (self.seconds * 1000)
            base = POINTS // 2 + round(POINTS / 2 * left) - HINT_COST * hints
        return max(1, base)

    def ask(self, index: int, now: int) -> None:
        """Move on to question ``index``, asked at ``now``, with no hints, attempts or answers yet."""
        self.index, self.phase, self.asked_at, self.deadline, self.hints = (
            index,
            "ask",
            now,
            now + self.seconds * 1000,
            0,
        )
        self.accepted = prepare(self.question["a"])
        self.attempts = {}
        self.answered = set()

    def pause(self, now: int) -> None:
        """Close the question: the next one comes after ``GAP_MS``."""
        self.phase, self.deadline = "pause", now + GAP_MS


def live_game(row: GameRow) -> LiveGame:
    """The live state of a stored game, its current question's answers prepared."""
    live = LiveGame(
        id=row.id,
        guild_key=row.guild_id or 0,
        channel_id=row.channel_id,
        starter=row.starter,
        host=row.host,
        mode=row.mode,
        seconds=row.seconds,
        target=row.target_score,
        idle_s=row.idle_s,
        questions=list(row.questions),
        index=row.question_index,
        phase=row.phase,
        asked_at=row.asked_at_ms,
        deadline=row.deadline_ms,
        hints=row.hints,
        last_activity=row.last_activity_ms,
        solo=row.solo,
        version=row.version,
    )
    live.accepted = prepare(live.question["a"])
    return live


async def load_live(repo: TriviaRepository, row: GameRow) -> LiveGame:
    """The live state of a stored game with its points (and, for multiple choice, its players and this question's
    answers), read through ``repo``."""
    live = live_game(row)
    live.points = await repo.points(live.id)
    if live.mode == "choice":
        live.players = await repo.players(live.id)
        live.answered = {c.user for c in await repo.choices(live.id, live.index)}
    return live


def unpause(row: GameRow, now: int) -> GameRow:
    """A game suspended at a clean shutdown gets back the time it had left: its times move on by the pause.

    Returns the game as it is to be stored again (``row`` itself when it was not paused).
    """
    if row.paused_at_ms is None:
        return row
    shift = max(0, now - row.paused_at_ms)
    return replace(
        row,
        asked_at_ms=row.asked_at_ms + shift,
        deadline_ms=row.deadline_ms + shift,
        last_activity_ms=row.last_activity_ms + shift,
        paused_at_ms=None,
    )


class LiveGames:
    """The running games of this process, by channel and by id."""

    def __init__(self) -> None:
        self._by_channel: dict[int, LiveGame] = {}
        self._by_id: dict[int, LiveGame] = {}

    def __len__(self) -> int:
        return len(self._by_channel)

    def __iter__(self) -> Iterator[LiveGame]:
        return iter(list(self._by_channel.values()))

    def in_channel(self, channel_id: int) -> LiveGame | None:
        """The game running in a channel, if any."""
        return self._by_channel.get(channel_id)

    def get(self, game_id: int) -> LiveGame | None:
        """A running game by id, if any."""
        return self._by_id.get(game_id)

    def holds(self, live: LiveGame) -> bool:
        """True while ``live`` is the running state of its game (not ended, nor replaced by a restart)."""
        return self._by_id.get(live.id) is live

    def add(self, live: LiveGame) -> None:
        """Register a running game."""
        self._by_channel[live.channel_id] = live
        self._by_id[live.id] = live

    def drop(self, live: LiveGame) -> None:
        """Forget a game that ended."""
        self._by_channel.pop(live.channel_id, None)
        self._by_id.pop(live.id, None)

    def clear(self) -> None:
        """Forget every game (they stay stored)."""
        self._by_channel.clear()
        self._by_id.clear()
