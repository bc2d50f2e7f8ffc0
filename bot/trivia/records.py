"""What trivia keeps beyond a game: leaderboards, player stats, imported lists, guild settings, forgetting a user."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.trivia.options import PLOT_LIST, GameOptions, ListInfo, TriviaError, check_options, merge_options
from bot.trivia.questions import QuestionPools
from bot.trivia.red_lists import RedList, list_name, parse_red_list
from db.trivia.repository import TriviaRepository
from db.trivia.stats import BOARD_METRICS, BoardRow, PlayerStats, TriviaStatsRepository
from personas.factbase import FactBase

__all__ = ["TriviaRecords"]


class TriviaRecords:
    """Boards, stats, lists and settings over the store; ``TriviaService`` adds the games on top."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], facts: FactBase, write_lock: asyncio.Lock) -> None:
        self._sessions = sessions
        self._write_lock = write_lock
        self._questions = QuestionPools(facts)

    async def leaderboard(self, guild_id: int | None, metric: str = "points", limit: int = 10) -> list[BoardRow]:
        """The best players of a guild (None: everywhere) by points, wins, games or accuracy."""
        if metric not in BOARD_METRICS:
            raise TriviaError(f"`metric` must be one of: {', '.join(BOARD_METRICS)}.")
        async with self._sessions() as session:
            return await TriviaStatsRepository(session).leaderboard(guild_id, metric, limit)

    async def stats(self, user: str, guild_id: int | None) -> PlayerStats | None:
        """A player's figures in a guild (None: everywhere)."""
        async with self._sessions() as session:
            return await TriviaStatsRepository(session).player_stats(user, guild_id)

    async def lists(self, guild_id: int | None) -> list[ListInfo]:
        """The plot questions and the lists imported into this guild."""
        infos = [ListInfo(PLOT_LIST, len(self._questions.plot()), None, "Questions about the story of T2.")]
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
        return merge_options(GameOptions(), stored)

    async def save_settings(self, guild_id: int, options: GameOptions) -> GameOptions:
        """Store the options given as the guild's defaults; returns the defaults now in force."""
        check_options(options)
        values = {
            name: (list(value) if name == "lists" else value)
            for name in ("questions", "target_score", "seconds", "mode", "host", "lists")
            if (value := getattr(options, name)) is not None
        }
        if options.lists is not None:
            async with self._sessions() as session:
                await self._questions.pool(TriviaRepository(session), guild_id, options.lists)
        async with self._write_lock, self._sessions.begin() as session:
            await TriviaRepository(session).save_settings(guild_id, values)
        return await self.settings(guild_id)

    async def export(self, user: str) -> dict[str, Any]:
        """Everything trivia stores about ``user``, JSON-ready."""
        async with self._sessions() as session:
            return await TriviaRepository(session).export(user)

    async def forget(self, user: str) -> int:
        """Delete the user's stored trivia scores, answers and stats; returns how many rows went."""
        async with self._write_lock, self._sessions.begin() as session:
            return await self.forget_in(session, user)

    async def forget_in(self, session: AsyncSession, user: str) -> int:
        """``forget`` in the caller's transaction."""
        return await TriviaRepository(session).forget(user)
