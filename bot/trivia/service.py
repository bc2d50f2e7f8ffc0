"""TriviaService: one game per channel, its state machine, scoring, boards and lists; no discord imports.

Every state change is committed before the announcement that tells players about it is returned. Times are
absolute milliseconds on the injected wall clock, stored with the game, so a restart resumes each game at
the same question: after a clean shutdown (``suspend``) with exactly the time that was left, after a crash
with the deadline it had. The process keeps a cache of running games for speed; the database is the truth.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.trivia.hosting import HOSTS, host_line
from bot.trivia.judge import Accepted, Verdict, judge, normalise, prepare, reveal
from bot.trivia.red_lists import RedList, list_name, parse_red_list
from db.trivia_models import TriviaGame
from db.trivia_repository import (
    BOARD_METRICS,
    BoardRow,
    GameRunningError,
    PlayerStats,
    Standing,
    TriviaRepository,
)
from personas.factbase import FactBase

__all__ = [
    "DEFAULTS",
    "MODES",
    "Announcement",
    "ChoiceResult",
    "Clock",
    "GameOptions",
    "ListInfo",
    "NotAllowedError",
    "TriviaError",
    "TriviaService",
]

log = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Wall-clock seconds since the epoch (``time.time``); injected so tests never sleep for game time."""

MODES = ("open", "choice")
PLOT_LIST = "plot"
POINTS = 10
HINT_COST = 3
HINTS = 2
GAP_MS = 4000
CHOICE_LETTERS = "ABCD"


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


@dataclass(slots=True)
class _Live:
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
    accepted: Accepted = field(default_factory=lambda: Accepted(()))
    attempts: dict[str, str] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)
    players: dict[str, str] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def question(self) -> dict[str, Any]:
        return self.questions[self.index]

    @property
    def total(self) -> int:
        return len(self.questions)

    def next_hint_at(self) -> int | None:
        if self.hints >= HINTS:
            return None
        return self.asked_at + (self.seconds * 1000 * (self.hints + 1)) // (HINTS + 1)

    def due_at(self) -> int:
        if self.phase == "ask":
            hint = self.next_hint_at()
            return min(self.deadline, hint) if hint is not None else self.deadline
        return self.deadline

    def points_now(self, now: int) -> int:
        base = POINTS - HINT_COST * self.hints
        if self.mode == "choice":
            left = max(0, self.deadline - now) / (self.seconds * 1000)
            base = POINTS // 2 + round(POINTS / 2 * left) - HINT_COST * self.hints
        return max(1, base)


def _live(row: TriviaGame) -> _Live:
    live = _Live(
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
    )
    live.accepted = prepare(live.question["a"])
    return live


class TriviaService:
    """Trivia games, one per channel, stored on every change; ``tick`` moves games along in time."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        facts: FactBase,
        *,
        clock: Clock = time.time,
        write_lock: asyncio.Lock | None = None,
    ) -> None:
        self._sessions = sessions
        self._facts = facts
        self.clock = clock
        """The wall clock; replaceable so tests control game time."""
        self._write_lock = write_lock or asyncio.Lock()
        self._by_channel: dict[int, _Live] = {}
        self._by_id: dict[int, _Live] = {}
        self._plot: list[dict[str, Any]] | None = None

    # queries -----------------------------------------------------------------------------------------------

    def is_playing(self, channel_id: int) -> bool:
        """True while an open-answer game runs in this channel (its messages are answers)."""
        live = self._by_channel.get(channel_id)
        return live is not None and live.mode == "open"

    def game_in(self, channel_id: int) -> int | None:
        """The id of the game running in this channel, if any."""
        live = self._by_channel.get(channel_id)
        return live.id if live is not None else None

    def running(self) -> int:
        """How many games run now."""
        return len(self._by_channel)

    def _now(self) -> int:
        return int(self.clock() * 1000)

    # starting ------------------------------------------------------------------------------------------------

    async def start(
        self,
        channel_id: int,
        guild_id: int | None,
        starter: str,
        options: GameOptions = GameOptions(),
        *,
        seed: int | None = None,
    ) -> list[Announcement]:
        """Start a game here; TriviaError when one runs already or an option is wrong."""
        if channel_id in self._by_channel:
            raise TriviaError("A game is already running in this channel. `/trivia stop` ends it.")
        guild_key = guild_id or 0
        async with self._sessions() as session:
            repo = TriviaRepository(session)
            stored = await repo.settings(guild_key) if guild_id else None
            chosen = self._merge(options, stored)
            pool, config = await self._pool(repo, guild_key, chosen.lists or (PLOT_LIST,))
        seconds = options.seconds or (int(config["delay"]) if "delay" in config else None) or chosen.seconds
        target = options.target_score or (int(config["max_score"]) if "max_score" in config else chosen.target_score)
        idle_s = int(config["timeout"]) if "timeout" in config else chosen.idle_s
        assert seconds is not None and idle_s is not None and chosen.mode is not None and chosen.host is not None
        seconds = min(max(seconds, LIMITS["seconds"][0]), LIMITS["seconds"][1])
        rng = random.Random(seed if seed is not None else self._now() ^ channel_id)
        wanted = len(pool) if target is not None and options.questions is None else chosen.questions or len(pool)
        count = min(wanted, len(pool), LIMITS["questions"][1])
        picked = rng.sample(pool, count)
        if chosen.mode == "choice":
            picked = [q for q in (self._with_choices(q, pool, rng) for q in picked) if q is not None]
        if not picked:
            raise TriviaError("Those lists have no questions I can use.")
        now = self._now()
        values = {
            "guild_id": guild_id,
            "channel_id": channel_id,
            "active_channel": channel_id,
            "starter": starter,
            "host": chosen.host,
            "mode": chosen.mode,
            "seconds": seconds,
            "target_score": target,
            "idle_s": max(idle_s, seconds * 2),
            "lists": list(chosen.lists or (PLOT_LIST,)),
            "questions": picked,
            "status": "running",
            "end_reason": None,
            "question_index": 0,
            "phase": "ask",
            "asked_at_ms": now,
            "deadline_ms": now + seconds * 1000,
            "hints": 0,
            "last_activity_ms": now,
            "paused_at_ms": None,
        }
        try:
            async with self._write_lock, self._sessions.begin() as session:
                row = await TriviaRepository(session).create_game(values)
                live = _live(row)
        except GameRunningError as exc:
            raise TriviaError("A game is already running in this channel. `/trivia stop` ends it.") from exc
        self._cache(live)
        goal = (
            f"{live.total} questions." if target is None else f"First to {target} points, up to {live.total} questions."
        )
        opening = Announcement(
            channel_id, live.id, "start", live.host, host_line(live.host, "start", live.id, goal=goal, seconds=seconds)
        )
        return [opening, self._ask(live)]

    def _merge(self, options: GameOptions, stored: Any) -> GameOptions:
        def pick(name: str) -> Any:
            given = getattr(options, name)
            if given is not None:
                return given
            saved = getattr(stored, name, None) if stored is not None and name != "idle_s" else None
            if saved is not None:
                return tuple(saved) if name == "lists" else saved
            return getattr(DEFAULTS, name)

        merged = GameOptions(**{option.name: pick(option.name) for option in fields(GameOptions)})
        self.check_options(merged)
        return merged

    @staticmethod
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

    def _plot_questions(self) -> list[dict[str, Any]]:
        if self._plot is None:
            self._plot = [
                {"q": item.question, "a": list(item.answers), "fact": fact.id, "fact_text": fact.text, "list": "plot"}
                for fact in self._facts.facts
                for item in fact.trivia
            ]
        return self._plot

    async def _pool(
        self, repo: TriviaRepository, guild_key: int, names: Sequence[str]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        pool: list[dict[str, Any]] = []
        config: dict[str, Any] = {}
        wanted = [name.strip().lower() for name in names if name.strip()] or [PLOT_LIST]
        imported = {row.name: row for row in await repo.lists(guild_key)} if set(wanted) - {PLOT_LIST} else {}
        for name in dict.fromkeys(wanted):
            if name == PLOT_LIST:
                pool.extend(self._plot_questions())
                continue
            row = imported.get(name)
            if row is None:
                known = ", ".join([PLOT_LIST, *sorted(imported)])
                raise TriviaError(f"There is no list called `{name}` here. Lists: {known}.")
            pool.extend({**q, "fact": None, "fact_text": None, "list": name} for q in row.questions)
            if len(wanted) == 1:
                config = dict(row.config)
        return pool, config

    @staticmethod
    def _with_choices(
        question: dict[str, Any], pool: list[dict[str, Any]], rng: random.Random
    ) -> dict[str, Any] | None:
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

    def _cache(self, live: _Live) -> None:
        self._by_channel[live.channel_id] = live
        self._by_id[live.id] = live

    def _drop(self, live: _Live) -> None:
        self._by_channel.pop(live.channel_id, None)
        self._by_id.pop(live.id, None)

    # announcements -------------------------------------------------------------------------------------------

    def _ask(self, live: _Live, moment: str = "ask", left: int | None = None) -> Announcement:
        question = live.question
        seed = live.id + live.index
        text = host_line(
            live.host,
            "resumed" if moment == "resume" else "ask",
            seed,
            n=live.index + 1,
            total=live.total,
            question=question["q"],
            left=left,
        )
        choices = tuple(question.get("choices") or ()) if live.mode == "choice" else ()
        if moment == "ask":
            text += f" ({live.seconds} s)"
        if choices:
            text += "\n" + "\n".join(f"**{CHOICE_LETTERS[i]}**: {choice}" for i, choice in enumerate(choices))
        return Announcement(live.channel_id, live.id, moment, live.host, text, live.index, choices)

    def _fact_of(self, question: dict[str, Any]) -> str:
        text = question.get("fact_text")
        return f"({text})" if text else ""

    @staticmethod
    def _standings_text(standings: Sequence[Standing]) -> str:
        if not standings or standings[0].points <= 0:
            return ""
        return "\n".join(f"{place}. {s.name}: {s.points} points" for place, s in enumerate(standings[:10], 1))

    def _end(self, live: _Live, reason: str, standings: Sequence[Standing]) -> Announcement:
        moment = {"stopped": "stopped", "idle": "idle"}.get(reason, "finished")
        board = self._standings_text(standings) or host_line(live.host, "nobody", live.id)
        text = host_line(live.host, moment, live.id, standings=board)
        if moment == "stopped":
            text += "\n" + board
        return Announcement(live.channel_id, live.id, "stop" if reason == "stopped" else "end", live.host, text)

    # playing -------------------------------------------------------------------------------------------------

    async def answer(self, channel_id: int, user: str, name: str, text: str) -> list[Announcement]:
        """A message in a channel with an open-answer game: the first correct one scores."""
        live = self._by_channel.get(channel_id)
        if live is None or live.mode != "open" or live.phase != "ask":
            return []
        index = live.index
        verdict: Verdict = judge(text, live.accepted)
        async with live.lock:
            now = self._now()
            if live.phase != "ask" or live.index != index or self._by_id.get(live.id) is not live:
                return []
            if now >= live.deadline:
                return []
            live.attempts[user] = name
            live.last_activity = now
            if not verdict.correct:
                return []
            points = live.points_now(now)
            question = live.question
            async with self._write_lock, self._sessions.begin() as session:
                repo = TriviaRepository(session)
                await repo.score(live.id, live.guild_key, live.attempts, winner=user, points=points)
                reached = live.target is not None and await repo.top_points(live.id) >= live.target
                ending = reached or live.index + 1 >= live.total
                standings = await self._after_question(repo, live, now, "target" if reached else "done", ending)
            said = host_line(
                live.host, "correct", live.id + live.index, name=name, answer=question["a"][0], points=points
            )
            out = [Announcement(channel_id, live.id, "correct", live.host, f"{said} {self._fact_of(question)}".strip())]
            if standings is not None:
                out.append(self._end(live, "target" if reached else "done", standings))
            return out

    async def _after_question(
        self, repo: TriviaRepository, live: _Live, now: int, reason: str, ending: bool
    ) -> list[Standing] | None:
        """Store the step after a question closes: the end of the game, or a pause before the next question."""
        if ending:
            standings = await repo.finish_game(live.id, reason, live.guild_key, award_wins=reason != "stopped")
            self._drop(live)
            return standings
        await repo.update_game(live.id, phase="pause", deadline_ms=now + GAP_MS, last_activity_ms=live.last_activity)
        live.phase, live.deadline = "pause", now + GAP_MS
        return None

    async def choose(self, game_id: int, question_index: int, choice: int, user: str, name: str) -> ChoiceResult:
        """A press on a multiple-choice button: one answer per player per question, faster scores more."""
        live = self._by_id.get(game_id)
        if live is None:
            return ChoiceResult(False, "That game is over.")
        async with live.lock:
            now = self._now()
            if self._by_id.get(game_id) is not live:
                return ChoiceResult(False, "That game is over.")
            if live.index != question_index or live.phase != "ask" or now >= live.deadline:
                return ChoiceResult(False, "That question is closed.")
            question = live.question
            if not 0 <= choice < len(question.get("choices") or ()):
                return ChoiceResult(False, "That is not one of the choices.")
            if user in live.answered:
                return ChoiceResult(False, "You already answered this question.")
            correct = choice == question["correct"]
            points = live.points_now(now) if correct else 0
            async with self._write_lock, self._sessions.begin() as session:
                repo = TriviaRepository(session)
                fresh = await repo.record_choice(live.id, live.index, user, choice, correct, points, now)
                if fresh:
                    await repo.score(
                        live.id, live.guild_key, {user: name}, winner=user if correct else None, points=points
                    )
                    await repo.update_game(live.id, last_activity_ms=now)
            if not fresh:
                live.answered.add(user)
                return ChoiceResult(False, "You already answered this question.")
            first_question = live.index == 0
            live.answered.add(user)
            live.last_activity = now
            live.players[user] = name
            everyone = set(live.players) <= live.answered
            letter = CHOICE_LETTERS[choice]
            text = f"Locked in: **{letter}**. The answer is revealed when time is up."
            announcements: list[Announcement] = []
            if everyone and not first_question:
                announcements = await self._close(live, now, "reveal")
            return ChoiceResult(True, text, announcements)

    async def _close(self, live: _Live, now: int, moment: str) -> list[Announcement]:
        """Close the current question (time out, skip or everyone answered): reveal it, then go on or end."""
        question = live.question
        idle = now - live.last_activity >= live.idle_s * 1000
        ending = idle or live.index + 1 >= live.total
        async with self._write_lock, self._sessions.begin() as session:
            repo = TriviaRepository(session)
            winners: list[str] = []
            if live.mode == "open":
                await repo.score(live.id, live.guild_key, live.attempts)
            else:
                for row in await repo.choices(live.id, live.index):
                    if row.correct:
                        winners.append(f"{live.players.get(row.user, 'someone')} (+{row.points})")
            reason = "idle" if idle else "done"
            standings = await self._after_question(repo, live, now, reason, ending)
        answer = question["a"][0]
        if moment == "skipped":
            text = host_line(live.host, "skipped", live.id + live.index, answer=answer)
            text = f"{text} {self._fact_of(question)}".strip()
        else:
            kind = "reveal_choice" if live.mode == "choice" else "reveal"
            text = host_line(live.host, kind, live.id + live.index, answer=answer, fact=self._fact_of(question))
        if winners:
            text += "\nRight: " + ", ".join(winners)
        out = [Announcement(live.channel_id, live.id, "skip" if moment == "skipped" else "reveal", live.host, text)]
        if standings is not None:
            out.append(self._end(live, reason, standings))
        return out

    async def _next(self, live: _Live, now: int) -> list[Announcement]:
        index = live.index + 1
        async with self._write_lock, self._sessions.begin() as session:
            await TriviaRepository(session).update_game(
                live.id,
                question_index=index,
                phase="ask",
                asked_at_ms=now,
                deadline_ms=now + live.seconds * 1000,
                hints=0,
            )
        live.index, live.phase, live.asked_at, live.deadline, live.hints = (
            index,
            "ask",
            now,
            now + live.seconds * 1000,
            0,
        )
        live.accepted = prepare(live.question["a"])
        live.attempts = {}
        live.answered = set()
        return [self._ask(live)]

    async def _hint(self, live: _Live) -> list[Announcement]:
        hints = live.hints + 1
        async with self._write_lock, self._sessions.begin() as session:
            await TriviaRepository(session).update_game(live.id, hints=hints)
        live.hints = hints
        shown = reveal(live.question["a"][0], hints / (HINTS + 1))
        points = live.points_now(self._now())
        text = host_line(live.host, "hint", live.id + live.index + hints, hint=f"`{shown}`", points=points)
        return [Announcement(live.channel_id, live.id, "hint", live.host, text)]

    async def tick(self) -> list[Announcement]:
        """Move every game along to the clock's now: hints, time-outs, next questions, idle ends."""
        now = self._now()
        out: list[Announcement] = []
        for live in [g for g in self._by_channel.values() if g.due_at() <= now]:
            if live.lock.locked():
                continue
            try:
                out.extend(await self._step(live))
            except Exception:
                log.exception("trivia game %s could not move on", live.id)
        return out

    async def _step(self, live: _Live) -> list[Announcement]:
        async with live.lock:
            now = self._now()
            if self._by_id.get(live.id) is not live or live.due_at() > now:
                return []
            if live.phase == "pause":
                return await self._next(live, now)
            if now >= live.deadline:
                return await self._close(live, now, "reveal")
            return await self._hint(live)

    def _authorise(self, channel_id: int, user: str, moderator: bool, action: str) -> _Live:
        live = self._by_channel.get(channel_id)
        if live is None:
            raise TriviaError("No trivia game is running in this channel.")
        if not moderator and user != live.starter:
            raise NotAllowedError(
                f"Only the player who started this game or someone with Manage Messages can {action} it."
            )
        return live

    async def skip(self, channel_id: int, user: str, *, moderator: bool = False) -> list[Announcement]:
        """Reveal the current question and go on (the starter or a moderator only)."""
        live = self._authorise(channel_id, user, moderator, "skip a question of")
        async with live.lock:
            if self._by_id.get(live.id) is not live:
                raise TriviaError("No trivia game is running in this channel.")
            now = self._now()
            if live.phase == "pause":
                return await self._next(live, now)
            live.last_activity = now
            return await self._close(live, now, "skipped")

    async def stop(self, channel_id: int, user: str, *, moderator: bool = False) -> list[Announcement]:
        """End the game now (the starter or a moderator only); nobody wins a stopped game."""
        live = self._authorise(channel_id, user, moderator, "stop")
        async with live.lock:
            if self._by_id.get(live.id) is not live:
                raise TriviaError("No trivia game is running in this channel.")
            async with self._write_lock, self._sessions.begin() as session:
                repo = TriviaRepository(session)
                if live.mode == "open" and live.phase == "ask":
                    await repo.score(live.id, live.guild_key, live.attempts)
                standings = await repo.finish_game(live.id, "stopped", live.guild_key, award_wins=False)
            self._drop(live)
            return [self._end(live, "stopped", standings)]

    # restarts ------------------------------------------------------------------------------------------------

    async def suspend(self) -> int:
        """Before a clean shutdown: remember when the games paused, so they resume with the time they had left."""
        now = self._now()
        games = list(self._by_channel.values())
        if games:
            async with self._write_lock, self._sessions.begin() as session:
                repo = TriviaRepository(session)
                for live in games:
                    await repo.update_game(live.id, paused_at_ms=now, last_activity_ms=live.last_activity)
        self._by_channel.clear()
        self._by_id.clear()
        return len(games)

    async def resume(self) -> list[Announcement]:
        """Load the running games after a start; each continues at its question with the time it had left."""
        now = self._now()
        out: list[Announcement] = []
        async with self._write_lock, self._sessions.begin() as session:
            repo = TriviaRepository(session)
            for row in await repo.running_games():
                if row.id in self._by_id:
                    continue
                if row.paused_at_ms is not None:
                    shift = max(0, now - row.paused_at_ms)
                    row.asked_at_ms += shift
                    row.deadline_ms += shift
                    row.last_activity_ms += shift
                    row.paused_at_ms = None
                live = _live(row)
                if live.mode == "choice":
                    live.players = await repo.players(live.id)
                    live.answered = {c.user for c in await repo.choices(live.id, live.index)}
                self._cache(live)
                if live.phase == "ask" and live.deadline > now:
                    left = max(1, round((live.deadline - now) / 1000))
                    out.append(self._ask(live, "resume", left))
        if out:
            log.info("resumed %d trivia games", len(self._by_id))
        return out

    # boards, lists, settings, privacy ------------------------------------------------------------------------

    async def leaderboard(self, guild_id: int | None, metric: str = "points", limit: int = 10) -> list[BoardRow]:
        """The best players of a guild (None: everywhere) by points, wins, games or accuracy."""
        if metric not in BOARD_METRICS:
            raise TriviaError(f"`metric` must be one of: {', '.join(BOARD_METRICS)}.")
        async with self._sessions() as session:
            return await TriviaRepository(session).leaderboard(guild_id, metric, limit)

    async def stats(self, user: str, guild_id: int | None) -> PlayerStats | None:
        """A player's figures in a guild (None: everywhere)."""
        async with self._sessions() as session:
            return await TriviaRepository(session).player_stats(user, guild_id)

    async def lists(self, guild_id: int | None) -> list[ListInfo]:
        """The plot questions and the lists imported into this guild."""
        infos = [ListInfo(PLOT_LIST, len(self._plot_questions()), None, "Questions about the story of T2.")]
        if guild_id:
            async with self._sessions() as session:
                rows = await TriviaRepository(session).lists(guild_id)
            infos += [ListInfo(r.name, len(r.questions), r.author, r.description) for r in rows]
        return infos

    async def import_list(self, guild_id: int, filename: str, data: bytes, uploaded_by: str) -> tuple[ListInfo, bool]:
        """Parse a Red-DiscordBot list and store it for the guild; RedListError names the line at fault."""
        name = list_name(filename)
        if name == PLOT_LIST:
            raise TriviaError("`plot` is the built-in list; rename the file.")
        parsed: RedList = await asyncio.to_thread(parse_red_list, data)
        values = {
            "author": parsed.author,
            "description": parsed.description,
            "config": parsed.config,
            "questions": [{"q": q.question, "a": list(q.answers)} for q in parsed.questions],
            "uploaded_by": uploaded_by,
        }
        async with self._write_lock, self._sessions.begin() as session:
            replaced = await TriviaRepository(session).save_list(guild_id, name, values)
        return ListInfo(name, len(parsed.questions), parsed.author, parsed.description), replaced

    async def settings(self, guild_id: int) -> GameOptions:
        """The guild's defaults, with the built-in ones filled in."""
        async with self._sessions() as session:
            stored = await TriviaRepository(session).settings(guild_id)
        return self._merge(GameOptions(), stored)

    async def save_settings(self, guild_id: int, options: GameOptions) -> GameOptions:
        """Store the options given as the guild's defaults; returns the defaults now in force."""
        self.check_options(options)
        values = {
            name: (list(value) if name == "lists" else value)
            for name in ("questions", "target_score", "seconds", "mode", "host", "lists")
            if (value := getattr(options, name)) is not None
        }
        if options.lists is not None:
            async with self._sessions() as session:
                await self._pool(TriviaRepository(session), guild_id, options.lists)
        async with self._write_lock, self._sessions.begin() as session:
            await TriviaRepository(session).save_settings(guild_id, values)
        return await self.settings(guild_id)

    async def forget(self, user: str) -> int:
        """Delete the user's trivia scores, answers and stats; returns how many rows went."""
        for live in self._by_channel.values():
            if live.starter == user:
                live.starter = None
            live.attempts.pop(user, None)
            live.players.pop(user, None)
        async with self._write_lock, self._sessions.begin() as session:
            return await TriviaRepository(session).forget(user)
