"""How a question plays out in a running game: answers, choice presses, hints, closing it, the next question.

Every change is committed before the announcement that tells players about it is returned, and the cached
state of a game changes only after it is stored. The announcements are built before the commit (the ending's
from the standings the commit computes) and stored with the change in the outbox (``bot.trivia.outbox``). Steps
of different games share transactions (``bot.trivia.writes``); a choice press, whose write depends on what is
stored, has its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.trivia import announcing
from bot.trivia.judge import judge
from bot.trivia.live import GAP_MS, LiveGame, LiveGames, load_live
from bot.trivia.options import Announcement, ChoiceResult
from bot.trivia.questions import CHOICE_LETTERS
from bot.trivia.writes import GameWriter, Step
from db.common import StaleWrite, StorageError
from db.trivia.repository import TriviaRepository
from db.trivia.stats import TriviaStatsRepository

__all__ = ["Rounds"]

log = logging.getLogger(__name__)


class Rounds:
    """The moves inside running games; ``close`` and ``next_question`` expect the game's lock to be held."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        write_lock: asyncio.Lock,
        games: LiveGames,
        now: Callable[[], int],
    ) -> None:
        self._sessions = sessions
        self._write_lock = write_lock
        self._games = games
        self._now = now
        self.writer = GameWriter(sessions, write_lock)
        """Stores the steps of games, many games' to a transaction."""

    async def answer(self, live: LiveGame, user: str, name: str, text: str) -> list[Announcement]:
        """A message in an open-answer game: the first correct one scores."""
        if live.mode != "open" or live.phase != "ask":
            return []
        index = live.index
        verdict = judge(text, live.accepted)
        async with live.lock:
            now = self._now()
            if live.phase != "ask" or live.index != index or not self._games.holds(live):
                return []
            if now >= live.deadline:
                return []
            live.attempts[user] = name
            live.last_activity = now
            if not verdict.correct:
                return []
            points = live.points_now(now)
            gained = live.points.get(user, 0) + points
            reached = live.target is not None and max([gained, *live.points.values()]) >= live.target
            reason = "target" if reached else "done"
            ending = reached or live.index + 1 >= live.total
            step = replace(
                self._after_question(live, now, reason, ending),
                winner=user,
                points=points,
                said=(announcing.correct(live, name, points),),
            )
            said = await self._store(step, live)
            live.points[user] = gained
            self._settle(live, now, ending)
            return said

    async def choose(self, live: LiveGame, question_index: int, choice: int, user: str, name: str) -> ChoiceResult:
        """A press on a multiple-choice button: one answer per player per question, faster scores more."""
        async with live.lock:
            now = self._now()
            if not self._games.holds(live):
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
            try:
                async with self._write_lock, self._sessions.begin() as session:
                    repo, scores = TriviaRepository(session), TriviaStatsRepository(session)
                    fresh = await repo.record_choice(live.id, live.index, user, choice, correct, points, now)
                    if fresh:
                        await scores.score(
                            live.id, live.guild_key, {user: name}, winner=user if correct else None, points=points
                        )
                        await repo.update_game(live.id, version=live.version, last_activity_ms=now)
            except StaleWrite:
                await self._reload(live)
                raise
            if fresh:
                live.version += 1
            live.answered.add(user)
            if not fresh:
                return ChoiceResult(False, "You already answered this question.")
            first_question = live.index == 0
            live.last_activity = now
            live.players[user] = name
            live.points[user] = live.points.get(user, 0) + points
            everyone = set(live.players) <= live.answered
            text = f"Locked in: **{CHOICE_LETTERS[choice]}**. The answer is revealed when time is up."
            announcements: list[Announcement] = []
            # A question closes once everyone who plays has answered; on the first one nobody knows yet who
            # plays, unless the game is the starter's alone.
            if everyone and (live.solo or not first_question):
                try:
                    announcements = await self.close(live, now, "reveal")
                except (StorageError, SQLAlchemyError, TimeoutError):
                    # The press is stored and counted; the question stays open and closes at its deadline.
                    log.warning("trivia game %s could not close question %d early", live.id, live.index, exc_info=True)
                else:
                    text = f"Locked in: **{CHOICE_LETTERS[choice]}**."
            return ChoiceResult(True, text, announcements)

    async def step(self, live: LiveGame) -> list[Announcement]:
        """Whatever is due in the game now: the next question after a pause, the time-out, or a hint."""
        async with live.lock:
            now = self._now()
            if not self._games.holds(live) or live.due_at() > now:
                return []
            if live.phase == "pause":
                return await self.next_question(live, now)
            if now >= live.deadline:
                return await self.close(live, now, "reveal")
            return await self._hint(live)

    async def close(self, live: LiveGame, now: int, moment: str) -> list[Announcement]:
        """Close the current question (time out, skip or everyone answered): reveal it, then go on or end."""
        idle = now - live.last_activity >= live.idle_s * 1000
        ending = idle or live.index + 1 >= live.total
        reason = "idle" if idle else "done"
        winners: list[str] = []
        step = self._after_question(live, now, reason, ending)
        if live.mode != "open":
            step = replace(step, players={})
            async with self._sessions() as session:  # every press of this question is stored: the lock is held
                for row in await TriviaRepository(session).choices(live.id, live.index):
                    if row.correct:
                        winners.append(f"{live.players.get(row.user, 'someone')} (+{row.points})")
        said = await self._store(replace(step, said=(announcing.closing(live, moment, winners),)), live)
        self._settle(live, now, ending)
        return said

    async def next_question(self, live: LiveGame, now: int) -> list[Announcement]:
        """Ask the next question, now."""
        index = live.index + 1
        values = {
            "question_index": index,
            "phase": "ask",
            "asked_at_ms": now,
            "deadline_ms": now + live.seconds * 1000,
            "hints": 0,
        }
        asked = announcing.asking(live, index=index)
        said = await self._store(Step(live.id, live.guild_key, values=values, said=(asked,)), live)
        live.ask(index, now)
        return said

    async def _hint(self, live: LiveGame) -> list[Announcement]:
        hints = live.hints + 1
        hint = announcing.hint(live, hints, live.points_now(self._now(), hints))
        said = await self._store(Step(live.id, live.guild_key, values={"hints": hints}, said=(hint,)), live)
        live.hints = hints
        return said

    async def _store(self, step: Step, live: LiveGame) -> list[Announcement]:
        """Store a step made from ``live`` (only if the stored game is still at ``live``'s version)."""
        try:
            said = await self.writer.store(replace(step, version=live.version))
        except StaleWrite:
            await self._reload(live)
            raise
        if step.changes_game:
            live.version += 1
        return said

    async def _reload(self, live: LiveGame) -> None:
        """Another process changed this game: say so loudly, and run it from here on as it is stored now."""
        log.warning("trivia game %d was changed by another process; reading it again", live.id)
        async with self._sessions() as session:
            repo = TriviaRepository(session)
            row = await repo.running_game(live.id)
            fresh = await load_live(repo, row) if row is not None else None
        if self._games.holds(live):
            self._games.drop(live)
        if fresh is not None:
            self._games.add(fresh)

    def _after_question(self, live: LiveGame, now: int, reason: str, ending: bool) -> Step:
        """The step after a question closes, counted for its open-mode players: the end, or a pause before the next."""
        if ending:
            end = partial(announcing.ending, live, reason)
            return Step(live.id, live.guild_key, players=live.attempts, finish=reason, ending=end)
        values = {"phase": "pause", "deadline_ms": now + GAP_MS, "last_activity_ms": live.last_activity}
        return Step(live.id, live.guild_key, players=live.attempts, values=values)

    def _settle(self, live: LiveGame, now: int, ending: bool) -> None:
        """After the step is stored: forget the ended game, or pause before the next question."""
        if ending:
            self._games.drop(live)
        else:
            live.pause(now)
