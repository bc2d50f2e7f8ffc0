"""How a question plays out in a running game: answers, choice presses, hints, closing it, the next question.

Every change is committed before the announcement that tells players about it is returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.trivia import announcing
from bot.trivia.judge import judge
from bot.trivia.live import GAP_MS, LiveGame, LiveGames
from bot.trivia.options import Announcement, ChoiceResult
from bot.trivia.questions import CHOICE_LETTERS
from db.trivia_repository import Standing, TriviaRepository
from db.trivia_stats import TriviaStatsRepository

__all__ = ["Rounds"]


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
            async with self._write_lock, self._sessions.begin() as session:
                repo, scores = TriviaRepository(session), TriviaStatsRepository(session)
                await scores.score(live.id, live.guild_key, live.attempts, winner=user, points=points)
                reached = live.target is not None and await repo.top_points(live.id) >= live.target
                reason = "target" if reached else "done"
                standings = await self._after_question(repo, live, now, reason, reached or live.index + 1 >= live.total)
            out = [announcing.correct(live, name, points)]
            if standings is not None:
                out.append(announcing.ending(live, reason, standings))
            return out

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
            async with self._write_lock, self._sessions.begin() as session:
                repo, scores = TriviaRepository(session), TriviaStatsRepository(session)
                fresh = await repo.record_choice(live.id, live.index, user, choice, correct, points, now)
                if fresh:
                    await scores.score(
                        live.id, live.guild_key, {user: name}, winner=user if correct else None, points=points
                    )
                    await repo.update_game(live.id, last_activity_ms=now)
            live.answered.add(user)
            if not fresh:
                return ChoiceResult(False, "You already answered this question.")
            first_question = live.index == 0
            live.last_activity = now
            live.players[user] = name
            everyone = set(live.players) <= live.answered
            text = f"Locked in: **{CHOICE_LETTERS[choice]}**. The answer is revealed when time is up."
            announcements: list[Announcement] = []
            if everyone and not first_question:
                announcements = await self.close(live, now, "reveal")
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
        async with self._write_lock, self._sessions.begin() as session:
            repo, scores = TriviaRepository(session), TriviaStatsRepository(session)
            winners: list[str] = []
            if live.mode == "open":
                await scores.score(live.id, live.guild_key, live.attempts)
            else:
                for row in await repo.choices(live.id, live.index):
                    if row.correct:
                        winners.append(f"{live.players.get(row.user, 'someone')} (+{row.points})")
            reason = "idle" if idle else "done"
            standings = await self._after_question(repo, live, now, reason, ending)
        out = [announcing.closing(live, moment, winners)]
        if standings is not None:
            out.append(announcing.ending(live, reason, standings))
        return out

    async def next_question(self, live: LiveGame, now: int) -> list[Announcement]:
        """Ask the next question, now."""
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
        live.ask(index, now)
        return [announcing.asking(live)]

    async def _hint(self, live: LiveGame) -> list[Announcement]:
        hints = live.hints + 1
        async with self._write_lock, self._sessions.begin() as session:
            await TriviaRepository(session).update_game(live.id, hints=hints)
        live.hints = hints
        return [announcing.hint(live, live.points_now(self._now()))]

    async def _after_question(
        self, repo: TriviaRepository, live: LiveGame, now: int, reason: str, ending: bool
    ) -> list[Standing] | None:
        """Store the step after a question closes: the end of the game, or a pause before the next question."""
        if ending:
            standings = await repo.finish_game(live.id, reason, live.guild_key, award_wins=reason != "stopped")
            self._games.drop(live)
            return standings
        await repo.update_game(live.id, phase="pause", deadline_ms=now + GAP_MS, last_activity_ms=live.last_activity)
        live.pause(now)
        return None
