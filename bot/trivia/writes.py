"""Group commit for running games: the steps of many games (scores, new state, endings) share one transaction.

Each caller gets its own result once the transaction holding its step has committed, so an announcement is
still returned only after what it announces is stored. A step is data (and one builder, for the ending, which
needs the standings the batch computes): the batch writes the scores of all its steps with one statement per
table, the new states of its games with one per set of columns, and what the hosts say about them into the outbox
(games on Discord) with one more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.trivia.options import Announcement
from bot.trivia.outbox import keyed, new_posts
from db.batching import Batcher
from db.outbox import OutboxRepository
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
    """The reason the game ends with this step, or None."""
    said: tuple[Announcement, ...] = ()
    """What the host says about this move, stored with it."""
    ending: Callable[[Sequence[Standing]], Announcement] | None = None
    """What the host says at the end, built from the final standings (when ``finish`` is set), stored with it."""
    version: int | None = None
    """The game's version this step was made from: the step is stored only if the game is still at it."""

    @property
    def changes_game(self) -> bool:
        """True when the step writes the game's row (its state or its end), so its version moves on."""
        return bool(self.values) or self.finish is not None


class GameWriter:
    """Stores the steps of many concurrent games in shared transactions, each holding ``write_lock``."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], write_lock: asyncio.Lock, *, max_batch: int = 500
    ) -> None:
        self._sessions = sessions
        self._write_lock = write_lock
        self._max_batch = max_batch
        self._batcher = self._new_batcher()

    async def store(self, step: Step) -> list[Announcement]:
        """Store ``step``; returns what the host says (the ending last), each with the outbox key it was stored
        under, after the commit (or StorageError)."""
        return await self._batcher.submit(step)

    async def flush(self) -> None:
        """Store what is queued and let the batching task end; later steps start a new one."""
        batcher, self._batcher = self._batcher, self._new_batcher()
        await batcher.close()

    def _new_batcher(self) -> Batcher[Step, list[Announcement]]:
        return Batcher(self._store_all, name="trivia-writer", max_batch=self._max_batch)

    async def _store_all(self, steps: Sequence[Step]) -> list[list[Announcement]]:
        async with self._write_lock, self._sessions.begin() as session:
            repo = TriviaRepository(session)
            await TriviaStatsRepository(session).score_many(
                [Scoring(s.game_id, s.guild_key, s.players, s.winner, s.points) for s in steps if s.players]
            )
            versions = {s.game_id: s.version for s in steps if s.version is not None and s.changes_game}
            await repo.update_games([(s.game_id, s.values) for s in steps if s.values], versions)
            said: list[list[Announcement]] = []
            for s in steps:
                out = list(s.said)
                if s.finish is not None:
                    standings = await repo.finish_game(
                        s.game_id, s.finish, s.guild_key, award_wins=s.finish != "stopped"
                    )
                    if s.ending is not None:
                        out.append(s.ending(standings))
                said.append(keyed(out))
            await OutboxRepository(session).add([post for out in said for post in new_posts(out)])
            return said
