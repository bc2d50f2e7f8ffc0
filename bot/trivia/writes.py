"""Group commit for running games: the steps of many games (scores, new state, endings) share one transaction.

Each caller gets its own result once the transaction holding its step has committed, so an announcement is
still returned only after what it announces is stored. A step is data, not code: the batch writes the scores
of all its steps with one statement per table, and the new states of its games with one per set of columns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.batching import Batcher
from db.trivia.repository import Standing, TriviaRepository
from db.trivia.stats import Scoring, TriviaStatsRepository

__all__ = ["GameWriter", "Step"]


@dataclass(frozen=True, slots=True)
class Step:
    """One game's writes for one move: a question counted for ``players``, new ``values``, or the game's end."""

    game_id: int
    guild_key: int
    players: Mapping[str, str] = field(default_factory=dict)
    winner: str | None = None
    points: int = 0
    values: Mapping[str, Any] = field(default_factory=dict)
    finish: str | None = None
    """The reason the game ends with this step (its standings are the step's result), or None."""


class GameWriter:
    """Stores the steps of many concurrent games in shared transactions, each holding ``write_lock``."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], write_lock: asyncio.Lock, *, max_batch: int = 500
    ) -> None:
        self._sessions = sessions
        self._write_lock = write_lock
        self._max_batch = max_batch
        self._batcher = self._new_batcher()

    async def store(self, step: Step) -> list[Standing] | None:
        """Store ``step``; returns the final standings when it ends the game, after the commit (or StorageError)."""
        return await self._batcher.submit(step)

    async def flush(self) -> None:
        """Store what is queued and let the batching task end; later steps start a new one."""
        batcher, self._batcher = self._batcher, self._new_batcher()
        await batcher.close()

    def _new_batcher(self) -> Batcher[Step, list[Standing] | None]:
        return Batcher(self._store_all, name="trivia-writer", max_batch=self._max_batch)

    async def _store_all(self, steps: Sequence[Step]) -> list[list[Standing] | None]:
        async with self._write_lock, self._sessions.begin() as session:
            repo = TriviaRepository(session)
            await TriviaStatsRepository(session).score_many(
                [Scoring(s.game_id, s.guild_key, s.players, s.winner, s.points) for s in steps if s.players]
            )
            await repo.update_games([(s.game_id, s.values) for s in steps if s.values])
            return [
                await repo.finish_game(s.game_id, s.finish, s.guild_key, award_wins=s.finish != "stopped")
                if s.finish is not None
                else None
                for s in steps
            ]
