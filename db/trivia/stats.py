"""The figures trivia keeps per player: answers counted per game and per guild, streaks, leaderboards, stats."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.common import insert_for
from db.models import utcnow
from db.trivia.models import TriviaScore, TriviaStats

__all__ = ["BOARD_METRICS", "BoardRow", "PlayerStats", "Scoring", "TriviaStatsRepository"]

BOARD_METRICS = ("points", "wins", "games", "accuracy")
MIN_ATTEMPTS_FOR_ACCURACY = 5


@dataclass(frozen=True, slots=True)
class BoardRow:
    """One line of a leaderboard."""

    user: str
    name: str
    points: int
    wins: int
    games: int
    correct: int
    attempted: int

    @property
    def accuracy(self) -> float:
        """Questions answered right out of those attempted (0 when none)."""
        return self.correct / self.attempted if self.attempted else 0.0


@dataclass(frozen=True, slots=True)
class PlayerStats:
    """A player's figures in one guild, or summed over all guilds."""

    board: BoardRow
    streak: int
    best_streak: int
    rank: int | None


@dataclass(frozen=True, slots=True)
class Scoring:
    """One question counted for the ``players`` (user -> name) of a game; ``winner`` also scores ``points``."""

    game_id: int
    guild_key: int
    players: Mapping[str, str]
    winner: str | None = None
    points: int = 0


_UPSERTS: dict[str, tuple[Any, Any]] = {}
"""The two scoring upserts, built once per dialect (statements are immutable, so shareable)."""


def _upserts(session: AsyncSession) -> tuple[Any, Any]:
    """The upserts of a game's scores and of the players' stats, in the dialect of the session's database."""
    dialect = session.get_bind().dialect.name
    if dialect not in _UPSERTS:
        _UPSERTS[dialect] = _build_upserts(session)
    return _UPSERTS[dialect]


def _build_upserts(session: AsyncSession) -> tuple[Any, Any]:
    scores = TriviaScore.__table__
    stats = TriviaStats.__table__
    assert isinstance(scores, Table) and isinstance(stats, Table)
    insert_scores = insert_for(session, scores)
    excluded = insert_scores.excluded
    upsert_scores = insert_scores.on_conflict_do_update(
        index_elements=[scores.c.game_id, scores.c.user],
        set_={
            "name": excluded.name,
            "points": scores.c.points + excluded.points,
            "correct": scores.c.correct + excluded.correct,
            "attempted": scores.c.attempted + 1,
        },
    )
    insert_stats = insert_for(session, stats)
    new = insert_stats.excluded
    grown = stats.c.streak + 1
    upsert_stats = insert_stats.on_conflict_do_update(
        index_elements=[stats.c.user, stats.c.guild_id],
        set_={
            "name": new.name,
            "points": stats.c.points + new.points,
            "correct": stats.c.correct + new.correct,
            "attempted": stats.c.attempted + 1,
            "streak": case((new.correct > 0, grown), else_=0),
            "best_streak": case(((new.correct > 0) & (grown > stats.c.best_streak), grown), else_=stats.c.best_streak),
            "updated_at": new.updated_at,
        },
    )
    return upsert_scores, upsert_stats


def _rounds(rows: list[dict[str, Any]], *key: str) -> list[list[dict[str, Any]]]:
    """Rows split into statements without a repeated key (one upsert may not change a row twice), order kept per key."""
    rounds: list[list[dict[str, Any]]] = []
    seen: dict[tuple[Any, ...], int] = {}
    for row in rows:
        at = tuple(row[column] for column in key)
        n = seen[at] = seen.get(at, -1) + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(row)
    return rounds


def _board_row(row: Any) -> BoardRow:
    return BoardRow(
        row.user,
        row.name,
        int(row.points or 0),
        int(row.wins or 0),
        int(row.games or 0),
        int(row.correct or 0),
        int(row.attempted or 0),
    )


class TriviaStatsRepository:
    """Scores, stats and boards on the session it is given; the caller owns the transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def score(
        self, game_id: int, guild_key: int, players: Mapping[str, str], *, winner: str | None = None, points: int = 0
    ) -> None:
        """Count one attempted question for each of ``players`` (user -> name); ``winner`` also scores ``points``.

        The winner's answer streak grows, everyone else's resets.
        """
        await self.score_many([Scoring(game_id, guild_key, players, winner, points)])

    async def score_many(self, scorings: Sequence[Scoring]) -> None:
        """Store many ``score`` calls at once, with the same result as making them one after another, in order."""
        now = utcnow()
        score_rows: list[dict[str, Any]] = []
        stat_rows: list[dict[str, Any]] = []
        for scoring in scorings:
            for user, name in scoring.players.items():
                won = int(user == scoring.winner)
                gained = scoring.points if won else 0
                score_rows.append(
                    {
                        "game_id": scoring.game_id,
                        "user": user,
                        "name": name,
                        "points": gained,
                        "correct": won,
                        "attempted": 1,
                    }
                )
                stat_rows.append(
                    {
                        "user": user,
                        "guild_id": scoring.guild_key,
                        "name": name,
                        "points": gained,
                        "correct": won,
                        "attempted": 1,
                        "games": 0,
                        "wins": 0,
                        "streak": won,
                        "best_streak": won,
                        "updated_at": now,
                    }
                )
        if not score_rows:
            return
        upsert_scores, upsert_stats = _upserts(self.session)
        for rows in _rounds(score_rows, "game_id", "user"):
            await self.session.execute(upsert_scores, rows)
        for rows in _rounds(stat_rows, "user", "guild_id"):
            await self.session.execute(upsert_stats, rows)

    def _board_query(self, guild_key: int | None) -> Any:
        columns = (
            TriviaStats.user,
            func.max(TriviaStats.name).label("name"),
            func.sum(TriviaStats.points).label("points"),
            func.sum(TriviaStats.wins).label("wins"),
            func.sum(TriviaStats.games).label("games"),
            func.sum(TriviaStats.correct).label("correct"),
            func.sum(TriviaStats.attempted).label("attempted"),
        )
        query = select(*columns).group_by(TriviaStats.user)
        if guild_key is not None:
            query = query.where(TriviaStats.guild_id == guild_key)
        return query

    async def leaderboard(self, guild_key: int | None, metric: str = "points", limit: int = 10) -> list[BoardRow]:
        """The best players of a guild (None: everywhere) by points, wins, games played or accuracy."""
        if metric not in BOARD_METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(BOARD_METRICS)}")
        board = self._board_query(guild_key).subquery()
        if metric == "accuracy":
            order: list[Any] = [
                (board.c.correct * 1.0 / board.c.attempted).desc(),
                board.c.attempted.desc(),
            ]
            query = select(board).where(board.c.attempted >= MIN_ATTEMPTS_FOR_ACCURACY)
        else:
            order = [board.c[metric].desc(), board.c.points.desc()]
            query = select(board).where(board.c[metric] > 0)
        rows = await self.session.execute(query.order_by(*order, board.c.name).limit(limit))
        return [_board_row(row) for row in rows.all()]

    async def player_stats(self, user: str, guild_key: int | None) -> PlayerStats | None:
        """A player's figures in a guild (None: everywhere), with their rank by points."""
        board = self._board_query(guild_key).subquery()
        row = (await self.session.execute(select(board).where(board.c.user == user))).first()
        if row is None:
            return None
        streaks = select(func.max(TriviaStats.best_streak), func.sum(TriviaStats.streak)).where(
            TriviaStats.user == user
        )
        if guild_key is not None:
            streaks = streaks.where(TriviaStats.guild_id == guild_key)
        best, current = (await self.session.execute(streaks)).one()
        if guild_key is None:
            latest = select(TriviaStats.streak).where(TriviaStats.user == user).order_by(TriviaStats.updated_at.desc())
            current = int(await self.session.scalar(latest.limit(1)) or 0)
        ahead = await self.session.scalar(select(func.count()).select_from(board).where(board.c.points > row.points))
        stats = _board_row(row)
        return PlayerStats(stats, int(current or 0), int(best or 0), int(ahead or 0) + 1)
