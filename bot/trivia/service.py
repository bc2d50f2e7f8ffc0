"""TriviaService: one game per channel, started, moved along in time, stopped and resumed; no discord imports.

Every state change is committed before the announcement that tells players about it is returned, and for a game
on Discord the announcement is stored in the outbox in that same transaction (``bot.trivia.outbox``), so the front
end can post it after a failure or a stop; a question asked again at a restart is not stored. Times are
absolute milliseconds on the injected wall clock, stored with the game, so a restart resumes each game at
the same question: after a clean shutdown (``suspend``) with exactly the time that was left, after a crash
with the deadline it had. The process keeps a cache of running games for speed; the database is the truth.
How a question plays out is ``bot.trivia.rounds``; boards, lists and settings are ``bot.trivia.records``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.trivia import announcing
from bot.trivia.live import LiveGame, LiveGames, live_game, load_live, unpause
from bot.trivia.options import (
    PLOT_LIST,
    AlreadyStartedError,
    Announcement,
    ChoiceResult,
    GameOptions,
    NotAllowedError,
    TriviaError,
    merge_options,
    question_count,
    timing,
)
from bot.trivia.outbox import store_said
from bot.trivia.questions import draw
from bot.trivia.records import TriviaRecords
from bot.trivia.rounds import Rounds
from bot.trivia.variety import RECENT_GAMES, in_order, recent
from db.trivia.repository import GameRunningError, TriviaRepository
from db.trivia.stats import TriviaStatsRepository
from personas.factbase import FactBase

__all__ = [
    "AlreadyStartedError",
    "Announcement",
    "ChoiceResult",
    "Clock",
    "GameOptions",
    "NotAllowedError",
    "TriviaError",
    "TriviaService",
]

log = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Wall-clock seconds since the epoch (``time.time``); injected so tests never sleep for game time."""

_ALL_DEFAULTS = GameOptions()
"""No option chosen: every one from the guild's defaults, then the built-in ones (frozen, so shareable)."""
_ALREADY_RUNNING = "A game is already running in this channel. `/trivia stop` ends it."
_NO_GAME = "No trivia game is running in this channel."


class TriviaService(TriviaRecords):
    """Trivia games, one per channel, stored on every change; ``tick`` moves games along in time."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        facts: FactBase,
        *,
        clock: Clock = time.time,
        write_lock: asyncio.Lock | None = None,
        seed: int | None = None,
        owns: Callable[[int | None], bool] = lambda guild_id: True,
    ) -> None:
        """``owns`` tells the guilds whose games this process runs (all of them unless sharded)."""
        super().__init__(sessions, facts, write_lock or asyncio.Lock())
        self._owns = owns
        self.clock = clock
        """The wall clock; replaceable so tests control game time."""
        self.seed = seed
        """Seeds the random order of every game's questions (None: the system's randomness, different each game)."""
        self._games = LiveGames()
        self._rounds = Rounds(sessions, self._write_lock, self._games, self._now)

    # queries -----------------------------------------------------------------------------------------------

    def is_playing(self, channel_id: int) -> bool:
        """True while an open-answer game runs in this channel (its messages are answers)."""
        live = self._games.in_channel(channel_id)
        return live is not None and live.mode == "open"

    async def saved_game_in(self, channel_id: int) -> bool:
        """Whether a game in this channel is running or was saved by a shutdown (without resuming it)."""
        if self._games.in_channel(channel_id) is not None:
            return True
        async with self._sessions() as session:
            return any(row.channel_id == channel_id for row in await TriviaRepository(session).running_games())

    def mode_in(self, channel_id: int) -> str | None:
        """The mode (open or choice) of the game running in this channel, if any."""
        live = self._games.in_channel(channel_id)
        return live.mode if live is not None else None

    def host_in(self, channel_id: int) -> str | None:
        """The host persona of the game running in this channel, if any."""
        live = self._games.in_channel(channel_id)
        return live.host if live is not None else None

    def host_of(self, game_id: int) -> str | None:
        """The host persona of a running game, if it runs."""
        live = self._games.get(game_id)
        return live.host if live is not None else None

    def game_in(self, channel_id: int) -> int | None:
        """The id of the game running in this channel, if any."""
        live = self._games.in_channel(channel_id)
        return live.id if live is not None else None

    def current_answers(self, channel_id: int) -> list[str]:
        """The accepted answers of the question asked now in this channel (empty without a game)."""
        live = self._games.in_channel(channel_id)
        return list(live.question["a"]) if live is not None else []

    def running(self) -> int:
        """How many games run now."""
        return len(self._games)

    def running_guilds(self) -> list[int | None]:
        """The guild of each game running now (None for one outside a guild)."""
        return [live.guild_key or None for live in self._games]

    def _now(self) -> int:
        return int(self.clock() * 1000)

    # starting ------------------------------------------------------------------------------------------------

    async def start(
        self,
        channel_id: int,
        guild_id: int | None,
        starter: str,
        options: GameOptions = _ALL_DEFAULTS,
        *,
        seed: int | None = None,
        solo: bool = False,
        request: str | None = None,
    ) -> list[Announcement]:
        """Start a game here; TriviaError when one runs already or an option is wrong.

        Questions come in a random order (``seed``, else the service's, fixes it), those the channel heard in its
        latest games last (``bot.trivia.variety``). ``solo``: the starter plays alone (a terminal game), so each
        question closes once the starter answers. ``request`` names the request asking for the game (a Discord
        interaction's id): AlreadyStartedError when it started one already, so the same request delivered again
        after a restart starts no second game (of two deliveries at once, the one stored second is refused).
        """
        guild_key = guild_id or 0
        async with self._sessions() as session:
            repo = TriviaRepository(session)
            if request is not None and await repo.started_by(request):
                raise AlreadyStartedError("This game was started already.")
            if self._games.in_channel(channel_id) is not None:
                raise TriviaError(_ALREADY_RUNNING)
            stored = await repo.settings(guild_key) if guild_id else None
            chosen = merge_options(options, stored)
            pool, config = await self._questions.pool(repo, guild_key, chosen.lists or (PLOT_LIST,))
            games = await repo.recent_games(channel_id, RECENT_GAMES)
        seconds, target, idle_s = timing(options, chosen, config)
        assert chosen.mode is not None and chosen.host is not None
        rng = random.Random(seed if seed is not None else self.seed)  # None: from the system's randomness
        order = in_order(pool, recent(games), rng)
        picked = draw(pool, order, question_count(options, chosen, target, len(pool)), chosen.mode, rng)
        if not picked:
            raise TriviaError("Those lists have no questions I can use.")
        now = self._now()
        values = {
            "guild_id": guild_id,
            "channel_id": channel_id,
            "active_channel": channel_id,
            "starter": starter,
            "start_request": request,
            "solo": solo,
            "host": chosen.host,
            "mode": chosen.mode,
            "seconds": seconds,
            "target_score": target,
            "idle_s": idle_s,
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
                live = live_game(await TriviaRepository(session).create_game(values))
                said = await store_said(session, [announcing.opening(live), announcing.asking(live)])
        except GameRunningError as exc:
            raise TriviaError(_ALREADY_RUNNING) from exc
        self._games.add(live)
        return said

    # playing -------------------------------------------------------------------------------------------------

    async def answer(self, channel_id: int, user: str, name: str, text: str) -> list[Announcement]:
        """A message in a channel with an open-answer game: the first correct one scores."""
        live = self._games.in_channel(channel_id)
        return [] if live is None else await self._rounds.answer(live, user, name, text)

    async def choose(self, game_id: int, question_index: int, choice: int, user: str, name: str) -> ChoiceResult:
        """A press on a multiple-choice button: one answer per player per question, faster scores more."""
        live = self._games.get(game_id)
        if live is None:
            return ChoiceResult(False, "That game is over.")
        return await self._rounds.choose(live, question_index, choice, user, name)

    async def tick(self) -> list[Announcement]:
        """Move every game along to the clock's now: hints, time-outs, next questions, idle ends."""
        now = self._now()
        due = [g for g in self._games if g.due_at() <= now]
        out: list[Announcement] = []
        for said in await asyncio.gather(*(self._step(live) for live in due)):  # their writes share transactions
            out.extend(said)
        return out

    async def _step(self, live: LiveGame) -> list[Announcement]:
        if live.lock.locked():
            return []
        try:
            return await self._rounds.step(live)
        except Exception:
            log.exception("trivia game %s could not move on", live.id)
            return []

    def check_free(self, channel_id: int) -> None:
        """TriviaError when a game runs in this channel already (no database read, so a command can refuse before
        it defers its answer; ``start`` checks again)."""
        if self._games.in_channel(channel_id) is not None:
            raise TriviaError(_ALREADY_RUNNING)

    def check_control(self, channel_id: int, user: str, *, moderator: bool, action: str) -> None:
        """TriviaError unless a game runs here and ``user`` may ``action`` it (no database read, so a command can
        refuse before it defers its answer)."""
        self._authorise(channel_id, user, moderator, action)

    def _authorise(self, channel_id: int, user: str, moderator: bool, action: str) -> LiveGame:
        live = self._games.in_channel(channel_id)
        if live is None:
            raise TriviaError(_NO_GAME)
        if not moderator and user != live.starter:
            raise NotAllowedError(
                f"Only the player who started this game or someone with Manage Messages can {action} it."
            )
        return live

    async def skip(self, channel_id: int, user: str, *, moderator: bool = False) -> list[Announcement]:
        """Reveal the current question and go on (the starter or a moderator only)."""
        live = self._authorise(channel_id, user, moderator, "skip a question of")
        async with live.lock:
            if not self._games.holds(live):
                raise TriviaError(_NO_GAME)
            now = self._now()
            if live.phase == "pause":
                return await self._rounds.next_question(live, now)
            live.last_activity = now
            return await self._rounds.close(live, now, "skipped")

    async def stop(self, channel_id: int, user: str, *, moderator: bool = False) -> list[Announcement]:
        """End the game now (the starter or a moderator only); nobody wins a stopped game."""
        live = self._authorise(channel_id, user, moderator, "stop")
        async with live.lock:
            if not self._games.holds(live):
                raise TriviaError(_NO_GAME)
            async with self._write_lock, self._sessions.begin() as session:
                repo = TriviaRepository(session)
                if live.mode == "open" and live.phase == "ask":
                    await TriviaStatsRepository(session).score(live.id, live.guild_key, live.attempts)
                standings = await repo.finish_game(live.id, "stopped", live.guild_key, award_wins=False)
                said = await store_said(session, [announcing.ending(live, "stopped", standings)])
            self._games.drop(live)
            return said

    # restarts ------------------------------------------------------------------------------------------------

    async def suspend(self) -> int:
        """Before a clean shutdown: remember when the games paused, so they resume with the time they had left."""
        now = self._now()
        await self._rounds.writer.flush()
        games = list(self._games)
        if games:
            async with self._write_lock, self._sessions.begin() as session:
                repo = TriviaRepository(session)
                for live in games:
                    await repo.update_game(
                        live.id, version=live.version, paused_at_ms=now, last_activity_ms=live.last_activity
                    )
        self._games.clear()
        return len(games)

    async def resume(self) -> list[Announcement]:
        """Load the running games of this process's guilds after a start; each continues at its question with the
        time it had left."""
        now = self._now()
        out: list[Announcement] = []
        async with self._write_lock, self._sessions.begin() as session:
            repo = TriviaRepository(session)
            for stored in await repo.running_games():
                if self._games.get(stored.id) is not None or not self._owns(stored.guild_id):
                    continue
                row = unpause(stored, now)
                if row is not stored:
                    await repo.update_game(
                        row.id,
                        version=stored.version,
                        asked_at_ms=row.asked_at_ms,
                        deadline_ms=row.deadline_ms,
                        last_activity_ms=row.last_activity_ms,
                        paused_at_ms=None,
                    )
                    row = replace(row, version=stored.version + 1)
                live = await load_live(repo, row)
                self._games.add(live)
                if live.phase == "ask" and live.deadline > now:
                    left = max(1, round((live.deadline - now) / 1000))
                    out.append(announcing.asking(live, "resume", left))
        if out:
            log.info("resumed %d trivia games", len(self._games))
        return out

    # privacy -------------------------------------------------------------------------------------------------

    async def forget(self, user: str) -> int:
        """Delete the user's trivia scores, answers and stats; returns how many rows went."""
        await self.leave_live_games(user)
        return await super().forget(user)

    async def leave_live_games(self, user: str) -> None:
        """Before ``user``'s trivia data is deleted: the running games forget them (so nothing new about them is
        stored), and what was queued is written first (so nothing lands after the deletion)."""
        for live in self._games:
            if live.starter == user:
                live.starter = None
            live.attempts.pop(user, None)
            live.players.pop(user, None)
            live.points.pop(user, None)
        await self._rounds.writer.flush()
